// TrOCR (VisionEncoderDecoderModel with a ViT or DeiT encoder and TrOCRForCausalLM;
// docs/models/trocr.md): one cropped line of printed or handwritten text to its text. The config's
// encoder/decoder sections, ViTImageProcessor input, RoBERTa's byte-level BPE (base, large) or
// XLM-R's SentencePiece (small), generation from decoder_start_token_id to eos.
#pragma once

#include "fusion/family.hpp"
#include "fusion/pipeline.hpp"
#include "text/tokenizer.hpp"
#include "text/bart-decoder.hpp"
#include "text/trocr-config.hpp"
#include "vision/vit-config.hpp"
#include "vision/vit.hpp"

#include <memory>

namespace glimpse {

struct TrocrModelConfig {
  VitConfig encoder;       // ViT (base, large) or DeiT (small: class and distillation tokens)
  BartDecoderConfig decoder;
  int max_length = 20;     // the decoder section's; ModelFolder::max_length overlays the rest
};

// Interprets and validates config.json's contents `j` (read from `path`) and the generation
// settings of `generation` (generation_config.json, or an empty object).
TrocrModelConfig trocr_model_config_parse(const nlohmann::json& j, const nlohmann::json& generation,
                                          const std::string& path);

class TrocrRecognizer : public Model {
 public:
  TrocrRecognizer(Context& ctx, ModelFolder& folder, const ModelOptions& opt);

  const ModelInfo& info() const override { return info_; }
  std::string detokenize(const std::vector<uint32_t>& ids) const override { return tok_->decode(ids); }
  // The text of each line image. A prompt continues from [decoder_start] + its ids (no special
  // tokens added), and the text returned starts with it, as generate() returns those ids.
  std::vector<CaptionResult> caption(const std::vector<Image>& images, const CaptionOptions& opt = {}) override;

  const TrocrModelConfig& config() const { return cfg_; }
  const TextTokenizer& tokenizer() const { return *tok_; }

 private:
  TrocrModelConfig cfg_;
  ModelInfo info_;
  ImageProcessorConfig pre_;
  std::unique_ptr<TextTokenizer> tok_;
  Allocator weights_;
  std::unique_ptr<VitEncoder> encoder_;
  std::unique_ptr<BartDecoder> decoder_;
  std::unique_ptr<EncodeDecode> pipeline_;  // after the weights it reads: destroyed first
};

extern const Family kTrocrFamily;

}  // namespace glimpse
