// Embeddings, patch embedding, element-wise ops, argmax and top-k vs the CPU reference.
#include "runtime/weights.hpp"
#include "tests/op-test.hpp"

#include <catch2/catch.hpp>

#include <map>

using namespace glimpse;
using namespace glimpse::test;

TEST_CASE("embed_tokens gathers rows and adds positions (static and step-driven)", "[misc][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  Allocator host(ctx, MemoryKind::Host, "step");
  const int64_t v = 50, d = 24, p = 16;
  const uint32_t batch = 2, tokens = 3;
  const Floats table = random_floats(size_t(v * d), 1), pos = random_floats(size_t(p * d), 2);
  const std::vector<uint32_t> ids = {7, 0, 49, 3, 3, 12, 99 /* unused tail */};
  Tensor tt = upload(arena, table, {v, d}), pt = upload(arena, pos, {p, d});
  Tensor it = upload_u32(arena, ids, {7});
  Tensor step = host.alloc(DType::U32, {1});
  const uint32_t past = 5;
  tensor_upload(ctx, step, &past, 4);
  Tensor y1 = guarded_output(arena, DType::F32, {batch * tokens, d});
  Tensor y2 = guarded_output(arena, DType::F32, {batch * tokens, d});
  Tensor y3 = guarded_output(arena, DType::F32, {2, d});
  Sequence seq(ctx);
  embed_tokens(seq, it, 0, batch, tokens, tt, &pt, 0, nullptr, y1);
  embed_tokens(seq, it, 0, batch, tokens, tt, &pt, 2, &step, y2);  // positions 7, 8, 9
  embed_tokens(seq, it, 4, 2, 1, tt, nullptr, 0, nullptr, y3);     // ids 3, 12; no positions
  seq.run();
  const std::vector<uint32_t> first(ids.begin(), ids.begin() + 6);
  CHECK(download(y1) == ref::embed(first, tokens, table, d, &pos, 0));
  CHECK(download(y2) == ref::embed(first, tokens, table, d, &pos, 7));
  CHECK(download(y3) == ref::embed({3, 12}, 1, table, d, nullptr, 0));
  CHECK(guard_intact(y1));
  CHECK(guard_intact(y2));
  CHECK(guard_intact(y3));
}

TEST_CASE("embed_tokens reads a table larger than one storage binding", "[misc][ops]") {
  // 300000 x 112 fp32 rows: 134.4 MB, over lavapipe's 128 MiB maxStorageBufferRange (TrOCR-base's
  // 50265 x 1024 table is 206 MB). The Vulkan backend binds it in 256-row-aligned slices.
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const int64_t v = 300000, d = 112;
  Floats table(static_cast<size_t>(v * d));
  for (size_t i = 0; i < table.size(); ++i) table[i] = float(i % 9973) * 0.001f - float(i / size_t(d) % 7);
  Tensor tt = upload(arena, table, {v, d});
  const std::vector<uint32_t> ids = {5, 299519, 299520, 299999, 150000, 1000000 /* clamped to the last row */};
  Tensor it = upload_u32(arena, ids, {6});
  Tensor y = guarded_output(arena, DType::F32, {6, d});
  Sequence seq(ctx);
  EmbedOptions half;
  half.scale = 0.5f;
  embed_tokens(seq, it, 0, 6, 1, tt, nullptr, 0, nullptr, y, half);
  seq.run();
  const Floats got = download(y);
  for (size_t r = 0; r < ids.size(); ++r) {
    const size_t row = std::min<size_t>(ids[r], size_t(v - 1));
    INFO("id " << ids[r]);
    for (int64_t i = 0; i < d; ++i) CHECK(got[r * size_t(d) + size_t(i)] == table[row * size_t(d) + size_t(i)] * 0.5f);
  }
  CHECK(guard_intact(y));
}

TEST_CASE("embed_tokens scales rows and numbers positions around pads as fairseq does", "[misc][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  Allocator host(ctx, MemoryKind::Host, "step");
  const int64_t v = 20, d = 12, p = 24;
  const uint32_t batch = 2, tokens = 4, pad = 1;
  const Floats table = random_floats(size_t(v * d), 3), pos = random_floats(size_t(p * d), 4);
  // row 0: a pad in the middle moves the last token down; row 1: a leading pad, then plain tokens
  const std::vector<uint32_t> ids = {5, pad, 7, 9, pad, 3, 4, 6};
  Tensor tt = upload(arena, table, {v, d}), pt = upload(arena, pos, {p, d}), it = upload_u32(arena, ids, {8});
  Tensor step = host.alloc(DType::U32, {1});
  const uint32_t past = 3;
  tensor_upload(ctx, step, &past, 4);
  Tensor y1 = guarded_output(arena, DType::F32, {batch * tokens, d});
  Tensor y2 = guarded_output(arena, DType::F32, {batch * tokens, d});
  Tensor y3 = guarded_output(arena, DType::F32, {batch * tokens, d});
  Sequence seq(ctx);
  EmbedOptions scaled;
  scaled.scale = 3.4641016f;  // sqrt(12), as scale_embedding gives
  EmbedOptions fairseq = scaled;
  fairseq.pad_id = pad;
  embed_tokens(seq, it, 0, batch, tokens, tt, &pt, 2, nullptr, y1, scaled);
  embed_tokens(seq, it, 0, batch, tokens, tt, &pt, 2, nullptr, y2, fairseq);
  embed_tokens(seq, it, 0, batch, tokens, tt, &pt, 2, &step, y3, fairseq);
  seq.run();
  CHECK(download(y1) == ref::embed(ids, tokens, table, d, &pos, 2, scaled.scale));
  const Floats want2 = ref::embed(ids, tokens, table, d, &pos, 2, scaled.scale, pad);
  CHECK(download(y2) == want2);
  CHECK(download(y3) == ref::embed(ids, tokens, table, d, &pos, 2, scaled.scale, pad, past));
  // the reference itself: row 0's tokens at positions 2, pad row 1, 3, 4; row 1's pad at 1, then 2, 3, 4
  auto row_of = [&](const Floats& y, size_t r) { return Floats(y.begin() + r * d, y.begin() + (r + 1) * d); };
  auto expect = [&](uint32_t id, int64_t prow) {
    Floats e(static_cast<size_t>(d));
    for (int64_t i = 0; i < d; ++i) e[size_t(i)] = table[id * d + i] * scaled.scale + pos[size_t(prow * d + i)];
    return e;
  };
  CHECK(row_of(want2, 1) == expect(pad, 1));
  CHECK(row_of(want2, 3) == expect(9, 4));
  CHECK(row_of(want2, 4) == expect(pad, 1));
  CHECK(row_of(want2, 5) == expect(3, 2));
  CHECK(guard_intact(y1));
  CHECK(guard_intact(y2));
  CHECK(guard_intact(y3));
}

namespace {

// A checkpoint in memory (f32 tensors) for WeightLoader.
class MemorySource : public TensorSource {
 public:
  void add(const std::string& name, Floats values, const Shape& shape) {
    Entry& e = entries_[name];
    e.values = std::move(values);
    e.t.name = name;
    e.t.shape = shape;
    e.t.data = reinterpret_cast<const std::byte*>(e.values.data());
    e.t.bytes = e.values.size() * 4;
  }
  const StTensor* find(const std::string& name, const Shape&) const override {
    const auto it = entries_.find(name);
    return it == entries_.end() ? nullptr : &it->second.t;
  }

 private:
  struct Entry {
    Floats values;
    StTensor t;
  };
  std::map<std::string, Entry> entries_;
};

}  // namespace

TEST_CASE("tied_table: the embedding is the LM head's rows when the checkpoint ties them", "[misc][ops]") {
  Context& ctx = context();
  const int64_t v = 40, d = 24;
  const Floats table = random_floats(size_t(v * d), 3), other = random_floats(size_t(v * d), 4);
  const std::vector<uint32_t> ids = {5, 39, 0, 17};
  for (const DType store : {DType::F32, DType::F16}) {
    for (const int stored : {0, 1, 2}) {  // head only; head + equal embedding; head + different embedding
      DYNAMIC_SECTION((store == DType::F16 ? "f16" : "f32") << " weights, case " << stored) {
        MemorySource src;
        src.add("head", table, {v, d});
        if (stored == 1) src.add("emb", table, {v, d});
        if (stored == 2) src.add("emb", other, {v, d});
        Allocator arena(ctx, MemoryKind::Device, "test");
        WeightLoader w(ctx, arena, src, store);
        const LinearWeight head = w.linear("head", v, d);
        const Tensor t = w.tied_table("emb", "head", head, {v, d});
        const bool shared = t.buffer == head.packed.buffer && t.offset == head.packed.offset;
        CHECK(shared == (stored != 2));
        CHECK(t.dtype == (stored == 2 ? DType::F32 : head.dtype));
        Tensor it = upload_u32(arena, ids, {4});
        Tensor y = guarded_output(arena, DType::F32, {4, d});
        Sequence seq(ctx);
        embed_tokens(seq, it, 0, 4, 1, t, nullptr, 0, nullptr, y);
        seq.run();
        const Floats& expect_table = stored == 2 ? other : table;
        CHECK(download(y) == ref::embed(ids, 1, t.dtype == DType::F16 ? round_to_half(expect_table) : expect_table, d,
                                        nullptr, 0));
        CHECK(guard_intact(y));
      }
    }
  }
}

TEST_CASE("class_prepend puts the prefix tokens first and adds positions", "[misc][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const int64_t b = 3, np = 9, d = 16;
  for (int64_t c : {1, 2}) {  // the class token; DeiT's class and distillation tokens
    INFO("class_prepend b=" << b << " np=" << np << " d=" << d << " prefix tokens=" << c);
    const Floats patches = random_floats(size_t(b * np * d), 1), cls = random_floats(size_t(c * d), 2),
                 pos = random_floats(size_t((np + c) * d), 3);
    Tensor pt = upload(arena, patches, {b, np, d}), ct = upload(arena, cls, {c, d}), post = upload(arena, pos, {np + c, d});
    Tensor y = guarded_output(arena, DType::F32, {b, np + c, d});
    Sequence seq(ctx);
    class_prepend(seq, pt, ct, post, y);
    seq.run();
    const Floats want = ref::class_prepend(patches, b, np, d, cls, pos);
    CHECK(download(y) == want);
    CHECK(want[size_t((np + c) * d + (c - 1) * d)] == cls[size_t((c - 1) * d)] + pos[size_t((c - 1) * d)]);
    CHECK(guard_intact(y));
  }
}

TEST_CASE("patch_embed equals a strided convolution, patches row-major", "[misc][ops]") {
  Context& ctx = context();
  uint32_t seed = 10;
  const int64_t cases[][5] = {{1, 3, 32, 32, 16}, {2, 3, 48, 32, 16}, {2, 3, 24, 24, 8}, {1, 1, 14, 21, 7}};
  for (const auto& c : cases) {
    const int64_t b = c[0], ch = c[1], h = c[2], w = c[3], p = c[4], d = 40, np = (h / p) * (w / p), k = ch * p * p;
    for (DType dtype : {DType::F32, DType::F16}) {
      INFO("patch_embed b=" << b << " c=" << ch << " h=" << h << " w=" << w << " p=" << p << " " << dtype_name(dtype));
      Allocator arena(ctx, MemoryKind::Device, "test");
      const Floats image = random_floats(size_t(b * ch * h * w), seed++);
      const Floats weight = random_floats(size_t(d * k), seed++, -0.2f, 0.2f), bias = random_floats(size_t(d), seed++);
      LinearWeight wt = linear_weight_upload(ctx, arena, weight.data(), HostType::F32, d, k, WeightLayout::OutIn, dtype);
      Tensor it = upload(arena, image, {b, ch, h, w}), bt = upload(arena, bias, {d});
      Tensor cols = arena.alloc(DType::F32, {b * np, k});
      Tensor y = guarded_output(arena, DType::F32, {b, np, d});
      Sequence seq(ctx);
      patch_embed(seq, it, uint32_t(p), wt, &bt, cols, y);
      seq.run();
      const Floats wref = dtype == DType::F16 ? round_to_half(weight) : weight;
      // im2col only moves pixels: rounding the image is rounding the GEMM's input.
      CHECK(nmse(download(y), ref::patch_embed(gemm_input(ctx, wt.dtype, b * np, image), b, ch, h, w, p, wref, d,
                                               bias.data())) < 1e-10);
      CHECK(guard_intact(y));
    }
  }
  Allocator arena(ctx, MemoryKind::Device, "test");
  const Floats weight(40 * 3 * 16 * 16, 0.0f);
  LinearWeight wt = linear_weight_upload(ctx, arena, weight.data(), HostType::F32, 40, 3 * 16 * 16, WeightLayout::OutIn, DType::F32);
  Tensor it = arena.alloc(DType::F32, {1, 3, 30, 32}), cols = arena.alloc(DType::F32, {4, 768}), y = arena.alloc(DType::F32, {1, 4, 40});
  Sequence seq(ctx);
  CHECK_THROWS_WITH(patch_embed(seq, it, 16, wt, nullptr, cols, y), Catch::Contains("not a whole number of 16x16 patches"));
}

TEST_CASE("element-wise add, scale and gelu", "[misc][ops]") {
  Context& ctx = context();
  for (int64_t n : {1, 63, 64, 65, 100000}) {
    INFO("eltwise n=" << n);
    Allocator arena(ctx, MemoryKind::Device, "test");
    const Floats a = random_floats(size_t(n), 1, -6, 6), b = random_floats(size_t(n), 2);
    Tensor at = upload(arena, a, {n}), bt = upload(arena, b, {n});
    Tensor ys = guarded_output(arena, DType::F32, {n}), yc = guarded_output(arena, DType::F32, {n});
    Tensor ye = guarded_output(arena, DType::F32, {n}), yt = guarded_output(arena, DType::F32, {n});
    Sequence seq(ctx);
    add(seq, at, bt, ys);
    scale(seq, at, 0.125f, yc);
    gelu(seq, at, Activation::GeluErf, ye);
    gelu(seq, at, Activation::GeluTanh, yt);
    seq.run();
    const size_t count = static_cast<size_t>(n);
    Floats sum(count), scaled(count), ge(count), gt(count);
    for (size_t i = 0; i < size_t(n); ++i) {
      sum[i] = a[i] + b[i];
      scaled[i] = a[i] * 0.125f;
      ge[i] = ref::gelu_erf(a[i]);
      gt[i] = ref::gelu_tanh(a[i]);
    }
    CHECK(download(ys) == sum);
    CHECK(download(yc) == scaled);
    CHECK(nmse(download(ye), ge) < 1e-12);
    CHECK(nmse(download(yt), gt) < 1e-12);
    for (const Tensor* t : {&ys, &yc, &ye, &yt}) CHECK(guard_intact(*t));
  }
}

TEST_CASE("gelu stays finite for large inputs", "[misc][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const Floats a = {-1e4f, -100.0f, -10.0f, 0.0f, 10.0f, 100.0f, 1e4f, 3e38f};
  Tensor at = upload(arena, a, {8});
  Tensor ye = arena.alloc(DType::F32, {8}), yt = arena.alloc(DType::F32, {8});
  Sequence seq(ctx);
  gelu(seq, at, Activation::GeluErf, ye);
  gelu(seq, at, Activation::GeluTanh, yt);
  seq.run();
  for (const Tensor* t : {&ye, &yt}) {
    const Floats got = download(*t);
    CHECK(all_finite(got));
    CHECK(got[0] == 0.0f);
    CHECK(got[6] == 1e4f);
  }
}

TEST_CASE("argmax returns the first maximum of each row", "[misc][ops]") {
  Context& ctx = context();
  for (int64_t n : {1, 7, 255, 256, 257, 30524, 50257}) {
    for (int64_t rows : {1, 3}) {
      INFO("argmax rows=" << rows << " n=" << n);
      Allocator arena(ctx, MemoryKind::Device, "test");
      Floats x = random_floats(size_t(rows * n), uint32_t(n + rows));
      if (n > 10) {  // a tie: the first index must win, as torch.argmax
        x[size_t(n / 2)] = 5.0f;
        x[size_t(n / 3)] = 5.0f;
      }
      Tensor xt = upload(arena, x, {rows, n});
      Tensor ids = guarded_output(arena, DType::U32, {rows + 2}), vals = guarded_output(arena, DType::F32, {rows + 2});
      Sequence seq(ctx);
      argmax(seq, xt, ids, vals, 2);
      seq.run();
      const auto want = ref::argmax(x, rows, n);
      const auto got = download_u32(ids);
      const Floats got_v = download(vals);
      for (int64_t r = 0; r < rows; ++r) {
        CHECK(got[size_t(r + 2)] == want[size_t(r)]);
        CHECK(got_v[size_t(r + 2)] == x[size_t(r * n) + want[size_t(r)]]);
      }
      CHECK(guard_intact(ids));
      CHECK(guard_intact(vals));
    }
  }
}

TEST_CASE("topk returns the k largest, sorted, ties by index", "[misc][ops]") {
  Context& ctx = context();
  for (int64_t n : {5, 64, 1000, 30524}) {
    for (uint32_t k : {1u, 5u, 50u, 64u}) {
      if (k > n) continue;
      INFO("topk n=" << n << " k=" << k);
      Allocator arena(ctx, MemoryKind::Device, "test");
      const int64_t rows = 2;
      Floats x = random_floats(size_t(rows * n), uint32_t(n * k));
      if (n > 10) x[3] = x[7] = 9.0f;  // tie at the top
      Tensor xt = upload(arena, x, {rows, n});
      Tensor ids = guarded_output(arena, DType::U32, {rows, k}), vals = guarded_output(arena, DType::F32, {rows, k});
      Sequence seq(ctx);
      topk(seq, xt, k, ids, vals);
      seq.run();
      std::vector<uint32_t> want_ids;
      Floats want_vals;
      ref::topk(x, rows, n, k, want_ids, want_vals);
      CHECK(download_u32(ids) == want_ids);
      CHECK(download(vals) == want_vals);
      CHECK(guard_intact(ids));
      CHECK(guard_intact(vals));
    }
  }
}

TEST_CASE("gather_rows reorders rows by a run-time index", "[misc][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  Allocator host(ctx, MemoryKind::Host, "index");
  const int64_t rows = 4, width = 3 * 5;
  const Floats src = random_floats(size_t(rows * width), 3);
  Tensor st = upload(arena, src, {rows, 3, 5});
  Tensor index = host.alloc(DType::U32, {8});
  Tensor dst = guarded_output(arena, DType::F32, {8, 3, 5});
  Sequence seq(ctx);
  gather_rows(seq, st, index, dst);
  for (const std::vector<uint32_t>& idx : {std::vector<uint32_t>{0, 0, 0, 0, 1, 1, 1, 1}, {3, 2, 1, 0, 3, 3, 2, 0}}) {
    tensor_upload(ctx, index, idx.data(), idx.size() * 4);
    seq.run();  // one recording, a new index each replay
    CHECK(download(dst) == ref::gather_rows(src, width, idx));
  }
  CHECK(guard_intact(dst));
}
