#include "fusion/blip-captioner.hpp"

#include "fusion/decoding.hpp"

#include "runtime/error.hpp"
#include "runtime/safetensors.hpp"
#include "runtime/weights.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <filesystem>
#include <optional>

namespace glimpse {

namespace fs = std::filesystem;

namespace {
double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

BlipCaptioner::BlipCaptioner(Context& ctx, const std::string& dir, const ModelOptions& opt, const TensorSource* weights)
    : ctx_(ctx), weights_(ctx, MemoryKind::Device, "model weights") {
  BlipFolder folder = blip_folder_open(dir, "BlipForConditionalGeneration");
  cfg_ = folder.config;
  pre_ = folder.preprocessor;
  tok_ = std::move(folder.tokenizer);
  std::optional<SafeTensors> from_dir;
  if (!weights) weights = &from_dir.emplace(SafeTensors::open(dir));
  WeightLoader w(ctx, weights_, *weights, opt.weights);
  vision_ = std::make_unique<VitEncoder>(w, cfg_.vision, VitLayout::Blip, "vision_model.");
  text_ = std::make_unique<BlipTextDecoder>(w, cfg_.text);
}

std::vector<uint32_t> BlipCaptioner::decoder_prompt(const std::string& text) const {
  // §2.5: tokenizer ids with [CLS]/[SEP], the first replaced by bos, the last dropped.
  // Unconditional: [bos, eos] -> [bos].
  const BlipTextConfig& tc = cfg_.text;
  std::vector<uint32_t> ids = text.empty() ? std::vector<uint32_t>{uint32_t(tc.bos), uint32_t(tc.eos)} : tok_->encode(text);
  ids[0] = uint32_t(tc.bos);
  ids.pop_back();
  return ids;
}

std::vector<CaptionResult> BlipCaptioner::caption(const std::vector<Image>& images, const CaptionOptions& opt) {
  if (images.empty()) return {};
  const GenerationConfig& gen = opt.gen;
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<uint32_t> prompt = decoder_prompt(opt.prompt);
  const int64_t lp = int64_t(prompt.size());
  const int64_t max_len = gen.max_new_tokens > 0 ? lp + gen.max_new_tokens
                          : gen.max_length > 0  ? gen.max_length
                                                : cfg_.max_length;
  const int64_t b = int64_t(images.size()), s = cfg_.vision.image_size, n = cfg_.vision.tokens(), dv = cfg_.vision.hidden;
  std::vector<float> pixels;
  for (const Image& img : images) pixel_values_append(pre_, img, pixels);

  // image: the vision tower over the batch
  Allocator arena(ctx_, MemoryKind::Device, "caption activations");
  Tensor pv = arena.alloc(DType::F32, {b, 3, s, s});
  tensor_upload(ctx_, pv, pixels.data(), pixels.size() * 4);
  Tensor embeds = arena.alloc(DType::F32, {b, n, dv});
  {
    Sequence seq(ctx_);
    seq.dump("pixel_values", pv);
    vision_->record(seq, arena, pv, embeds);
    seq.dump("image_embeds", embeds);
    seq.run();
  }
  std::vector<CaptionResult> results(images.size());
  if (opt.keep_tensors)
    for (int64_t i = 0; i < b; ++i) {
      const size_t px = size_t(3 * s * s), em = size_t(n * dv);
      results[size_t(i)].pixel_values.assign(pixels.begin() + i * px, pixels.begin() + (i + 1) * px);
      results[size_t(i)].image_embeds.resize(em);
      tensor_download(ctx_, embeds, results[size_t(i)].image_embeds.data(), em * 4, size_t(i) * em * 4);
    }
  const double encode_ms = ms_since(t0);

  // text: the decoder cross-attending to the image
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<std::vector<float>> logits0;
  Decoding decoding(ctx_, *text_);
  const auto ids = decoding.generate(embeds, b, n, prompt, gen, max_len, opt.keep_tensors ? &logits0 : nullptr);
  const double decode_ms = ms_since(t1);
  for (int64_t i = 0; i < b; ++i) {
    CaptionResult& r = results[size_t(i)];
    r.ids = ids[size_t(i)];
    r.text = tok_->decode(r.ids);
    r.encode_ms = encode_ms;
    r.decode_ms = decode_ms;
    if (opt.keep_tensors) r.logits_step0 = logits0[size_t(i)];
  }
  return results;
}

}  // namespace glimpse
