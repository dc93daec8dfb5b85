// ViT-GPT2 (VisionEncoderDecoder) on the tiny checkpoints written by tools/vit-gpt2-reference.py,
// and the registry that opens any supported model folder.
#include "tests/op-test.hpp"

#include "fusion/blip-config.hpp"
#include "fusion/registry.hpp"
#include "fusion/vit-gpt2.hpp"
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
using glimpse::test::ScopedEnv;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(GLIMPSE_TEST_DATA);



}  // namespace

TEST_CASE("ViT-GPT2 matches the PyTorch reference, with the tied matrix under either name", "[vit-gpt2][model]") {
  const auto g = nlohmann::json::parse(std::ifstream(kData / "vit-gpt2" / "goldens.json"))["cases"];
  const std::pair<const char*, const char*> images[] = {{"pattern", "blip/pattern.png"}, {"photo", "images/rgb-420.jpg"}};
  for (const char* model : {"tiny-lmhead", "tiny-wte"}) {
    VitGpt2Captioner cap(context(), (kData / "vit-gpt2" / model).string());
    for (const auto& [name, file] : images) {
      INFO("model " << model << ", image " << name);
      const Image img = image_load((kData / file).string());
      CaptionOptions opt;
      opt.keep_tensors = true;
      const CaptionResult r = cap.caption({img}, opt).at(0);
      const std::string stem = (kData / "vit-gpt2" / ("golden-" + std::string(name))).string();
      CHECK(r.pixel_values == npy_load(stem + "-pixel_values.npy"));  // bilinear, mean/std 0.5: bit for bit
      CHECK(max_abs_diff(r.image_embeds, npy_load(stem + "-encoder_states.npy")) <= 1e-4);
      CHECK(max_abs_diff(r.logits_step0, npy_load(stem + "-logits_step0.npy")) <= 1e-3);
      const auto want = g[name]["ids"].get<std::vector<uint32_t>>();
      CHECK(r.ids == want);
      CHECK(r.text == cap.tokenizer().decode(want));
      CaptionOptions card;  // the model card's predict_step: 4 beams, max_length 16
      card.gen.num_beams = 4;
      card.gen.max_length = 16;
      CHECK(cap.caption({img}, card).at(0).ids == g[name]["ids_beam4_ml16"].get<std::vector<uint32_t>>());
    }
    CaptionOptions prompt;
    prompt.prompt = "a photo of";
    CHECK_THROWS_WITH(cap.caption({image_load((kData / "blip/pattern.png").string())}, prompt),
                      Catch::Contains("takes no prompt"));
  }
}

TEST_CASE("ViT-GPT2 with fp16 weights stays within fp16 tolerances of the reference", "[vit-gpt2][model]") {
  // As BLIP's fp16 test: the same greedy caption, states and logits within fp16 rounding (measured:
  // <= 2.1e-3 and <= 7.2e-3). On the host backend the cross-attention K/V are fp16 too
  // (text/decoder.cpp cross_kv_alloc).
  const auto g = nlohmann::json::parse(std::ifstream(kData / "vit-gpt2" / "goldens.json"))["cases"];
  const std::pair<const char*, const char*> images[] = {{"pattern", "blip/pattern.png"}, {"photo", "images/rgb-420.jpg"}};
  ModelOptions mo;
  mo.weights = DType::F16;
  VitGpt2Captioner cap(context(), (kData / "vit-gpt2" / "tiny-lmhead").string(), mo);
  for (const auto& [name, file] : images) {
    INFO("image " << name);
    CaptionOptions opt;
    opt.keep_tensors = true;
    const CaptionResult r = cap.caption({image_load((kData / file).string())}, opt).at(0);
    const std::string stem = (kData / "vit-gpt2" / ("golden-" + std::string(name))).string();
    const double states = max_abs_diff(r.image_embeds, npy_load(stem + "-encoder_states.npy"));
    const double logits = max_abs_diff(r.logits_step0, npy_load(stem + "-logits_step0.npy"));
    INFO("max abs diff: encoder states " << states << ", step-0 logits " << logits);
    CHECK(states <= 2e-2);
    CHECK(logits <= 2e-2);
    CHECK(states > 0);  // the option is in effect
    CHECK(r.ids == g[name]["ids"].get<std::vector<uint32_t>>());
  }
}

TEST_CASE("the registry opens each supported model and names the unsupported", "[vit-gpt2][model]") {
  CHECK(model_kind((kData / "blip/tiny-base").string()) == ModelKind::BlipCaption);
  CHECK(model_kind((kData / "blip/tiny-vqa").string()) == ModelKind::BlipVqa);
  CHECK(model_kind((kData / "vit-gpt2/tiny-wte").string()) == ModelKind::VitGpt2);
  CHECK(captioner_open(context(), (kData / "vit-gpt2/tiny-lmhead").string()) != nullptr);
  CHECK_THROWS_WITH(captioner_open(context(), (kData / "blip/tiny-vqa").string()), Catch::Contains("use 'glimpse vqa"));
  CHECK_THROWS_WITH(vqa_open(context(), (kData / "blip/tiny-base").string()), Catch::Contains("use 'glimpse caption'"));
  const fs::path dir = fs::temp_directory_path() / ("glimpse-registry-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"]})";
  CHECK_THROWS_WITH(model_kind(dir.string()), Catch::Contains("model_type 'llava' (LlavaForConditionalGeneration) is not "
                                                              "supported; supported: BlipForConditionalGeneration"));
  std::ofstream(dir / "config.json") << R"({"model_type": "vision-encoder-decoder", "encoder": {"model_type": "swin"},
                                           "decoder": {"model_type": "trocr"}})";
  CHECK_THROWS_WITH(model_kind(dir.string()), Catch::Contains("encoder 'swin' and decoder 'trocr' is not supported"));
  // Fields of the wrong JSON type are named errors, not the JSON library's exceptions (fuzz-config).
  for (const char* bad : {R"({"model_type": 5})", R"("just a string")", R"({"model_type": "blip", "architectures": [7]})",
                          R"({"model_type": "vision-encoder-decoder", "encoder": "vit", "decoder": {}})"}) {
    std::ofstream(dir / "config.json") << bad;
    const std::string cfg = (dir / "config.json").string();
    if (std::string(bad).find("[7]") == std::string::npos) CHECK_THROWS_AS(model_kind(dir.string()), Error);
    CHECK_THROWS_AS(blip_config_load(cfg), Error);
    CHECK_THROWS_AS(vit_gpt2_config_load(cfg), Error);
  }
  std::ofstream(dir / "config.json") << R"({"model_type": 5})";
  CHECK_THROWS_WITH(vit_gpt2_config_load((dir / "config.json").string()), Catch::Contains("config.json: unexpected layout"));
  fs::remove_all(dir);
  CHECK_THROWS_WITH(model_kind(dir.string()), Catch::Contains("config.json: cannot open"));
}

TEST_CASE("bundled models are found through GLIMPSE_MODELS_DIR first, else the source tree", "[vit-gpt2][model]") {
  const fs::path dir = fs::temp_directory_path() / ("glimpse-bundled-" + std::to_string(::getpid()));
  fs::create_directories(dir / kBundledCaptionModel);
  std::ofstream(dir / kBundledCaptionModel / "config.json") << "{}";
  {
    ScopedEnv env("GLIMPSE_MODELS_DIR", dir.string().c_str());
    CHECK(bundled_model_dir(kBundledCaptionModel) == (dir / kBundledCaptionModel).string());
    // Not in the override: the source tree's models/ is next, and the error names every place tried.
    CHECK(bundled_model_dir(kBundledVqaModel) == (fs::path(GLIMPSE_TEST_SOURCE_DIR) / "models" / kBundledVqaModel).string());
    CHECK_THROWS_WITH(bundled_model_dir("no-such-model"),
                      Catch::Contains("the bundled model no-such-model is not in " + (dir / "no-such-model").string()) &&
                          Catch::Contains("set GLIMPSE_MODELS_DIR or pass --model DIR"));
  }
  fs::remove_all(dir);
}
