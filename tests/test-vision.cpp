// PIL-exact resize and HF normalisation against goldens written by tools/pillow-goldens.py.
#include "vision/image.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

using namespace glimpse;

namespace {

// The pattern tools/pillow-goldens.py draws, integer for integer.
Image pattern(int w, int h) {
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        int p = ((x * 37 + y * 91 + c * 53) ^ (x * y * 7)) & 255;
        if ((x / 5 + y / 3) % 4 == 0) p = 255 - p;
        img.rgb[(size_t(y) * w + x) * 3 + c] = uint8_t(p);
      }
  return img;
}

std::string golden(const std::string& name) {
  std::ifstream in(std::string(GLIMPSE_TEST_DATA) + "/resize/" + name, std::ios::binary);
  REQUIRE(in.good());
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("image_resize is byte-identical to PIL (bicubic and bilinear, up, down, one axis)", "[vision]") {
  struct Case {
    const char* name;
    int sw, sh, tw, th;
    Resample filter;
  };
  const Case cases[] = {
      {"down-bicubic", 61, 47, 24, 18, Resample::Bicubic},   {"down-bilinear", 61, 47, 24, 18, Resample::Bilinear},
      {"up-bicubic", 13, 9, 40, 31, Resample::Bicubic},      {"up-bilinear", 13, 9, 40, 31, Resample::Bilinear},
      {"vertical-only", 50, 50, 50, 20, Resample::Bicubic},  {"horizontal-only", 50, 50, 23, 50, Resample::Bicubic},
      {"mixed-bicubic", 150, 90, 64, 64, Resample::Bicubic}, {"strong-down", 401, 7, 9, 5, Resample::Bicubic},
  };
  for (const Case& c : cases) {
    INFO("resize " << c.name << " " << c.sw << "x" << c.sh << " -> " << c.tw << "x" << c.th);
    const Image out = image_resize(pattern(c.sw, c.sh), c.tw, c.th, c.filter);
    REQUIRE(out.width == c.tw);
    REQUIRE(out.height == c.th);
    const std::string want = golden(std::string(c.name) + ".rgb");
    REQUIRE(want.size() == out.rgb.size());
    size_t differing = 0;
    for (size_t i = 0; i < want.size(); ++i) differing += uint8_t(want[i]) != out.rgb[i];
    CHECK(differing == 0);
  }
}

TEST_CASE("image_resize: same size is a copy; bad sizes are errors", "[vision]") {
  const Image in = pattern(7, 5);
  CHECK(image_resize(in, 7, 5, Resample::Bicubic).rgb == in.rgb);
  CHECK_THROWS_WITH(image_resize(in, 0, 5, Resample::Bicubic), Catch::Contains("bad target size 0x5"));
  Image broken = in;
  broken.rgb.pop_back();
  CHECK_THROWS_WITH(image_resize(broken, 3, 3, Resample::Bicubic), Catch::Contains("malformed input image"));
}

// Found by fuzz-image: a 1-pixel-wide strip millions of pixels tall costs billions of
// multiply-adds in Pillow's pass order (minutes under the sanitizers); it is refused by name, while
// tall but plausible images (a receipt) still resize.
TEST_CASE("image_resize refuses slivers whose resize would take billions of operations", "[vision]") {
  Image sliver;
  sliver.width = 1, sliver.height = 2'000'000;
  sliver.rgb.assign(size_t(sliver.height) * 3, 128);
  CHECK_THROWS_WITH(image_resize(sliver, 384, 384, Resample::Bicubic),
                    Catch::Contains("image 1x2000000: resizing it to 384x384") && Catch::Contains("aspect ratio is too extreme"));
  const Image receipt = pattern(200, 20000);
  const Image out = image_resize(receipt, 384, 384, Resample::Bicubic);
  CHECK((out.width == 384 && out.height == 384));
}

TEST_CASE("image_normalize reproduces HF rescale + normalize bit for bit", "[vision]") {
  const Image small = image_resize(pattern(150, 90), 32, 24, Resample::Bicubic);
  Normalize norm;
  norm.rescale = 0.00392156862745098;
  const float mean[3] = {0.48145466f, 0.4578275f, 0.40821073f}, std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
  std::memcpy(norm.mean, mean, sizeof mean);
  std::memcpy(norm.std, std, sizeof std);
  std::vector<float> got = {42.0f};  // appends: a batch is images back to back
  image_normalize(small, norm, got);
  const std::string want = golden("normalized-150x90-32x24.f32");
  REQUIRE(want.size() == (got.size() - 1) * 4);
  CHECK(got[0] == 42.0f);
  CHECK(std::memcmp(want.data(), got.data() + 1, want.size()) == 0);
}
