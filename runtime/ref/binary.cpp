#include "runtime/ref/binary.h"

namespace moevk::ref {

void add(std::span<const float> a, std::span<const float> b, std::span<float> d) {
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] + b[i % b.size()];
}

void mul(std::span<const float> a, std::span<const float> b, std::span<float> d) {
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] * b[i % b.size()];
}

void scale(std::span<const float> a, float s, std::span<float> d) {
  for (size_t i = 0; i < a.size(); ++i) d[i] = a[i] * s;
}

}  // namespace moevk::ref
