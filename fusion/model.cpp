#include "fusion/model.hpp"

#include "runtime/error.hpp"

namespace glimpse {

ModelInfo vision_encoder_decoder_info(const char* family, const VisionEncoderDecoderSizes& s, DType weights) {
  ModelInfo info;
  info.family = family;
  info.architecture = "VisionEncoderDecoderModel";
  info.task = Task::Caption;
  info.image_size = s.image_size;
  info.vision_hidden = s.vision_hidden, info.vision_layers = s.vision_layers;
  info.text_hidden = s.text_hidden, info.text_layers = s.text_layers, info.vocab = s.vocab;
  info.eos = s.eos;
  info.max_length = s.max_length;
  info.weights = weights;
  return info;
}

void caption_no_task(const CaptionOptions& opt, const char* family) {
  if (!opt.task.empty() || !opt.task_text.empty())
    fail(ErrorCode::InvalidArgument, "this model (", family, ") takes no task or task text; tasks such as <OD> are "
         "Florence-2's");
}

const char* task_name(Task task) { return task == Task::Caption ? "caption" : "answer"; }

std::vector<CaptionResult> Model::caption(const std::vector<Image>&, const CaptionOptions&) {
  fail(ErrorCode::WrongTask, "this model (", info().architecture, ") answers questions about images; it does not "
       "caption them (use 'glimpse vqa --question ...', glimpse_answer)");
}

std::vector<AnswerResult> Model::answer(const std::vector<Image>&, const std::string&, const AnswerOptions&) {
  fail(ErrorCode::WrongTask, "this model (", info().architecture, ") captions images; it does not answer questions "
       "(use 'glimpse caption', glimpse_caption)");
}

}  // namespace glimpse
