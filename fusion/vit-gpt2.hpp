// VisionEncoderDecoderModel with a ViT encoder and a GPT-2 decoder (nlpconnect/vit-gpt2-image-
// captioning; docs/models/vit-gpt2.md): the config's encoder/decoder sections, ViTImageProcessor
// input, byte-level BPE, generation from decoder_start_token_id to eos.
#pragma once

#include "fusion/family.hpp"
#include "fusion/pipeline.hpp"
#include "text/bpe.hpp"
#include "text/gpt2.hpp"
#include "vision/vit-config.hpp"
#include "vision/vit.hpp"

#include <memory>

namespace glimpse {

struct VitGpt2Config {
  VitConfig encoder;
  Gpt2Config decoder;
  int decoder_start = 50256;
  int max_length = 20;  // the decoder section's; ModelFolder::max_length overlays the rest
};

// Interprets and validates config.json's contents `j` (read from `path`); vit_gpt2_config_load
// reads the file first.
VitGpt2Config vit_gpt2_config_parse(const nlohmann::json& j, const std::string& path);
VitGpt2Config vit_gpt2_config_load(const std::string& path);

class VitGpt2Captioner : public Model {
 public:
  VitGpt2Captioner(Context& ctx, ModelFolder& folder, const ModelOptions& opt);

  const ModelInfo& info() const override { return info_; }
  std::string detokenize(const std::vector<uint32_t>& ids) const override { return tok_->decode(ids); }
  // Prompts are refused, as the image-to-text pipeline refuses them for these models.
  std::vector<CaptionResult> caption(const std::vector<Image>& images, const CaptionOptions& opt = {}) override;

  const VitGpt2Config& config() const { return cfg_; }
  const BytePairTokenizer& tokenizer() const { return *tok_; }

 private:
  VitGpt2Config cfg_;
  ModelInfo info_;
  ImageProcessorConfig pre_;
  std::unique_ptr<BytePairTokenizer> tok_;
  Allocator weights_;
  std::unique_ptr<VitEncoder> encoder_;
  std::unique_ptr<Gpt2Decoder> decoder_;
  std::unique_ptr<EncodeDecode> pipeline_;  // after the weights it reads: destroyed first
};

extern const Family kVitGpt2Family;

}  // namespace glimpse
