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
  BlipCaptioner(Context& ctx, const std::string& dir, const ModelOptions& opt = {});
  BlipCaptioner(Context& ctx, ModelFolder& folder, const ModelOptions& opt);

  const ModelInfo& info() const override { return info_; }
  std::string detokenize(const std::vector<uint32_t>& ids) const override { return tok_->decode(ids); }
  std::vector<CaptionResult> caption(const std::vector<Image>& images, const CaptionOptions& opt = {}) override;

  const BlipConfig& config() const { return cfg_; }
  const ImageProcessorConfig& preprocessor() const { return pre_; }
  const WordPiece& tokenizer() const { return *tok_; }

 private:
  std::vector<uint32_t> decoder_prompt(const std::string& text) const;

  BlipConfig cfg_;
  ModelInfo info_;
  ImageProcessorConfig pre_;
  std::unique_ptr<WordPiece> tok_;
  Allocator weights_;
  std::unique_ptr<VitEncoder> vision_;
  std::unique_ptr<BlipTextDecoder> text_;
  std::unique_ptr<EncodeDecode> pipeline_;  // after the weights it reads: destroyed first
};

extern const Family kBlipCaptionFamily;

}  // namespace glimpse
