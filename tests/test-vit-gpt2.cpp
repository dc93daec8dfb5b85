// ViT-GPT2 (VisionEncoderDecoder) on the tiny checkpoints written by tools/vit-gpt2-reference.py,
// and the family table that opens any supported model folder.
#include "tests/op-test.hpp"

#include "fusion/blip-config.hpp"
#include "fusion/blip-vqa.hpp"
#include "fusion/family.hpp"
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
    const auto cap_owner = model_load<VitGpt2Captioner>(context(), (kData / "vit-gpt2" / model).string());
    VitGpt2Captioner& cap = *cap_owner;
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
  // <= 2.1e-3 and <= 7.2e-3). On the CPU backend the cross-attention K/V are fp16 too
  // (text/decoder.cpp cross_kv_alloc).
  const auto g = nlohmann::json::parse(std::ifstream(kData / "vit-gpt2" / "goldens.json"))["cases"];
  const std::pair<const char*, const char*> images[] = {{"pattern", "blip/pattern.png"}, {"photo", "images/rgb-420.jpg"}};
  ModelOptions mo;
  mo.weights = DType::F16;
  const auto cap_owner = model_load<VitGpt2Captioner>(context(), (kData / "vit-gpt2" / "tiny-lmhead").string(), mo);
  VitGpt2Captioner& cap = *cap_owner;
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

namespace {
// The code of the Error `body` throws (Unspecified when it throws none).
template <typename Body>
ErrorCode code_of(Body&& body) {
  try {
    body();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::Unspecified;
}
}  // namespace

TEST_CASE("the family table opens each supported model and names the unsupported", "[vit-gpt2][model]") {
  auto family = [](const fs::path& dir) { return std::string(model_family(ModelFolder(dir.string())).name); };
  CHECK(family(kData / "blip/tiny-base") == "blip-caption");
  CHECK(family(kData / "blip/tiny-vqa") == "blip-vqa");
  CHECK(family(kData / "vit-gpt2/tiny-wte") == "vit-gpt2");
  CHECK(family(kData / "trocr/tiny-vit") == "trocr");
  CHECK(family(kData / "trocr/tiny-deit") == "trocr");
  CHECK(family(kData / "florence2/tiny") == "florence2");
  const auto vit = model_open(context(), (kData / "vit-gpt2/tiny-lmhead").string());
  CHECK(vit->info().family == "vit-gpt2");
  CHECK(vit->info().task == Task::Caption);
  // A model asked for the other task says so, with its own code.
  const auto vqa = model_open(context(), (kData / "blip/tiny-vqa").string());
  CHECK(vqa->info().task == Task::Answer);
  CHECK_THROWS_WITH(vqa->caption({Image{}}), Catch::Contains("does not caption"));
  CHECK(code_of([&] { vqa->caption({Image{}}); }) == ErrorCode::WrongTask);
  CHECK(code_of([&] { vit->answer({Image{}}, "why?"); }) == ErrorCode::WrongTask);
  CHECK(code_of([&] { model_load<BlipVqa>(context(), (kData / "blip/tiny-base").string()); }) == ErrorCode::WrongTask);

  const fs::path dir = fs::temp_directory_path() / ("glimpse-registry-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  // Unknown folders: one message naming what the folder holds and listing every family.
  std::ofstream(dir / "config.json") << R"({"model_type": "llava", "architectures": ["LlavaForConditionalGeneration"]})";
  std::string listed;
  for (const Family& f : model_families()) listed += std::string(f.name) + ": " + f.architectures;
  CHECK(model_families().size() == 5);
  for (const Family& f : model_families())
    CHECK_THROWS_WITH(model_open(context(), dir.string()),
                      Catch::Contains("model_type 'llava' (LlavaForConditionalGeneration) is not supported") &&
                          Catch::Contains(std::string(f.name) + ": " + f.architectures));
  CHECK(code_of([&] { model_open(context(), dir.string()); }) == ErrorCode::UnsupportedModel);
  std::ofstream(dir / "config.json") << R"({"model_type": "vision-encoder-decoder", "encoder": {"model_type": "swin"},
                                           "decoder": {"model_type": "trocr"}})";
  CHECK_THROWS_WITH(model_open(context(), dir.string()), Catch::Contains("with encoder 'swin' and decoder 'trocr' is not supported"));
  // A family matches its model_type, architecture and sections, not the model_type alone.
  for (const char* other : {R"({"model_type": "blip", "architectures": ["BlipForImageTextRetrieval"]})",
                            R"({"model_type": "vision-encoder-decoder", "encoder": {"model_type": "vit"},
                                "decoder": {"model_type": "bert"}})"}) {
    std::ofstream(dir / "config.json") << other;
    CHECK(code_of([&] { model_open(context(), dir.string()); }) == ErrorCode::UnsupportedModel);
  }
  std::ofstream(dir / "config.json") << R"({"model_type": "blip"})";  // no architectures: captioning
  CHECK(std::string(model_family(ModelFolder(dir.string())).name) == "blip-caption");
  // Fields of the wrong JSON type are named errors, not the JSON library's exceptions (fuzz-config).
  for (const char* bad : {R"({"model_type": 5})", R"("just a string")", R"({"model_type": "blip", "architectures": [7]})",
                          R"({"model_type": "vision-encoder-decoder", "encoder": "vit", "decoder": {}})"}) {
    std::ofstream(dir / "config.json") << bad;
    const std::string cfg = (dir / "config.json").string();
    CHECK_THROWS_AS(model_open(context(), dir.string()), Error);
    CHECK(code_of([&] { model_open(context(), dir.string()); }) != ErrorCode::Internal);
    CHECK_THROWS_AS(blip_config_load(cfg), Error);
    CHECK_THROWS_AS(vit_gpt2_config_load(cfg), Error);
  }
  std::ofstream(dir / "config.json") << R"({"model_type": 5})";
  CHECK_THROWS_WITH(vit_gpt2_config_load((dir / "config.json").string()), Catch::Contains("config.json: unexpected layout"));
  CHECK(code_of([&] { model_open(context(), dir.string()); }) == ErrorCode::Model);
  fs::remove(dir / "config.json");
  CHECK_THROWS_WITH(model_open(context(), dir.string()), Catch::Contains("config.json: cannot open"));
  CHECK(code_of([&] { model_open(context(), dir.string()); }) == ErrorCode::Io);
  fs::remove_all(dir);
  CHECK_THROWS_WITH(model_open(context(), dir.string()), Catch::Contains("not a model folder"));
  CHECK(code_of([&] { model_open(context(), dir.string()); }) == ErrorCode::Io);
}

TEST_CASE("a model folder reads generation_config.json over config.json", "[vit-gpt2][model]") {
  const fs::path dir = fs::temp_directory_path() / ("glimpse-folder-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (const char* f : {"config.json", "preprocessor_config.json", "model.safetensors", "vocab.json", "merges.txt"})
    fs::copy_file(kData / "vit-gpt2/tiny-wte" / f, dir / f, fs::copy_options::overwrite_existing);
  const int from_config = ModelFolder(dir.string()).max_length(20, 1024);
  CHECK(model_open(context(), dir.string())->info().max_length == from_config);
  std::ofstream(dir / "generation_config.json") << R"({"max_length": 7})";
  CHECK(ModelFolder(dir.string()).max_length(20, 1024) == 7);
  const auto m = model_open(context(), dir.string());
  CHECK(m->info().max_length == 7);
  Image img;
  img.width = img.height = 8;
  img.rgb.assign(8 * 8 * 3, 100);
  CaptionOptions opt;
  opt.gen.ignore_eos = true;
  CHECK(m->caption({img}, opt).at(0).ids.size() == 7);  // generate() stops at the folder's max_length
  std::ofstream(dir / "generation_config.json") << R"({"max_length": 0})";
  CHECK_THROWS_WITH(model_open(context(), dir.string()), Catch::Contains("generation_config.json: max_length = 0 is out of range"));
  std::ofstream(dir / "generation_config.json") << R"([1])";
  CHECK_THROWS_WITH(model_open(context(), dir.string()), Catch::Contains("generation_config.json: not a JSON object"));
  fs::remove_all(dir);
}

TEST_CASE("a checkpoint can be read under another layout's names", "[vit-gpt2][model]") {
  const SafeTensors st = SafeTensors::open((kData / "vit-gpt2/tiny-wte").string());
  const RenamedTensors renamed(st, {{"vision.", "encoder."}, {"text.", "decoder.transformer."}});
  CHECK(renamed.renamed("vision.embeddings.cls_token") == "encoder.embeddings.cls_token");
  CHECK(renamed.renamed("encoder.embeddings.cls_token") == "encoder.embeddings.cls_token");  // no rule: as is
  const StTensor* t = renamed.find("text.wpe.weight");
  REQUIRE(t != nullptr);
  CHECK(t->name == "decoder.transformer.wpe.weight");  // messages name the file's tensor
  CHECK(t->data == st.find("decoder.transformer.wpe.weight")->data);
  CHECK(renamed.find("vision.no.such.tensor") == nullptr);
  CHECK(renamed.count() == st.count());
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
