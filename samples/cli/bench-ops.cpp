// glimpse bench ops / bench startup: the op benchmark on BLIP-base shapes, beside OpenBLAS
// measured in the same run (interleaved, medians), and the start-up cost with cold/warm caches.
#include "runtime/blas.hpp"
#include "runtime/device.hpp"
#include "runtime/error.hpp"
#include "runtime/memory.hpp"
#include "runtime/ops.hpp"
#include "runtime/pipeline.hpp"
#include "commands.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <thread>

namespace glimpse::cli {

namespace {

using Clock = std::chrono::steady_clock;
double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

// OpenBLAS (runtime/blas.hpp) as the yardstick, when it is installed.
struct Blas {
  const glimpse::Blas* lib = glimpse::blas_get();
  std::string config = lib ? lib->config : std::string();
  bool ok() const { return lib != nullptr; }
  // y[M,N] = x[M,K] W[N,K]^T, as glimpse's linear.
  void linear(int m, int k, int n, const float* x, const float* w, float* y) const {
    if (m == 1) lib->sgemv(glimpse::Blas::kRowMajor, glimpse::Blas::kNoTrans, n, k, 1.0f, w, k, x, 1, 0.0f, y, 1);
    else lib->sgemm(glimpse::Blas::kRowMajor, glimpse::Blas::kNoTrans, glimpse::Blas::kTrans, m, n, k, 1.0f, x, k, w, k, 0.0f, y, n);
  }
};

// OpenBLAS on all its threads while the peer runs (the CPU backend sets one, running it inside
// its own pool): set around a burst, not inside the timed calls.
class PeerThreads {
 public:
  PeerThreads() : lib_(glimpse::blas_get()), before_(lib_ ? lib_->get_threads() : 0) {
    if (lib_) lib_->set_threads(lib_->threads);
  }
  ~PeerThreads() {
    if (lib_) lib_->set_threads(before_);
  }
  PeerThreads(const PeerThreads&) = delete;
  PeerThreads& operator=(const PeerThreads&) = delete;

 private:
  const glimpse::Blas* lib_;
  int before_;
};

std::vector<float> random_floats(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

Tensor upload(Context& ctx, Allocator& arena, const std::vector<float>& data, Shape shape) {
  Tensor t = arena.alloc(DType::F32, shape);
  tensor_upload(ctx, t, data.data(), data.size() * 4);
  return t;
}

struct Options {
  int reps = 5;
  bool quick = false;
  bool blas = true;
  std::string only;  // run only the groups whose name contains this (linear, gemv, attn, rows)
  bool wants(const char* group) const { return only.empty() || std::string(group).find(only) != std::string::npos; }
};

// Runs `seq` and `peer` in alternating bursts (A B A B ...), reps bursts each. A burst repeats its
// side back to back for ~20 ms after one warm-up call and keeps the median, so both sides are
// timed warm; a pause before each burst lets OpenBLAS's spinning worker threads (~130 ms after
// a call) go idle instead of competing with lavapipe's threads. Returns medians over bursts of the
// device time, the peer's time and the per-pair ratio peer/device.
struct Timing {
  double device_ms = 0, peer_ms = 0, ratio = 0;
};

template <typename F>
double burst_median(F&& timed_call) {
  const double first = timed_call();
  const int n = std::clamp(int(20.0 / std::max(first, 1e-3)), 3, 50);
  std::vector<double> t;
  for (int i = 0; i < n; ++i) t.push_back(timed_call());
  return median(t);
}

template <typename Peer>
Timing time_interleaved(Sequence& seq, int reps, Peer&& peer, bool with_peer) {
  auto device_call = [&] {
    const auto t0 = Clock::now();
    seq.run();
    const double wall = ms_since(t0);
    return seq.profiling() ? seq.profile_total_ms() : wall;
  };
  auto peer_call = [&] {
    const auto t0 = Clock::now();
    peer();
    return ms_since(t0);
  };
  const auto settle = [] { std::this_thread::sleep_for(std::chrono::milliseconds(300)); };
  std::vector<double> dev, ref, ratio;
  for (int r = 0; r < reps; ++r) {
    if (with_peer) settle();
    dev.push_back(burst_median(device_call));
    if (with_peer) {
      settle();
      const PeerThreads all_threads;
      ref.push_back(burst_median(peer_call));
      ratio.push_back(ref.back() / dev.back());
    }
  }
  return {median(dev), median(ref), median(ratio)};
}

void bench_linear(Context& ctx, const Blas& blas, const Options& opt, int m, int k, int n) {
  for (DType dtype : {DType::F32, DType::F16}) {
    Allocator weights(ctx, MemoryKind::Device, "bench weights");
    Allocator acts(ctx, MemoryKind::Device, "bench activations");
    const auto wh = random_floats(size_t(n) * k, 1, 0.05f);
    const auto xh = random_floats(size_t(m) * k, 2);
    LinearWeight w = linear_weight_upload(ctx, weights, wh.data(), HostType::F32, n, k, WeightLayout::OutIn, dtype);
    Tensor x = upload(ctx, acts, xh, {m, k});
    Tensor y = acts.alloc(DType::F32, {m, n});
    Sequence seq(ctx);
    seq.profiling_set(true);
    linear(seq, x, w, y);
    std::vector<float> yh(size_t(m) * n);
    const bool with_blas = opt.blas && blas.ok();  // fp32 BLAS is the peer for both weight types
    Timing t = time_interleaved(seq, opt.reps, [&] { blas.linear(m, k, n, xh.data(), wh.data(), yh.data()); }, with_blas);
    const double flop = 2.0 * m * k * n;
    const double wbytes = double(w.packed.bytes);
    std::printf("%-8s %5d x %4d -> %5d  %s  %9.3f ms %7.1f GFLOP/s", m <= 8 ? "gemv" : "linear", m, k, n,
                dtype_name(w.dtype), t.device_ms, flop / t.device_ms * 1e-6);
    if (m <= 8) std::printf(" %6.1f GB/s", wbytes / t.device_ms * 1e-6);  // weight streaming rate
    else std::printf("            ");
    if (with_blas)
      std::printf("   | OpenBLAS %8.3f ms %7.1f GFLOP/s  glimpse/BLAS time %5.2fx", t.peer_ms, flop / t.peer_ms * 1e-6,
                  1.0 / t.ratio);
    std::printf("\n");
    std::fflush(stdout);
  }
}

// fp16: as an fp16 model runs it (AttentionArgs::fp16: tensor cores where the device has them).
void bench_attention(Context& ctx, const Options& opt, int tq, int tk, bool causal, bool fp16 = false) {
  const int heads = 12, dh = 64, width = heads * dh;
  Allocator acts(ctx, MemoryKind::Device, "bench activations");
  Tensor q = upload(ctx, acts, random_floats(size_t(tq) * width, 3), {1, tq, width});
  Tensor k = upload(ctx, acts, random_floats(size_t(tk) * width, 4), {1, tk, width});
  Tensor v = upload(ctx, acts, random_floats(size_t(tk) * width, 5), {1, tk, width});
  Tensor o = acts.alloc(DType::F32, {1, tq, width});
  AttentionArgs a;
  a.heads = heads;
  a.head_dim = dh;
  a.q_len = uint32_t(tq);
  a.kv_len = uint32_t(tk);
  a.causal = causal;
  a.fp16 = fp16;
  a.q = AttnView::dense(q, tq, width);
  a.k = AttnView::dense(k, tk, width);
  a.v = AttnView::dense(v, tk, width);
  a.o = AttnView::dense(o, tq, width);
  Sequence seq(ctx);
  seq.profiling_set(true);
  attention(seq, a);
  Timing t = time_interleaved(seq, opt.reps, [] {}, false);
  const double flop = 4.0 * heads * tq * tk * dh;
  std::printf("%-8s %5d x %4d  %2dx%d %s %s  %9.3f ms %7.1f GFLOP/s\n", "attn", tq, tk, heads, dh,
              causal ? "causal" : "      ", fp16 ? "f16" : "f32", t.device_ms, flop / t.device_ms * 1e-6);
  std::fflush(stdout);
}

void bench_rows(Context& ctx, const Options& opt, int rows, int n) {
  Allocator acts(ctx, MemoryKind::Device, "bench activations");
  Tensor x = upload(ctx, acts, random_floats(size_t(rows) * n, 6), {rows, n});
  Tensor g = upload(ctx, acts, random_floats(size_t(n), 7), {n});
  Tensor y = acts.alloc(DType::F32, {rows, n});
  Tensor ids = acts.alloc(DType::U32, {rows});
  Tensor vals = acts.alloc(DType::F32, {rows});
  struct Case {
    const char* name;
    std::function<void(Sequence&)> record;
  };
  const Case cases[] = {
      {"layernorm", [&](Sequence& s) { layer_norm(s, x, &y, g, g, 1e-12f, y); }},
      {"softmax", [&](Sequence& s) { softmax(s, x, y); }},
      {"argmax", [&](Sequence& s) { argmax(s, x, ids, vals); }},
  };
  for (const Case& c : cases) {
    Sequence seq(ctx);
    seq.profiling_set(true);
    c.record(seq);
    Timing t = time_interleaved(seq, opt.reps, [] {}, false);
    std::printf("%-9s %5d x %5d            %9.3f ms %13.1f GB/s\n", c.name, rows, n, t.device_ms,
                double(rows) * n * 4 / t.device_ms * 1e-6);
  }
  std::fflush(stdout);
}

int bench_ops(const Common& common, const std::vector<std::string>& args) {
  Options opt;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--quick") opt.quick = true;
    else if (args[i] == "--no-blas") opt.blas = false;
    else if (args[i] == "--reps" && i + 1 < args.size()) opt.reps = std::max(1, std::atoi(args[++i].c_str()));
    else if (args[i] == "--only" && i + 1 < args.size()) opt.only = args[++i];
    else fail("bench ops: unknown option '", args[i], "'");
  }
  if (opt.quick) opt.reps = 1;
  ContextOptions copt;
  copt.device = common.device;
  Context ctx(copt);
  Blas blas;
  std::printf("glimpse bench ops on %s (%s); %d interleaved bursts, medians\n", ctx.info().name.c_str(),
              ctx.info().driver_info.c_str(), opt.reps);
  if (opt.blas) {
    if (blas.ok()) std::printf("peer: OpenBLAS (%s)\n", blas.config.c_str());
    else std::printf("peer: OpenBLAS not found (apt-get install libopenblas0-pthread); glimpse figures only\n");
  }
  std::printf("kernels: %s weights, %s GEMV\n", ctx.caps().texel_weights ? "texel-buffer" : "storage-buffer",
              ctx.caps().split_k_gemv ? "split-K" : "register-blocked");

  const int m = opt.quick ? 33 : 577;
  if (opt.wants("linear")) {
    bench_linear(ctx, blas, opt, m, 768, 768);
    if (!opt.quick) {
      bench_linear(ctx, blas, opt, m, 768, 2304);
      bench_linear(ctx, blas, opt, m, 768, 3072);
      bench_linear(ctx, blas, opt, m, 3072, 768);
    }
  }
  if (opt.wants("gemv")) {
    bench_linear(ctx, blas, opt, 1, 768, 768);
    if (!opt.quick) {
      bench_linear(ctx, blas, opt, 1, 768, 3072);
      bench_linear(ctx, blas, opt, 1, 768, 30524);
      bench_linear(ctx, blas, opt, 4, 768, 30524);  // beam search, 4 beams
    }
  }
  if (opt.wants("attn")) {
    bench_attention(ctx, opt, m, m, false);
    if (ctx.caps().attention_coop) bench_attention(ctx, opt, m, m, false, true);
    bench_attention(ctx, opt, 1, 577, false);
    if (!opt.quick) bench_attention(ctx, opt, 20, 577, false);
    if (!opt.quick && ctx.caps().attention_coop) bench_attention(ctx, opt, 20, 577, false, true);
    bench_attention(ctx, opt, 20, 20, true);
  }
  if (opt.wants("rows")) {
    bench_rows(ctx, opt, m, 768);
    bench_rows(ctx, opt, 1, 30524);
  }
  return 0;
}

// Records a small instance of every op kind a BLIP-base model uses, one sequence each, so
// pipeline creation and each pipeline's first-dispatch JIT can be timed.
void record_model_ops(Context& ctx, Allocator& arena, std::vector<std::unique_ptr<Sequence>>& seqs,
                      std::vector<LinearWeight>& keep) {
  const int d = 64, t = 9;
  auto w = [&](int n, int k) {
    const auto h = random_floats(size_t(n) * k, 9, 0.1f);
    keep.push_back(linear_weight_upload(ctx, arena, h.data(), HostType::F32, n, k, WeightLayout::OutIn, DType::F16));
    return &keep.back();
  };
  keep.reserve(8);
  const LinearWeight* w_sq = w(d, d);
  const LinearWeight* w_up = w(4 * d, d);
  const LinearWeight* w_patch = w(d, 3 * 16 * 16);
  Tensor x = upload(ctx, arena, random_floats(size_t(t) * d, 10), {t, d});
  Tensor up = arena.alloc(DType::F32, {t, 4 * d});
  Tensor bias_up = upload(ctx, arena, random_floats(4 * d, 11), {4 * d});
  Tensor bias = upload(ctx, arena, random_floats(d, 14), {d});
  Tensor y = arena.alloc(DType::F32, {t, d});
  Tensor image = upload(ctx, arena, random_floats(3 * 32 * 32, 12), {1, 3, 32, 32});
  Tensor cols = arena.alloc(DType::F32, {4, 3 * 16 * 16});
  Tensor patches = arena.alloc(DType::F32, {1, 4, d});
  Tensor pos = upload(ctx, arena, random_floats(size_t(t) * d, 13), {t, d});
  Tensor tokens = arena.alloc(DType::F32, {1, 5, d});
  Tensor ids = arena.alloc(DType::U32, {t});
  const std::vector<uint32_t> zero_ids(t, 0);
  tensor_upload(ctx, ids, zero_ids.data(), zero_ids.size() * 4);
  Tensor vals = arena.alloc(DType::F32, {t});

  auto op = [&](auto&& record) {
    seqs.push_back(std::make_unique<Sequence>(ctx));
    record(*seqs.back());
  };
  op([&](Sequence& seq) { patch_embed(seq, image, 16, *w_patch, &bias, cols, patches); });
  op([&](Sequence& seq) { class_prepend(seq, patches, bias, pos.view(DType::F32, {5, d}), tokens); });
  op([&](Sequence& seq) { layer_norm(seq, x, nullptr, bias, bias, 1e-6f, y); });
  op([&](Sequence& seq) { layer_norm(seq, x, &y, bias, bias, 1e-12f, y); });
  op([&](Sequence& seq) { linear(seq, x, *w_up, up, {&bias_up, Activation::GeluErf}); });
  op([&](Sequence& seq) { linear(seq, up.view(DType::F32, {t, d}), *w_sq, y, {&bias, Activation::None, &y}); });
  op([&](Sequence& seq) { linear(seq, x.view(DType::F32, {1, d}), *w_sq, y.view(DType::F32, {1, d})); });
  AttentionArgs a;
  a.heads = 1;
  a.head_dim = d;
  a.q_len = t;
  a.kv_len = t;
  a.q = a.k = a.v = AttnView::dense(x, t, d);
  a.o = AttnView::dense(y, t, d);
  op([&](Sequence& seq) { attention(seq, a); });
  a.causal = true;
  op([&](Sequence& seq) { attention(seq, a); });
  a.q_len = 1;
  a.q = a.o = AttnView::dense(y, 1, d);
  op([&](Sequence& seq) { attention(seq, a); });
  op([&](Sequence& seq) { embed_tokens(seq, ids, 0, 1, t, pos, &pos, 0, nullptr, y); });
  op([&](Sequence& seq) { argmax(seq, x, ids, vals); });
}

int bench_startup(const Common& common, const std::vector<std::string>& args) {
  if (!args.empty()) fail("bench startup: takes no options");
  // Cold: fresh, empty pipeline and Mesa shader caches; warm: the same caches, second time.
  const auto dir = std::filesystem::temp_directory_path() / ("glimpse-startup-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir / "mesa");
  setenv("GLIMPSE_CACHE_DIR", dir.c_str(), 1);
  setenv("MESA_SHADER_CACHE_DIR", (dir / "mesa").c_str(), 1);
  for (const char* phase : {"cold", "warm"}) {
    const auto t0 = Clock::now();
    ContextOptions copt;
    copt.device = common.device;
    double create_ms = 0, record_ms = 0, run_ms = 0, slowest_ms = 0;
    std::string slowest;
    size_t pipelines = 0;
    bool loaded = false;
    {
      Context ctx(copt);
      create_ms = ms_since(t0);
      loaded = ctx.pipelines().cache_loaded();
      Allocator arena(ctx, MemoryKind::Device, "startup");
      std::vector<LinearWeight> keep;
      std::vector<std::unique_ptr<Sequence>> seqs;
      const auto t1 = Clock::now();
      record_model_ops(ctx, arena, seqs, keep);
      record_ms = ms_since(t1);
      pipelines = ctx.pipelines().count();
      for (auto& seq : seqs) {
        const auto t2 = Clock::now();
        seq->run();
        const double ms = ms_since(t2);
        run_ms += ms;
        if (ms > slowest_ms) {
          slowest_ms = ms;
          slowest = seq->profile().empty() ? "" : seq->profile().front().label;
        }
      }
    }
    std::printf("%s start: device %.1f ms, %zu pipelines created in %.1f ms (cache file %s), first runs (JIT) %.1f ms "
                "(slowest %.1f ms), total %.1f ms\n",
                phase, create_ms, pipelines, record_ms, loaded ? "used" : "absent", run_ms, slowest_ms, ms_since(t0));
  }
  std::filesystem::remove_all(dir);
  return 0;
}

}  // namespace

int bench_main(const Common& common, const std::vector<std::string>& args) {
  if (args.empty()) fail("bench: expected 'ops', 'startup' or 'caption'");
  const std::vector<std::string> rest(args.begin() + 1, args.end());
  if (args[0] == "ops") return bench_ops(common, rest);
  if (args[0] == "startup") return bench_startup(common, rest);
  if (args[0] == "caption") return bench_caption_main(common, rest);
  fail("bench: unknown benchmark '", args[0], "' (expected 'ops', 'startup' or 'caption')");
}

}  // namespace glimpse::cli
