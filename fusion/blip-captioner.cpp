#include "fusion/blip-captioner.hpp"

#include "runtime/error.hpp"
#include "runtime/weights.hpp"

namespace glimpse {

namespace {


}  // namespace

constinit const Family kBlipCaptionFamily = {
    "blip-caption", "BlipForConditionalGeneration (model_type blip): image captioning, unconditional or from a prompt",
    "Salesforce/blip-image-captioning-base, Salesforce/blip-image-captioning-large", Task::Caption,
    [](const ModelFolder& f) { return f.is("blip", {"", "BlipForConditionalGeneration"}); },
    model_make<BlipCaptioner>};

BlipCaptioner::BlipCaptioner(Context& ctx, ModelFolder& folder, const ModelOptions& opt)
    : blip_(blip_folder_open(folder, "BlipForConditionalGeneration")),
      cfg_(blip_.config),
      weights_(ctx, MemoryKind::Device, "model weights") {
  WeightLoader w = folder.loader(ctx, weights_, opt);
  vision_ = std::make_unique<VitEncoder>(w, cfg_.vision, VitLayout::Blip, "vision_model.");
  text_ = std::make_unique<BlipTextDecoder>(w, cfg_.text);
  pipeline_ = std::make_unique<EncodeDecode>(ctx, blip_.preprocessor, *vision_, *text_);
  info_ = blip_model_info(cfg_, "blip-caption", "BlipForConditionalGeneration", Task::Caption, opt);
}

std::vector<uint32_t> BlipCaptioner::decoder_prompt(const std::string& text) const {
  // The processor's ids with [CLS]/[SEP]; the first replaced by bos and the last dropped
  // (modeling_blip.py, BlipForConditionalGeneration.generate). Unconditional: [bos, eos] -> [bos].
  const BlipTextConfig& tc = cfg_.text;
  std::vector<uint32_t> ids =
      text.empty() ? std::vector<uint32_t>{uint32_t(tc.bos), uint32_t(tc.eos)}
                   : with_error_code(ErrorCode::InvalidArgument, [&] { return blip_.tokenizer->encode(text); });
  ids[0] = uint32_t(tc.bos);
  ids.pop_back();
  if (int64_t(ids.size()) >= tc.max_positions)
    fail(ErrorCode::InvalidArgument, "prompt is ", ids.size(), " tokens long; the model reads at most ",
         tc.max_positions - 1, " before the caption");
  return ids;
}

std::vector<CaptionResult> BlipCaptioner::caption(const std::vector<Image>& images, const CaptionOptions& opt) {
  caption_no_task(opt, "BLIP");
  PipelineRequest rq;
  rq.start = decoder_prompt(opt.prompt);
  rq.gen = opt.gen;
  rq.keep_tensors = opt.keep_tensors;
  rq.max_len = max_length_of(opt.gen, int64_t(rq.start.size()), cfg_.max_length, cfg_.text.max_positions);
  return captions_from(pipeline_->run(images, rq), [&](const std::vector<uint32_t>& ids) { return blip_.tokenizer->decode(ids); });
}

}  // namespace glimpse
