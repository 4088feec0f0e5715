// matvec: y[b] = W x[b] (+ bias) for weights in any supported GGUF type, x and y f32.
// Shader: matvec.comp (body in shaders/common/dequant_matvec.glsl, dequantisers in dequant*.glsl).
#pragma once

#include <cstdint>
#include <string>

#include "loader/quants/quants.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct MatvecPush {
  uint64_t data_a, data_b, data_d, data_bias, data_res;
  uint32_t n_rows, n_cols, row_bytes, n_batch;
  uint32_t x_stride, y_stride, pad0, pad1;
};
static_assert(sizeof(MatvecPush) == 72, "must match matvec.comp's push block");

// Tunables (specialization constants). wg: invocations per workgroup (a power of two, >= 4 * rows);
// rows: weight rows per workgroup. The defaults are what production uses; tests sweep others.
struct MatvecConfig {
  uint32_t wg = 64;
  uint32_t rows = 2;
  // Row lanes (shaders/common/row_lanes.glsl, CPU devices): one row per invocation, lane_wg rows per
  // workgroup, lane_tokens vectors per pass over a row when the batch has more than one. Matrices
  // whose n_cols is not a multiple of 32 keep the block-per-lane kernels.
  // lane_sg: the device's subgroup size (4-32, a divisor of lane_wg).
  bool row_lanes = false;
  uint32_t lane_wg = 32;
  uint32_t lane_tokens = 8;
  uint32_t lane_sg = 8;
  // The block-per-lane kernels' paths where the device has the feature (and subgroup arithmetic):
  // storage16 reads the weights with 16-bit loads (storageBuffer16BitAccess); int_dot multiplies
  // the quantised types with packed int8 dot products (shaderIntegerDotProduct) on activations
  // quantised by quantize_q8 (MatvecArgs::xq). Off, or without the feature: 32-bit words and floats.
  bool storage16 = false;
  bool int_dot = false;
  // The prefill matmuls on cooperative matrices (ops/matmul_coopmat.h) where the device has them
  // (Features::coopmat_nv) and the load-time self-check passed. Off: the float tiled matmul.
  bool coopmat = false;
};
// The config the engine uses on a device: the default on GPUs; the row lanes on CPU devices
// (Features::row_lanes), whose block-per-lane fallback uses 32 invocations over 8 rows.
// Whether a matrix of n_cols columns runs on the row lanes under cfg.
bool use_row_lanes(const MatvecConfig& cfg, uint32_t n_cols);
MatvecConfig matvec_config_for(const vk::Features& f);

// A weight matrix on the device: n_rows rows of n_cols elements stored as GGUF blocks of `type`
// (row r at data + r * row_bytes(type, n_cols)). data must be 4-byte aligned.
struct WeightView {
  vk::View data;
  GgmlType type = GgmlType::F32;
  uint32_t n_rows = 0;
  uint32_t n_cols = 0;
};

struct MatvecArgs {
  WeightView w;
  vk::View x;     // [n_batch][n_cols] f32
  vk::View y;     // [n_batch][n_rows] f32
  vk::View bias;  // [n_rows] f32, or empty
  uint32_t n_batch = 1;
  vk::View residual;  // [n_batch][n_rows] f32 added to y (may be y itself: "y += W x"), or empty
  // x quantised by quantize_q8 ([n_batch][q8_words(n_cols)]), or empty (the float path): given
  // and where uses_int_dot, the product reads it instead of x.
  vk::View xq;
};

// Types the GPU matvec reads (every type loader/quants/quants.h can dequantise).
bool matvec_supports(GgmlType t);
// "matvec_q4_k_f32" / "matvec_id_q4_k_f32_subgroup" / "matvec_q4_k_f32_subgroup_idot_s16": the
// variant an op picks for type t (path: "", "_s16", "_idot" or "_idot_s16"; subgroup variants only).
std::string matvec_variant(const char* op, GgmlType t, bool subgroup, const char* path = "");
// Whether the integer-dot kernels take a product of type t over n_cols columns (the quantised
// types, n_cols % 32 == 0).
bool int_dot_supports(GgmlType t, uint32_t n_cols);
// Whether a product of type t over n_cols on this device under cfg takes the integer-dot path
// when given x quantised (MatvecArgs::xq, MatvecIdArgs::xq): the block-per-lane kernels only.
bool uses_int_dot(const vk::Context& ctx, const MatvecConfig& cfg, GgmlType t, uint32_t n_cols);
// The block-per-lane variant of op for type t on this device under cfg: subgroup where the device
// has it, then the 16-bit-storage and integer-dot paths where cfg and the device allow them.
std::string gpu_variant(const vk::Context& ctx, const char* op, GgmlType t, const MatvecConfig& cfg,
                        bool int_dot);
// Bytes of one row, asserting n_cols fits the block size and the row fits 32 bits.
uint32_t matvec_row_bytes(GgmlType t, uint32_t n_cols);

void matvec(vk::Context& ctx, vk::Recorder& rec, const MatvecArgs& a, MatvecConfig cfg = {});

// matvec_multi: two or three matvecs of one x in one dispatch (matvec_multi.comp, row lanes:
// matvec_rows_multi.comp), each result bit for bit what matvec gives. The parts share x, n_batch,
// the weight type and n_cols, and have no residual. Shapes as MatvecArgs.
struct MatvecMultiPush {
  uint64_t data_a[3], data_d[3], data_bias[3], data_b;
  uint32_t n_rows[3], n_cols, row_bytes, n_batch;
};
static_assert(sizeof(MatvecMultiPush) == 104, "must match matvec_multi.comp's push block");
// Whether a and b may share one matvec_multi dispatch.
bool matvec_multi_fusable(const MatvecArgs& a, const MatvecArgs& b);
void matvec_multi(vk::Context& ctx, vk::Recorder& rec, const MatvecArgs* parts, uint32_t n_parts,
                  MatvecConfig cfg = {});

}  // namespace moevk::ops
