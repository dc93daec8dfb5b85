// `glimpse caption --draw`: an image with a task's answer drawn on it (Florence-2's boxes, OCR quads
// and polygons, each labelled), written as PNG.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace glimpse::cli {

struct Rgb {
  int width = 0, height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3
};

// One instance of a task's answer: a box [x1, y1, x2, y2], an OCR quad [x1, y1, ..., x4, y4], or
// a polygon instance's rings [x, y, ...], in the image's pixels, with its label.
struct AnswerShape {
  enum Kind { Box, Quad, Polygon } kind;
  std::vector<std::vector<double>> rings;  // one for a box or quad
  std::string label;
};

// The instances of `answer` (the value under the task key of post_process_generation's result:
// bboxes with labels or bboxes_labels, quad_boxes with labels, polygons with labels or
// polygons_labels), in that order; entries that are not shapes are skipped. Empty for a text answer.
std::vector<AnswerShape> answer_shapes(const nlohmann::json& answer);

// Draws every shape of `answer` onto `image`: outlines in a colour per instance, each label on a
// filled tag at its shape's top-left corner. Returns how many shapes.
int draw_answer(Rgb& image, const nlohmann::json& answer);

// Writes `image` as a PNG; throws std::runtime_error naming `path` when it cannot.
void write_png(const std::string& path, const Rgb& image);

}  // namespace glimpse::cli
