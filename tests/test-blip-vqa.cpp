// BLIP VQA end to end on the tiny checkpoint written by tools/blip-reference.py: question ids,
// question embeddings <= 1e-4, step-0 logits <= 1e-3, answer ids (greedy and beam) exact.
#include "tests/op-test.hpp"

#include "fusion/blip-vqa.hpp"
#include "runtime/error.hpp"
#include "vision/decode.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

using namespace glimpse;
using glimpse::test::context;
using glimpse::test::max_abs_diff;
using glimpse::test::npy_load;
namespace fs = std::filesystem;

namespace {

const fs::path kModel = fs::path(GLIMPSE_TEST_DATA) / "blip" / "tiny-vqa";

}  // namespace

TEST_CASE("BLIP VQA matches the PyTorch reference on a tiny checkpoint", "[blip][vqa][model]") {
  const auto g = nlohmann::json::parse(std::ifstream(kModel / "goldens.json"));
  const auto vqa_owner = model_load<BlipVqa>(context(), kModel.string());
  BlipVqa& vqa = *vqa_owner;
  const Image img = image_load((fs::path(GLIMPSE_TEST_DATA) / "blip" / g["image"].get<std::string>()).string());
  int i = 0;
  for (const auto& c : g["cases"]) {
    const std::string question = c["question"].get<std::string>();
    INFO("question: " << question);
    AnswerOptions opt;
    opt.keep_tensors = true;
    const AnswerResult r = vqa.answer({img}, question, opt).at(0);
    CHECK(r.question_ids == c["question_ids"].get<std::vector<uint32_t>>());  // [CLS] kept, no [ENC]
    const std::string stem = (kModel / ("golden-q" + std::to_string(i++))).string();
    CHECK(max_abs_diff(r.question_embeds, npy_load(stem + "-question_embeds.npy")) <= 1e-4);
    CHECK(max_abs_diff(r.logits_step0, npy_load(stem + "-logits_step0.npy")) <= 1e-3);
    const auto want = c["answer_ids"].get<std::vector<uint32_t>>();
    CHECK(r.ids == want);
    std::string text = vqa.tokenizer().decode(want);  // then .strip(), as the VQA pipeline does
    text.erase(0, text.find_first_not_of(' '));
    text.erase(text.find_last_not_of(' ') + 1);
    CHECK(r.text == text);
    AnswerOptions beam;
    beam.gen.num_beams = 3;
    CHECK(vqa.answer({img}, question, beam).at(0).ids == c["ids_beam3"].get<std::vector<uint32_t>>());
  }
  // A batch answers each image as alone.
  const auto both = vqa.answer({img, img}, g["cases"][0]["question"].get<std::string>());
  CHECK(both[0].ids == g["cases"][0]["answer_ids"].get<std::vector<uint32_t>>());
  CHECK(both[1].ids == both[0].ids);
}

TEST_CASE("BLIP VQA with fp16 weights stays within fp16 tolerances of the reference", "[blip][vqa][model]") {
  // Weights rounded to fp16: the same answers, embeddings and logits within fp16 rounding of the
  // reference (measured: <= 2e-3 and <= 1.2e-2).
  const auto g = nlohmann::json::parse(std::ifstream(kModel / "goldens.json"));
  ModelOptions mo;
  mo.weights = DType::F16;
  const auto vqa_owner = model_load<BlipVqa>(context(), kModel.string(), mo);
  BlipVqa& vqa = *vqa_owner;
  const Image img = image_load((fs::path(GLIMPSE_TEST_DATA) / "blip" / g["image"].get<std::string>()).string());
  int i = 0;
  for (const auto& c : g["cases"]) {
    INFO("question: " << c["question"].get<std::string>());
    AnswerOptions opt;
    opt.keep_tensors = true;
    const AnswerResult r = vqa.answer({img}, c["question"].get<std::string>(), opt).at(0);
    const std::string stem = (kModel / ("golden-q" + std::to_string(i++))).string();
    const double embeds = max_abs_diff(r.question_embeds, npy_load(stem + "-question_embeds.npy"));
    const double logits = max_abs_diff(r.logits_step0, npy_load(stem + "-logits_step0.npy"));
    INFO("max abs diff: question embeds " << embeds << ", step-0 logits " << logits);
    CHECK(embeds <= 2e-2);
    CHECK(logits <= 2e-2);
    CHECK(r.ids == c["answer_ids"].get<std::vector<uint32_t>>());
  }
}

TEST_CASE("BLIP VQA refuses empty questions and captioning folders", "[blip][vqa][model]") {
  const auto vqa_owner = model_load<BlipVqa>(context(), kModel.string());
  BlipVqa& vqa = *vqa_owner;
  Image img;
  img.width = img.height = 8;
  img.rgb.assign(8 * 8 * 3, 128);
  CHECK_THROWS_WITH(vqa.answer({img}, ""), "question is empty");
  CHECK_THROWS_WITH(vqa.answer({img}, " \t\n"), "question is empty");
  CHECK_THROWS_WITH(vqa.answer({img}, "bad \xff utf-8"), Catch::Contains("invalid UTF-8"));
  CHECK_THROWS_WITH(model_load<BlipVqa>(context(), (kModel.parent_path() / "tiny-base").string()),
                    Catch::Contains("architecture BlipForConditionalGeneration is not BlipForQuestionAnswering"));
}

// On GPUs (the Vulkan backend) the image pass is recorded once per batch size and replayed: each
// call must see its own image, and a batch-size change must re-record it.
TEST_CASE("BLIP VQA encodes each call's images when its image pass is replayed", "[blip][vqa][model]") {
  const auto g = nlohmann::json::parse(std::ifstream(kModel / "goldens.json"));
  const Image photo = image_load((fs::path(GLIMPSE_TEST_DATA) / "blip" / g["image"].get<std::string>()).string());
  Image ramp;  // a second, different image
  ramp.width = 64, ramp.height = 48;
  for (int i = 0; i < ramp.width * ramp.height; ++i)
    for (int c = 0; c < 3; ++c) ramp.rgb.push_back(uint8_t((i * (c + 1)) % 251));
  const std::string question = g["cases"][0]["question"].get<std::string>();
  AnswerOptions opt;
  opt.keep_tensors = true;
  auto embeds = [&](BlipVqa& vqa, const std::vector<Image>& images) {
    std::vector<std::vector<float>> out;
    for (const AnswerResult& r : vqa.answer(images, question, opt)) out.push_back(r.question_embeds);
    return out;
  };
  const auto photo_owner = model_load<BlipVqa>(context(), kModel.string());
  const auto ramp_owner = model_load<BlipVqa>(context(), kModel.string());
  BlipVqa &fresh_photo = *photo_owner, &fresh_ramp = *ramp_owner;
  const std::vector<float> want_photo = embeds(fresh_photo, {photo})[0], want_ramp = embeds(fresh_ramp, {ramp})[0];
  REQUIRE(max_abs_diff(want_photo, want_ramp) > 1e-3);  // the image matters

  const auto vqa_owner = model_load<BlipVqa>(context(), kModel.string());
  BlipVqa& vqa = *vqa_owner;
  for (int round = 0; round < 2; ++round) {
    INFO("round " << round);
    CHECK(max_abs_diff(embeds(vqa, {photo})[0], want_photo) == 0);
    CHECK(max_abs_diff(embeds(vqa, {ramp})[0], want_ramp) == 0);
    const auto both = embeds(vqa, {ramp, photo});  // batch 2: re-recorded; GEMMs of other shapes
    CHECK(max_abs_diff(both[0], want_ramp) < 1e-4);
    CHECK(max_abs_diff(both[1], want_photo) < 1e-4);
  }
}
