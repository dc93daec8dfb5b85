// glimpse caption --draw (samples/cli/draw.cpp): boxes, quads and polygons land on the pixels
// their coordinates name, labels on tags above them, and hostile coordinates stay harmless.
#include "samples/cli/draw.hpp"

#include <catch2/catch.hpp>

using namespace glimpse::cli;

namespace {
Rgb black(int w, int h) {
  Rgb im;
  im.width = w, im.height = h;
  im.pixels.assign(size_t(w) * size_t(h) * 3, 0);
  return im;
}
std::array<int, 3> at(const Rgb& im, int x, int y) {
  const uint8_t* p = im.pixels.data() + (size_t(y) * size_t(im.width) + size_t(x)) * 3;
  return {p[0], p[1], p[2]};
}
}  // namespace

TEST_CASE("--draw outlines each box in its colour and tags its label", "[draw]") {
  Rgb im = black(200, 160);
  const auto answer = nlohmann::json::parse(R"({"bboxes": [[20.5, 40.2, 120.7, 140.0], [150, 10, 190, 30]],
                                                "labels": ["car", ""]})");
  CHECK(draw_answer(im, answer) == 2);
  const std::array<int, 3> first = {230, 25, 75}, second = {60, 180, 75}, none = {0, 0, 0};
  CHECK(at(im, 70, 140) == first);   // bottom edge
  CHECK(at(im, 21, 90) == first);    // left edge
  CHECK(at(im, 120, 90) == first);   // right edge
  CHECK(at(im, 70, 90) == none);     // inside stays as it was
  CHECK(at(im, 5, 150) == none);
  CHECK(at(im, 170, 30) == second);
  // the label's tag sits on the box's top edge, white strokes on the box's colour
  bool white = false, tag = false;
  for (int y = 20; y < 41; ++y)
    for (int x = 20; x < 60; ++x) {
      white = white || at(im, x, y) == std::array<int, 3>{255, 255, 255};
      tag = tag || at(im, x, y) == first;
    }
  CHECK(white);
  CHECK(tag);
}

TEST_CASE("--draw draws OCR quads and polygons, and ignores what is not a shape", "[draw]") {
  Rgb im = black(120, 100);
  const auto ocr = nlohmann::json::parse(R"({"quad_boxes": [[10, 10, 60, 10, 60, 30, 10, 30], [1, 2, 3]], "labels": ["STOP", "x"]})");
  CHECK(draw_answer(im, ocr) == 1);
  CHECK(at(im, 35, 30) == std::array<int, 3>{230, 25, 75});
  Rgb poly = black(120, 100);
  const auto seg = nlohmann::json::parse(R"({"polygons": [[[20, 50, 100, 50, 100, 90], [5, 5, 8, 8]]], "labels": [""]})");
  CHECK(draw_answer(poly, seg) == 1);
  CHECK(at(poly, 60, 50) == std::array<int, 3>{230, 25, 75});
  // coordinates far outside the image (bins past 999), NaN-free garbage, and non-shapes
  Rgb far = black(50, 40);
  const auto wild = nlohmann::json::parse(R"({"bboxes": [[-1e9, -5, 1e12, 30], ["a", 1, 2, 3]], "labels": ["far", "bad"]})");
  CHECK(draw_answer(far, wild) == 1);
  CHECK(at(far, 25, 30) == std::array<int, 3>{230, 25, 75});
  CHECK(draw_answer(far, nlohmann::json("just text")) == 0);
  CHECK(draw_answer(far, nlohmann::json::parse(R"({"bboxes": [[1, 2, 3, 4]]})")) == 0);  // no labels: not an answer
}
