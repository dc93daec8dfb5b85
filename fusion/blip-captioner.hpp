// BlipForConditionalGeneration, loaded from a Hugging Face model folder (config.json,
// model.safetensors, vocab.txt or tokenizer.json, preprocessor_config.json), captioning images
// with HF's generate() semantics (model-spec.md §2.5, §5.1).
#pragma once

#include "fusion/blip-config.hpp"
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

struct CaptionOptions {
  std::string prompt;         // conditional captioning: the caption continues this text
  GenerationConfig gen{0};    // max_length 0 = the config's (20); greedy unless beams or sampling
  bool keep_tensors = false;  // return pixel_values, image_embeds and the first step's logits
};

struct CaptionResult {
  std::string text;
  std::vector<uint32_t> ids;  // [bos, prompt..., generated..., sep if produced]
  double encode_ms = 0, decode_ms = 0;
  std::vector<float> pixel_values, image_embeds, logits_step0;  // with keep_tensors, this image's
};

struct ModelOptions {
  DType weights = DType::F32;  // F16 halves memory and bandwidth at a small accuracy cost
};

class BlipCaptioner {
 public:
  // `weights`, when given, replaces the folder's safetensors (benchmarks generate them).
  BlipCaptioner(Context& ctx, const std::string& dir, const ModelOptions& opt = {}, const TensorSource* weights = nullptr);

  std::vector<CaptionResult> caption(const std::vector<Image>& images, const CaptionOptions& opt = {});
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
};

}  // namespace glimpse
