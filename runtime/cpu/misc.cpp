// Embeddings, element-wise ops, row gathers and token selection on the CPU.
#include "runtime/cpu/backend.hpp"
#include "runtime/cpu/kernels.hpp"
#include "runtime/cpu/pool.hpp"
#include "runtime/sequence.hpp"

#include <optional>
#include <vector>

namespace glimpse::cpu {

namespace {

void embed_tokens_run(const Tensor& ids, uint32_t ids_offset, uint32_t batch, uint32_t tokens, const Tensor& table,
                      const Tensor* pos_table, uint32_t pos0, const Tensor* step, const Tensor& y,
                      const EmbedOptions& opt) {
  const int64_t v = table.dim(0), d = table.dim(1), rows = int64_t(batch) * tokens;
  const int64_t p = pos_table ? pos_table->dim(0) : 1;
  const uint32_t past = step ? u32p(*step)[0] : 0u;
  const uint32_t* idp = u32p(ids) + ids_offset;
  const float* pp = pos_table ? f32(*pos_table) : nullptr;
  float* yp = f32(y);
  for (int64_t r = 0; r < rows; ++r) {
    // Out-of-range ids and positions are clamped, as shaders/embed.comp does.
    const int64_t id = std::min<int64_t>(idp[r], v - 1);
    int64_t pos = int64_t(pos0) + past + r % tokens;
    if (opt.pad_id != EmbedOptions::kNoPad) {  // fairseq make_positions: pads take pos0 - 1, others skip them
      if (idp[r] == opt.pad_id) {
        pos = int64_t(pos0) - 1;
      } else {
        for (int64_t q = r - r % tokens; q < r; ++q) pos -= idp[q] == opt.pad_id ? 1 : 0;
      }
    }
    pos = std::min<int64_t>(pos, p - 1);
    float* yr = yp + r * d;
    if (table.dtype == DType::F16) {
      halves_to_floats(u16p(table) + id * d, yr, d);
    } else {
      const float* tr = f32(table) + id * d;
      for (int64_t j = 0; j < d; ++j) yr[j] = tr[j];
    }
    if (opt.scale != 1.0f)
      for (int64_t j = 0; j < d; ++j) yr[j] *= opt.scale;
    if (pp)
      for (int64_t j = 0; j < d; ++j) yr[j] += pp[pos * d + j];
  }
}

void class_prepend_run(const Tensor& patches, const Tensor& cls, const Tensor& pos, const Tensor& y) {
  const int64_t b = patches.dim(0), np = patches.dim(1), d = patches.dim(2), nc = cls.numel() / d;
  const float *pa = f32(patches), *c = f32(cls), *po = f32(pos);
  float* yp = f32(y);
  for (int64_t i = 0; i < b; ++i) {
    float* yb = yp + i * (np + nc) * d;
    for (int64_t j = 0; j < nc * d; ++j) yb[j] = c[j] + po[j];
    for (int64_t t = 0; t < np; ++t)
      for (int64_t j = 0; j < d; ++j) yb[(t + nc) * d + j] = pa[(i * np + t) * d + j] + po[(t + nc) * d + j];
  }
}

void add_positions_run(const Tensor& x, const Tensor& rows, uint32_t row0, const Tensor& y) {
  const int64_t t = x.dim(1), d = x.dim(2), n = x.numel();
  const float *xp = f32(x), *rp = f32(rows) + int64_t(row0) * d;
  float* yp = f32(y);
  parallel_for(n / d, d, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* pos = rp + (r % t) * d;
      for (int64_t j = 0; j < d; ++j) yp[r * d + j] = xp[r * d + j] + pos[j];
    }
  });
}

void eltwise_run(Eltwise op, const Tensor& a, const Tensor* b, float s, const Tensor& y) {
  const int64_t n = a.numel();
  const float *ap = f32(a), *bp = b ? f32(*b) : nullptr;
  float* yp = f32(y);
  const bool gelu = op == Eltwise::GeluErf || op == Eltwise::GeluTanh;
  parallel_for(n, gelu ? 20 : 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float x = ap[i];
      yp[i] = op == Eltwise::Add ? x + bp[i] : op == Eltwise::Scale ? x * s : op == Eltwise::GeluErf ? gelu_erf(x) : gelu_tanh(x);
    }
  });
}

void gather_rows_run(const Tensor& src, const Tensor& index, const Tensor& dst) {
  const int64_t src_rows = src.dim(0), width = src.numel() / src_rows, rows = dst.dim(0);
  const float* sp = f32(src);
  float* dp = f32(dst);
  const uint32_t* ip = u32p(index);
  // dst may alias src's rows (beam reordering into the same cache): read through a copy.
  std::vector<float> copy;
  const auto lo = [](const float* p) { return reinterpret_cast<uintptr_t>(p); };
  if (lo(dp) < lo(sp + src.numel()) && lo(sp) < lo(dp + dst.numel())) {
    copy.assign(sp, sp + src.numel());
    sp = copy.data();
  }
  // Rows over the pool: DaViT's window partitions move 18 MB per pass at 768 px (26 ms on one core).
  parallel_for(rows, width, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      if (ip[r] == kZeroRow) {
        std::memset(dp + r * width, 0, size_t(width) * 4);
        continue;
      }
      const int64_t from = std::min<int64_t>(ip[r], src_rows - 1);
      std::memcpy(dp + r * width, sp + from * width, size_t(width) * 4);
    }
  });
}

// ---- selection ----------------------------------------------------------------------------------

void argmax_run(const Tensor& x, const Tensor& ids, const Tensor& vals, uint32_t out_offset) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  const float* xp = f32(x);
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = xp + r * n;
    int64_t best = 0;
    for (int64_t j = 1; j < n; ++j)
      if (row[j] > row[best]) best = j;  // the first among ties
    u32p(ids)[out_offset + r] = uint32_t(best);
    f32(vals)[out_offset + r] = row[best];
  }
}

void topk_run(const Tensor& x, uint32_t k, const Tensor& ids, const Tensor& vals) {
  const int64_t n = x.dim(-1), rows = x.numel() / n;
  const float* xp = f32(x);
  std::vector<uint32_t> order(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = xp + r * n;
    for (int64_t j = 0; j < n; ++j) order[size_t(j)] = uint32_t(j);
    std::partial_sort(order.begin(), order.begin() + k, order.end(), [&](uint32_t i, uint32_t j) {
      return row[i] > row[j] || (row[i] == row[j] && i < j);
    });
    for (uint32_t i = 0; i < k; ++i) {
      u32p(ids)[r * k + i] = order[i];
      f32(vals)[r * k + i] = row[order[i]];
    }
  }
}

}  // namespace

void CpuBackend::embed_tokens(Sequence& seq, const Tensor& ids, uint32_t ids_offset, uint32_t batch, uint32_t tokens,
                              const Tensor& table, const Tensor* pos_table, uint32_t pos0, const Tensor* step,
                              const Tensor& y, const EmbedOptions& opt) const {
  const std::optional<Tensor> pos = pos_table ? std::optional<Tensor>(*pos_table) : std::nullopt;
  const std::optional<Tensor> past = step ? std::optional<Tensor>(*step) : std::nullopt;
  seq.cpu_step(str("embed_tokens ", int64_t(batch) * tokens, "x", table.dim(1)),
               [ids, ids_offset, batch, tokens, table, pos, pos0, past, y, opt] {
                 embed_tokens_run(ids, ids_offset, batch, tokens, table, pos ? &*pos : nullptr, pos0,
                                  past ? &*past : nullptr, y, opt);
               });
}

void CpuBackend::class_prepend(Sequence& seq, const Tensor& patches, const Tensor& cls, const Tensor& pos,
                               const Tensor& y) const {
  const int64_t b = patches.dim(0), d = patches.dim(2);
  seq.cpu_step(str("class_prepend ", b, "x", y.numel() / (b * d), "x", d), [patches, cls, pos, y] {
    class_prepend_run(patches, cls, pos, y);
  });
}

void CpuBackend::add_positions(Sequence& seq, const Tensor& x, const Tensor& rows, uint32_t row0, const Tensor& y) const {
  seq.cpu_step(str("add_positions ", x.dim(0), "x", x.dim(1), "x", x.dim(2)),
               [x, rows, row0, y] { add_positions_run(x, rows, row0, y); });
}

void CpuBackend::eltwise(Sequence& seq, Eltwise op, const Tensor& a, const Tensor* b, float s, const Tensor& y,
                         const std::string& label) const {
  const std::optional<Tensor> bt = b ? std::optional<Tensor>(*b) : std::nullopt;
  seq.cpu_step(label, [op, a, bt, s, y] { eltwise_run(op, a, bt ? &*bt : nullptr, s, y); });
}

void CpuBackend::gather_rows(Sequence& seq, const Tensor& src, const Tensor& index, const Tensor& dst, int64_t rows,
                             int64_t width) const {
  seq.cpu_step(str("gather_rows ", rows, "x", width), [src, index, dst] { gather_rows_run(src, index, dst); });
}

void CpuBackend::argmax(Sequence& seq, const Tensor& x, const Tensor& ids, const Tensor& vals, uint32_t out_offset,
                        uint32_t rows, uint32_t n) const {
  seq.cpu_step(str("argmax ", rows, "x", n), [x, ids, vals, out_offset] { argmax_run(x, ids, vals, out_offset); });
}

void CpuBackend::topk(Sequence& seq, const Tensor& x, uint32_t k, const Tensor& ids, const Tensor& vals, uint32_t rows,
                      uint32_t n) const {
  seq.cpu_step(str("topk ", rows, "x", n, " k=", k), [x, k, ids, vals] { topk_run(x, k, ids, vals); });
}

}  // namespace glimpse::cpu
