#include "fusion/pipeline.hpp"

#include "runtime/backend.hpp"
#include "runtime/error.hpp"
#include "text/decoding.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <optional>

namespace glimpse {

namespace {
double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

std::vector<float> download_row(Context& ctx, const Tensor& t, int64_t row) {
  const int64_t per_row = t.numel() / t.dim(0);
  std::vector<float> v(static_cast<size_t>(per_row));
  tensor_download(ctx, t, v.data(), v.size() * 4, size_t(row * per_row) * 4);
  return v;
}
}  // namespace

bool RecordedPass::prepare(Context& ctx, const ImageEncoder& encoder, const std::vector<float>& pixel_values, int64_t b,
                           std::unique_lock<std::mutex>& lock, const TextDecoder* decoder) {
  if (!ctx.backend().replay_recorded_passes()) return false;
  lock = std::unique_lock<std::mutex>(busy, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  if (batch != b || cross_for != decoder) {
    const int64_t s = encoder.image_size(), c = encoder.channels();
    batch = 0;  // stays invalid if recording throws
    seq.reset();
    arena = std::make_unique<Allocator>(ctx, MemoryKind::Device, "encoder pass");
    host.reset();
    if (!ctx.caps().host_mapped) {
      host = std::make_unique<Allocator>(ctx, MemoryKind::Host, "encoder pixels", VkDeviceSize(b * c * s * s * 4));
      pixels = host->alloc(DType::F32, {b, c, s, s});
    } else {
      pixels = arena->alloc(DType::F32, {b, c, s, s});
    }
    states = arena->alloc(DType::F32, {b, encoder.tokens(), encoder.width()});
    seq = std::make_unique<Sequence>(ctx);
    seq->dump("pixel_values", pixels);
    encoder.record(*seq, *arena, pixels, states);
    seq->dump("image_embeds", states);
    cross = decoder ? cross_kv_record(*seq, *arena, *decoder, states, 1) : CrossKv{};
    cross_for = decoder;
    batch = b;
  }
  tensor_upload(ctx, pixels, pixel_values.data(), pixel_values.size() * 4);
  return true;
}

std::vector<CaptionResult> captions_from(PipelineResult r,
                                         const std::function<std::string(const std::vector<uint32_t>&)>& detokenize) {
  std::vector<CaptionResult> out(r.ids.size());
  for (size_t i = 0; i < out.size(); ++i) {
    CaptionResult& c = out[i];
    c.ids = std::move(r.ids[i]);
    c.text = detokenize(c.ids);
    c.timings = r.timings;
    if (!r.logits0.empty()) {
      c.pixel_values = std::move(r.pixel_values[i]);
      c.image_embeds = std::move(r.image_embeds[i]);
      c.logits_step0 = std::move(r.logits0[i]);
    }
  }
  return out;
}

int64_t max_length_of(const GenerationConfig& gen, int64_t start_len, int64_t model_default, int64_t positions) {
  const int64_t want = gen.max_new_tokens > 0 ? start_len + gen.max_new_tokens
                       : gen.max_length > 0   ? gen.max_length
                                              : model_default;
  return std::min(want, positions);
}

PipelineResult EncodeDecode::run(const std::vector<Image>& images, const PipelineRequest& rq) {
  PipelineResult out;
  if (images.empty()) return out;
  Decoding::check(rq.gen);  // before any work
  // The caller's abort covers preprocessing too (a 50-Mpixel image resizes for about a second):
  // polled before and after each image, as the decoder polls it before each submission.
  Decoding::check_stop(rq.gen);
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t b = int64_t(images.size()), s = vision_.image_size(), c = vision_.channels(), n = vision_.tokens(),
                d = vision_.width();
  const int64_t beams = std::max(1, rq.gen.num_beams);
  std::vector<float> pixels;
  for (const Image& img : images) {
    pixel_values_append(pre_, img, pixels);
    Decoding::check_stop(rq.gen);
  }
  out.timings.preprocess_ms = ms_since(t0);
  double setup_ms = 0;  // arena, upload, recording

  // image: the vision encoder over the batch; its last LayerNorm covers all tokens. A replayed
  // pass also computes the decoder's cross-attention K/V when the decoder reads the image states
  // (no middle stage) one row per image (no beams).
  const bool cross_in_pass = !rq.middle && beams == 1;
  std::optional<Allocator> states_arena;  // the image states, when not the replayed pass's
  Tensor image_states;
  std::unique_lock<std::mutex> replaying;  // holds `recorded_` until what it computed is consumed
  if (recorded_.prepare(ctx_, vision_, pixels, b, replaying, cross_in_pass ? &decoder_ : nullptr)) {
    image_states = recorded_.states;
    setup_ms = ms_since(t0) - out.timings.preprocess_ms;
    recorded_.seq->run();
  } else {
    // Recorded for this call. Only the output outlives the pass: the pass's own activations (25 MB
    // for BLIP-base) are freed before the cross-attention K/V are allocated, so peak memory holds
    // one of the two, not both (CPU devices, where device memory is host memory). Their blocks are
    // kept for the next call (BlockReuse::Recycle): the states' block sized to them, so that it
    // never takes the larger block the pass and the decoding pass between them.
    states_arena.emplace(ctx_, MemoryKind::Device, "image states", VkDeviceSize(b * n * d * 4), BlockReuse::Recycle);
    image_states = states_arena->alloc(DType::F32, {b, n, d});
    Allocator pass(ctx_, MemoryKind::Device, "encoder activations", Allocator::kBlockBytes, BlockReuse::Recycle);
    Tensor pv = pass.alloc(DType::F32, {b, c, s, s});
    tensor_upload(ctx_, pv, pixels.data(), pixels.size() * 4);
    if (!rq.keep_tensors) std::vector<float>().swap(pixels);  // uploaded: not held through decoding
    Sequence seq(ctx_);
    seq.dump("pixel_values", pv);
    vision_.record(seq, pass, pv, image_states);
    seq.dump("image_embeds", image_states);
    setup_ms = ms_since(t0) - out.timings.preprocess_ms;
    seq.run();
  }
  const double pass_ms = ms_since(t0) - out.timings.preprocess_ms - setup_ms;
  if (rq.keep_tensors) {
    const size_t px = size_t(c * s * s);
    for (int64_t i = 0; i < b; ++i) {
      out.pixel_values.emplace_back(pixels.begin() + i * px, pixels.begin() + (i + 1) * px);
      out.image_embeds.push_back(download_row(ctx_, image_states, i));
    }
  }

  // the middle stage, then the decoder's cross-attention K/V of what it reads
  const auto t1 = std::chrono::steady_clock::now();
  Allocator decode_arena(ctx_, MemoryKind::Device, "decode activations", Allocator::kBlockBytes, BlockReuse::Recycle);
  Allocator decode_host(ctx_, MemoryKind::Host, "decode step", 4096, BlockReuse::Recycle);
  std::optional<Allocator> middle_arena;
  CrossKv own_cross;
  const CrossKv* cross = &recorded_.cross;
  if (!(replaying.owns_lock() && cross_in_pass)) {
    Sequence seq(ctx_);
    Tensor states = image_states;
    if (rq.middle) {
      middle_arena.emplace(ctx_, MemoryKind::Device, rq.middle->name, Allocator::kBlockBytes, BlockReuse::Recycle);
      states = middle_arena->alloc(DType::F32, {b, rq.middle->tokens, rq.middle->width});
      rq.middle->record(seq, *middle_arena, image_states, states);
      seq.dump(rq.middle->name, states);
    }
    own_cross = cross_kv_record(seq, decode_arena, decoder_, states, beams);
    cross = &own_cross;
    seq.run();
    if (rq.middle && rq.keep_tensors)
      for (int64_t i = 0; i < b; ++i) out.middle.push_back(download_row(ctx_, states, i));
    if (replaying.owns_lock()) replaying.unlock();  // its states are consumed
  }
  const double cross_ms = ms_since(t1);
  out.timings.encode_ms = ms_since(t0);

  // text: the decoder cross-attending to the image (or the middle stage's output)
  const auto t2 = std::chrono::steady_clock::now();
  Decoding decoding(ctx_, decoder_, decode_arena, decode_host);
  out.ids = decoding.generate(*cross, b, rq.start, rq.gen, rq.max_len, rq.keep_tensors ? &out.logits0 : nullptr);
  out.timings.decode_ms = ms_since(t2);
  if (env_flag("GLIMPSE_PROFILE"))
    std::fprintf(stderr, "glimpse: encode %.2f ms = preprocess %.2f + pass setup %.2f + pass run %.2f + %s%s "
                 "cross K/V %.2f; decode %.2f ms\n", out.timings.encode_ms, out.timings.preprocess_ms, setup_ms, pass_ms,
                 rq.middle ? rq.middle->name.c_str() : "", rq.middle ? " +" : "", cross_ms, out.timings.decode_ms);
  return out;
}

}  // namespace glimpse
