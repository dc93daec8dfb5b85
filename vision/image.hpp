// Decoded images and the preprocessing that turns them into a model's pixel_values, reproducing
// Hugging Face's slow (PIL) image processors exactly (docs/images.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace glimpse {

// An allocator whose resize() leaves new bytes uninitialised: a decoder sizes the image first and
// writes every byte after, so the pages are touched once, as rows arrive, not zeroed up front.
template <class T>
struct UninitAllocator : std::allocator<T> {
  template <class U>
  struct rebind {
    using other = UninitAllocator<U>;
  };
  UninitAllocator() = default;
  template <class U>
  UninitAllocator(const UninitAllocator<U>&) noexcept {}
  template <class U, class... Args>
  void construct(U* p, Args&&... args) {
    if constexpr (sizeof...(Args) == 0) ::new (static_cast<void*>(p)) U;
    else ::new (static_cast<void*>(p)) U(std::forward<Args>(args)...);
  }
};
using PixelBytes = std::vector<uint8_t, UninitAllocator<uint8_t>>;

// 8-bit RGB, rows top to bottom, pixels interleaved (HWC), as PIL's convert("RGB") gives.
struct Image {
  int width = 0, height = 0;
  PixelBytes rgb;  // width * height * 3

  uint8_t at(int x, int y, int c) const { return rgb[(size_t(y) * width + x) * 3 + c]; }
};

enum class Resample { Bilinear = 2, Bicubic = 3 };  // PIL's resample codes, as preprocessor_config.json has them

// PIL Image.resize((width, height), resample) for an RGB image: antialiased separable filter,
// 22-bit fixed point, horizontal pass first through a uint8 intermediate (Pillow Resample.c).
Image image_resize(const Image& in, int width, int height, Resample filter);

struct Normalize {
  double rescale = 1.0 / 255.0;  // preprocessor_config rescale_factor
  float mean[3] = {0, 0, 0};
  float std[3] = {1, 1, 1};
};

// HF rescale + normalize: float32(double(p) * rescale), then (x - mean) / std in float32; the
// result is CHW ([3, H, W]) and appended to `out`, so a batch is images back to back.
void image_normalize(const Image& img, const Normalize& norm, std::vector<float>& out);

}  // namespace glimpse
