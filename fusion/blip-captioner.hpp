// BlipForConditionalGeneration, loaded from a Hugging Face model folder (config.json,
// model.safetensors, vocab.txt or tokenizer.json, preprocessor_config.json), captioning images
// with HF's generate() semantics (model-spec.md §2.5, §5.1).
#pragma once

#include "fusion/blip-config.hpp"
#include "fusion/captioner.hpp"
#include "runtime/device.hpp"
#include "runtime/memory.hpp"
#include "runtime/safetensors.hpp"
#include "text/blip-text.hpp"
#include "text/generate.hpp"
#include "text/wordpiece.hpp"
#include "vision/vit.hpp"
#include "vision/preprocess.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace glimpse {

class BlipCaptioner : public Captioner {
 public:
  // `weights`, when given, replaces the folder's safetensors (benchmarks generate them).
  BlipCaptioner(Context& ctx, const std::string& dir, const ModelOptions& opt = {}, const TensorSource* weights = nullptr);

  std::vector<CaptionResult> caption(const std::vector<Image>& images, const CaptionOptions& opt = {}) override;
  std::string detokenize(const std::vector<uint32_t>& ids) const override { return tok_->decode(ids); }
  const BlipConfig& config() const { return cfg_; }
  const ImageProcessorConfig& preprocessor() const { return pre_; }
  const WordPiece& tokenizer() const { return *tok_; }

 private:
  std::vector<uint32_t> decoder_prompt(const std::string& text) const;

  Context& ctx_;
  BlipConfig cfg_;
  ImageProcessorConfig pre_;
  std::unique_ptr<WordPiece> tok_;
  Allocator weights_;
  std::unique_ptr<VitEncoder> vision_;
  std::unique_ptr<BlipTextDecoder> text_;
  RecordedEncoder encoder_pass_;
};

}  // namespace glimpse
