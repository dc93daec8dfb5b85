// Image decoding as Hugging Face's loading does it: ImageOps.exif_transpose(Image.open(f))
// .convert("RGB") (docs/images.md). JPEG through libjpeg-turbo (byte-identical to Pillow),
// PNG, BMP, GIF (first frame), PNM and TGA through stb_image. Alpha is dropped, not composited;
// grayscale and palettes expand to RGB; CMYK converts as PIL does.
#pragma once

#include "vision/image.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace glimpse {

struct DecodeOptions {
  bool exif_orientation = true;  // apply the EXIF orientation tag (the HF pipelines do)
  // Refused before any pixel is allocated: PIL's decompression-bomb error threshold
  // (2 x Image.MAX_IMAGE_PIXELS).
  uint64_t max_pixels = 178956970;
  // Polled while decoding (every 16 JPEG rows; before and after other formats): true ends the
  // decode with ErrorCode::Cancelled.
  std::function<bool()> should_stop;
};

// Decodes an encoded image in memory; throws Error naming the problem. `name` is for messages.
Image image_decode(const uint8_t* data, size_t size, const std::string& name, const DecodeOptions& opt = {});
Image image_load(const std::string& path, const DecodeOptions& opt = {});

// EXIF orientation (1-8) from an APP1/eXIf payload starting at "Exif\0\0" or the TIFF header;
// 1 when absent or unreadable.
int exif_orientation(const uint8_t* data, size_t size);
// PIL ImageOps.exif_transpose for one orientation value (`in` itself, moved, for 1).
Image image_orient(Image in, int orientation);

}  // namespace glimpse
