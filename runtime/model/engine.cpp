#include "runtime/model/engine.h"

#include <algorithm>

#include "loader/error.h"
#include "loader/gguf.h"
#include "runtime/model/vk_engine.h"
#include "runtime/ref/forward.h"

namespace moevk {

Backend backend_from_name(const std::string& s) {
  if (s == "vulkan") return Backend::Vulkan;
  if (s == "cpu") return Backend::Cpu;
  fail("unknown backend '{}' (expected vulkan or cpu)", s);
}

namespace {

// The CPU reference forward pass behind the Engine interface.
class CpuEngine final : public Engine {
 public:
  CpuEngine(const gguf::File& f, uint32_t n_ctx) : fwd_(f, n_ctx) {}
  const ModelDesc& desc() const override { return fwd_.desc(); }
  uint32_t n_ctx() const override { return fwd_.n_ctx(); }
  uint32_t n_past() const override { return fwd_.n_past(); }
  std::vector<float> eval(std::span<const int32_t> tokens, uint32_t start_pos,
                          Logits which) override {
    std::vector<float> l = fwd_.eval(tokens, start_pos);
    if (which == Logits::Last && !l.empty())
      l.erase(l.begin(), l.end() - static_cast<std::ptrdiff_t>(desc().n_vocab));
    return l;
  }
  std::string backend_name() const override { return "cpu"; }

 private:
  ref::Forward fwd_;
};

}  // namespace

uint64_t weight_bytes_per_token(const gguf::File& file, const ModelDesc& d) {
  uint64_t n = 0;
  for (const auto& t : file.tensors()) {
    if (t.name.find("_exps.") != std::string::npos) {
      if (d.n_expert) n += t.n_bytes / d.n_expert * d.n_expert_used;
    } else if (t.name == "token_embd.weight") {
      n += t.n_bytes / std::max<uint64_t>(1, t.ne[1]);
      if (d.tied_output) n += t.n_bytes;
    } else {
      n += t.n_bytes;
    }
  }
  return n;
}

uint32_t default_ctx(const ModelDesc& d, uint32_t requested) {
  if (requested) return requested;
  uint32_t n = d.n_ctx_train ? d.n_ctx_train : 4096;
  return n > 4096 ? 4096 : n;
}

std::unique_ptr<Engine> make_engine(const gguf::File& file, const EngineOptions& o) {
  if (o.backend == Backend::Cpu) {
    ModelDesc d = describe(file);
    return std::make_unique<CpuEngine>(file, default_ctx(d, o.n_ctx));
  }
  return make_vulkan_engine(file, o);
}

}  // namespace moevk
