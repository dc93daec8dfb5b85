// Embeddings, patch embedding, element-wise ops, row gathers and on-device token selection: the
// arguments checked once, then the backend's recording (runtime/{vulkan,cpu}/misc.cpp).
#include "runtime/backend.hpp"
#include "runtime/ops-common.hpp"

namespace glimpse {

using detail::u32;

void embed_tokens(Sequence& seq, const Tensor& ids, uint32_t ids_offset, uint32_t batch, uint32_t tokens,
                  const Tensor& table, const Tensor* pos_table, uint32_t pos0, const Tensor* step, const Tensor& y,
                  const EmbedOptions& opt) {
  const char* op = "embed_tokens";
  detail::expect_dtype(op, "ids", ids, DType::U32);
  if (table.dtype != DType::F32 && table.dtype != DType::F16)
    fail("embed_tokens: table must be f32 or f16, found ", table.describe());
  if (table.rank() != 2) fail("embed_tokens: table must be [V, D], found ", table.describe());
  const int64_t d = table.dim(1), rows = int64_t(batch) * tokens;
  if (int64_t(ids_offset) + rows > ids.numel())
    fail("embed_tokens: ids ", ids.describe(), " hold fewer than ", ids_offset, " + ", rows, " ids");
  if (pos_table && (pos_table->rank() != 2 || pos_table->dim(1) != d))
    fail("embed_tokens: position table must be [P, ", d, "], found ", pos_table->describe());
  detail::expect_numel(op, "y", y, rows * d);
  if (opt.pad_id != EmbedOptions::kNoPad && (!pos_table || pos0 == 0))
    fail("embed_tokens: pad-aware positions need a position table and pos0 >= 1 (the pad row is pos0 - 1)");
  if (rows == 0 || d == 0) return;

  seq.context().backend().embed_tokens(seq, ids, ids_offset, batch, tokens, table, pos_table, pos0, step, y, opt);
}

Activation activation_parse(const std::string& name, const std::string& where) {
  if (name == "gelu") return Activation::GeluErf;
  if (name == "gelu_new" || name == "gelu_pytorch_tanh") return Activation::GeluTanh;
  if (name == "relu") return Activation::Relu;
  fail(ErrorCode::Model, where, ": activation '", name, "' is not supported (gelu, gelu_new, gelu_pytorch_tanh, relu)");
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
  seq.context().backend().class_prepend(seq, patches, cls, pos, y);
}

void add_positions(Sequence& seq, const Tensor& x, const Tensor& rows, uint32_t row0, const Tensor& y) {
  const char* op = "add_positions";
  detail::expect_dtype(op, "x", x, DType::F32);
  detail::expect_dtype(op, "rows", rows, DType::F32);
  detail::expect_dtype(op, "y", y, DType::F32);
  if (x.rank() != 3) fail("add_positions: x must be [B, T, D], found ", x.describe());
  const int64_t t = x.dim(1), d = x.dim(2);
  if (rows.rank() != 2 || rows.dim(1) != d) fail("add_positions: rows must be [R, ", d, "], found ", rows.describe());
  if (int64_t(row0) + t > rows.dim(0))
    fail("add_positions: rows ", row0, " .. ", int64_t(row0) + t - 1, " are past the table's ", rows.dim(0));
  detail::expect_numel(op, "y", y, x.numel());
  if (x.numel() == 0) return;
  u32(x.numel(), "elements");
  seq.context().backend().add_positions(seq, x, rows, row0, y);
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

  Conv2dShape s;
  s.batch = b, s.channels = c, s.height = h, s.width = wd, s.kernel = s.stride = patch;
  conv2d(seq, image, s, w, bias, cols, y);
}

namespace {
void eltwise(Sequence& seq, Eltwise code, const char* op, const Tensor& a, const Tensor* b, float s, const Tensor& y) {
  detail::expect_dtype(op, "a", a, DType::F32);
  detail::expect_dtype(op, "y", y, DType::F32);
  detail::expect_numel(op, "y", y, a.numel());
  if (b) detail::expect_numel(op, "b", *b, a.numel());
  if (a.numel() == 0) return;
  seq.context().backend().eltwise(seq, code, a, b, s, y, str(op, " ", a.numel()));
}
}  // namespace

void add(Sequence& seq, const Tensor& a, const Tensor& b, const Tensor& y) { eltwise(seq, Eltwise::Add, "add", a, &b, 0, y); }
void scale(Sequence& seq, const Tensor& a, float s, const Tensor& y) {
  eltwise(seq, Eltwise::Scale, "scale", a, nullptr, s, y);
}
void gelu(Sequence& seq, const Tensor& a, Activation kind, const Tensor& y) {
  if (kind == Activation::None) fail("gelu: activation kind None");
  const bool erf = kind == Activation::GeluErf;
  eltwise(seq, erf ? Eltwise::GeluErf : Eltwise::GeluTanh, erf ? "gelu_erf" : "gelu_tanh", a, nullptr, 0, y);
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
  seq.context().backend().gather_rows(seq, src, index, dst, rows, width);
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
  seq.context().backend().argmax(seq, x, ids, vals, out_offset, r.rows, r.n);
}

void topk(Sequence& seq, const Tensor& x, uint32_t k, const Tensor& ids, const Tensor& vals) {
  const Rows r = rows_of("topk", x);
  if (k == 0 || k > 64 || k > r.n) fail("topk: k must be in 1..min(64, ", r.n, "), found ", k);
  detail::expect_dtype("topk", "ids", ids, DType::U32);
  detail::expect_dtype("topk", "vals", vals, DType::F32);
  detail::expect_numel("topk", "ids", ids, int64_t(r.rows) * k);
  detail::expect_numel("topk", "vals", vals, int64_t(r.rows) * k);
  seq.context().backend().topk(seq, x, k, ids, vals, r.rows, r.n);
}

}  // namespace glimpse
