// BLIP captioning end to end on the tiny checkpoints written by tools/blip-reference.py:
// pixel_values exact, image embeddings <= 1e-4, step-0 logits <= 1e-3, ids and text exact.
#include "tests/op-test.hpp"

#include "fusion/blip-captioner.hpp"
#include "runtime/error.hpp"
#include "vision/decode.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
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

const fs::path kData = fs::path(GLIMPSE_TEST_DATA) / "blip";



nlohmann::json goldens() {
  std::ifstream in(kData / "goldens.json");
  REQUIRE(in.good());
  return nlohmann::json::parse(in)["cases"];
}

const char* kImages[][2] = {{"pattern", "blip/pattern.png"}, {"photo", "images/rgb-420.jpg"}};

}  // namespace

TEST_CASE("BLIP captioning matches the PyTorch reference on tiny checkpoints", "[blip][model]") {
  const nlohmann::json g = goldens();
  for (const char* model : {"tiny-base", "tiny-large"}) {
    const auto cap_owner = model_load<BlipCaptioner>(context(), (kData / model).string());
    BlipCaptioner& cap = *cap_owner;
    for (const auto& [name, file] : kImages) {
      INFO("model " << model << ", image " << name);
      const nlohmann::json& want = g[std::string(model) + "/" + name];
      const Image img = image_load((fs::path(GLIMPSE_TEST_DATA) / file).string());
      CaptionOptions opt;
      opt.keep_tensors = true;
      const CaptionResult r = cap.caption({img}, opt).at(0);
      const std::string stem = (kData / model / ("golden-" + std::string(name))).string();
      CHECK(r.pixel_values == npy_load(stem + "-pixel_values.npy"));  // bit for bit
      CHECK(max_abs_diff(r.image_embeds, npy_load(stem + "-image_embeds.npy")) <= 1e-4);
      CHECK(max_abs_diff(r.logits_step0, npy_load(stem + "-logits_step0.npy")) <= 1e-3);
      CHECK(r.ids == want["ids"].get<std::vector<uint32_t>>());
      CHECK(r.text == cap.tokenizer().decode(want["ids"].get<std::vector<uint32_t>>()));

      CaptionOptions beam;
      beam.gen.num_beams = 3;
      CHECK(cap.caption({img}, beam).at(0).ids == want["ids_beam3"].get<std::vector<uint32_t>>());
      CaptionOptions early;
      early.gen.num_beams = 4;
      early.gen.early_stopping = true;
      CHECK(cap.caption({img}, early).at(0).ids == want["ids_beam4_early"].get<std::vector<uint32_t>>());
      CaptionOptions min_len;
      min_len.gen.min_length = 12;
      CHECK(cap.caption({img}, min_len).at(0).ids == want["ids_min12"].get<std::vector<uint32_t>>());

      opt.prompt = "a photography of";
      const CaptionResult rp = cap.caption({img}, opt).at(0);
      CHECK(rp.ids == want["ids_prompt"].get<std::vector<uint32_t>>());
      CHECK(rp.text.rfind("a photography of", 0) == 0);  // HF keeps the prompt in the caption
      beam.prompt = opt.prompt;
      beam.gen.num_beams = 2;
      beam.gen.length_penalty = 2.0f;
      CHECK(cap.caption({img}, beam).at(0).ids == want["ids_beam2_prompt_lp2"].get<std::vector<uint32_t>>());
    }
  }
}

TEST_CASE("BLIP with fp16 weights stays within fp16 tolerances of the reference", "[blip][model]") {
  // Weights rounded to fp16 (--f16, ModelOptions::weights): the same greedy caption, embeddings and
  // logits within fp16 rounding of the reference (measured: <= 2e-3 and <= 1.1e-2).
  const nlohmann::json g = goldens();
  ModelOptions mo;
  mo.weights = DType::F16;
  for (const char* model : {"tiny-base", "tiny-large"}) {
    const auto cap_owner = model_load<BlipCaptioner>(context(), (kData / model).string(), mo);
    BlipCaptioner& cap = *cap_owner;
    for (const auto& [name, file] : kImages) {
      INFO("model " << model << ", image " << name);
      const nlohmann::json& want = g[std::string(model) + "/" + name];
      CaptionOptions opt;
      opt.keep_tensors = true;
      const CaptionResult r = cap.caption({image_load((fs::path(GLIMPSE_TEST_DATA) / file).string())}, opt).at(0);
      const std::string stem = (kData / model / ("golden-" + std::string(name))).string();
      const double embeds = max_abs_diff(r.image_embeds, npy_load(stem + "-image_embeds.npy"));
      const double logits = max_abs_diff(r.logits_step0, npy_load(stem + "-logits_step0.npy"));
      INFO("max abs diff: image embeds " << embeds << ", step-0 logits " << logits);
      CHECK(embeds <= 2e-2);
      CHECK(logits <= 2e-2);
      CHECK(embeds > 0);  // fp16 weights do change them: the option is in effect
      CHECK(r.ids == want["ids"].get<std::vector<uint32_t>>());
    }
  }
}

TEST_CASE("BLIP captions a batch as it captions each image", "[blip][model]") {
  const nlohmann::json g = goldens();
  const auto cap_owner = model_load<BlipCaptioner>(context(), (kData / "tiny-base").string());
  BlipCaptioner& cap = *cap_owner;
  std::vector<Image> images;
  for (const auto& [name, file] : kImages) images.push_back(image_load((fs::path(GLIMPSE_TEST_DATA) / file).string()));
  images.push_back(images[0]);
  const auto results = cap.caption(images);
  REQUIRE(results.size() == 3);
  CHECK(results[0].ids == g["tiny-base/pattern"]["ids"].get<std::vector<uint32_t>>());
  CHECK(results[1].ids == g["tiny-base/photo"]["ids"].get<std::vector<uint32_t>>());  // stops early: padding
  CHECK(results[2].ids == results[0].ids);
  CaptionOptions opt;
  opt.gen.max_new_tokens = 3;
  CHECK(cap.caption({images[0]}, opt)[0].ids.size() == 4);  // bos + 3
  // Beam search over a batch: each input as alone.
  CaptionOptions beam;
  beam.gen.num_beams = 3;
  const auto beamed = cap.caption(images, beam);
  CHECK(beamed[0].ids == g["tiny-base/pattern"]["ids_beam3"].get<std::vector<uint32_t>>());
  CHECK(beamed[1].ids == g["tiny-base/photo"]["ids_beam3"].get<std::vector<uint32_t>>());
  CHECK(beamed[2].ids == beamed[0].ids);
  // Sampling: reproducible for a seed, different across seeds, all tokens from the vocabulary.
  CaptionOptions sample;
  sample.gen.do_sample = true;
  sample.gen.seed = 7;
  const auto s1 = cap.caption({images[0]}, sample)[0].ids, s2 = cap.caption({images[0]}, sample)[0].ids;
  sample.gen.seed = 8;
  const auto s3 = cap.caption({images[0]}, sample)[0].ids;
  CHECK(s1 == s2);
  CHECK(s1 != s3);
  for (uint32_t id : s1) CHECK(id < uint32_t(cap.config().text.vocab));
  sample.gen.top_k = 1;  // top-k 1 is greedy
  CHECK(cap.caption({images[0]}, sample)[0].ids == results[0].ids);
}

// On GPUs (the Vulkan backend) the encoder pass is recorded once per batch size and replayed:
// each call must see its own pixels, and a batch-size change must re-record it.
TEST_CASE("BLIP encodes each call's images when its encoder pass is replayed", "[blip][model]") {
  const nlohmann::json g = goldens();
  const auto cap_owner = model_load<BlipCaptioner>(context(), (kData / "tiny-base").string());
  BlipCaptioner& cap = *cap_owner;
  const Image pattern = image_load((fs::path(GLIMPSE_TEST_DATA) / kImages[0][1]).string());
  const Image photo = image_load((fs::path(GLIMPSE_TEST_DATA) / kImages[1][1]).string());
  const auto pattern_ids = g["tiny-base/pattern"]["ids"].get<std::vector<uint32_t>>();
  const auto photo_ids = g["tiny-base/photo"]["ids"].get<std::vector<uint32_t>>();
  for (int round = 0; round < 2; ++round) {
    CHECK(cap.caption({pattern})[0].ids == pattern_ids);
    CHECK(cap.caption({photo})[0].ids == photo_ids);
    const auto both = cap.caption({photo, pattern});
    CHECK(both[0].ids == photo_ids);
    CHECK(both[1].ids == pattern_ids);
  }
}

TEST_CASE("BLIP model folders with problems fail with the file and the reason", "[blip][model]") {
  const fs::path dir = fs::temp_directory_path() / ("glimpse-blip-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::copy(kData / "tiny-base", dir);
  auto config = nlohmann::json::parse(std::ifstream(dir / "config.json"));
  auto rewrite = [&](const nlohmann::json& c) { std::ofstream(dir / "config.json") << c.dump(); };

  auto heads8 = config;  // the 8-vs-12 pitfall in reverse: a head count that does not fit
  heads8["text_config"]["num_attention_heads"] = 3;
  rewrite(heads8);
  CHECK_THROWS_WITH(model_load<BlipCaptioner>(context(), dir.string()), Catch::Contains("num_attention_heads 3 does not divide hidden_size 32"));
  auto wrong_width = config;
  wrong_width["text_config"]["intermediate_size"] = 48;
  rewrite(wrong_width);
  CHECK_THROWS_WITH(model_load<BlipCaptioner>(context(), dir.string()),
                    Catch::Contains("intermediate.dense.weight: expected shape [48, 32], found [64, 32]"));
  auto other = config;
  other["model_type"] = "gpt2";
  rewrite(other);
  CHECK_THROWS_WITH(model_load<BlipCaptioner>(context(), dir.string()), Catch::Contains("model_type 'gpt2' is not 'blip'"));
  rewrite(config);
  {  // a checkpoint without one tensor: drop it from the header (the data may stay)
    std::ifstream in(dir / "model.safetensors", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    uint64_t len = 0;
    std::memcpy(&len, bytes.data(), 8);
    auto header = nlohmann::json::parse(bytes.substr(8, len));
    header.erase("vision_model.post_layernorm.bias");
    std::string h = header.dump();
    h.append((8 - h.size() % 8) % 8, ' ');
    const uint64_t new_len = h.size();
    std::ofstream out(dir / "model.safetensors", std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(&new_len), 8);
    out << h << bytes.substr(8 + len);
  }
  CHECK_THROWS_WITH(model_load<BlipCaptioner>(context(), dir.string()),
                    "tensor vision_model.post_layernorm.bias: missing from the checkpoint (expected shape [32])");
  fs::remove(dir / "model.safetensors");
  CHECK_THROWS_WITH(model_load<BlipCaptioner>(context(), dir.string()), Catch::Contains("no model.safetensors"));
  fs::remove_all(dir);
}
