// BlipForConditionalGeneration (docs/models/blip.md), loaded from a Hugging Face model folder
// (config.json, model.safetensors, vocab.txt or tokenizer.json, preprocessor_config.json),
// captioning images with transformers' generate() semantics, unconditionally or from a prompt.
#pragma once

#include "fusion/blip-config.hpp"
#include "fusion/family.hpp"
#include "fusion/pipeline.hpp"
#include "text/blip-text.hpp"
#include "text/wordpiece.hpp"
#include "vision/vit.hpp"

#include <memory>
#include <string>
#include <vector>

namespace glimpse {

class BlipCaptioner : public Model {
 public:
  BlipCaptioner(Context& ctx, ModelFolder& folder, const ModelOptions& opt);

  const ModelInfo& info() const override { return info_; }
  std::string detokenize(const std::vector<uint32_t>& ids) const override { return blip_.tokenizer->decode(ids); }
  std::vector<CaptionResult> caption(const std::vector<Image>& images, const CaptionOptions& opt = {}) override;

  const BlipConfig& config() const { return cfg_; }
  const ImageProcessorConfig& preprocessor() const { return blip_.preprocessor; }
  const WordPiece& tokenizer() const { return *blip_.tokenizer; }

 private:
  std::vector<uint32_t> decoder_prompt(const std::string& text) const;

  BlipFolder blip_;  // config, preprocessing, tokenizer
  const BlipConfig& cfg_;
  ModelInfo info_;
  Allocator weights_;
  std::unique_ptr<VitEncoder> vision_;
  std::unique_ptr<BlipTextDecoder> text_;
  std::unique_ptr<EncodeDecode> pipeline_;  // after the weights it reads: destroyed first
};

extern const Family kBlipCaptionFamily;

}  // namespace glimpse
