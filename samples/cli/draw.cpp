#include "draw.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <stdexcept>

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#include <stb/stb_image_write.h>
#include <stb/stb_easy_font.h>

namespace glimpse::cli {

namespace {

using Color = std::array<uint8_t, 3>;
constexpr Color kPalette[] = {{230, 25, 75},  {60, 180, 75},  {255, 225, 25}, {0, 130, 200}, {245, 130, 48},
                              {145, 30, 180}, {70, 240, 240}, {240, 50, 230}, {210, 245, 60}, {0, 128, 128}};

void put(Rgb& im, int x, int y, Color c) {
  if (x < 0 || y < 0 || x >= im.width || y >= im.height) return;
  uint8_t* p = im.pixels.data() + (size_t(y) * size_t(im.width) + size_t(x)) * 3;
  p[0] = c[0], p[1] = c[1], p[2] = c[2];
}

void fill(Rgb& im, double x0, double y0, double x1, double y1, Color c) {
  const int a = std::max(0, int(std::floor(std::min(x0, x1)))), b = std::min(im.width - 1, int(std::ceil(std::max(x0, x1))) - 1);
  const int t = std::max(0, int(std::floor(std::min(y0, y1)))), u = std::min(im.height - 1, int(std::ceil(std::max(y0, y1))) - 1);
  for (int y = t; y <= u; ++y)
    for (int x = a; x <= b; ++x) put(im, x, y, c);
}

// A line `thick` pixels wide: a square brush stepped along it.
void line(Rgb& im, double x0, double y0, double x1, double y1, int thick, Color c) {
  if (!std::isfinite(x0) || !std::isfinite(y0) || !std::isfinite(x1) || !std::isfinite(y1)) return;
  // far-off points (bins past 999 give coordinates outside the image) are clipped to a margin
  const double lim = 4.0 * std::max(im.width, im.height);
  x0 = std::clamp(x0, -lim, lim), x1 = std::clamp(x1, -lim, lim), y0 = std::clamp(y0, -lim, lim), y1 = std::clamp(y1, -lim, lim);
  const int steps = std::max(1, int(std::ceil(std::max(std::abs(x1 - x0), std::abs(y1 - y0)))));
  const int half = thick / 2;
  for (int s = 0; s <= steps; ++s) {
    const int x = int(std::lround(x0 + (x1 - x0) * s / steps)), y = int(std::lround(y0 + (y1 - y0) * s / steps));
    for (int dy = -half; dy < thick - half; ++dy)
      for (int dx = -half; dx < thick - half; ++dx) put(im, x + dx, y + dy, c);
  }
}

void outline(Rgb& im, const std::vector<double>& xy, int thick, Color c) {
  const size_t n = xy.size() / 2;
  for (size_t i = 0; i < n && n > 1; ++i) {
    const size_t j = (i + 1) % n;
    line(im, xy[2 * i], xy[2 * i + 1], xy[2 * j], xy[2 * j + 1], thick, c);
  }
}

// The label on a filled tag whose top-left corner is (x, y), in white, stb_easy_font's strokes
// scaled by `scale`.
void label(Rgb& im, double x, double y, const std::string& text, int scale, Color bg) {
  if (text.empty()) return;
  std::string ascii;  // stb_easy_font draws ASCII; anything else shows as '?'
  for (unsigned char ch : text.substr(0, 80)) ascii += ch >= 32 && ch < 127 ? char(ch) : '?';
  const int w = stb_easy_font_width(ascii.data()) * scale, h = 9 * scale;
  x = std::clamp(x, 0.0, double(std::max(0, im.width - w - 2 * scale)));
  y = std::clamp(y - h - 2 * scale, 0.0, double(std::max(0, im.height - h - 2 * scale)));
  fill(im, x, y, x + w + 2 * scale, y + h + 2 * scale, bg);
  std::vector<char> buf(ascii.size() * 300 + 64);
  const int quads = stb_easy_font_print(0, 0, ascii.data(), nullptr, buf.data(), int(buf.size()));
  struct V {
    float x, y, z;
    uint8_t c[4];
  };
  const V* v = reinterpret_cast<const V*>(buf.data());
  const double k = scale;
  for (int q = 0; q < quads; ++q)
    fill(im, x + k + double(v[4 * q].x) * k, y + k + double(v[4 * q].y) * k, x + k + double(v[4 * q + 2].x) * k,
         y + k + double(v[4 * q + 2].y) * k, {255, 255, 255});
}

std::vector<double> numbers(const nlohmann::json& j) {
  std::vector<double> v;
  if (j.is_array())
    for (const auto& x : j)
      if (x.is_number()) v.push_back(x.get<double>());
  return v;
}

std::string label_at(const nlohmann::json& labels, size_t i) {
  return labels.is_array() && i < labels.size() && labels[i].is_string() ? labels[i].get<std::string>() : "";
}

}  // namespace

std::vector<AnswerShape> answer_shapes(const nlohmann::json& answer) {
  std::vector<AnswerShape> out;
  if (!answer.is_object()) return out;
  const auto labels_of = [&](std::initializer_list<const char*> keys) -> const nlohmann::json* {
    for (const char* k : keys)
      if (answer.contains(k)) return &answer[k];
    return nullptr;
  };
  const auto each = [&](const char* key, const nlohmann::json* labels, auto&& add) {
    if (!labels || !answer.contains(key) || !answer[key].is_array()) return;
    for (size_t i = 0; i < answer[key].size(); ++i) add(answer[key][i], label_at(*labels, i));
  };
  // boxes: <OD>, dense captions, proposals, grounding, open-vocabulary detection
  each("bboxes", labels_of({"labels", "bboxes_labels"}), [&](const nlohmann::json& v, std::string label) {
    if (std::vector<double> b = numbers(v); b.size() == 4) out.push_back({AnswerShape::Box, {std::move(b)}, std::move(label)});
  });
  each("quad_boxes", labels_of({"labels"}), [&](const nlohmann::json& v, std::string label) {
    if (std::vector<double> q = numbers(v); q.size() == 8) out.push_back({AnswerShape::Quad, {std::move(q)}, std::move(label)});
  });
  each("polygons", labels_of({"labels", "polygons_labels"}), [&](const nlohmann::json& v, std::string label) {
    AnswerShape p{AnswerShape::Polygon, {}, std::move(label)};
    if (v.is_array())
      for (const auto& ring : v) p.rings.push_back(numbers(ring));
    out.push_back(std::move(p));
  });
  return out;
}

int draw_answer(Rgb& im, const nlohmann::json& answer) {
  const int thick = std::max(2, std::min(im.width, im.height) / 200), scale = std::max(1, std::min(im.width, im.height) / 300);
  const std::vector<AnswerShape> shapes = answer_shapes(answer);
  for (size_t i = 0; i < shapes.size(); ++i) {
    const AnswerShape& s = shapes[i];
    const Color c = kPalette[i % std::size(kPalette)];
    double top = 1e300, left = 1e300;
    for (const std::vector<double>& ring : s.rings) {
      const std::vector<double> r =
          s.kind == AnswerShape::Box ? std::vector<double>{ring[0], ring[1], ring[2], ring[1], ring[2], ring[3], ring[0], ring[3]}
                                     : ring;
      outline(im, r, thick, c);
      for (size_t k = 0; k + 1 < r.size(); k += 2) top = std::min(top, r[k + 1]), left = std::min(left, r[k]);
    }
    if (top < 1e300) label(im, left, top, s.label, scale, c);
  }
  return int(shapes.size());
}

void write_png(const std::string& path, const Rgb& im) {
  if (!stbi_write_png(path.c_str(), im.width, im.height, 3, im.pixels.data(), im.width * 3))
    throw std::runtime_error(path + ": cannot write the PNG");
}

}  // namespace glimpse::cli
