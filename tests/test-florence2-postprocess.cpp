// Florence-2's post_process_generation against tools/florence2-postprocess-reference.py, which
// runs the processor's own regular expressions and torch arithmetic: every task kind, on
// hand-written generations that include the malformed ones (unbalanced and unpaired location
// tokens, missing labels, bins past the grid, newlines, non-ASCII text).
#include "fusion/florence2-postprocess.hpp"
#include "runtime/error.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

using namespace glimpse;
using Json = nlohmann::ordered_json;

TEST_CASE("Florence-2 answers parse as the processor parses them", "[florence2]") {
  std::ifstream in(std::filesystem::path(GLIMPSE_TEST_DATA) / "florence2" / "postprocess.json");
  REQUIRE(in.good());
  const Json goldens = Json::parse(in);
  REQUIRE(goldens["cases"].size() >= 30);
  for (const Json& c : goldens["cases"]) {
    const std::string task = c["task"], text = c["text"];
    INFO(task << " on " << text);
    if (c["result"].contains("error")) {
      CHECK_THROWS_AS(florence2::post_process_generation(text, task, c["width"], c["height"]), Error);
      continue;
    }
    const Json got = florence2::post_process_generation(text, task, c["width"], c["height"]);
    CHECK(got == c["result"]);
    // The keys in the processor's order, and numbers that print as Python prints them.
    CHECK(got.dump() == c["result"].dump());
  }
}

TEST_CASE("Florence-2 location bins dequantize in float32 as torch does", "[florence2]") {
  CHECK(florence2::dequantize(0, 1000) == 0.5);
  CHECK(florence2::dequantize(999, 1000) == 999.5);
  CHECK(florence2::dequantize(52, 640) == double(33.6f));    // 52.5 * 0.64f
  CHECK(florence2::dequantize(332, 480) == 159.59999084472656);
  CHECK(florence2::answer_kind("<OD>") == florence2::AnswerKind::DescriptionWithBboxes);
  CHECK(florence2::answer_kind("<NOT_A_TASK>") == florence2::AnswerKind::PureText);
}

TEST_CASE("Florence-2 post-processing takes time linear in the text", "[florence2]") {
  // Texts the regular expressions would scan quadratically if matched naively: long lines
  // without enough location tokens, and long runs of them. 100 KB must cost < 20x 10 KB.
  auto cost = [](size_t bytes) {
    std::string a, b;
    while (a.size() < bytes) a += "word <loc_1><loc_2><loc_3>";
    while (b.size() < bytes) b += "<loc_7>";
    const auto t0 = std::chrono::steady_clock::now();
    for (const char* task : {"<OD>", "<OCR_WITH_REGION>", "<REFERRING_EXPRESSION_SEGMENTATION>", "<CAPTION_TO_PHRASE_GROUNDING>",
                             "<OPEN_VOCABULARY_DETECTION>", "<REGION_PROPOSAL>"})
      for (const std::string* t : {&a, &b}) (void)florence2::post_process_generation(*t, task, 640, 480);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  };
  cost(10000);  // warm-up
  const double small = cost(10000), large = cost(100000);
  INFO("10 KB " << small * 1e3 << " ms, 100 KB " << large * 1e3 << " ms");
  CHECK(large < 20 * small + 0.05);
}
