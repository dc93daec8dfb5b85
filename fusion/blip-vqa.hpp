// BlipForQuestionAnswering (model-spec.md §2.6): the question encoder cross-attends to the
// image (bidirectional, [CLS] kept — HF does not substitute [ENC]), the answer decoder
// cross-attends to the question states with an all-ones mask, from [DEC]; answers are stripped.
#pragma once

#include "fusion/blip-captioner.hpp"

namespace glimpse {

struct AnswerOptions {
  GenerationConfig gen{0};    // max_length 0 = the config's (20)
  bool keep_tensors = false;  // return question_embeds and the first step's logits
};

struct AnswerResult {
  std::string text;                // decoded, skip_special_tokens, stripped (the VQA pipeline)
  std::vector<uint32_t> ids;       // [bos, generated..., sep if produced]
  std::vector<uint32_t> question_ids;
  double encode_ms = 0, decode_ms = 0;
  std::vector<float> question_embeds, logits_step0;  // with keep_tensors, this image's
};

class BlipVqa {
 public:
  BlipVqa(Context& ctx, const std::string& dir, const ModelOptions& opt = {}, const TensorSource* weights = nullptr);

  // One question about each image. Throws Error for an empty question or one past the model's
  // position limit.
  std::vector<AnswerResult> answer(const std::vector<Image>& images, const std::string& question,
                                   const AnswerOptions& opt = {});
  const BlipConfig& config() const { return cfg_; }
  const WordPiece& tokenizer() const { return *tok_; }

 private:
  Context& ctx_;
  BlipConfig cfg_;
  ImageProcessorConfig pre_;
  std::unique_ptr<WordPiece> tok_;
  Allocator weights_;
  std::unique_ptr<VitEncoder> vision_;
  std::unique_ptr<BlipText> encoder_;
  std::unique_ptr<BlipTextDecoder> decoder_;
  RecordedEncoder vision_pass_;  // after the weights it reads: destroyed first
};

}  // namespace glimpse
