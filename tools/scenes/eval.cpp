// glimpse-scenes-eval: the bundled models' accuracy on held-out scenes, measured through glimpse
// itself (issue 5): the scenes are drawn in memory by the committed generator, captioned and
// questioned by the C++ runtime on the chosen Vulkan device, and compared word for word.
//
//   glimpse-scenes-eval --caption DIR --vqa DIR [--split test] [--count 100] [--first 0]
//                       [--size 96] [--min-caption 0.9] [--min-vqa 0.9] [--f16] [--failures N]
//
// Prints a markdown table (caption exact match, VQA accuracy overall and per question type) and
// exits 1 when an accuracy is under its threshold, 2 on errors.
#include "scene.hpp"

#include "fusion/family.hpp"
#include "runtime/error.hpp"

#include <chrono>
#include <cstdio>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

struct Tally {
  int right = 0, total = 0;
  double rate() const { return total ? double(right) / total : 0.0; }
};

double number(const std::string& flag, const std::string& v, double lo, double hi) {
  size_t used = 0;
  double x = 0;
  try {
    x = std::stod(v, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != v.size() || !(x >= lo && x <= hi))
    throw std::invalid_argument(flag + " wants a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                "], not '" + v + "'");
  return x;
}

glimpse::Image to_image(const cv::Mat& rgb) {
  glimpse::Image img;
  img.width = rgb.cols;
  img.height = rgb.rows;
  img.rgb.assign(rgb.data, rgb.data + rgb.total() * 3);  // render() gives a continuous CV_8UC3 RGB matrix
  return img;
}

int run(int argc, char** argv) {
  std::string caption_dir, vqa_dir, split_name = "test", device;
  int count = 100, first = 0, size = 96, show_failures = 10;
  double min_caption = 0.9, min_vqa = 0.9;
  glimpse::ModelOptions mopt;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--caption") caption_dir = value();
    else if (a == "--vqa") vqa_dir = value();
    else if (a == "--split") split_name = value();
    else if (a == "--count") count = int(number(a, value(), 1, 100000));
    else if (a == "--first") first = int(number(a, value(), 0, 1e9));
    else if (a == "--size") size = int(number(a, value(), 32, 4096));
    else if (a == "--min-caption") min_caption = number(a, value(), 0, 1);
    else if (a == "--min-vqa") min_vqa = number(a, value(), 0, 1);
    else if (a == "--failures") show_failures = int(number(a, value(), 0, 1e6));
    else if (a == "--device") device = value();
    else if (a == "--f16") mopt.weights = glimpse::DType::F16;
    else if (a == "-h" || a == "--help") {
      std::puts("usage: glimpse-scenes-eval --caption DIR --vqa DIR [--split test] [--count 100] [--first 0] [--size 96]\n"
                "                           [--min-caption 0.9] [--min-vqa 0.9] [--f16] [--failures N] [--device D]");
      return 0;
    } else throw std::invalid_argument("unknown option '" + a + "'");
  }
  if (caption_dir.empty() && vqa_dir.empty()) throw std::invalid_argument("give --caption DIR, --vqa DIR or both");
  const scenes::Split split = scenes::parse_split(split_name);

  glimpse::ContextOptions copt;
  copt.device = device;
  glimpse::Context ctx(copt);
  std::unique_ptr<glimpse::Model> captioner, vqa;
  if (!caption_dir.empty()) captioner = glimpse::model_open(ctx, caption_dir, mopt);
  if (!vqa_dir.empty()) vqa = glimpse::model_open(ctx, vqa_dir, mopt);

  Tally caption;
  std::map<std::string, Tally> by_type;
  Tally vqa_all;
  std::vector<std::string> failures;
  const auto t0 = std::chrono::steady_clock::now();
  for (int k = first; k < first + count; ++k) {
    const scenes::Scene s = scenes::make_scene(scenes::scene_seed(split, uint64_t(k)));
    const glimpse::Image img = to_image(scenes::render(s, size));
    const std::string name = "scene-" + split_name + "-" + std::to_string(k);
    if (captioner) {
      const std::string got = captioner->caption({img}).at(0).text;
      ++caption.total;
      if (got == s.caption) ++caption.right;
      else failures.push_back(name + " caption: \"" + got + "\", expected \"" + s.caption + "\"");
    }
    if (vqa) {
      for (const scenes::QA& q : s.qa) {
        const std::string got = vqa->answer({img}, q.question).at(0).text;
        const bool ok = got == q.answer;
        ++by_type[q.type].total, ++vqa_all.total;
        if (ok) ++by_type[q.type].right, ++vqa_all.right;
        else failures.push_back(name + " \"" + q.question + "\": \"" + got + "\", expected \"" + q.answer + "\"");
      }
    }
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

  std::printf("%d %s scenes (%d x %d px, generator seeds from index %d), %s weights, %.1f s on %s\n\n", count,
              split_name.c_str(), size, size, first, mopt.weights == glimpse::DType::F16 ? "f16" : "f32", secs,
              ctx.info().name.c_str());
  std::printf("| measure | right | total | accuracy |\n|---|---|---|---|\n");
  if (captioner)
    std::printf("| caption exact match | %d | %d | %.1f %% |\n", caption.right, caption.total, 100 * caption.rate());
  if (vqa) {
    std::printf("| VQA, all questions | %d | %d | %.1f %% |\n", vqa_all.right, vqa_all.total, 100 * vqa_all.rate());
    for (const auto& [type, t] : by_type)
      std::printf("| VQA, %s | %d | %d | %.1f %% |\n", type.c_str(), t.right, t.total, 100 * t.rate());
  }
  if (!failures.empty()) {
    std::printf("\n%zu wrong; the first %d:\n", failures.size(), std::min(show_failures, int(failures.size())));
    for (size_t i = 0; i < failures.size() && int(i) < show_failures; ++i) std::printf("  %s\n", failures[i].c_str());
  }
  bool pass = true;
  if (captioner && caption.rate() < min_caption) {
    std::printf("FAIL: caption exact match %.3f is under %.3f\n", caption.rate(), min_caption);
    pass = false;
  }
  if (vqa && vqa_all.rate() < min_vqa) {
    std::printf("FAIL: VQA accuracy %.3f is under %.3f\n", vqa_all.rate(), min_vqa);
    pass = false;
  }
  if (pass) std::printf("PASS: caption >= %.2f, VQA >= %.2f\n", min_caption, min_vqa);
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glimpse-scenes-eval: %s\n", e.what());
    return 2;
  }
}
