// What a model family gives the front ends (the C API, and through it the CLI, the server, the
// Python binding and the desktop sample): a description of itself and the tasks it does. Each
// family implements Model; the family table (fusion/family.hpp) opens one from a model folder.
#pragma once

#include "runtime/memory.hpp"
#include "runtime/safetensors.hpp"
#include "runtime/tensor.hpp"
#include "text/generate.hpp"
#include "vision/image.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace glimpse {

enum class Task { Caption, Answer };
const char* task_name(Task task);  // "caption", "answer"

struct ModelOptions {
  DType weights = DType::F32;  // F16 halves memory and bandwidth at a small accuracy cost
  std::function<bool(float)> progress;  // load progress in [0, 1]; returning false cancels
  const TensorSource* tensors = nullptr;  // replaces the folder's weights (benchmarks generate them)
};

// Where the time of one request went; encode_ms includes preprocess_ms and the encoder states'
// cross-attention K/V (per-image work), decode_ms is the rest.
struct Timings {
  double preprocess_ms = 0, encode_ms = 0, decode_ms = 0;
};

struct CaptionOptions {
  std::string prompt;         // conditional captioning (BLIP only): the caption continues this text;
                              // Florence-2: a task token and its text, as the processor takes them
  std::string task;           // Florence-2 only: the task token ("<OD>"); empty: <CAPTION>
  std::string task_text;      // Florence-2 only: the {input} of tasks that take one
  GenerationConfig gen{0};    // max_length 0 = the model config's (20); greedy unless beams or sampling
  bool keep_tensors = false;  // return pixel_values, image_embeds and the first step's logits
};

struct CaptionResult {
  std::string text;           // Florence-2: a text task's answer, else the text without special tokens
  std::vector<uint32_t> ids;  // the decoder start, any prompt, the generated ids (eos if produced)
  Timings timings;
  std::vector<float> pixel_values, image_embeds, logits_step0;  // with keep_tensors, this image's
  // Florence-2 only: the task run, the generated text with special tokens kept (what
  // post-processing reads) and post_process_generation's result as JSON ({task: answer}).
  std::string task, generated_text, result;
  std::vector<float> encoder_states;  // Florence-2, with keep_tensors: the BART encoder's output
};

// Families that take no task refuse one (ErrorCode::InvalidArgument), naming `family`.
void caption_no_task(const CaptionOptions& opt, const char* family);

struct AnswerOptions {
  GenerationConfig gen{0};    // max_length 0 = the config's (20)
  bool keep_tensors = false;  // return question_embeds and the first step's logits
};

struct AnswerResult {
  std::string text;                // decoded, skip_special_tokens, stripped (the VQA pipeline)
  std::vector<uint32_t> ids;       // [bos, generated..., sep if produced]
  std::vector<uint32_t> question_ids;
  Timings timings;
  std::vector<float> question_embeds, logits_step0;  // with keep_tensors, this image's
};

// What a loaded model is, for model info and messages.
struct ModelInfo {
  std::string family;        // its family-table entry, e.g. "blip-caption"
  std::string architecture;  // e.g. "BlipForConditionalGeneration"
  Task task = Task::Caption;
  int image_size = 0;        // the encoder's input width = height
  int vision_hidden = 0, vision_layers = 0, text_hidden = 0, text_layers = 0, vocab = 0;
  uint32_t eos = 0;          // the id that ends generation
  int max_length = 20;       // the default, counting the decoder start and any prompt
  DType weights = DType::F32;
};

// The ModelInfo of a VisionEncoderDecoderModel that captions (ViT-GPT2, TrOCR).
struct VisionEncoderDecoderSizes {
  int image_size, vision_hidden, vision_layers, text_hidden, text_layers, vocab;
  uint32_t eos;
  int max_length;
};
ModelInfo vision_encoder_decoder_info(const char* family, const VisionEncoderDecoderSizes& s, DType weights);

class Model {
 public:
  virtual ~Model() = default;
  virtual const ModelInfo& info() const = 0;
  // Token ids to text, as batch_decode(ids, skip_special_tokens=True) does.
  virtual std::string detokenize(const std::vector<uint32_t>& ids) const = 0;
  // One caption per image. A model that does not caption throws ErrorCode::WrongTask.
  virtual std::vector<CaptionResult> caption(const std::vector<Image>& images, const CaptionOptions& opt = {});
  // One answer to `question` per image. A model that does not answer throws ErrorCode::WrongTask.
  virtual std::vector<AnswerResult> answer(const std::vector<Image>& images, const std::string& question,
                                           const AnswerOptions& opt = {});
};

}  // namespace glimpse
