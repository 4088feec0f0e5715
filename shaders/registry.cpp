#include "shaders/registry.h"

namespace moevk::shaders {

const Spirv* find(std::string_view name) {
  for (const Spirv& s : all())
    if (s.name == name) return &s;
  return nullptr;
}

}  // namespace moevk::shaders
