// The VQA sample's OpenCV side (samples only; the library never links OpenCV): a window showing
// the image with the last question and answer drawn on it, and frames from a camera.
#pragma once

#include <cstdint>

#include <memory>
#include <string>
#include <vector>

namespace glimpse::vqa {

// An RGB image, 8 bits, rows tightly packed: what glimpse_image_decode gives and the window shows.
struct Frame {
  std::vector<uint8_t> rgb;
  int width = 0, height = 0;
};

class Window {
 public:
  Window();
  ~Window();
  // Shows `image` with the question and answer drawn under it; with `save_to`, also writes the
  // rendered frame there (PNG), which is how the sample's test checks it.
  void show(const Frame& image, const std::string& question, const std::string& answer, const std::string& save_to);

 private:
  std::string title_;
};

class Camera {
 public:
  explicit Camera(int index);  // throws std::runtime_error when the camera cannot be opened
  ~Camera();
  Frame grab();  // one RGB frame

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int index_;
};

}  // namespace glimpse::vqa
