#include "window.hpp"

#include <opencv2/highgui.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>
#include <opencv2/videoio.hpp>

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>

namespace glimpse::vqa {

Window::Window() : title_("glimpse-vqa") { cv::namedWindow(title_, cv::WINDOW_AUTOSIZE); }
Window::~Window() { cv::destroyWindow(title_); }

void Window::show(const Frame& image, const std::string& question, const std::string& answer,
                  const std::string& save_to) {
  cv::Mat rgb(image.height, image.width, CV_8UC3, const_cast<uint8_t*>(image.rgb.data()));
  cv::Mat bgr;
  cv::cvtColor(rgb, bgr, cv::COLOR_RGB2BGR);
  // Scale small images up and big ones down to a comfortable width, then add a caption band.
  const double scale = std::clamp(640.0 / std::max(1, image.width), 0.25, 8.0);
  cv::resize(bgr, bgr, cv::Size(), scale, scale, scale > 1 ? cv::INTER_NEAREST : cv::INTER_AREA);
  cv::Mat frame(bgr.rows + 70, bgr.cols, CV_8UC3, cv::Scalar(32, 32, 32));
  bgr.copyTo(frame(cv::Rect(0, 0, bgr.cols, bgr.rows)));
  cv::putText(frame, "Q: " + question, cv::Point(10, bgr.rows + 28), cv::FONT_HERSHEY_SIMPLEX, 0.6,
              cv::Scalar(255, 255, 255), 1, cv::LINE_AA);
  cv::putText(frame, "A: " + answer, cv::Point(10, bgr.rows + 56), cv::FONT_HERSHEY_SIMPLEX, 0.6,
              cv::Scalar(120, 255, 120), 1, cv::LINE_AA);
  cv::imshow(title_, frame);
  cv::waitKey(1);
  if (!save_to.empty() && !cv::imwrite(save_to, frame)) throw std::runtime_error("cannot write " + save_to);
}

struct Camera::Impl {
  cv::VideoCapture capture;
};

Camera::Camera(int index) : impl_(std::make_unique<Impl>()), index_(index) {
  if (!impl_->capture.open(index)) throw std::runtime_error("cannot open camera " + std::to_string(index));
}

Camera::~Camera() = default;

Frame Camera::grab() {
  cv::Mat bgr, rgb;
  if (!impl_->capture.read(bgr) || bgr.empty()) throw std::runtime_error("camera " + std::to_string(index_) + " gave no frame");
  cv::cvtColor(bgr, rgb, bgr.channels() == 1 ? cv::COLOR_GRAY2RGB : cv::COLOR_BGR2RGB);
  Frame img;
  img.width = rgb.cols;
  img.height = rgb.rows;
  img.rgb.resize(size_t(rgb.cols) * rgb.rows * 3);
  for (int y = 0; y < rgb.rows; ++y) std::memcpy(&img.rgb[size_t(y) * rgb.cols * 3], rgb.ptr(y), size_t(rgb.cols) * 3);
  return img;
}

}  // namespace glimpse::vqa
