// Image decoding against what Pillow (with HF's exif_transpose + convert("RGB")) gives, on files
// written by tools/image-goldens.py, the real photos in ../shared/images, and broken inputs.
#include "runtime/error.hpp"
#include "vision/decode.hpp"

#include <catch2/catch.hpp>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STBI_WRITE_NO_STDIO
#if defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wconversion"
#pragma GCC diagnostic ignored "-Wsign-conversion"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wshadow"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wuseless-cast"
#pragma GCC diagnostic ignored "-Wold-style-cast"
#endif
#include <stb/stb_image_write.h>
#if defined(__GNUC__)
#pragma GCC diagnostic pop
#endif


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

template <class Bytes>
uint64_t fnv1a(const Bytes& bytes) {
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

// The process's peak resident memory since the last peak_reset() (Linux: VmHWM, reset through
// clear_refs), in bytes; 0 where the kernel does not offer it.
bool peak_reset() {
  std::ofstream f("/proc/self/clear_refs");
  f << "5";
  f.flush();
  return bool(f);
}
// A memory figure of /proc/self/status ("VmHWM:", "VmRSS:") in bytes; 0 where absent.
uint64_t status_bytes(const char* field) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::stoull(line.substr(std::strlen(field))) * 1024;
  return 0;
}
uint64_t peak_rss() { return status_bytes("VmHWM:"); }
uint64_t current_rss() { return status_bytes("VmRSS:"); }

void put16(std::vector<uint8_t>& b, size_t at, uint32_t v) { b[at] = uint8_t(v), b[at + 1] = uint8_t(v >> 8); }
void put32(std::vector<uint8_t>& b, size_t at, uint32_t v) { put16(b, at, v & 0xffff), put16(b, at + 2, v >> 16); }

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

TEST_CASE("tiny files claiming huge images are refused before any pixel is allocated", "[vision][decode]") {
  const fs::path dir = fs::path(GLIMPSE_TEST_DATA) / "images";
  const uint32_t side = 13000;  // 169 M pixels: under the default limit, 507 MB as RGB
  // A 35-byte GIF: a 2-colour palette, one 13000x13000 frame with 2 bytes of LZW data.
  std::vector<uint8_t> gif = {'G', 'I', 'F', '8', '9', 'a', 0, 0, 0, 0, 0x80, 0, 0, 0, 0, 0, 255, 255, 255,
                              0x2C, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 2, 0x4c, 0x01, 0, 0x3B};
  put16(gif, 6, side), put16(gif, 8, side), put16(gif, 24, side), put16(gif, 26, side);
  // An 18-byte TGA header (uncompressed, 24-bit) and one for run-length packets.
  std::vector<uint8_t> tga(18, 0), tga_rle(22, 1);
  tga[2] = 2, tga[16] = 24;
  put16(tga, 12, side), put16(tga, 14, side);
  for (size_t i = 0; i < 18; ++i) tga_rle[i] = tga[i];
  tga_rle[2] = 10;
  tga_rle[18] = 0xff;  // one packet: 128 pixels of one colour
  // A 54-byte BMP: file header and BITMAPINFOHEADER, no pixel rows.
  std::vector<uint8_t> bmp(54, 0);
  bmp[0] = 'B', bmp[1] = 'M';
  put32(bmp, 2, 54), put32(bmp, 10, 54), put32(bmp, 14, 40), put32(bmp, 18, side), put32(bmp, 22, side);
  put16(bmp, 26, 1), put16(bmp, 28, 24);
  // A real 1 KB JPEG whose frame header now says 13000x13000.
  std::vector<uint8_t> jpeg = read_bytes(dir / "rgb.jpg");
  for (size_t i = 2; i + 9 < jpeg.size(); ++i)
    if (jpeg[i] == 0xff && (jpeg[i + 1] == 0xc0 || jpeg[i + 1] == 0xc2)) {
      jpeg[i + 5] = uint8_t(side >> 8), jpeg[i + 6] = uint8_t(side), jpeg[i + 7] = uint8_t(side >> 8), jpeg[i + 8] = uint8_t(side);
      break;
    }
  peak_reset();
  const uint64_t before = current_rss();
  for (const auto& [name, bytes] : {std::pair<const char*, const std::vector<uint8_t>*>{"GIF", &gif},
                                    {"TGA", &tga}, {"TGA", &tga_rle}, {"BMP", &bmp}, {"JPEG", &jpeg}}) {
    INFO(name << ", " << bytes->size() << " bytes");
    CHECK_THROWS_WITH(image_decode(bytes->data(), bytes->size(), "input"),
                      Catch::Contains("input: corrupt or truncated " + std::string(name)) && Catch::Contains("image file is truncated"));
  }
  // Refused from their headers, before any pixel memory (the decoded image alone would be 507 MB;
  // each took 2.7-7 s and up to 1.57 GB before).
#if defined(__SANITIZE_ADDRESS__)
  const bool can_measure = false;  // ASan's shadow memory and quarantine blur the figure
#else
  const bool can_measure = peak_rss() > 0;  // reset before the decodes above
#endif
  if (can_measure) CHECK(peak_rss() - std::min(before, peak_rss()) < (uint64_t(16) << 20));
  // A GIF frame whose data never ends.
  std::vector<uint8_t> open_frame(gif.begin(), gif.end() - 2);
  CHECK_THROWS_WITH(image_decode(open_frame.data(), open_frame.size(), "input"), Catch::Contains("the first frame's data has no end"));
}

TEST_CASE("truncated files are refused, as Pillow refuses them", "[vision][decode]") {
  // Pillow's ImageFile.load raises "image file is truncated" for each of these cuts (checked with
  // Pillow 9.4 on rgb.jpg: the last 2 bytes, 10% and half gone); libjpeg alone only warns and
  // fills the rest with grey, which used to be captioned.
  const fs::path dir = fs::path(GLIMPSE_TEST_DATA) / "images";
  for (const char* name : {"rgb.jpg", "progressive.jpg", "gray.jpg"}) {
    const std::vector<uint8_t> whole = read_bytes(dir / name);
    for (size_t cut : {whole.size() - 2, whole.size() * 9 / 10, whole.size() * 3 / 4}) {
      INFO(name << " cut to " << cut << " of " << whole.size() << " bytes");
      CHECK_THROWS_WITH(image_decode(whole.data(), cut, "input"), Catch::Contains("input: corrupt or truncated JPEG"));
    }
  }
  // Uncompressed rows that end early.
  const std::vector<uint8_t> bmp = read_bytes(dir / "rgb.bmp");
  CHECK_THROWS_WITH(image_decode(bmp.data(), bmp.size() - 10, "input"), Catch::Contains("corrupt or truncated BMP"));
  CHECK_NOTHROW(image_decode(bmp.data(), bmp.size(), "input"));
}

TEST_CASE("a large image decodes with one full-size copy alive", "[vision][decode]") {
  // A 2400 x 1800 gradient written here as JPEG, BMP and PNG, decoded with the peak resident
  // memory watched. The decoded RGB is 13 MB. JPEG and BMP decode with that one copy resident
  // (before: two, the decoder's buffer and ours, and a third while EXIF orientation copied it).
  // stb_image's PNG path holds the inflated rows beside its output, so PNG peaks near two.
  const int w = 2400, h = 1800;
  std::vector<uint8_t> rgb(size_t(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) rgb[(size_t(y) * w + x) * 3 + c] = uint8_t((x * (c + 1) + y) >> 3);
  auto collect = [](void* ctx, void* data, int n) {
    auto* out = static_cast<std::vector<uint8_t>*>(ctx);
    out->insert(out->end(), static_cast<uint8_t*>(data), static_cast<uint8_t*>(data) + n);
  };
  std::vector<uint8_t> png, bmp, jpg;
  REQUIRE(stbi_write_png_to_func(collect, &png, w, h, 3, rgb.data(), w * 3));
  REQUIRE(stbi_write_bmp_to_func(collect, &bmp, w, h, 3, rgb.data()));
  REQUIRE(stbi_write_jpg_to_func(collect, &jpg, w, h, 3, rgb.data(), 90));
  const uint64_t image_bytes = rgb.size();
  std::vector<uint8_t>().swap(rgb);
#if defined(__SANITIZE_ADDRESS__)
  WARN("skipped under AddressSanitizer: its allocator keeps freed memory in quarantine");
  return;
#endif
  if (!peak_reset() || peak_rss() == 0) {
    WARN("skipped: no /proc/self/clear_refs, so peak memory cannot be measured here");
    return;
  }
  struct Case {
    const char* name;
    const std::vector<uint8_t>* bytes;
    double copies;
  };
  for (const Case& c : {Case{"JPEG", &jpg, 1.4}, Case{"BMP", &bmp, 1.4}, Case{"PNG", &png, 2.4}}) {
    REQUIRE(peak_reset());
    const uint64_t before = current_rss();
    const Image img = image_decode(c.bytes->data(), c.bytes->size(), "input");
    CHECK((img.width == w && img.height == h));
    const uint64_t extra = peak_rss() - std::min(before, peak_rss());
    INFO(c.name << ": peak " << (extra >> 10) << " KiB over " << (image_bytes >> 10) << " KiB of pixels");
    CHECK(double(extra) < c.copies * double(image_bytes));
  }
}
