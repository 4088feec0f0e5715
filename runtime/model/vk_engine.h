// The Vulkan engine: weights in device arenas, experts in the slot pool, the forward pass as shader
// dispatches (runtime/model/vk_forward*.cpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "loader/error.h"
#include "runtime/model/engine.h"

namespace moevk {

namespace vk {
class Context;
}
class VkEngine;

// What an embedding application adds to EngineOptions (the C API).
struct VkEngineSetup {
  // The device to run on (the app's adopted one, or one shared by several models); null: the
  // engine creates its own. A shared context keeps its memory budget when one is set, else gets
  // what is allocated already plus EngineOptions::gpu_mem.
  std::shared_ptr<vk::Context> context;
  // Loading progress: bytes done of the stage's total, after each piece; returning false cancels
  // the load (LoadCancelled is thrown, everything allocated so far is freed).
  std::function<bool(const char* stage, uint64_t done, uint64_t total)> progress;
};

// A load that the progress callback cancelled.
class LoadCancelled : public Error {
 public:
  LoadCancelled() : Error("loading cancelled by the progress callback") {}
};

std::unique_ptr<Engine> make_vulkan_engine(const gguf::File& file, const EngineOptions& options);
std::unique_ptr<VkEngine> make_vulkan_engine(const gguf::File& file, const EngineOptions& options,
                                             const VkEngineSetup& setup);
uint32_t default_ctx(const ModelDesc& d, uint32_t requested);

}  // namespace moevk
