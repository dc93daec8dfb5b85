// Embeddings, element-wise ops, row gathers and on-device token selection on the Vulkan
// backend: one lane per element, or a workgroup per row for the selections.
#include "runtime/vulkan/backend.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

namespace glimpse::vulkan {

void VulkanBackend::embed_tokens(Sequence& seq, const Tensor& ids, uint32_t ids_offset, uint32_t batch,
                                 uint32_t tokens, const Tensor& table, const Tensor* pos_table, uint32_t pos0,
                                 const Tensor* step, const Tensor& y, const EmbedOptions& opt) const {
  Context& ctx = seq.context();
  const int64_t v = table.dim(0), d = table.dim(1), rows = int64_t(batch) * tokens;
  const Pipeline& pipeline = ctx.pipelines().get(
      {"embed", std::vector<BindingKind>(5, BindingKind::Storage), 12 * 4,
       {64, pos_table ? 1u : 0u, table.dtype == DType::F16 ? 1u : 0u}});
  uint32_t scale_bits;
  std::memcpy(&scale_bits, &opt.scale, 4);
  const Tensor& step_t = step ? *step : ctx.zeros();
  // The table in slices of rows that one binding may span (lavapipe: 128 MiB, less than
  // TrOCR-base's 50265 x 1024 fp32 rows), each slice starting on a 256-row boundary so that its
  // byte offset meets any storage-buffer offset alignment.
  const uint64_t row_bytes = uint64_t(d) * (table.dtype == DType::F16 ? 2 : 4);
  int64_t slice = int64_t(ctx.info().max_storage_buffer_range / row_bytes) / 256 * 256;
  if (slice <= 0) fail("embed_tokens: one 256-row slice of ", table.describe(), " exceeds a storage binding");
  slice = std::min<int64_t>(slice, v);
  for (int64_t lo = 0; lo < v; lo += slice) {
    const int64_t hi = std::min<int64_t>(v, lo + slice);
    const uint32_t push[12] = {u32(rows, "rows"), tokens, u32(d, "D"), u32(v, "V"),
                               pos_table ? u32(pos_table->dim(0), "P") : 1u, ids_offset, pos0, step ? 1u : 0u,
                               scale_bits, opt.pad_id, u32(lo, "id_lo"), u32(hi, "id_hi")};
    const Bind binds[] = {Bind::of(ids), Bind::range_of(table, uint64_t(lo) * row_bytes, uint64_t(hi - lo) * row_bytes),
                          Bind::of(pos_table ? *pos_table : ctx.zeros()), Bind::of(y), Bind::of(step_t)};
    dispatch_elements(seq, pipeline, binds, push, uint64_t(rows * d), str("embed_tokens ", rows, "x", d));
  }
}

void VulkanBackend::class_prepend(Sequence& seq, const Tensor& patches, const Tensor& cls, const Tensor& pos,
                                  const Tensor& y) const {
  const int64_t b = patches.dim(0), np = patches.dim(1), d = patches.dim(2), c = cls.numel() / d, t = np + c;
  const Pipeline& pipeline =
      seq.context().pipelines().get({"class_prepend", std::vector<BindingKind>(4, BindingKind::Storage), 4 * 4, {64}});
  const uint32_t push[4] = {u32(b, "B"), u32(np, "Np"), u32(d, "D"), u32(c, "C")};
  const Bind binds[] = {Bind::of(patches), Bind::of(cls), Bind::of(pos), Bind::of(y)};
  dispatch_elements(seq, pipeline, binds, push, uint64_t(b * t * d), str("class_prepend ", b, "x", t, "x", d));
}

void VulkanBackend::add_positions(Sequence& seq, const Tensor& x, const Tensor& rows, uint32_t row0,
                                  const Tensor& y) const {
  const Pipeline& pipeline =
      seq.context().pipelines().get({"add_positions", std::vector<BindingKind>(3, BindingKind::Storage), 4 * 4, {64}});
  const uint32_t push[4] = {u32(x.numel(), "n"), u32(x.dim(1), "T"), u32(x.dim(2), "D"), row0};
  const Bind binds[] = {Bind::of(x), Bind::of(rows), Bind::of(y)};
  dispatch_elements(seq, pipeline, binds, push, uint64_t(x.numel()),
                    str("add_positions ", x.dim(0), "x", x.dim(1), "x", x.dim(2)));
}

void VulkanBackend::eltwise(Sequence& seq, Eltwise op, const Tensor& a, const Tensor* b, float s, const Tensor& y,
                            const std::string& label) const {
  const Pipeline& pipeline = seq.context().pipelines().get(
      {"eltwise", std::vector<BindingKind>(3, BindingKind::Storage), 8, {64, static_cast<uint32_t>(op)}});
  struct { uint32_t n; float scale; } push{u32(a.numel(), "n"), s};
  const Bind binds[] = {Bind::of(a), Bind::of(b ? *b : a), Bind::of(y)};
  dispatch_elements(seq, pipeline, binds, &push, uint64_t(a.numel()), label);
}

void VulkanBackend::gather_rows(Sequence& seq, const Tensor& src, const Tensor& index, const Tensor& dst, int64_t rows,
                                int64_t width) const {
  const Pipeline& pipeline =
      seq.context().pipelines().get({"gather_rows", std::vector<BindingKind>(3, BindingKind::Storage), 12, {64}});
  const uint32_t push[3] = {u32(rows, "rows"), u32(width, "width"), u32(src.dim(0), "src rows")};
  const Bind binds[] = {Bind::of(src), Bind::of(dst), Bind::of(index)};
  dispatch_elements(seq, pipeline, binds, push, uint64_t(rows * width), str("gather_rows ", rows, "x", width));
}

void VulkanBackend::argmax(Sequence& seq, const Tensor& x, const Tensor& ids, const Tensor& vals, uint32_t out_offset,
                           uint32_t rows, uint32_t n) const {
  Context& ctx = seq.context();
  const Pipeline& pipeline = ctx.pipelines().get({"argmax", std::vector<BindingKind>(3, BindingKind::Storage), 16, {256}});
  const uint32_t push[4] = {rows, n, n, out_offset};
  const Bind binds[] = {Bind::of(x), Bind::of(ids), Bind::of(vals)};
  const auto grid = grid_2d(ctx, rows);
  seq.dispatch(pipeline, binds, push, grid[0], grid[1], 1, str("argmax ", rows, "x", n));
}

void VulkanBackend::topk(Sequence& seq, const Tensor& x, uint32_t k, const Tensor& ids, const Tensor& vals, uint32_t rows,
                         uint32_t n) const {
  Context& ctx = seq.context();
  const uint32_t kmax = k <= 8 ? 8 : k <= 16 ? 16 : k <= 32 ? 32 : 64;
  const Pipeline& pipeline =
      ctx.pipelines().get({"topk", std::vector<BindingKind>(3, BindingKind::Storage), 16, {32, kmax}});
  const uint32_t push[4] = {rows, n, n, k};
  const Bind binds[] = {Bind::of(x), Bind::of(ids), Bind::of(vals)};
  const auto grid = grid_2d(ctx, rows);
  seq.dispatch(pipeline, binds, push, grid[0], grid[1], 1, str("topk ", rows, "x", n, " k=", k));
}

}  // namespace glimpse::vulkan
