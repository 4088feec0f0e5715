// The Vulkan engine: weights in device arenas, experts in the slot pool, the forward pass as shader
// dispatches (runtime/model/vk_forward*.cpp).
#pragma once

#include <memory>

#include "runtime/model/engine.h"

namespace moevk {

std::unique_ptr<Engine> make_vulkan_engine(const gguf::File& file, const EngineOptions& options);
uint32_t default_ctx(const ModelDesc& d, uint32_t requested);

}  // namespace moevk
