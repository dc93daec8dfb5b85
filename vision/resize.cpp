// PIL-exact resampling. Reproduces Pillow's src/libImaging/Resample.c (ImagingResample with a
// full-image box) for 8-bit RGB: the same coefficients in double, the same rounding to 22-bit
// fixed point, the same pass order and uint8 intermediate. docs/images.md.
#include "vision/image.hpp"

#include "runtime/error.hpp"

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace glimpse {

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;  // Pillow's PRECISION_BITS for 8-bit images

double bilinear(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}

double bicubic(double x) {  // Keys cubic, a = -0.5
  constexpr double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}

// For each output index o: the first source index (xmin), the tap count, and ksize integer taps.
struct Coeffs {
  int ksize = 0;
  std::vector<int> xmin, count;
  std::vector<int32_t> k;  // out_size * ksize
};

// Pillow's support (filter radius in source pixels) and the taps per output it allocates.
double support_of(int in_size, int out_size, Resample filter) {
  const double base_support = filter == Resample::Bicubic ? 2.0 : 1.0;
  return base_support * std::max(double(float(in_size)) / out_size, 1.0);
}
int64_t taps_of(int in_size, int out_size, Resample filter) {
  return int64_t(std::ceil(support_of(in_size, out_size, filter))) * 2 + 1;
}

Coeffs coeffs_compute(int in_size, int out_size, Resample filter) {
  const double scale = double(float(in_size)) / out_size;
  const double filterscale = std::max(scale, 1.0);
  const double support = support_of(in_size, out_size, filter);
  Coeffs c;
  c.ksize = int(taps_of(in_size, out_size, filter));
  c.xmin.resize(size_t(out_size));
  c.count.resize(size_t(out_size));
  c.k.assign(size_t(out_size) * c.ksize, 0);
  std::vector<double> w(size_t(c.ksize));
  for (int o = 0; o < out_size; ++o) {
    const double center = (o + 0.5) * scale;
    const double ss = 1.0 / filterscale;
    int xmin = int(center - support + 0.5);  // C truncation, as Pillow's (int) cast
    if (xmin < 0) xmin = 0;
    int xmax = int(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double ww = 0.0;
    for (int x = 0; x < xmax; ++x) {
      const double t = (x + xmin - center + 0.5) * ss;
      w[size_t(x)] = filter == Resample::Bicubic ? bicubic(t) : bilinear(t);
      ww += w[size_t(x)];
    }
    for (int x = 0; x < xmax; ++x) {
      const double v = ww != 0.0 ? w[size_t(x)] / ww : w[size_t(x)];
      const double scaled = v * (1 << kPrecisionBits);
      c.k[size_t(o) * c.ksize + x] = int32_t(v < 0 ? -0.5 + scaled : 0.5 + scaled);
    }
    c.xmin[size_t(o)] = xmin;
    c.count[size_t(o)] = xmax;
  }
  return c;
}

uint8_t clip8(int32_t acc) { return uint8_t(std::clamp(acc >> kPrecisionBits, 0, 255)); }

}  // namespace

Image image_resize(const Image& in, int width, int height, Resample filter) {
  if (in.width <= 0 || in.height <= 0 || size_t(in.width) * in.height * 3 != in.rgb.size())
    fail("image_resize: malformed input image (", in.width, "x", in.height, ", ", in.rgb.size(), " bytes)");
  if (width <= 0 || height <= 0) fail("image_resize: bad target size ", width, "x", height);
  const bool horizontal = width != in.width, vertical = height != in.height;
  if (!horizontal && !vertical) return in;
  // Exactness needs Pillow's order: the horizontal pass over every source row, then the vertical
  // one. For a sliver of an image (1 x 10,000,000 to 384 x 384) that is billions of
  // multiply-adds and hundreds of MB of coefficients, so such shapes are refused before any
  // allocation. The bound: 3e8 multiply-adds, or 32 per source pixel where that is more (a photo
  // takes 12-25 per pixel; the largest image the decoders accept, 13400 x 13400, about 12).
  const uint64_t work = 3 * (uint64_t(horizontal ? in.height : 0) * uint64_t(width) * taps_of(in.width, width, filter) +
                             uint64_t(vertical ? height : 0) * uint64_t(width) * taps_of(in.height, height, filter));
  const uint64_t bound = std::max<uint64_t>(300'000'000, 32 * uint64_t(in.width) * uint64_t(in.height));
  if (work > bound)
    fail("image ", in.width, "x", in.height, ": resizing it to ", width, "x", height, " would take ", work,
         " multiply-adds, over the limit of ", bound, " (its aspect ratio is too extreme)");

  const Coeffs ch = coeffs_compute(in.width, width, filter);
  const Coeffs cv = coeffs_compute(in.height, height, filter);

  // Horizontal pass, only over the source rows the vertical pass reads, into uint8.
  const int row_first = vertical ? cv.xmin.front() : 0;
  const int row_last = vertical ? cv.xmin.back() + cv.count.back() : in.height;
  Image mid;
  const Image* src = &in;
  int row_shift = 0;
  if (horizontal) {
    mid.width = width;
    mid.height = row_last - row_first;
    mid.rgb.resize(size_t(mid.width) * mid.height * 3);
    for (int y = 0; y < mid.height; ++y) {
      const uint8_t* row = &in.rgb[size_t(y + row_first) * in.width * 3];
      uint8_t* dst = &mid.rgb[size_t(y) * width * 3];
      for (int o = 0; o < width; ++o) {
        const int32_t* k = &ch.k[size_t(o) * ch.ksize];
        const int x0 = ch.xmin[size_t(o)], n = ch.count[size_t(o)];
        // The three channels together: one pass over the taps (integer sums: any order is exact).
        int32_t r = 1 << (kPrecisionBits - 1), g = r, b = r;
        const uint8_t* px = row + x0 * 3;
        for (int x = 0; x < n; ++x, px += 3) {
          r += int32_t(px[0]) * k[x];
          g += int32_t(px[1]) * k[x];
          b += int32_t(px[2]) * k[x];
        }
        dst[o * 3] = clip8(r);
        dst[o * 3 + 1] = clip8(g);
        dst[o * 3 + 2] = clip8(b);
      }
    }
    src = &mid;
    row_shift = row_first;
  }
  if (!vertical) return mid;

  Image out;
  out.width = width;
  out.height = height;
  out.rgb.resize(size_t(width) * height * 3);
  const int w3 = src->width * 3;
  std::vector<int32_t> acc(static_cast<size_t>(w3));
  for (int o = 0; o < height; ++o) {
    const int32_t* k = &cv.k[size_t(o) * cv.ksize];
    const int y0 = cv.xmin[size_t(o)] - row_shift, n = cv.count[size_t(o)];
    // Row by row over a whole output row of accumulators: contiguous, so it vectorises.
    std::fill(acc.begin(), acc.end(), 1 << (kPrecisionBits - 1));
    for (int y = 0; y < n; ++y) {
      const uint8_t* row = &src->rgb[size_t(y0 + y) * w3];
      const int32_t ky = k[y];
      for (int i = 0; i < w3; ++i) acc[size_t(i)] += int32_t(row[i]) * ky;
    }
    uint8_t* dst = &out.rgb[size_t(o) * w3];
    for (int i = 0; i < w3; ++i) dst[i] = clip8(acc[size_t(i)]);
  }
  return out;
}

void image_normalize(const Image& img, const Normalize& norm, std::vector<float>& out) {
  const size_t plane = size_t(img.width) * img.height;
  const size_t base = out.size();
  out.resize(base + 3 * plane);
  for (int c = 0; c < 3; ++c) {
    // numpy: image.astype(float64) * factor, cast to float32; then (x - mean) / std in float32.
    // 256 possible bytes per channel: a table gives the same floats.
    float lut[256];
    for (int v = 0; v < 256; ++v) lut[v] = (float(double(v) * norm.rescale) - norm.mean[c]) / norm.std[c];
    float* dst = &out[base + size_t(c) * plane];
    for (size_t i = 0; i < plane; ++i) dst[i] = lut[img.rgb[i * 3 + size_t(c)]];
  }
}

}  // namespace glimpse
