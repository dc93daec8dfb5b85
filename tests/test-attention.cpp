// attention and kv_append vs the CPU reference, including replayed decode with a growing cache.
#include "tests/op-test.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <cstring>

using namespace glimpse;
using namespace glimpse::test;

namespace {

struct AttnCase {
  uint32_t batch, heads, dh, tq, tk;
  bool causal, mask;
  bool fp16 = false;  // AttentionArgs::fp16: compared with fp16-rounded Q, K, V at an fp16 bar
  // K | V in one fp16 [B, Tk, 2D] tensor, as fp16 models' cross-attention K/V on the CPU backend
  // (the Vulkan backend must refuse them).
  bool half_kv = false;
};

void check_attention(Context& ctx, const AttnCase& c, uint32_t seed) {
  INFO("attention b=" << c.batch << " h=" << c.heads << " dh=" << c.dh << " tq=" << c.tq << " tk=" << c.tk
                      << " causal=" << c.causal << " mask=" << c.mask << " fp16=" << c.fp16
                      << " half_kv=" << c.half_kv);
  Allocator arena(ctx, MemoryKind::Device, "test");
  const uint32_t width = c.heads * c.dh;
  const Floats q = random_floats(size_t(c.batch) * c.tq * width, seed, -2, 2);
  const Floats k = random_floats(size_t(c.batch) * c.tk * width, seed + 1, -2, 2);
  const Floats v = random_floats(size_t(c.batch) * c.tk * width, seed + 2);
  Floats mask(size_t(c.batch) * c.tk, 0.0f);
  if (c.mask)  // padding: the last third of each batch row's keys masked out as BLIP does (-10000)
    for (uint32_t b = 0; b < c.batch; ++b)
      for (uint32_t j = c.tk - (c.tk / 3) * (b % 2); j < c.tk; ++j) mask[size_t(b) * c.tk + j] = -10000.0f;
  Tensor qt = upload(arena, q, {c.batch, c.tq, width});
  Tensor kt, vt, kvt;
  if (c.half_kv) {
    Floats kv;
    for (size_t r = 0; r < size_t(c.batch) * c.tk; ++r) {
      kv.insert(kv.end(), k.begin() + r * width, k.begin() + (r + 1) * width);
      kv.insert(kv.end(), v.begin() + r * width, v.begin() + (r + 1) * width);
    }
    kvt = upload_f16(arena, kv, {c.batch, c.tk, 2 * width});
  } else {
    kt = upload(arena, k, {c.batch, c.tk, width});
    vt = upload(arena, v, {c.batch, c.tk, width});
  }
  Tensor mt = upload(arena, mask, {c.batch, c.tk});
  Tensor o = guarded_output(arena, DType::F32, {c.batch, c.tq, width});
  AttentionArgs a;
  a.batch = c.batch;
  a.heads = c.heads;
  a.head_dim = c.dh;
  a.q_len = c.tq;
  a.kv_len = c.tk;
  a.causal = c.causal;
  a.fp16 = c.fp16;
  a.q = AttnView::dense(qt, c.tq, width);
  a.k = c.half_kv ? AttnView{&kvt, 0, 2 * width, c.tk * 2 * width} : AttnView::dense(kt, c.tk, width);
  a.v = c.half_kv ? AttnView{&kvt, width, 2 * width, c.tk * 2 * width} : AttnView::dense(vt, c.tk, width);
  a.o = AttnView::dense(o, c.tq, width);
  if (c.mask) {
    a.mask = &mt;
    a.mask_batch_stride = c.tk;
  }
  Sequence seq(ctx);
  if (c.half_kv && !ctx.backend().attention_f16_kv()) {
    CHECK_THROWS_WITH(attention(seq, a), Catch::Contains("fp16 K/V") && Catch::Contains("CPU backend"));
    return;
  }
  attention(seq, a);
  seq.run();
  const Floats got = download(o, ctx);
  // fp16 models: the tensor-core kernel rounds Q, K, V (the reference does too) and the
  // probabilities (it cannot: that error, ~1e-8, is what the looser bar allows).
  const auto in = [&](const Floats& f) { return c.fp16 ? round_to_half(f) : f; };
  const auto kv_in = [&](const Floats& f) { return c.fp16 || c.half_kv ? round_to_half(f) : f; };
  const Floats want = ref::attention(in(q), kv_in(k), kv_in(v), c.batch, c.heads, c.dh, c.tq, c.tk, c.causal,
                                     c.mask ? mask.data() : nullptr, 1.0f / std::sqrt(float(c.dh)));
  CHECK(all_finite(got));
  CHECK(guard_intact(o, ctx));
  CHECK(nmse(got, want) < (c.fp16 ? 1e-6 : 1e-10));  // half_kv: the same fp16 values, sums in another order
}

const AttnCase kCases[] = {
    {1, 1, 8, 1, 1, false, false},     {1, 2, 8, 7, 7, true, false},       {1, 12, 64, 577, 577, false, false},
    {2, 3, 64, 1, 577, false, false},  {2, 12, 64, 20, 577, false, false}, {1, 4, 128, 33, 33, true, false},
    {3, 2, 24, 9, 13, false, true},    {2, 2, 64, 5, 5, true, true},       {1, 2, 16, 3, 40, true, false},
    {2, 8, 96, 17, 1, false, false},   {1, 1, 120, 65, 130, false, true},  {2, 2, 32, 300, 310, true, true},
};

}  // namespace

TEST_CASE("attention matches the reference", "[attention][ops]") {
  uint32_t seed = 1;
  for (const AttnCase& c : kCases) check_attention(context(), c, seed += 10);
}

TEST_CASE("attention with GPU kernel shapes and storage-buffer K/V", "[attention][ops]") {
  uint32_t seed = 500;
  for (const char* tuning : {"gpu", "cpu"}) {
    auto ctx = context_with({{"GLIMPSE_TUNING", tuning}, {"GLIMPSE_DISABLE_TEXEL", "1"}});
    for (const AttnCase& c : kCases) check_attention(*ctx, c, seed += 10);
  }
  auto ctx = context_with({{"GLIMPSE_TUNING", "gpu"}});
  for (const AttnCase& c : kCases) check_attention(*ctx, c, seed += 10);
}

TEST_CASE("attention of fp16 models (tensor cores where the device has them)", "[attention][ops]") {
  // Partial query tiles (16 per subgroup) and key blocks (32), head dims 32/48/64, causal, masks,
  // batches; dims the tensor-core kernel does not take (16, 128) fall back to the fp32 kernels.
  const AttnCase cases[] = {
      {1, 12, 64, 577, 577, false, false, true}, {2, 3, 64, 40, 70, false, true, true},
      {1, 2, 32, 16, 16, false, false, true},    {2, 2, 48, 33, 40, true, true, true},
      {1, 4, 64, 9, 200, false, false, true},    {3, 1, 64, 130, 150, true, false, true},
      {1, 2, 16, 20, 20, false, false, true},    {1, 2, 128, 20, 40, false, true, true},
  };
  uint32_t seed = 900;
  if (!context().caps().attention_coop)
    WARN("no tensor-core attention on " << context().info().name << ": only the fallback kernels are tested");
  for (const AttnCase& c : cases) check_attention(context(), c, seed += 10);
  if (!context().caps().attention_coop) return;
  for (const char* subgroups : {"1", "2"}) {  // every workgroup shape the kernel may be given
    auto ctx = context_with({{"GLIMPSE_ATTENTION_SUBGROUPS", subgroups}});
    for (const AttnCase& c : cases) check_attention(*ctx, c, seed += 10);
  }
}

TEST_CASE("attention reads a fused QKV projection through strided views", "[attention][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const uint32_t b = 2, t = 11, h = 4, dh = 16, d = h * dh;
  const Floats qkv = random_floats(size_t(b) * t * 3 * d, 77);  // [B, T, 3D]: q | k | v
  Floats q(size_t(b) * t * d), k(q.size()), v(q.size());
  for (size_t r = 0; r < size_t(b) * t; ++r)
    for (uint32_t i = 0; i < d; ++i) {
      q[r * d + i] = qkv[r * 3 * d + i];
      k[r * d + i] = qkv[r * 3 * d + d + i];
      v[r * d + i] = qkv[r * 3 * d + 2 * d + i];
    }
  Tensor qkvt = upload(arena, qkv, {b, t, 3 * d});
  Tensor o = guarded_output(arena, DType::F32, {b, t, d});
  AttentionArgs a;
  a.batch = b;
  a.heads = h;
  a.head_dim = dh;
  a.q_len = a.kv_len = t;
  a.causal = true;
  a.q = {&qkvt, 0, 3 * d, t * 3 * d};
  a.k = {&qkvt, d, 3 * d, t * 3 * d};
  a.v = {&qkvt, 2 * d, 3 * d, t * 3 * d};
  a.o = AttnView::dense(o, t, d);
  Sequence seq(ctx);
  attention(seq, a);
  seq.run();
  CHECK(guard_intact(o));
  CHECK(nmse(download(o), ref::attention(q, k, v, b, h, dh, t, t, true, nullptr, 0.25f)) < 1e-10);
}

TEST_CASE("decode replay: kv_append + attention over a growing cache, one recording", "[attention][ops]") {
  // One step of a decoder, recorded once and replayed for every position: the new token's K/V
  // are appended at step[0] and attention covers step[0] + 1 keys, as greedy decode will do.
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  Allocator host(ctx, MemoryKind::Host, "step");
  const uint32_t b = 2, h = 3, dh = 32, d = h * dh, max_t = 12;
  Tensor step = host.alloc(DType::U32, {1});
  Tensor q = arena.alloc(DType::F32, {b, 1, d});
  Tensor knew = arena.alloc(DType::F32, {b, 1, d}), vnew = arena.alloc(DType::F32, {b, 1, d});
  Tensor kc = guarded_output(arena, DType::F32, {b, max_t, d}), vc = guarded_output(arena, DType::F32, {b, max_t, d});
  Tensor o = guarded_output(arena, DType::F32, {b, 1, d});

  Sequence seq(ctx);
  KvAppendArgs app;
  app.batch = b;
  app.tokens = 1;
  app.dim = d;
  app.max_t = max_t;
  app.step = &step;
  app.src = AttnView::dense(knew, 1, d);
  app.cache = &kc;
  kv_append(seq, app);
  app.src = AttnView::dense(vnew, 1, d);
  app.cache = &vc;
  kv_append(seq, app);
  AttentionArgs a;
  a.batch = b;
  a.heads = h;
  a.head_dim = dh;
  a.q_len = 1;
  a.kv_len = 1;  // + step[0]
  a.kv_len_add_past = true;
  a.step = &step;
  a.causal = true;
  a.q = AttnView::dense(q, 1, d);
  a.k = AttnView::dense(kc, max_t, d);
  a.v = AttnView::dense(vc, max_t, d);
  a.o = AttnView::dense(o, 1, d);
  attention(seq, a);
  const size_t recorded = seq.dispatch_count();

  Floats kcache(size_t(b) * max_t * d, 0.0f), vcache(kcache.size(), 0.0f);
  for (uint32_t pos = 0; pos < 8; ++pos) {
    INFO("decode position " << pos);
    const Floats qh = random_floats(size_t(b) * d, 1000 + pos), kh = random_floats(size_t(b) * d, 2000 + pos),
                 vh = random_floats(size_t(b) * d, 3000 + pos);
    tensor_upload(ctx, q, qh.data(), qh.size() * 4);
    tensor_upload(ctx, knew, kh.data(), kh.size() * 4);
    tensor_upload(ctx, vnew, vh.data(), vh.size() * 4);
    tensor_upload(ctx, step, &pos, 4);
    seq.run();
    ref::kv_append(kcache, b, max_t, d, kh, 1, pos);
    ref::kv_append(vcache, b, max_t, d, vh, 1, pos);
    // Reference over the first pos + 1 cache rows of each batch.
    Floats kd, vd;
    for (uint32_t n = 0; n < b; ++n) {
      kd.insert(kd.end(), kcache.begin() + n * max_t * d, kcache.begin() + (n * max_t + pos + 1) * d);
      vd.insert(vd.end(), vcache.begin() + n * max_t * d, vcache.begin() + (n * max_t + pos + 1) * d);
    }
    CHECK(nmse(download(o), ref::attention(qh, kd, vd, b, h, dh, 1, pos + 1, true, nullptr,
                                           1.0f / std::sqrt(float(dh)))) < 1e-10);
    const Floats kgot = download(kc);
    for (uint32_t n = 0; n < b; ++n)
      for (uint32_t i = 0; i < (pos + 1) * d; ++i) REQUIRE(kgot[n * max_t * d + i] == kcache[n * max_t * d + i]);
  }
  CHECK(seq.dispatch_count() == recorded);  // replays never re-record
  CHECK(guard_intact(kc));
  CHECK(guard_intact(vc));
  CHECK(guard_intact(o));
}

TEST_CASE("kv_append drops rows past the cache and reads strided sources", "[attention][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const uint32_t b = 2, t = 3, d = 8, max_t = 4;
  const Floats fused = random_floats(size_t(b) * t * 2 * d, 5);  // [B, T, 2D]: take the second half
  Floats src(size_t(b) * t * d);
  for (size_t r = 0; r < size_t(b) * t; ++r)
    for (uint32_t i = 0; i < d; ++i) src[r * d + i] = fused[r * 2 * d + d + i];
  Tensor ft = upload(arena, fused, {b, t, 2 * d});
  Floats init = random_floats(size_t(b) * max_t * d, 6);
  Tensor cache = guarded_output(arena, DType::F32, {b, max_t, d});
  tensor_upload(ctx, cache, init.data(), init.size() * 4);
  Sequence seq(ctx);
  KvAppendArgs app;
  app.batch = b;
  app.tokens = t;
  app.dim = d;
  app.src = {&ft, d, 2 * d, t * 2 * d};
  app.cache = &cache;
  app.max_t = max_t;
  app.pos0 = 2;  // rows 2, 3 written; the third token falls off the end
  kv_append(seq, app);
  seq.run();
  ref::kv_append(init, b, max_t, d, src, t, 2);
  CHECK(download(cache) == init);
  CHECK(guard_intact(cache));
}

TEST_CASE("attention reads fp16 K/V on the CPU backend", "[attention][ops]") {
  // Decode (few queries: the SIMD loops) and many queries (each head widened for the GEMMs), with
  // masks and batches; 300 x 577: several query blocks per head (runtime/cpu/attention.cpp
  // kScoresBlockBytes), a thread's blocks spanning two heads, each head's K/V widened once.
  Context& ctx = context();
  const AttnCase cases[] = {
      {1, 12, 64, 1, 577, false, false, false, true}, {2, 3, 64, 4, 37, false, true, false, true},
      {1, 2, 16, 1, 5, false, false, false, true},    {2, 4, 64, 20, 577, false, true, false, true},
      {1, 2, 32, 300, 70, false, false, false, true}, {3, 1, 120, 9, 13, false, true, false, true},
      {1, 3, 64, 300, 577, false, true, false, true}, {2, 6, 64, 300, 577, false, false, false, true},
      {2, 2, 64, 33, 40, true, true, false, true},
  };
  uint32_t seed = 1300;
  for (const AttnCase& c : cases) check_attention(ctx, c, seed += 10);
  // K and V must share a dtype.
  Allocator arena(ctx, MemoryKind::Device, "test");
  Tensor x = arena.alloc(DType::F32, {1, 4, 64});
  Tensor h = arena.alloc(DType::F16, {1, 4, 64});
  AttentionArgs a;
  a.heads = 1;
  a.head_dim = 64;
  a.q_len = a.kv_len = 4;
  a.q = a.k = a.o = AttnView::dense(x, 4, 64);
  a.v = AttnView::dense(h, 4, 64);
  Sequence seq(ctx);
  CHECK_THROWS_WITH(attention(seq, a), Catch::Contains("must have one dtype"));
  a.q = AttnView::dense(h, 4, 64);
  a.k = a.v;
  CHECK_THROWS_WITH(attention(seq, a), Catch::Contains("q must be f32"));
}

TEST_CASE("attention rejects bad arguments", "[attention][ops]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  Tensor x = arena.alloc(DType::F32, {1, 4, 64});
  AttentionArgs a;
  a.heads = 1;
  a.head_dim = 60;
  a.q_len = a.kv_len = 4;
  a.q = a.k = a.v = a.o = AttnView::dense(x, 4, 64);
  Sequence seq(ctx);
  CHECK_THROWS_WITH(attention(seq, a), Catch::Contains("multiple of 8 up to 128"));
  a.head_dim = 64;
  a.kv_len = 5;
  CHECK_THROWS_WITH(attention(seq, a), Catch::Contains("overruns"));
  a.kv_len = 3;
  a.causal = true;
  CHECK_THROWS_WITH(attention(seq, a), Catch::Contains("kv_len >= q_len"));
}
