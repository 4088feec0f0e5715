// CPU reference of the elementwise binary ops (oracle of binary.comp).
#pragma once

#include <cstdint>
#include <span>

namespace moevk::ref {

// d[i] = a[i] + b[i % b.size()]
void add(std::span<const float> a, std::span<const float> b, std::span<float> d);
// d[i] = a[i] * b[i % b.size()]
void mul(std::span<const float> a, std::span<const float> b, std::span<float> d);
// d[i] = a[i] * s
void scale(std::span<const float> a, float s, std::span<float> d);

}  // namespace moevk::ref
