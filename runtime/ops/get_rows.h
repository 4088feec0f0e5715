// get_rows op: embedding lookup with dequantisation, d[t] = dequant(table row ids[t]).
// Shader: get_rows.comp.
#pragma once

#include <cstdint>

#include "loader/quants/quants.h"
#include "runtime/vk/buffer.h"
#include "runtime/vk/recorder.h"

namespace moevk::ops {

struct GetRowsPush {
  uint64_t data_a, data_ids, data_d;
  uint32_t n_cols, n_tok, row_bytes, n_table_rows, stride_d, pad;
};
static_assert(sizeof(GetRowsPush) == 48, "must match get_rows.comp's push block");

// table: n_table_rows rows of n_cols elements of `type` (row_bytes(type, n_cols) apart); ids:
// [n_tok] int32; d: [n_tok][stride_d] f32 (stride_d 0 = n_cols). Ids outside the table give zero
// rows. Types: F32, F16, BF16, Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K..Q6_K, IQ4_NL, IQ4_XS, MXFP4.
void get_rows(vk::Context& ctx, vk::Recorder& rec, GgmlType type, const vk::View& table,
              uint32_t n_cols, uint32_t n_table_rows, const vk::View& ids, uint32_t n_tok,
              const vk::View& d, uint32_t stride_d = 0);

// Whether get_rows has a shader for the type.
bool get_rows_supported(GgmlType type);

}  // namespace moevk::ops
