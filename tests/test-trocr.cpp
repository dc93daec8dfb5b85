// TrOCR on the tiny checkpoints written by tools/trocr-reference.py: a ViT encoder without q/k/v
// biases with learned positions and a separate output projection (tiny-vit), a DeiT encoder with
// sinusoidal positions, relu and tied embeddings (tiny-deit), and tiny-vit's weights stored only
// as pytorch_model.bin (tiny-vit-bin). Pixel values exact, encoder states <= 1e-4, step-0 logits
// <= 1e-3, greedy and beam ids and text exact.
#include "tests/op-test.hpp"

#include "fusion/family.hpp"
#include "fusion/trocr.hpp"
#include "runtime/error.hpp"
#include "text/trocr.hpp"
#include "vision/decode.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <filesystem>
#include <fstream>

using namespace glimpse;
using glimpse::test::context;
using glimpse::test::max_abs_diff;
using glimpse::test::npy_load;
namespace fs = std::filesystem;

namespace {

const fs::path kDir = fs::path(GLIMPSE_TEST_DATA) / "trocr";
const std::pair<const char*, const char*> kImages[] = {
    {"pattern", "blip/pattern.png"}, {"photo", "images/rgb-420.jpg"}, {"gray", "images/gray.png"}};

nlohmann::json goldens() { return nlohmann::json::parse(std::ifstream(kDir / "goldens.json")); }

void check_model(const char* dir, const char* variant, const ModelOptions& mo = {}) {
  const auto g = goldens()["cases"][variant];
  const auto model = model_load<TrocrRecognizer>(context(), (kDir / dir).string(), mo);
  const bool f16 = mo.weights == DType::F16;
  for (const auto& [name, file] : kImages) {
    INFO("model " << dir << ", image " << name << (f16 ? ", fp16 weights" : ""));
    const Image img = image_load((fs::path(GLIMPSE_TEST_DATA) / file).string());
    CaptionOptions opt;
    opt.keep_tensors = true;
    const CaptionResult r = model->caption({img}, opt).at(0);
    const std::string stem = (kDir / ("golden-" + std::string(variant) + "-" + name)).string();
    // ViTImageProcessor: bilinear, mean/std 0.5, bit for bit (grayscale converted to RGB first)
    CHECK(r.pixel_values == npy_load((kDir / ("golden-" + std::string(name) + "-pixel_values.npy")).string()));
    const double states = max_abs_diff(r.image_embeds, npy_load(stem + "-encoder_states.npy"));
    const double logits = max_abs_diff(r.logits_step0, npy_load(stem + "-logits_step0.npy"));
    INFO("max abs diff: encoder states " << states << ", step-0 logits " << logits);
    CHECK(states <= (f16 ? 2e-2 : 1e-4));
    CHECK(logits <= (f16 ? 2e-2 : 1e-3));
    if (f16) CHECK(states > 0);  // the option is in effect
    CHECK(r.ids == g[name]["ids"].get<std::vector<uint32_t>>());
    CHECK(r.text == g[name]["text"].get<std::string>());
    if (f16) continue;
    CaptionOptions beams;
    beams.gen.num_beams = 3;
    beams.gen.max_length = 12;
    const CaptionResult b = model->caption({img}, beams).at(0);
    CHECK(b.ids == g[name]["ids_beam3_ml12"].get<std::vector<uint32_t>>());
    CHECK(b.text == g[name]["text_beam3_ml12"].get<std::string>());
  }
}

}  // namespace

TEST_CASE("TrOCR with a ViT encoder and learned positions matches the PyTorch reference", "[trocr][model]") {
  check_model("tiny-vit", "tiny-vit");
}

TEST_CASE("TrOCR from pytorch_model.bin (the restricted unpickler) gives the safetensors twin's results",
          "[trocr][model]") {
  check_model("tiny-vit-bin", "tiny-vit");
}

TEST_CASE("TrOCR with a DeiT encoder, sinusoidal positions, relu and tied embeddings matches the reference",
          "[trocr][model]") {
  check_model("tiny-deit", "tiny-deit");
}

TEST_CASE("TrOCR with fp16 weights stays within fp16 tolerances of the reference", "[trocr][model]") {
  ModelOptions mo;
  mo.weights = DType::F16;
  check_model("tiny-vit", "tiny-vit", mo);
  check_model("tiny-deit", "tiny-deit", mo);
}

TEST_CASE("TrOCR images are batched, and a prompt continues from the start token", "[trocr][model]") {
  const auto g = goldens()["cases"]["tiny-vit"];
  const auto model = model_open(context(), (kDir / "tiny-vit").string());
  CHECK(model->info().family == "trocr");
  CHECK(model->info().eos == 2);
  std::vector<Image> images;
  for (const auto& [name, file] : kImages) images.push_back(image_load((fs::path(GLIMPSE_TEST_DATA) / file).string()));
  const std::vector<CaptionResult> rs = model->caption(images);
  REQUIRE(rs.size() == 3);
  for (size_t i = 0; i < rs.size(); ++i) CHECK(rs[i].ids == g[kImages[i].first]["ids"].get<std::vector<uint32_t>>());
  // The greedy ids of the pattern image, its first tokens given as a prompt: the same ids come back.
  const auto want = g["pattern"]["ids"].get<std::vector<uint32_t>>();
  REQUIRE(want.size() >= 4);
  const auto& trocr = dynamic_cast<TrocrRecognizer&>(*model);
  CaptionOptions opt;
  opt.prompt = trocr.tokenizer().decode({want[1], want[2]});
  if (trocr.tokenizer().encode(opt.prompt) == std::vector<uint32_t>{want[1], want[2]}) {
    const CaptionResult r = model->caption({images[0]}, opt).at(0);
    CHECK(r.ids == want);
  }
  opt.prompt = std::string(1, '\xff');
  try {
    model->caption({images[0]}, opt);
    FAIL("invalid UTF-8 in a prompt was accepted");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::InvalidArgument);
  }
}

TEST_CASE("TrOCR's RoBERTa BPE encodes prompts as the reference and knows its special tokens", "[trocr][text]") {
  const auto g = goldens()["prompts"];
  for (const char* dir : {"tiny-vit", "tiny-deit"}) {  // vocab.json + merges.txt; tokenizer.json
    const BytePairTokenizer tok = BytePairTokenizer::from_folder((kDir / dir).string());
    INFO(dir);
    CHECK(tok.eos_id() == 2);
    for (auto it = g.begin(); it != g.end(); ++it) {
      INFO(it.key());
      CHECK(tok.encode(it.key()) == it.value().get<std::vector<uint32_t>>());
    }
    // skip_special_tokens drops <s> <pad> </s> <unk> <mask>, keeps the rest
    const uint32_t mask = uint32_t(tok.id("<mask>"));
    const std::vector<uint32_t> ids = tok.encode("hello world");
    std::vector<uint32_t> with = {2, 0};
    with.insert(with.end(), ids.begin(), ids.end());
    with.insert(with.end(), {mask, 3, 1, 2});
    CHECK(tok.decode(with) == "hello world");
    CHECK(tok.decode(with, false) == "</s><s>hello world<mask><unk><pad></s>");
  }
}

TEST_CASE("TrOCR's sinusoidal positions are the model's table", "[trocr][text]") {
  // get_embedding(5, 6, padding_idx 1): half 3, frequencies 1, 1e-2, 1e-4; row 1 zero; sin | cos
  const std::vector<float> t = trocr_sinusoids(5, 6, 1);
  for (int c = 0; c < 6; ++c) CHECK(t[size_t(6 + c)] == 0.0f);
  CHECK(t[2 * 6 + 0] == std::sin(2.0f));
  CHECK(t[2 * 6 + 3] == std::cos(2.0f));
  CHECK(std::abs(t[3 * 6 + 1] - std::sin(3.0f * 0.01f)) < 1e-7f);
  CHECK(t[0 * 6 + 4] == 1.0f);  // cos(0)
  const std::vector<float> odd = trocr_sinusoids(3, 7, 0);
  CHECK(odd[2 * 7 + 6] == 0.0f);  // the zero column of an odd width
}

TEST_CASE("TrOCR configs that glimpse cannot run are refused by name", "[trocr][model]") {
  nlohmann::json cfg = nlohmann::json::parse(std::ifstream(kDir / "tiny-vit" / "config.json"));
  auto refused = [&](const nlohmann::json& j, const char* what) {
    INFO(what);
    CHECK_THROWS_WITH(trocr_model_config_parse(j, nlohmann::json::object(), "config.json"), Catch::Contains(what));
  };
  nlohmann::json j = cfg;
  j["encoder"]["model_type"] = "swin";
  refused(j, "encoder model_type 'swin'");
  j = cfg;
  j["decoder"]["activation_function"] = "silu";
  refused(j, "activation 'silu'");
  j = cfg;
  j["decoder"]["cross_attention_hidden_size"] = 64;
  refused(j, "cross_attention_hidden_size");
  j = cfg;
  j["decoder"]["d_model"] = 50;
  refused(j, "num_attention_heads");
  j = cfg;
  j["decoder_start_token_id"] = 1000000;
  refused(j, "outside the vocabulary");
  // generation_config.json wins over config.json, as GenerationConfig does
  j = cfg;
  const TrocrModelConfig c = trocr_model_config_parse(j, {{"decoder_start_token_id", 0}, {"eos_token_id", {2}}}, "c");
  CHECK(c.decoder.decoder_start == 0);
  CHECK(c.decoder.eos == 2);
  CHECK_THROWS_WITH(trocr_model_config_parse(j, {{"eos_token_id", {2, 3}}}, "c"), Catch::Contains("must be one id"));
}
