// libFuzzer: Florence-2's post_process_generation on arbitrary generated text. The first byte picks
// the task (every answer kind and an unknown one) and the image size; the rest is the text. Only
// glimpse::Error (a location bin past int64) counts as a clean refusal; the answer must serialise.
#include "fusion/florence2-postprocess.hpp"
#include "runtime/error.hpp"

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  static const char* const tasks[] = {"<CAPTION>", "<OCR_WITH_REGION>", "<OD>", "<REGION_PROPOSAL>",
                                      "<CAPTION_TO_PHRASE_GROUNDING>", "<REFERRING_EXPRESSION_SEGMENTATION>",
                                      "<OPEN_VOCABULARY_DETECTION>", "<UNKNOWN>"};
  const std::string task = tasks[data[0] % 8];
  const int64_t width = 1 + (data[0] >> 3) * 97, height = 1 + (data[0] >> 5) * 331;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  try {
    const auto answer = glimpse::florence2::post_process_generation(text, task, width, height);
    (void)answer.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
  } catch (const glimpse::Error&) {
  }
  return 0;
}
