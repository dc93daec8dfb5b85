// Image decoding against what Pillow (with HF's exif_transpose + convert("RGB")) gives, on files
// written by tools/image-goldens.py, the real photos in ../shared/images, and broken inputs.
#include "runtime/error.hpp"
#include "vision/decode.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

using namespace glimpse;
namespace fs = std::filesystem;

namespace {

uint64_t fnv1a(const std::vector<uint8_t>& bytes) {
  uint64_t h = 1469598103934665603ull;
  for (uint8_t b : bytes) h = (h ^ b) * 1099511628211ull;
  return h;
}

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

struct Expected {
  std::string file;
  int width, height;
  uint64_t hash;
};

std::vector<Expected> expected_list(const fs::path& manifest) {
  std::ifstream in(manifest);
  REQUIRE(in.good());
  std::vector<Expected> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream fields(line);
    Expected e;
    std::string hex;
    fields >> e.file >> e.width >> e.height >> hex;
    e.hash = std::stoull(hex, nullptr, 16);
    out.push_back(e);
  }
  return out;
}

}  // namespace

TEST_CASE("decoding matches Pillow for every mode and container", "[vision][decode]") {
  const fs::path dir = fs::path(GLIMPSE_TEST_DATA) / "images";
  const auto cases = expected_list(dir / "expected.txt");
  REQUIRE(cases.size() >= 20);
  for (const Expected& e : cases) {
    INFO("decode " << e.file);
    const Image img = image_load((dir / e.file).string());
    CHECK(img.width == e.width);
    CHECK(img.height == e.height);
    CHECK(fnv1a(img.rgb) == e.hash);
  }
}

TEST_CASE("JPEG decoding is byte-identical to Pillow on real photos", "[vision][decode]") {
  const fs::path dir = fs::path(GLIMPSE_SHARED_DIR) / "images";
  if (!fs::exists(dir)) {
    WARN("skipped: " << dir << " is absent (it exists in CI and next to the project checkout)");
    return;
  }
  // fnv1a64 of Image.open(f).convert("RGB").tobytes() with Debian's Pillow 9.4.
  const Expected photos[] = {{"apple.jpg", 512, 512, 0x31331023eac9a4ffull},
                             {"baboon.jpg", 512, 512, 0xec74f57e84b2531cull},
                             {"building.jpg", 868, 600, 0xcd47a2945427dcb8ull},
                             {"fruits.jpg", 512, 480, 0xb20b3af27046f8c2ull}};
  for (const Expected& e : photos) {
    INFO("photo " << e.file);
    const Image img = image_load((dir / e.file).string());
    CHECK(img.width == e.width);
    CHECK(img.height == e.height);
    CHECK(fnv1a(img.rgb) == e.hash);
  }
}

TEST_CASE("EXIF orientation can be ignored, and matches PIL's transposes", "[vision][decode]") {
  const fs::path dir = fs::path(GLIMPSE_TEST_DATA) / "images";
  DecodeOptions raw;
  raw.exif_orientation = false;
  const Image upright = image_load((dir / "exif-1.jpg").string(), raw);
  for (int o = 1; o <= 8; ++o) {
    INFO("orientation " << o);
    const auto bytes = read_bytes(dir / ("exif-" + std::to_string(o) + ".jpg"));
    const Image as_stored = image_decode(bytes.data(), bytes.size(), "exif", raw);
    CHECK(as_stored.width == 24);
    CHECK(image_decode(bytes.data(), bytes.size(), "exif").rgb == image_orient(as_stored, o).rgb);
  }
  // Corners of a 3x2 image under orientation 6 (rotate 90 clockwise): the top-left goes top-right.
  Image tiny;
  tiny.width = 3;
  tiny.height = 2;
  for (int i = 0; i < 6; ++i) tiny.rgb.insert(tiny.rgb.end(), {uint8_t(i), uint8_t(i), uint8_t(i)});
  const Image r = image_orient(tiny, 6);
  REQUIRE((r.width == 2 && r.height == 3));
  CHECK(r.at(1, 0, 0) == 0);  // source (0,0)
  CHECK(r.at(0, 0, 0) == 3);  // source (0,1)
  CHECK(r.at(0, 2, 0) == 5);  // source (2,1)
}

TEST_CASE("broken and hostile images fail with a clear error", "[vision][decode]") {
  const fs::path dir = fs::path(GLIMPSE_TEST_DATA) / "images";
  auto decode = [](const std::vector<uint8_t>& b, const DecodeOptions& opt = {}) {
    return image_decode(b.data(), b.size(), "input", opt);
  };
  CHECK_THROWS_WITH(decode({}), "input: empty file");
  CHECK_THROWS_WITH(decode({'h', 'e', 'l', 'l', 'o'}), Catch::Contains("input: not a decodable image"));
  for (const char* name : {"rgb.jpg", "rgb.png", "progressive.jpg", "rgb.gif"}) {
    INFO("truncated " << name);
    auto bytes = read_bytes(dir / name);
    bytes.resize(bytes.size() / 2);
    CHECK_THROWS_WITH(decode(bytes), Catch::Contains("input: corrupt or truncated"));
  }
  // A pixel limit refuses large images before decoding them.
  DecodeOptions small;
  small.max_pixels = 100;
  CHECK_THROWS_WITH(decode(read_bytes(dir / "rgb.png"), small), Catch::Contains("23x17 = 391 pixels exceeds the limit of 100"));
  CHECK_THROWS_WITH(decode(read_bytes(dir / "rgb.jpg"), small), Catch::Contains("over the limit of 100"));
  // A 30000 x 30000 PNG header (a decompression bomb) is refused by the default limit.
  std::vector<uint8_t> bomb = read_bytes(dir / "rgb.png");
  const uint8_t size[8] = {0, 0, 0x75, 0x30, 0, 0, 0x75, 0x30};
  std::copy(size, size + 8, bomb.begin() + 16);
  CHECK_THROWS_WITH(decode(bomb), Catch::Contains("30000x30000 = 900000000 pixels exceeds the limit of 178956970"));
  CHECK_THROWS_WITH(image_load((dir / "missing.png").string()), Catch::Contains("missing.png: cannot open"));
  // A small PNG whose IDAT claims 2 GiB: refused before stb_image allocates what it claims
  // (fuzz-image found stb growing its buffer to the claim).
  std::vector<uint8_t> claim = read_bytes(dir / "rgb.png");
  for (size_t at = 8; at + 12 <= claim.size(); at += 12 + ((size_t(claim[at]) << 24) | (claim[at + 1] << 16) | (claim[at + 2] << 8) | claim[at + 3]))
    if (std::memcmp(&claim[at + 4], "IDAT", 4) == 0) {
      claim[at] = 0x7f, claim[at + 1] = 0xff, claim[at + 2] = 0xff, claim[at + 3] = 0xff;
      break;
    }
  CHECK_THROWS_WITH(decode(claim), Catch::Contains("IDAT chunk claims 2147483647 bytes"));
  // A PNM header number past int (stb_image would overflow reading it; fuzz-image found it).
  const std::string pnm = "P6\n# comment\n640 4800000000000 255\n";
  CHECK_THROWS_WITH(decode(std::vector<uint8_t>(pnm.begin(), pnm.end())),
                    Catch::Contains("corrupt PNM header (its height has 13 digits)"));
  // 16-bit samples (stb writes past its buffer on 16-bit grey) and truncated samples are refused;
  // a whole 8-bit PGM decodes, grey spread over RGB.
  auto bytes = [](const std::string& header, size_t samples, uint8_t value) {
    std::vector<uint8_t> b(header.size() + samples, value);
    std::copy(header.begin(), header.end(), b.begin());
    return b;
  };
  CHECK_THROWS_WITH(decode(bytes("P5\n5 3\n1000\n", 30, 7)), Catch::Contains("16-bit PNM images (maximum value 1000)"));
  CHECK_THROWS_WITH(decode(bytes("P6 4 4 255\n", 47, 7)), Catch::Contains("48 bytes of samples expected, 47 present"));
  const Image grey = decode(bytes("P5\n# grey\n4 2\n255\n", 8, 200));
  CHECK((grey.width == 4 && grey.height == 2 && grey.rgb.size() == 24 && grey.rgb[0] == 200 && grey.rgb[23] == 200));
}
