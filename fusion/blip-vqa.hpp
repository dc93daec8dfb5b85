// BlipForQuestionAnswering (docs/models/blip.md): the question encoder cross-attends to the image
// (bidirectional, [CLS] kept: transformers does not substitute [ENC]), the answer decoder
// cross-attends to the question states with an all-ones mask, from [DEC]; answers are stripped.
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

class BlipVqa : public Model {
 public:
  BlipVqa(Context& ctx, ModelFolder& folder, const ModelOptions& opt);

  const ModelInfo& info() const override { return info_; }
  std::string detokenize(const std::vector<uint32_t>& ids) const override { return blip_.tokenizer->decode(ids); }
  // One question about each image. ErrorCode::InvalidArgument for an empty question or one past the
  // model's position limit.
  std::vector<AnswerResult> answer(const std::vector<Image>& images, const std::string& question,
                                   const AnswerOptions& opt = {}) override;

  const BlipConfig& config() const { return cfg_; }
  const WordPiece& tokenizer() const { return *blip_.tokenizer; }

 private:
  BlipFolder blip_;  // config, preprocessing, tokenizer
  const BlipConfig& cfg_;
  ModelInfo info_;
  Allocator weights_;
  std::unique_ptr<VitEncoder> vision_;
  std::unique_ptr<BlipText> encoder_;
  std::unique_ptr<BlipTextDecoder> decoder_;
  std::unique_ptr<EncodeDecode> pipeline_;  // after the weights it reads: destroyed first
};

extern const Family kBlipVqaFamily;

}  // namespace glimpse
