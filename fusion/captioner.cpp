#include "fusion/captioner.hpp"

#include "fusion/decoding.hpp"
#include "runtime/device.hpp"

#include <chrono>
#include <cstdio>
#include <optional>

namespace glimpse {

namespace {
double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

bool RecordedEncoder::prepare(Context& ctx, const VitEncoder& encoder, const std::vector<float>& pixel_values,
                              int64_t b, std::unique_lock<std::mutex>& lock, const TextDecoder* decoder) {
  if (ctx.caps().host_ops) return false;
  lock = std::unique_lock<std::mutex>(busy, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  if (batch != b || cross_for != decoder) {
    const VitConfig& vc = encoder.config();
    const int64_t s = vc.image_size;
    batch = 0;  // stays invalid if recording throws
    seq.reset();
    arena = std::make_unique<Allocator>(ctx, MemoryKind::Device, "encoder pass");
    host.reset();
    if (!ctx.caps().host_mapped) {
      host = std::make_unique<Allocator>(ctx, MemoryKind::Host, "encoder pixels", VkDeviceSize(b * 3 * s * s * 4));
      pixels = host->alloc(DType::F32, {b, 3, s, s});
    } else {
      pixels = arena->alloc(DType::F32, {b, 3, s, s});
    }
    states = arena->alloc(DType::F32, {b, vc.tokens(), vc.hidden});
    seq = std::make_unique<Sequence>(ctx);
    seq->dump("pixel_values", pixels);
    encoder.record(*seq, *arena, pixels, states);
    seq->dump("image_embeds", states);
    cross = {};
    if (decoder) {
      cross = decoder->cross_alloc(*arena, b, vc.tokens());
      decoder->record_cross(*seq, states, cross);
    }
    cross_for = decoder;
    batch = b;
  }
  tensor_upload(ctx, pixels, pixel_values.data(), pixel_values.size() * 4);
  return true;
}

std::vector<CaptionResult> caption_images(Context& ctx, const ImageProcessorConfig& pre, const VitEncoder& encoder,
                                          const TextDecoder& decoder, const std::vector<Image>& images,
                                          const std::vector<uint32_t>& start, int64_t max_len,
                                          const CaptionOptions& opt,
                                          const std::function<std::string(const std::vector<uint32_t>&)>& detokenize,
                                          RecordedEncoder* recorded) {
  if (images.empty()) return {};
  const auto t0 = std::chrono::steady_clock::now();
  const VitConfig& vc = encoder.config();
  const int64_t b = int64_t(images.size()), s = vc.image_size, n = vc.tokens(), d = vc.hidden;
  std::vector<float> pixels;
  for (const Image& img : images) pixel_values_append(pre, img, pixels);
  const double preprocess_ms = ms_since(t0);
  double setup_ms = 0;  // arena, upload, recording

  // image: the vision encoder over the batch; its last LayerNorm covers all tokens.
  std::optional<Allocator> arena;  // the states, when not the recorded pass's
  Tensor states;
  std::unique_lock<std::mutex> replaying;  // holds `recorded` until its states are consumed
  if (recorded && recorded->prepare(ctx, encoder, pixels, b, replaying, &decoder)) {
    // GPUs: the pass recorded once per batch size and replayed; a call costs an upload and a submit.
    states = recorded->states;
    setup_ms = ms_since(t0) - preprocess_ms;
    recorded->seq->run();
  } else {
    // Recorded for this call. Only the output outlives the pass: the pass's own activations (25 MB
    // for BLIP-base) are freed before decoding allocates the cross-attention K/V, so peak memory
    // holds one of the two, not both (CPU devices, where device memory is host memory).
    // Their blocks are kept for the next call (BlockReuse::Recycle): the states' block sized to
    // them, so that it never takes the larger block the pass and the decoding pass between them.
    arena.emplace(ctx, MemoryKind::Device, "caption activations", VkDeviceSize(b * n * d * 4), BlockReuse::Recycle);
    states = arena->alloc(DType::F32, {b, n, d});
    Allocator pass(ctx, MemoryKind::Device, "encoder activations", Allocator::kBlockBytes, BlockReuse::Recycle);
    Tensor pv = pass.alloc(DType::F32, {b, 3, s, s});
    tensor_upload(ctx, pv, pixels.data(), pixels.size() * 4);
    if (!opt.keep_tensors) std::vector<float>().swap(pixels);  // uploaded: not held through decoding
    Sequence seq(ctx);
    seq.dump("pixel_values", pv);
    encoder.record(seq, pass, pv, states);
    seq.dump("image_embeds", states);
    setup_ms = ms_since(t0) - preprocess_ms;
    seq.run();
  }
  std::vector<CaptionResult> results(images.size());
  if (opt.keep_tensors)
    for (int64_t i = 0; i < b; ++i) {
      const size_t px = size_t(3 * s * s), em = size_t(n * d);
      results[size_t(i)].pixel_values.assign(pixels.begin() + i * px, pixels.begin() + (i + 1) * px);
      results[size_t(i)].image_embeds.resize(em);
      tensor_download(ctx, states, results[size_t(i)].image_embeds.data(), em * 4, size_t(i) * em * 4);
    }
  double encode_ms = ms_since(t0);
  const double pass_ms = encode_ms - preprocess_ms - setup_ms;

  // text: the decoder cross-attending to the image
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<std::vector<float>> logits0;
  Decoding decoding(ctx, decoder);
  double cross_ms = 0;
  // The cross K/V the replayed pass computed; beam search copies them per beam row instead.
  const CrossKv* cross = replaying.owns_lock() && opt.gen.num_beams <= 1 ? &recorded->cross : nullptr;
  const auto ids = decoding.generate(states, b, n, start, opt.gen, max_len, opt.keep_tensors ? &logits0 : nullptr,
                                     &cross_ms, cross);
  const double decode_ms = ms_since(t1) - cross_ms;
  encode_ms += cross_ms;  // the image's cross-attention K/V are per-image work
  if (env_flag("GLIMPSE_PROFILE"))
    std::fprintf(stderr, "glimpse caption: encode %.2f ms = preprocess %.2f + pass setup %.2f + pass run %.2f + cross K/V %.2f; "
                 "decode %.2f ms\n", encode_ms, preprocess_ms, setup_ms, pass_ms, cross_ms, decode_ms);
  for (int64_t i = 0; i < b; ++i) {
    CaptionResult& r = results[size_t(i)];
    r.ids = ids[size_t(i)];
    r.text = detokenize(r.ids);
    r.encode_ms = encode_ms;
    r.preprocess_ms = preprocess_ms;
    r.decode_ms = decode_ms;
    if (opt.keep_tensors) r.logits_step0 = logits0[size_t(i)];
  }
  return results;
}

}  // namespace glimpse
