#include "fusion/blip-captioner.hpp"


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

BlipCaptioner::BlipCaptioner(Context& ctx, const std::string& dir, const ModelOptions& opt, const TensorSource* weights)
    : ctx_(ctx), weights_(ctx, MemoryKind::Device, "model weights") {
  BlipFolder folder = blip_folder_open(dir, "BlipForConditionalGeneration");
  cfg_ = folder.config;
  pre_ = folder.preprocessor;
  tok_ = std::move(folder.tokenizer);
  std::optional<SafeTensors> from_dir;
  if (!weights) weights = &from_dir.emplace(SafeTensors::open(dir));
  WeightLoader w(ctx, weights_, *weights, opt.weights);
  w.progress = opt.progress;
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
  const std::vector<uint32_t> prompt = decoder_prompt(opt.prompt);
  const int64_t lp = int64_t(prompt.size());
  const int64_t max_len = opt.gen.max_new_tokens > 0 ? lp + opt.gen.max_new_tokens
                          : opt.gen.max_length > 0  ? opt.gen.max_length
                                                    : cfg_.max_length;
  return caption_images(ctx_, pre_, *vision_, *text_, images, prompt, max_len, opt,
                        [&](const std::vector<uint32_t>& ids) { return tok_->decode(ids); }, &encoder_pass_);
}

}  // namespace glimpse
