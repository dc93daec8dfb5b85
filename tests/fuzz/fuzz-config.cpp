// libFuzzer: config.json and preprocessor_config.json interpretation: the family table's match, the
// BLIP and ViT-GPT2 config readers (class defaults overlaid with the JSON), the image processor.
#include "fusion/blip-config.hpp"
#include "fusion/family.hpp"
#include "fusion/vit-gpt2.hpp"
#include "tests/fuzz/fuzz-file.hpp"
#include "vision/preprocess.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;
  const std::string cfg = fuzz::write_file("config.json", data, size);
  fuzz::refused_cleanly([&] { (void)model_family(ModelFolder(fuzz::scratch_dir().string())); });
  fuzz::refused_cleanly([&] { (void)blip_config_load(cfg); });
  fuzz::refused_cleanly([&] { (void)vit_gpt2_config_load(cfg); });
  const std::string pre = fuzz::write_file("preprocessor_config.json", data, size);
  fuzz::refused_cleanly([&] {
    const ImageProcessorConfig c = image_processor_load(pre);
    // A config that loads must also preprocess a small image without trouble.
    Image img;
    img.width = 3, img.height = 2;
    img.rgb.assign(3 * 2 * 3, 128);
    if (uint64_t(c.width) * uint64_t(c.height) <= 1024 * 1024) {
      std::vector<float> out;
      pixel_values_append(c, img, out);
    }
  });
  return 0;
}
