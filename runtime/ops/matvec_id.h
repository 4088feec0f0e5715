// matvec_id: the expert matvec. For each token and each selected expert (ids written on the GPU by
// the gating shader), y = W_expert x (+ bias[expert]); W_expert is found through a slot table in a
// pool of expert slots, so resident and streamed experts use the same kernel (only the table
// changes). Shader: matvec_id.comp (the matvec body of shaders/common/dequant_matvec.glsl).
#pragma once

#include <cstdint>

#include "loader/quants/quants.h"
#include "runtime/ops/matvec.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct MatvecIdPush {
  uint64_t a_offset, data_b, data_d, data_bias, data_ids, data_slots;
  uint64_t a2_offset, data_bias2;
  uint32_t n_rows, n_cols, row_bytes, n_used;
  uint32_t n_expert, x_tok_stride, x_expert_stride, glu;
  float alpha, limit;
};
static_assert(sizeof(MatvecIdPush) == 104, "must match matvec_id.comp's push block");

// A slot table entry that holds no expert: the shader writes NaN rows for it.
constexpr uint64_t kNoSlot = 0;
// A slot table entry for an expert the CPU computes in this pass: the expert kernels (matvec_id,
// matvec_id_glu, matmul_id) skip its (token, expert) rows and leave them as they were; the CPU's
// results are copied into them before the combine. Device addresses are aligned, never 1.
constexpr uint64_t kCpuSlot = 1;

// Where the experts' matrices are: the slot table `slots` [n_expert] uint64 maps expert id -> the
// device address of its slot (kNoSlot: none). A slot may sit in VRAM or in host memory the GPU
// reads over the bus, and holds every matrix of one expert (gate, up, down); this matrix, n_rows x
// n_cols in raw GGUF blocks, starts `offset` bytes into it. slot_bytes bounds it (checks only).
struct ExpertPool {
  vk::View slots;
  uint64_t offset = 0;
  uint64_t slot_bytes = 0;
  uint32_t n_expert = 0;
  GgmlType type = GgmlType::F32;
  uint32_t n_rows = 0;
  uint32_t n_cols = 0;
};

struct MatvecIdArgs {
  ExpertPool experts;
  vk::View ids;  // [n_tok][n_used] int32
  vk::View x;    // shared: [n_tok][n_cols]; per expert: [n_tok][n_used][n_cols] f32
  bool x_per_expert = false;
  vk::View y;     // [n_tok][n_used][n_rows] f32
  vk::View bias;  // [n_expert][n_rows] f32, or empty
  uint32_t n_used = 0;
  uint32_t n_tok = 1;
  // Optional strides of x in floats (0: the packed layouts above), e.g. to read each head's part of
  // a wider per-token row (MLA's q_nope inside q).
  uint32_t x_tok_stride = 0, x_expert_stride = 0;
  // x quantised by quantize_q8, packed: [n_tok][x_vectors_per_tok()][q8_words(n_cols)] whatever
  // x's strides, or empty (the float path): given and where uses_int_dot, the product reads it
  // instead of x.
  vk::View xq;
  // Vectors of x per token: one per selected expert (x_per_expert, or a head's slice through
  // x_expert_stride), else one shared.
  uint32_t x_vectors_per_tok() const { return x_per_expert || x_expert_stride != 0 ? n_used : 1; }
};

void matvec_id(vk::Context& ctx, vk::Recorder& rec, const MatvecIdArgs& a, MatvecConfig cfg = {});

// Gate, up and the gated activation of an expert FFN in one dispatch (decode): for every pair,
// y = act(W_gate x + b_gate) * (W_up x + b_up), act = silu (Swiglu) or gpt-oss's clamped form.
enum class Glu : uint32_t { Swiglu = 1, SwigluClamped = 2 };
struct GluArgs {
  ExpertPool up;    // same slot table, type and shape as the gate pool (glu_fusable)
  vk::View up_bias;  // [n_expert][n_rows] f32, or empty
  Glu act = Glu::Swiglu;
  float alpha = 0.0f, limit = 0.0f;  // SwigluClamped
};
bool glu_fusable(const ExpertPool& gate, const ExpertPool& up);
// gate: the arguments of the gate product (its y receives the activated product).
void matvec_id_glu(vk::Context& ctx, vk::Recorder& rec, const MatvecIdArgs& gate, const GluArgs& g,
                   MatvecConfig cfg = {});

// The checks an expert product's arguments must pass (views large enough, slots aligned; `op`
// names the failing op), and the layout they imply: row bytes and x's strides in floats.
struct ExpertLayout {
  uint32_t row_bytes, x_tok_stride, x_expert_stride;
};
ExpertLayout check_expert_args(const MatvecIdArgs& a, const char* op);

}  // namespace moevk::ops
