// libFuzzer: every image path the library accepts (JPEG through libjpeg-turbo with EXIF
// orientation, PNG/BMP/GIF/... through stb_image) on arbitrary bytes. The pixel limit is lowered
// so that a forged header is refused before allocating rather than exhausting the fuzzer's memory;
// a decoded image then goes through the BLIP preprocessing.
#include "tests/fuzz/fuzz-file.hpp"
#include "vision/decode.hpp"
#include "vision/preprocess.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;
  (void)exif_orientation(data, size);
  DecodeOptions opt;
  opt.max_pixels = 4096 * 4096;
  fuzz::refused_cleanly([&] {
    const Image img = image_decode(data, size, "fuzz-input", opt);
    if (img.rgb.size() != size_t(img.width) * size_t(img.height) * 3) __builtin_trap();
    ImageProcessorConfig cfg;  // BLIP's 384 x 384 bicubic by default
    cfg.width = cfg.height = 32;
    std::vector<float> out;
    pixel_values_append(cfg, img, out);
  });
  return 0;
}
