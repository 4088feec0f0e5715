// The embedded SPIR-V of every shader variant in shaders/variants.cmake, looked up by variant name.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace moevk::shaders {

struct Spirv {
  std::string_view name;
  std::span<const uint32_t> words;
};

std::span<const Spirv> all();
// Variant by name; nullptr when no such variant was built.
const Spirv* find(std::string_view name);

}  // namespace moevk::shaders
