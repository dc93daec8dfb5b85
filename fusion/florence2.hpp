// Florence-2 (Florence2ForConditionalGeneration as Microsoft's remote code defines it;
// docs/models/florence2.md): a task token becomes the processor's prompt; the DaViT encoder's
// projected image tokens and the prompt's rows go through a BART encoder; a BART decoder with
// final_logits_bias generates, with the text_config's generation settings (3 beams,
// no_repeat_ngram_size 3, forced bos and eos); post_process_generation turns the text with its
// special tokens into the task's answer.
#pragma once

#include "fusion/family.hpp"
#include "fusion/pipeline.hpp"
#include "text/bart-decoder.hpp"
#include "text/bart-encoder.hpp"
#include "text/bpe.hpp"
#include "vision/davit.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace glimpse {

struct Florence2Config {
  DavitConfig vision;
  BartEncoderConfig encoder;
  BartDecoderConfig decoder;
  // generate()'s settings: the language model's own (GenerationConfig.from_model_config of
  // text_config; the top-level generation_config.json does not reach language_model.generate)
  int num_beams = 1, no_repeat_ngram_size = 0, forced_bos = -1, forced_eos = -1;
  bool early_stopping = false;
  float length_penalty = 1.0f;
  int max_new_tokens = 1024;  // the model card's generate(max_new_tokens=1024)
  bool clean_up_spaces = false;  // tokenizer_config.json clean_up_tokenization_spaces
};

// Interprets config.json (`j`, read from `path`) with the preprocessor's square `image_size`.
Florence2Config florence2_config_parse(const nlohmann::json& j, int image_size, const std::string& path);

namespace florence2 {
// The processor's task tables (Florence2Processor.__init__): the prompt of a task that takes no
// input, or the template with "{input}" of one that does; nullptr for an unknown task.
const char* task_prompt(const std::string& task, bool* takes_input);
// Every task token, in the processor's order.
std::vector<std::string> task_names();
// Florence2Processor._construct_prompts(task + text), with glimpse's stricter checks
// (ErrorCode::InvalidArgument): a known task, text given exactly when the task takes it.
std::string construct_prompt(const std::string& task, const std::string& text);
// "<TASK>rest" -> {"<TASK>", "rest"} when the text starts with a known task token, else {"", text}.
std::pair<std::string, std::string> split_task(const std::string& text);
// The tokens the processor adds to BART's tokenizer, in its order (1024 of them).
std::vector<std::string> added_tokens();
}  // namespace florence2

class Florence2Model : public Model {
 public:
  Florence2Model(Context& ctx, ModelFolder& folder, const ModelOptions& opt);

  const ModelInfo& info() const override { return info_; }
  std::string detokenize(const std::vector<uint32_t>& ids) const override;
  // One answer per image for opt.task (default <CAPTION>) and opt.task_text; opt.prompt may carry
  // both as one string ("<OD>", "<CAPTION_TO_PHRASE_GROUNDING>a green car").
  std::vector<CaptionResult> caption(const std::vector<Image>& images, const CaptionOptions& opt = {}) override;
  // Free questions are not a Florence-2 task: ErrorCode::WrongTask naming the tasks.
  std::vector<AnswerResult> answer(const std::vector<Image>& images, const std::string& question,
                                   const AnswerOptions& opt = {}) override;

  const Florence2Config& config() const { return cfg_; }
  const BytePairTokenizer& tokenizer() const { return tok_; }
  // The prompt's ids for a task and its text: <s> + BPE (added tokens split out first) + </s>.
  std::vector<uint32_t> prompt_ids(const std::string& task, const std::string& text) const;

 private:
  std::string decode(const std::vector<uint32_t>& ids, bool skip_special) const;

  Florence2Config cfg_;
  ModelInfo info_;
  ImageProcessorConfig pre_;
  BytePairTokenizer tok_;
  Allocator weights_;
  std::unique_ptr<DavitEncoder> vision_;
  std::unique_ptr<BartEncoder> encoder_;
  std::unique_ptr<BartDecoder> decoder_;
  std::unique_ptr<EncodeDecode> pipeline_;  // after the weights it reads: destroyed first
};

extern const Family kFlorence2Family;

}  // namespace glimpse
