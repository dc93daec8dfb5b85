// Embeddings, patch embedding, element-wise ops and on-device token selection.
#include "runtime/ops-common.hpp"
#include "runtime/ops-host.hpp"

#include <optional>

namespace glimpse {

using detail::u32;

namespace {

// One lane per element over a 2D grid of 64-lane workgroups.
void dispatch_elements(Sequence& seq, const Pipeline& pipeline, std::span<const Bind> binds, const void* push,
                       uint64_t elements, std::string label) {
  const auto grid = detail::grid_2d(seq.context(), detail::div_up(elements, 64));
  seq.dispatch(pipeline, binds, push, grid[0], grid[1], 1, std::move(label));
}

}  // namespace

void embed_tokens(Sequence& seq, const Tensor& ids, uint32_t ids_offset, uint32_t batch, uint32_t tokens,
                  const Tensor& table, const Tensor* pos_table, uint32_t pos0, const Tensor* step, const Tensor& y) {
  const char* op = "embed_tokens";
  detail::expect_dtype(op, "ids", ids, DType::U32);
  if (table.dtype != DType::F32 && table.dtype != DType::F16)
    fail("embed_tokens: table must be f32 or f16, found ", table.describe());
  if (table.rank() != 2) fail("embed_tokens: table must be [V, D], found ", table.describe());
  const int64_t v = table.dim(0), d = table.dim(1), rows = int64_t(batch) * tokens;
  if (int64_t(ids_offset) + rows > ids.numel())
    fail("embed_tokens: ids ", ids.describe(), " hold fewer than ", ids_offset, " + ", rows, " ids");
  if (pos_table && (pos_table->rank() != 2 || pos_table->dim(1) != d))
    fail("embed_tokens: position table must be [P, ", d, "], found ", pos_table->describe());
  detail::expect_numel(op, "y", y, rows * d);
  if (rows == 0 || d == 0) return;

  Context& ctx = seq.context();
  if (ctx.caps().host_ops) {
    const std::optional<Tensor> pos = pos_table ? std::optional<Tensor>(*pos_table) : std::nullopt;
    const std::optional<Tensor> past = step ? std::optional<Tensor>(*step) : std::nullopt;
    seq.host(str(op, " ", rows, "x", d), [ids, ids_offset, batch, tokens, table, pos, pos0, past, y] {
      host::embed_tokens(ids, ids_offset, batch, tokens, table, pos ? &*pos : nullptr, pos0, past ? &*past : nullptr, y);
    });
    return;
  }
  const Pipeline& pipeline = ctx.pipelines().get(
      {"embed", std::vector<BindingKind>(5, BindingKind::Storage), 8 * 4,
       {64, pos_table ? 1u : 0u, table.dtype == DType::F16 ? 1u : 0u}});
  const uint32_t push[8] = {u32(rows, "rows"), tokens, u32(d, "D"), u32(v, "V"),
                            pos_table ? u32(pos_table->dim(0), "P") : 1u, ids_offset, pos0, step ? 1u : 0u};
  const Tensor& step_t = step ? *step : ctx.zeros();
  const Bind binds[] = {Bind::of(ids), Bind::of(table), Bind::of(pos_table ? *pos_table : table), Bind::of(y),
                        Bind::of(step_t)};
  dispatch_elements(seq, pipeline, binds, push, uint64_t(rows * d), str(op, " ", rows, "x", d));
}

Activation activation_parse(const std::string& name, const std::string& where) {
  if (name == "gelu") return Activation::GeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::GeluTanh;
  fail(ErrorCode::Model, where, ": activation '", name, "' is not supported (gelu, gelu_new, gelu_pytorch_tanh)");
}

void class_prepend(Sequence& seq, const Tensor& patches, const Tensor& cls, const Tensor& pos, const Tensor& y) {
  const char* op = "class_prepend";
  if (patches.rank() != 3) fail("class_prepend: patches must be [B, Np, D], found ", patches.describe());
  const int64_t b = patches.dim(0), np = patches.dim(1), d = patches.dim(2);
  if (d == 0 || cls.numel() % d || cls.numel() == 0)
    fail("class_prepend: cls must be [C, ", d, "] (C prefix tokens), found ", cls.describe());
  const int64_t c = cls.numel() / d, t = np + c;
  detail::expect_numel(op, "pos", pos, t * d);
  detail::expect_numel(op, "y", y, b * t * d);
  if (b == 0) return;
  Context& ctx = seq.context();
  if (ctx.caps().host_ops) {
    seq.host(str(op, " ", b, "x", t, "x", d), [patches, cls, pos, y] { host::class_prepend(patches, cls, pos, y); });
    return;
  }
  const Pipeline& pipeline =
      ctx.pipelines().get({"class_prepend", std::vector<BindingKind>(4, BindingKind::Storage), 4 * 4, {64}});
  const uint32_t push[4] = {u32(b, "B"), u32(np, "Np"), u32(d, "D"), u32(c, "C")};
  const Bind binds[] = {Bind::of(patches), Bind::of(cls), Bind::of(pos), Bind::of(y)};
  dispatch_elements(seq, pipeline, binds, push, uint64_t(b * t * d), str(op, " ", b, "x", t, "x", d));
}

void patch_embed(Sequence& seq, const Tensor& image, uint32_t patch, const LinearWeight& w, const Tensor* bias,
                 const Tensor& cols, const Tensor& y) {
  const char* op = "patch_embed";
  detail::expect_dtype(op, "image", image, DType::F32);
  if (image.rank() != 4) fail("patch_embed: image must be [B, C, H, W], found ", image.describe());
  const int64_t b = image.dim(0), c = image.dim(1), h = image.dim(2), wd = image.dim(3);
  if (patch == 0 || h % patch || wd % patch)
    fail("patch_embed: image ", image.describe(), " is not a whole number of ", patch, "x", patch, " patches");
  const int64_t gh = h / patch, gw = wd / patch, np = gh * gw, k = c * patch * patch;
  if (w.k != k) fail("patch_embed: weight takes K = ", w.k, ", patches have C*P*P = ", k);
  detail::expect_numel(op, "cols", cols, b * np * k);
  detail::expect_numel(op, "y", y, b * np * w.n);
  if (b == 0) return;

  Context& ctx = seq.context();
  if (ctx.caps().host_ops) {
    seq.host(str("im2col ", b, "x", np, "x", k), [image, patch, cols] { host::im2col(image, patch, cols); });
  } else {
    const Pipeline& pipeline = ctx.pipelines().get({"im2col", std::vector<BindingKind>(2, BindingKind::Storage), 7 * 4, {64}});
    const uint32_t push[7] = {u32(b, "B"), u32(c, "C"), u32(h, "H"), u32(wd, "W"), patch, u32(gh, "gh"), u32(gw, "gw")};
    const Bind binds[] = {Bind::of(image), Bind::of(cols)};
    dispatch_elements(seq, pipeline, binds, push, uint64_t(b * np * k), str("im2col ", b, "x", np, "x", k));
  }
  LinearOptions opt;
  opt.bias = bias;
  linear(seq, cols.view(DType::F32, {b * np, k}), w, y, opt);
}

namespace {
void eltwise(Sequence& seq, uint32_t code, const char* op, const Tensor& a, const Tensor* b, float s, const Tensor& y) {
  detail::expect_dtype(op, "a", a, DType::F32);
  detail::expect_dtype(op, "y", y, DType::F32);
  detail::expect_numel(op, "y", y, a.numel());
  if (b) detail::expect_numel(op, "b", *b, a.numel());
  if (a.numel() == 0) return;
  Context& ctx = seq.context();
  if (ctx.caps().host_ops) {
    const std::optional<Tensor> bt = b ? std::optional<Tensor>(*b) : std::nullopt;
    seq.host(str(op, " ", a.numel()), [code, a, bt, s, y] { host::eltwise(code, a, bt ? &*bt : nullptr, s, y); });
    return;
  }
  const Pipeline& pipeline =
      ctx.pipelines().get({"eltwise", std::vector<BindingKind>(3, BindingKind::Storage), 8, {64, code}});
  struct { uint32_t n; float scale; } push{u32(a.numel(), "n"), s};
  const Bind binds[] = {Bind::of(a), Bind::of(b ? *b : a), Bind::of(y)};
  dispatch_elements(seq, pipeline, binds, &push, uint64_t(a.numel()), str(op, " ", a.numel()));
}
}  // namespace

void add(Sequence& seq, const Tensor& a, const Tensor& b, const Tensor& y) { eltwise(seq, 0, "add", a, &b, 0, y); }
void scale(Sequence& seq, const Tensor& a, float s, const Tensor& y) { eltwise(seq, 1, "scale", a, nullptr, s, y); }
void gelu(Sequence& seq, const Tensor& a, Activation kind, const Tensor& y) {
  if (kind == Activation::None) fail("gelu: activation kind None");
  eltwise(seq, kind == Activation::GeluErf ? 2 : 3, kind == Activation::GeluErf ? "gelu_erf" : "gelu_tanh", a, nullptr, 0, y);
}

void gather_rows(Sequence& seq, const Tensor& src, const Tensor& index, const Tensor& dst) {
  const char* op = "gather_rows";
  detail::expect_dtype(op, "src", src, DType::F32);
  detail::expect_dtype(op, "dst", dst, DType::F32);
  detail::expect_dtype(op, "index", index, DType::U32);
  if (src.rank() == 0 || dst.rank() == 0 || src.dim(0) == 0) fail("gather_rows: empty operands");
  const int64_t width = src.numel() / src.dim(0), rows = dst.dim(0);
  if (dst.numel() != rows * width)
    fail("gather_rows: dst ", dst.describe(), " rows must be as wide as src ", src.describe(), " rows (", width, ")");
  if (index.numel() < rows) fail("gather_rows: index ", index.describe(), " has fewer than ", rows, " entries");
  if (rows == 0) return;
  Context& ctx = seq.context();
  if (ctx.caps().host_ops) {
    seq.host(str(op, " ", rows, "x", width), [src, index, dst] { host::gather_rows(src, index, dst); });
    return;
  }
  const Pipeline& pipeline =
      ctx.pipelines().get({"gather_rows", std::vector<BindingKind>(3, BindingKind::Storage), 12, {64}});
  const uint32_t push[3] = {u32(rows, "rows"), u32(width, "width"), u32(src.dim(0), "src rows")};
  const Bind binds[] = {Bind::of(src), Bind::of(dst), Bind::of(index)};
  dispatch_elements(seq, pipeline, binds, push, uint64_t(rows * width), str(op, " ", rows, "x", width));
}

namespace {
struct Rows {
  uint32_t rows, n;
};
Rows rows_of(const char* op, const Tensor& x) {
  detail::expect_dtype(op, "x", x, DType::F32);
  if (x.rank() == 0 || x.dim(-1) == 0) fail(op, ": x must have a non-empty last dimension, found ", x.describe());
  return {u32(x.numel() / x.dim(-1), "rows"), u32(x.dim(-1), "n")};
}
}  // namespace

void argmax(Sequence& seq, const Tensor& x, const Tensor& ids, const Tensor& vals, uint32_t out_offset) {
  const Rows r = rows_of("argmax", x);
  detail::expect_dtype("argmax", "ids", ids, DType::U32);
  detail::expect_dtype("argmax", "vals", vals, DType::F32);
  if (int64_t(out_offset) + r.rows > ids.numel() || int64_t(out_offset) + r.rows > vals.numel())
    fail("argmax: outputs ", ids.describe(), " / ", vals.describe(), " hold fewer than ", out_offset, " + ", r.rows);
  Context& ctx = seq.context();
  if (ctx.caps().host_ops) {
    seq.host(str("argmax ", r.rows, "x", r.n), [x, ids, vals, out_offset] { host::argmax(x, ids, vals, out_offset); });
    return;
  }
  const Pipeline& pipeline = ctx.pipelines().get({"argmax", std::vector<BindingKind>(3, BindingKind::Storage), 16, {256}});
  const uint32_t push[4] = {r.rows, r.n, r.n, out_offset};
  const Bind binds[] = {Bind::of(x), Bind::of(ids), Bind::of(vals)};
  const auto grid = detail::grid_2d(ctx, r.rows);
  seq.dispatch(pipeline, binds, push, grid[0], grid[1], 1, str("argmax ", r.rows, "x", r.n));
}

void topk(Sequence& seq, const Tensor& x, uint32_t k, const Tensor& ids, const Tensor& vals) {
  const Rows r = rows_of("topk", x);
  if (k == 0 || k > 64 || k > r.n) fail("topk: k must be in 1..min(64, ", r.n, "), found ", k);
  detail::expect_dtype("topk", "ids", ids, DType::U32);
  detail::expect_dtype("topk", "vals", vals, DType::F32);
  detail::expect_numel("topk", "ids", ids, int64_t(r.rows) * k);
  detail::expect_numel("topk", "vals", vals, int64_t(r.rows) * k);
  Context& ctx = seq.context();
  if (ctx.caps().host_ops) {
    seq.host(str("topk ", r.rows, "x", r.n, " k=", k), [x, k, ids, vals] { host::topk(x, k, ids, vals); });
    return;
  }
  const uint32_t kmax = k <= 8 ? 8 : k <= 16 ? 16 : k <= 32 ? 32 : 64;
  const Pipeline& pipeline =
      ctx.pipelines().get({"topk", std::vector<BindingKind>(3, BindingKind::Storage), 16, {32, kmax}});
  const uint32_t push[4] = {r.rows, r.n, r.n, k};
  const Bind binds[] = {Bind::of(x), Bind::of(ids), Bind::of(vals)};
  const auto grid = detail::grid_2d(ctx, r.rows);
  seq.dispatch(pipeline, binds, push, grid[0], grid[1], 1, str("topk ", r.rows, "x", r.n, " k=", k));
}

}  // namespace glimpse
