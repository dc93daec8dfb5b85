// preprocessor_config.json (BlipImageProcessor, ViTImageProcessor) and the pixel_values it
// defines: convert to RGB, resize (PIL-exact), rescale, normalise, CHW. docs/models/blip.md, docs/models/vit-gpt2.md.
#pragma once

#include "vision/image.hpp"

#include <string>
#include <vector>

namespace glimpse {

struct ImageProcessorConfig {
  int width = 384, height = 384;
  Resample resample = Resample::Bicubic;
  bool do_resize = true, do_rescale = true, do_normalize = true;
  Normalize normalize;  // rescale factor, mean, std
};

ImageProcessorConfig image_processor_load(const std::string& path);

// Appends one image's pixel_values ([3, height, width] float32) to `out`.
void pixel_values_append(const ImageProcessorConfig& cfg, const Image& image, std::vector<float>& out);

}  // namespace glimpse
