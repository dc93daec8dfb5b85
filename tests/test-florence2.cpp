// Florence-2 on the tiny checkpoint written by tools/florence2-reference.py (the original layout:
// fp16 weights in pytorch_model.bin). So far the image side: CLIPImageProcessor's pixel values bit
// for bit, the DaViT encoder and the image projection within 1e-4 of the reference.
#include "tests/op-test.hpp"

#include "fusion/model-folder.hpp"
#include "runtime/error.hpp"
#include "vision/davit.hpp"
#include "vision/decode.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>
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
