#include "vision/preprocess.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"

#include <nlohmann/json.hpp>

#include <fstream>

namespace glimpse {

ImageProcessorConfig image_processor_load(const std::string& path) {
  using json = nlohmann::json;
  const json j = json_load(path);
  ImageProcessorConfig c;
  try {
    if (j.contains("size")) {
      const json& size = j["size"];
      if (size.is_number_integer()) {
        c.width = c.height = json_int(size, path, "size");
      } else if (size.contains("height") && size.contains("width")) {
        c.height = json_int(size["height"], path, "size.height");
        c.width = json_int(size["width"], path, "size.width");
      } else if (size.contains("shortest_edge")) {  // an old BLIP revision: 384 x 384 all the same
        c.width = c.height = json_int(size["shortest_edge"], path, "size.shortest_edge");
      } else {
        fail(path, ": size ", size.dump(), " has neither height/width nor shortest_edge");
      }
    }
    if (c.width <= 0 || c.height <= 0 || c.width > 8192 || c.height > 8192)
      fail(path, ": size ", c.width, "x", c.height, " is out of range");
    const int resample = j.contains("resample") ? json_int(j["resample"], path, "resample") : 3;
    if (resample != 2 && resample != 3) fail(path, ": resample ", resample, " is not supported (2 bilinear, 3 bicubic)");
    c.resample = Resample(resample);
    c.do_resize = j.value("do_resize", true);
    c.do_rescale = j.value("do_rescale", true);
    c.do_normalize = j.value("do_normalize", true);
    c.normalize.rescale = c.do_rescale ? j.value("rescale_factor", 1.0 / 255.0) : 1.0;
    const auto mean = j.value("image_mean", std::vector<double>{0.5, 0.5, 0.5});
    const auto std = j.value("image_std", std::vector<double>{0.5, 0.5, 0.5});
    if (mean.size() != 3 || std.size() != 3) fail(path, ": image_mean and image_std need 3 values");
    for (int i = 0; i < 3; ++i) {
      if (!(std[size_t(i)] > 0)) fail(path, ": image_std[", i, "] must be positive");
      c.normalize.mean[i] = c.do_normalize ? float(mean[size_t(i)]) : 0.0f;
      c.normalize.std[i] = c.do_normalize ? float(std[size_t(i)]) : 1.0f;
    }
  } catch (const json::exception& e) {
    fail(path, ": unexpected layout: ", e.what());
  }
  return c;
}

void pixel_values_append(const ImageProcessorConfig& cfg, const Image& image, std::vector<float>& out) {
  if (!cfg.do_resize && (image.width != cfg.width || image.height != cfg.height))
    fail("image is ", image.width, "x", image.height, " but the model takes ", cfg.width, "x", cfg.height,
         " and its preprocessor does not resize");
  image_normalize(cfg.do_resize ? image_resize(image, cfg.width, cfg.height, cfg.resample) : image, cfg.normalize, out);
}

}  // namespace glimpse
