#include "fusion/model.hpp"

#include "runtime/error.hpp"

namespace glimpse {

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
