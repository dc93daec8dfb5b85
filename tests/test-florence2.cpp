// Florence-2 on the tiny checkpoint written by tools/florence2-reference.py (the original layout:
// fp16 weights in pytorch_model.bin, BART's tokenizer files without the processor's tokens).
// CLIPImageProcessor's pixel values bit for bit; the DaViT encoder with the image projection, the
// BART encoder's states and the first logits within 1e-4 / 1e-3; prompt ids, greedy and 3-beam ids,
// the generated text and post_process_generation's result exactly, for every task on two images.
#include "tests/op-test.hpp"

#include "fusion/florence2.hpp"
#include "fusion/model-folder.hpp"
#include "runtime/error.hpp"
#include "vision/davit.hpp"
#include "vision/decode.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <unistd.h>
#include <fstream>

using namespace glimpse;
using glimpse::test::context;
using glimpse::test::download;
using glimpse::test::max_abs_diff;
using glimpse::test::npy_load;
using glimpse::test::upload;
namespace fs = std::filesystem;

namespace {

const fs::path kDir = fs::path(GLIMPSE_TEST_DATA) / "florence2";
const std::pair<const char*, const char*> kImages[] = {{"pattern", "blip/pattern.png"}, {"photo", "images/rgb-420.jpg"}};

struct ImageSide {
  ModelFolder folder{(kDir / "tiny").string()};
  ImageProcessorConfig pre;
  DavitConfig cfg;
  Allocator weights{context(), MemoryKind::Device, "florence2 weights"};
  std::unique_ptr<DavitEncoder> encoder;

  explicit ImageSide(DType dtype = DType::F32) {
    const int size = nlohmann::json::parse(std::ifstream(folder.path("preprocessor_config.json")))["size"]["height"];
    pre = folder.preprocessor(size);
    cfg = davit_config_parse(folder.config()["vision_config"], size, folder.config_path());
    ModelOptions mo;
    mo.weights = dtype;
    WeightLoader w = folder.loader(context(), weights, mo);
    encoder = std::make_unique<DavitEncoder>(w, cfg);
  }

  std::vector<float> pixels(const char* file) const {
    std::vector<float> pv;
    pixel_values_append(pre, image_load((fs::path(GLIMPSE_TEST_DATA) / file).string()), pv);
    return pv;
  }

  std::vector<float> features(const std::vector<float>& pv, int64_t batch) const {
    Allocator arena(context(), MemoryKind::Device, "pass");
    const int64_t s = cfg.image_size;
    const Tensor px = upload(arena, pv, {batch, 3, s, s});
    const Tensor out = arena.alloc(DType::F32, {batch, cfg.image_tokens(), cfg.projection_dim});
    Sequence seq(context());
    encoder->record(seq, arena, px, out);
    seq.run();
    return download(out);
  }
};

}  // namespace

TEST_CASE("Florence-2's DaViT encoder and image projection match the PyTorch reference", "[florence2][model]") {
  const ImageSide side;
  CHECK(side.cfg.image_tokens() == 10);  // the pooled token and a 3x3 grid
  for (const auto& [name, file] : kImages) {
    INFO("image " << name);
    const std::string stem = (kDir / ("golden-tiny-" + std::string(name))).string();
    const std::vector<float> pv = side.pixels(file);
    CHECK(pv == npy_load(stem + "-pixel_values.npy"));  // CLIPImageProcessor: bicubic, ImageNet mean/std
    const double diff = max_abs_diff(side.features(pv, 1), npy_load(stem + "-image_features.npy"));
    INFO("max abs diff " << diff);
    CHECK(diff <= 1e-4);
  }
}

TEST_CASE("Florence-2's image features are per image in a batch, and fp16 weights stay close", "[florence2][model]") {
  const ImageSide side;
  std::vector<float> both = side.pixels(kImages[0].second);
  const std::vector<float> second = side.pixels(kImages[1].second);
  both.insert(both.end(), second.begin(), second.end());
  const std::vector<float> got = side.features(both, 2);
  const size_t half = got.size() / 2;
  CHECK(max_abs_diff({got.begin(), got.begin() + long(half)}, npy_load((kDir / "golden-tiny-pattern-image_features.npy").string())) <= 1e-4);
  CHECK(max_abs_diff({got.begin() + long(half), got.end()}, npy_load((kDir / "golden-tiny-photo-image_features.npy").string())) <= 1e-4);

  const ImageSide f16(DType::F16);
  const double diff = max_abs_diff(f16.features(second, 1), npy_load((kDir / "golden-tiny-photo-image_features.npy").string()));
  INFO("fp16 max abs diff " << diff);
  CHECK(diff <= 2e-2);
}

TEST_CASE("Florence-2 vision configs that glimpse cannot run are refused by name", "[florence2][model]") {
  const nlohmann::json base = nlohmann::json::parse(std::ifstream(kDir / "tiny" / "config.json"))["vision_config"];
  const auto refused = [&](const char* field, const nlohmann::json& value, int size, const char* message) {
    nlohmann::json j = base;
    if (value.is_null()) j.erase(field);
    else j[field] = value;
    INFO(field << " = " << value.dump());
    CHECK_THROWS_WITH(davit_config_parse(j, size, "config.json"), Catch::Contains(message));
  };
  CHECK_NOTHROW(davit_config_parse(base, 96, "config.json"));
  refused("image_feature_source", {"temporal_avg_pool", "spatial_avg_pool"}, 96, "image_feature_source");
  refused("num_groups", {2, 3, 4, 5}, 96, "channel groups of at most 64 that divide it");
  refused("num_heads", {2, 3, 4, 5}, 96, "stage 3");
  refused("depths", {1, 1, 2}, 96, "depths has 3 entries but dim_embed has 4 stages");
  refused("model_type", "resnet", 96, "is not supported (davit)");
  refused("image_pos_embed", nullptr, 96, "image_pos_embed is missing");
  refused("patch_padding", {7, 1, 1, 1}, 96, "must be smaller than patch_size");
  refused("window_size", 0, 96, "window_size");
  CHECK_THROWS_WITH(davit_config_parse(base, 2000, "config.json"), Catch::Contains("exceeds image_pos_embed.max_pos_embeddings 50"));
}

namespace {
// Ordered: results are compared with their keys in the processor's order.
nlohmann::ordered_json goldens() { return nlohmann::ordered_json::parse(std::ifstream(kDir / "goldens.json")); }

Image image_of(const std::string& name) {
  for (const auto& [n, file] : kImages)
    if (name == n) return image_load((fs::path(GLIMPSE_TEST_DATA) / file).string());
  FAIL("no image " << name);
  return {};
}
}  // namespace

TEST_CASE("Florence-2's processor: task prompts, added tokens and prompt ids", "[florence2][text]") {
  const auto model = model_load<Florence2Model>(context(), (kDir / "tiny").string());
  const nlohmann::ordered_json g = goldens();
  CHECK(model->tokenizer().size() == size_t(model->config().decoder.vocab));  // base + the processor's 1024
  CHECK(model->tokenizer().id("<loc_0>") + 999 == model->tokenizer().id("<loc_999>"));
  for (const auto& c : g["cases"]) {
    if (c["image"] != "pattern") continue;
    INFO(c["task"] << " " << c["text"]);
    CHECK(model->prompt_ids(c["task"], c["text"]) == c["prompt_ids"].get<std::vector<uint32_t>>());
  }
  // A tokenizer.json whose added tokens extend the vocabulary (as a converted Florence-2's does)
  nlohmann::json tj = nlohmann::json::parse(std::ifstream(kDir / "tiny" / "tokenizer.json"));
  const size_t base = tj["model"]["vocab"].size();
  tj["added_tokens"].push_back({{"id", base}, {"content", "<od>"}, {"special", true}});
  tj["added_tokens"].push_back({{"id", base + 1}, {"content", "</od>"}, {"special", true}});
  const fs::path tmp = fs::temp_directory_path() / ("glimpse-florence2-tok-" + std::to_string(::getpid()) + ".json");
  std::ofstream(tmp) << tj.dump();
  const BytePairTokenizer extended = BytePairTokenizer::from_tokenizer_json(tmp.string());
  CHECK(extended.size() == base + 2);
  CHECK(extended.encode("a<od>car</od>") == std::vector<uint32_t>{uint32_t(extended.id("a")), uint32_t(base),
                                                                   uint32_t(extended.id("car")), uint32_t(base + 1)});
  CHECK(extended.decode({uint32_t(base), uint32_t(extended.id("car"))}, false) == "<od>car");
  tj["added_tokens"].push_back({{"id", base + 5}, {"content", "<gap>"}, {"special", true}});
  std::ofstream(tmp) << tj.dump();
  CHECK_THROWS_WITH(BytePairTokenizer::from_tokenizer_json(tmp.string()), Catch::Contains("no token has id"));
  fs::remove(tmp);

  using florence2::construct_prompt;
  CHECK(construct_prompt("<OD>", "") == "Locate the objects with category name in the image.");
  CHECK(construct_prompt("<REGION_TO_CATEGORY>", "<loc_1><loc_2><loc_3><loc_4>") ==
        "What is the region <loc_1><loc_2><loc_3><loc_4>?");
  // the processor removes every copy of the task token from the input
  CHECK(construct_prompt("<OPEN_VOCABULARY_DETECTION>", "car<OPEN_VOCABULARY_DETECTION>s") == "Locate cars in the image.");
  CHECK_THROWS_WITH(construct_prompt("<OD>", "cars"), Catch::Contains("<OD> takes no text"));
  CHECK_THROWS_WITH(construct_prompt("<OPEN_VOCABULARY_DETECTION>", ""), Catch::Contains("needs a text: what to locate"));
  CHECK_THROWS_WITH(construct_prompt("<VQA>", "what color?"), Catch::Contains("unknown Florence-2 task '<VQA>'"));
  CHECK(florence2::split_task("<CAPTION_TO_PHRASE_GROUNDING>a dog") == std::pair<std::string, std::string>{"<CAPTION_TO_PHRASE_GROUNDING>", "a dog"});
  CHECK(florence2::split_task("<OCR_WITH_REGION>") == std::pair<std::string, std::string>{"<OCR_WITH_REGION>", ""});
  CHECK(florence2::split_task("what is this?").first.empty());
}

TEST_CASE("Florence-2 runs every task as the reference: ids, text and post-processed results", "[florence2][model]") {
  const auto model = model_load<Florence2Model>(context(), (kDir / "tiny").string());
  const nlohmann::ordered_json g = goldens();
  const int max_new = g["max_new_tokens"];
  int checked = 0;
  for (const auto& c : g["cases"]) {
    const std::string task = c["task"], text = c["text"], image = c["image"];
    INFO(image << " " << task << " " << text);
    for (const char* mode : {"greedy", "beam3"}) {
      INFO(mode);
      CaptionOptions opt;
      opt.task = task;
      opt.task_text = text;
      opt.gen.max_new_tokens = max_new;
      opt.gen.num_beams = std::string(mode) == "greedy" ? 1 : 0;  // 0: the text_config's 3
      opt.keep_tensors = task == "<CAPTION>" && std::string(mode) == "greedy";
      const CaptionResult r = model->caption({image_of(image)}, opt).at(0);
      const auto& want = c[mode];
      CHECK(r.ids == want["ids"].get<std::vector<uint32_t>>());
      CHECK(r.generated_text == want["generated_text"].get<std::string>());
      CHECK(nlohmann::ordered_json::parse(r.result) == want["result"]);
      CHECK(r.task == task);
      if (opt.keep_tensors) {
        const std::string stem = (kDir / ("golden-tiny-" + image + "-caption")).string();
        const double states = max_abs_diff(r.encoder_states, npy_load(stem + "-encoder_states.npy"));
        const double logits = max_abs_diff(r.logits_step0, npy_load(stem + "-logits_step0.npy"));
        INFO("encoder states " << states << ", step-0 logits " << logits);
        CHECK(states <= 1e-4);
        CHECK(logits <= 1e-3);
      }
      ++checked;
    }
  }
  CHECK(checked == 60);
}

TEST_CASE("Florence-2 batches images, takes a task in the prompt, and refuses what it cannot do", "[florence2][model]") {
  const auto model = model_load<Florence2Model>(context(), (kDir / "tiny").string());
  const nlohmann::ordered_json g = goldens();
  auto want = [&](const std::string& image, const std::string& task, const char* mode) {
    for (const auto& c : g["cases"])
      if (c["image"] == image && c["task"] == task) return c[mode];
    FAIL("no golden case");
    return nlohmann::ordered_json();
  };
  CaptionOptions opt;
  opt.prompt = "<CAPTION_TO_PHRASE_GROUNDING>a green car";
  opt.gen.max_new_tokens = g["max_new_tokens"];
  const auto both = model->caption({image_of("pattern"), image_of("photo")}, opt);
  REQUIRE(both.size() == 2);
  CHECK(both[0].ids == want("pattern", "<CAPTION_TO_PHRASE_GROUNDING>", "beam3")["ids"].get<std::vector<uint32_t>>());
  CHECK(both[1].ids == want("photo", "<CAPTION_TO_PHRASE_GROUNDING>", "beam3")["ids"].get<std::vector<uint32_t>>());
  CHECK(nlohmann::ordered_json::parse(both[1].result) == want("photo", "<CAPTION_TO_PHRASE_GROUNDING>", "beam3")["result"]);

  CaptionOptions dflt;  // <CAPTION>, 3 beams
  dflt.gen.max_new_tokens = g["max_new_tokens"];
  const CaptionResult cap = model->caption({image_of("photo")}, dflt).at(0);
  CHECK(cap.task == "<CAPTION>");
  CHECK(cap.ids == want("photo", "<CAPTION>", "beam3")["ids"].get<std::vector<uint32_t>>());
  CHECK(cap.text == want("photo", "<CAPTION>", "beam3")["result"]["<CAPTION>"].get<std::string>());

  CaptionOptions both_ways = opt;
  both_ways.task = "<OD>";
  CHECK_THROWS_WITH(model->caption({image_of("photo")}, both_ways), Catch::Contains("not both"));
  CaptionOptions question;
  question.prompt = "what colour is the car?";
  try {
    model->caption({image_of("photo")}, question);
    FAIL("a free question was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::InvalidArgument);
    CHECK(std::string(e.what()).find("free questions are not a Florence-2 task") != std::string::npos);
  }
  try {
    model->answer({image_of("photo")}, "what colour is the car?");
    FAIL("answer() ran");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::WrongTask);
  }
  CaptionOptions long_text;
  long_text.task = "<OPEN_VOCABULARY_DETECTION>";
  for (int i = 0; i < 60; ++i) long_text.task_text += "car ";
  CHECK_THROWS_WITH(model->caption({image_of("photo")}, long_text), Catch::Contains("exceed") || Catch::Contains("at most"));
  long_text.task_text.assign(5 << 20, 'a');  // megabytes: refused before tokenising
  CHECK_THROWS_WITH(model->caption({image_of("photo")}, long_text), Catch::Contains("bytes; the model reads at most"));
}

TEST_CASE("Florence-2 with fp16 weights stays within fp16 tolerances of the reference", "[florence2][model]") {
  ModelOptions mo;
  mo.weights = DType::F16;
  const auto model = model_load<Florence2Model>(context(), (kDir / "tiny").string(), mo);
  CaptionOptions opt;
  opt.keep_tensors = true;
  opt.gen.num_beams = 1;
  opt.gen.max_new_tokens = 4;
  const CaptionResult r = model->caption({image_of("photo")}, opt).at(0);
  const std::string stem = (kDir / "golden-tiny-photo-caption").string();
  const double states = max_abs_diff(r.encoder_states, npy_load(stem + "-encoder_states.npy"));
  const double logits = max_abs_diff(r.logits_step0, npy_load(stem + "-logits_step0.npy"));
  INFO("encoder states " << states << ", step-0 logits " << logits);
  CHECK(states <= 2e-2);
  CHECK(logits <= 2e-2);
}
