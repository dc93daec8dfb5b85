// VisionEncoderDecoderModel with a ViT encoder and a GPT-2 decoder (nlpconnect/vit-gpt2-image-
// captioning; model-spec.md §3): the config's encoder/decoder blocks, ViTImageProcessor input,
// byte-level BPE, generation from decoder_start_token_id to eos.
#pragma once

#include "fusion/blip-config.hpp"
#include "fusion/captioner.hpp"
#include "runtime/device.hpp"
#include "runtime/memory.hpp"
#include "runtime/safetensors.hpp"
#include "text/bpe.hpp"
#include "text/gpt2.hpp"
#include "vision/preprocess.hpp"
#include "vision/vit.hpp"

#include <memory>

namespace glimpse {

struct VitGpt2Config {
  VitConfig encoder;
  Gpt2Config decoder;
  int decoder_start = 50256;
  int max_length = 20;
};

VitGpt2Config vit_gpt2_config_load(const std::string& path);

class VitGpt2Captioner : public Captioner {
 public:
  VitGpt2Captioner(Context& ctx, const std::string& dir, const ModelOptions& opt = {},
                   const TensorSource* weights = nullptr);
  // Prompts are refused, as the image-to-text pipeline refuses them for these models.
  std::vector<CaptionResult> caption(const std::vector<Image>& images, const CaptionOptions& opt = {}) override;
  std::string detokenize(const std::vector<uint32_t>& ids) const override { return tok_->decode(ids); }
  const VitGpt2Config& config() const { return cfg_; }
  const BytePairTokenizer& tokenizer() const { return *tok_; }

 private:
  Context& ctx_;
  VitGpt2Config cfg_;
  ImageProcessorConfig pre_;
  std::unique_ptr<BytePairTokenizer> tok_;
  Allocator weights_;
  std::unique_ptr<VitEncoder> encoder_;
  std::unique_ptr<Gpt2Decoder> decoder_;
  RecordedEncoder encoder_pass_;
};

}  // namespace glimpse
