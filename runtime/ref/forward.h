// CPU reference forward pass of the six supported architectures: fp32 activations, double
// accumulation, weights dequantised row by row from the GGUF bytes. The oracle for the GPU path
// and the `--backend cpu` engine of `moevk logits`.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "loader/model.h"

namespace moevk::gguf {
class File;
}

namespace moevk::ref {

// Receives intermediate tensors of each eval() batch, named as in the oracle dumps
// (../shared/oracle/dumps/<model>-F16/index.json): "ffn_inp-L", "l_out-L", "ffn_moe_logits-L",
// "ffn_moe_probs-L" (gpt-oss: the biased logits), "ffn_moe_probs_biased-L" (deepseek2: + selection
// bias), "ffn_moe_out-L" (routed experts only), "result_norm"; data is [n_tok][row_len] row-major.
// "ffn_moe_logits-L" is the router output before any router bias.
// "ffn_moe_topk-L" is passed as floats holding the expert ids.
using DumpFn =
    std::function<void(const std::string& name, std::span<const float> data, uint32_t row_len)>;

class Forward {
 public:
  // The file must outlive the Forward (weights are read from its mapping). n_ctx 0: context_length.
  explicit Forward(const gguf::File& f, uint32_t n_ctx = 0);
  Forward(const gguf::File& f, const ModelDesc& d, uint32_t n_ctx = 0);
  ~Forward();
  Forward(Forward&&) noexcept;
  Forward& operator=(Forward&&) noexcept;

  const ModelDesc& desc() const;
  uint32_t n_ctx() const;
  uint32_t n_past() const;  // positions held by the KV cache

  // Evaluates tokens at positions start_pos, start_pos+1, ... (start_pos <= n_past(); the cache is
  // truncated to start_pos first) and returns logits [tokens.size()][n_vocab], one row per token.
  // moevk::Error for a token id outside the vocabulary or a position past n_ctx.
  std::vector<float> eval(std::span<const int32_t> tokens, uint32_t start_pos);

  void reset();  // empty the KV cache
  void set_dump(DumpFn fn);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace moevk::ref
