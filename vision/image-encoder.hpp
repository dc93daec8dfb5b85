// What the encode -> decode pipeline (fusion/pipeline.hpp) needs from an image encoder: the input
// it takes, the states it gives, and its recording. ViT (vision/vit.hpp) and DaViT with Florence-2's
// projection (vision/davit.hpp) provide it.
#pragma once

#include "runtime/memory.hpp"
#include "runtime/sequence.hpp"
#include "runtime/tensor.hpp"

#include <cstdint>

namespace glimpse {

class ImageEncoder {
 public:
  virtual ~ImageEncoder() = default;
  virtual int64_t image_size() const = 0;  // pixel_values are [B, channels, S, S]
  virtual int64_t channels() const = 0;
  virtual int64_t tokens() const = 0;      // states are [B, tokens, width]
  virtual int64_t width() const = 0;
  // Records the encoder for `pixel_values` into `states`; scratch comes from `arena`.
  virtual void record(Sequence& seq, Allocator& arena, const Tensor& pixel_values, const Tensor& states) const = 0;
};

}  // namespace glimpse
