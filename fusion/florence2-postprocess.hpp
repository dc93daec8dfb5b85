// Florence-2's answers as its processor returns them: post_process_generation turns the generated
// text (decoded with special tokens kept) into text, labelled boxes, OCR quads or polygons in the
// original image's pixels. Location tokens <loc_0>..<loc_999> are bins of a 1000 x 1000 grid.
//
// Reproduces processing_florence2.py as published with the original checkpoints (Hub commit
// 00d2f15: Florence2Processor.post_process_generation, Florence2PostProcesser, BoxQuantizer and
// CoordinatesQuantizer), quirks included; docs/models/florence2.md lists them. Its regular
// expressions are matched here by hand, in time linear in the text.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace glimpse::florence2 {

// How a task's answer is parsed (the processor's tasks_answer_post_processing_type).
enum class AnswerKind {
  PureText,                         // <CAPTION>, <OCR>, <REGION_TO_*>, and any unknown task
  Ocr,                              // <OCR_WITH_REGION>: quad boxes and their text
  DescriptionWithBboxes,            // <OD>, <DENSE_REGION_CAPTION>
  Bboxes,                           // <REGION_PROPOSAL>: boxes with empty labels
  PhraseGrounding,                  // <CAPTION_TO_PHRASE_GROUNDING>
  Polygons,                         // <REFERRING_EXPRESSION_SEGMENTATION>, <REGION_TO_SEGMENTATION>
  DescriptionWithBboxesOrPolygons,  // <OPEN_VOCABULARY_DETECTION>
};

AnswerKind answer_kind(std::string_view task);

// {task: answer}, with the processor's keys in its order. `width` and `height` are the original
// image's. A location bin past int64 (the processor's torch.tensor overflows) is an Error
// (ErrorCode::InvalidArgument) naming it; any other text parses, as the processor's would.
nlohmann::ordered_json post_process_generation(const std::string& text, const std::string& task, int64_t width,
                                               int64_t height);

// A bin's coordinate as the quantizers compute it: (bin + 0.5) * (size / 1000) in float32 (the
// int64 bin promoted to float32, the bin size a float32 scalar), widened back to double.
double dequantize(int64_t bin, int64_t size);

}  // namespace glimpse::florence2
