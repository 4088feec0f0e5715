#include "runtime/ops/get_rows.h"

#include <cctype>
#include <string>

#include "loader/error.h"
#include "runtime/ops/dispatch.h"
#include "runtime/vk/pipeline.h"

namespace moevk::ops {

bool get_rows_supported(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
    case GgmlType::F16:
    case GgmlType::BF16:
    case GgmlType::Q4_0:
    case GgmlType::Q4_1:
    case GgmlType::Q5_0:
    case GgmlType::Q5_1:
    case GgmlType::Q8_0:
    case GgmlType::Q2_K:
    case GgmlType::Q3_K:
    case GgmlType::Q4_K:
    case GgmlType::Q5_K:
    case GgmlType::Q6_K:
    case GgmlType::IQ4_NL:
    case GgmlType::IQ4_XS:
    case GgmlType::MXFP4:
      return true;
    default:
      return false;
  }
}

void get_rows(vk::Context& ctx, vk::Recorder& rec, GgmlType type, const vk::View& table,
              uint32_t n_cols, uint32_t n_table_rows, const vk::View& ids, uint32_t n_tok,
              const vk::View& d, uint32_t stride_d) {
  const TypeTraits& tt = traits(type);
  if (!get_rows_supported(type)) fail("get_rows: no shader for tensor type {}", tt.name);
  if (stride_d == 0) stride_d = n_cols;
  const auto rb = row_bytes(type, n_cols);
  MOEVK_ASSERT(rb && *rb <= UINT32_MAX, "get_rows: n_cols not a multiple of the block size");
  MOEVK_ASSERT(n_cols > 0 && n_tok > 0 && n_table_rows > 0 && stride_d >= n_cols,
               "get_rows: bad shape");
  MOEVK_ASSERT(table.size >= uint64_t(n_table_rows) * *rb, "get_rows: table view too small");
  MOEVK_ASSERT(ids.size >= uint64_t(n_tok) * 4, "get_rows: ids view too small");
  const uint64_t d_elems = uint64_t(n_tok - 1) * stride_d + n_cols;
  MOEVK_ASSERT(d_elems <= UINT32_MAX && d.size >= d_elems * 4, "get_rows: d view too small");
  // Work items: units of 8 elements plus the n_cols % 8 tail (only QK == 1 types have one).
  const uint64_t per_tok = n_cols / 8 + n_cols % 8;
  MOEVK_ASSERT(per_tok * n_tok <= UINT32_MAX, "get_rows: too many elements");
  GetRowsPush pc{table.address(), ids.address(), d.address(), n_cols, n_tok,
                 uint32_t(*rb),   n_table_rows,  stride_d,    0};
  std::string variant = "get_rows_" + std::string(tt.name) + "_f32";
  for (char& c : variant) c = char(std::tolower(static_cast<unsigned char>(c)));
  rec.dispatch(ctx.pipeline(variant, sizeof pc), pc, groups_1d(per_tok * n_tok, 256));
}

}  // namespace moevk::ops
