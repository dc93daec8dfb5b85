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

// Draws every shape of `answer` (the value under the task key of post_process_generation's
// result: bboxes, quad_boxes or polygons, with labels) onto `image`: outlines in a colour per
// instance, each label on a filled tag at its shape's top-left corner. Returns how many shapes.
int draw_answer(Rgb& image, const nlohmann::json& answer);

// Writes `image` as a PNG; throws std::runtime_error naming `path` when it cannot.
void write_png(const std::string& path, const Rgb& image);

}  // namespace glimpse::cli
