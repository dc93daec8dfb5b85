// glimpse-scenes: writes a split of synthetic scenes for training and evaluating the bundled model.
//
//   glimpse-scenes --split train|validation|test --count N [--first K] [--size PIXELS] --out DIR
//
// DIR gets scene-SPLIT-INDEX.png (RGB) and SPLIT.jsonl, one line per scene:
//   {"file", "seed", "caption", "objects": [{"shape","colour","size","place"}],
//    "qa": [{"type","question","answer"}]}
#include "scene.hpp"

#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/imgproc.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

namespace {

uint64_t parse_count(const std::string& flag, const std::string& value, uint64_t max) {
  size_t used = 0;
  unsigned long long v = 0;
  try {
    v = std::stoull(value, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used != value.size() || value.empty() || value[0] == '-' || v > max) {
    throw std::invalid_argument(flag + " wants a whole number up to " + std::to_string(max) + ", not '" + value + "'");
  }
  return v;
}

int run(int argc, char** argv) {
  std::string split_name, out;
  uint64_t count = 0, first = 0;
  int size = 384;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
      return argv[++i];
    };
    if (a == "--split") split_name = value();
    else if (a == "--count") count = parse_count(a, value(), 10'000'000);
    else if (a == "--first") first = parse_count(a, value(), uint64_t(1) << 39);
    else if (a == "--size") size = int(parse_count(a, value(), 4096));
    else if (a == "--out") out = value();
    else if (a == "-h" || a == "--help") {
      std::puts("usage: glimpse-scenes --split train|validation|test --count N [--first K] [--size PIXELS] --out DIR");
      return 0;
    } else throw std::invalid_argument("unknown option '" + a + "'");
  }
  if (split_name.empty() || out.empty() || count == 0) {
    throw std::invalid_argument("--split, --count (> 0) and --out are required (see --help)");
  }
  const scenes::Split split = scenes::parse_split(split_name);
  std::filesystem::create_directories(out);
  const std::string jsonl_path = out + "/" + split_name + ".jsonl";
  std::ofstream jsonl(jsonl_path);
  if (!jsonl) throw std::runtime_error(jsonl_path + ": cannot write");
  for (uint64_t k = first; k < first + count; ++k) {
    const scenes::Scene s = scenes::make_scene(scenes::scene_seed(split, k));
    char file[64];
    std::snprintf(file, sizeof file, "scene-%s-%06llu.png", split_name.c_str(), static_cast<unsigned long long>(k));
    cv::Mat bgr;
    cv::cvtColor(scenes::render(s, size), bgr, cv::COLOR_RGB2BGR);
    if (!cv::imwrite(out + "/" + file, bgr)) throw std::runtime_error(out + "/" + file + ": cannot write");
    nlohmann::json j = {{"file", file}, {"seed", s.seed}, {"caption", s.caption}};
    for (const scenes::Object& o : s.objects) {
      j["objects"].push_back({{"shape", scenes::kShapeNames[size_t(o.shape)]},
                              {"colour", scenes::kColourNames[size_t(o.colour)]},
                              {"size", o.size == scenes::Size::large ? "large" : "small"},
                              {"place", scenes::kPlaceNames[size_t(o.place)]}});
    }
    for (const scenes::QA& q : s.qa) j["qa"].push_back({{"type", q.type}, {"question", q.question}, {"answer", q.answer}});
    jsonl << j.dump() << '\n';
  }
  if (!jsonl.flush()) throw std::runtime_error(jsonl_path + ": write failed");
  std::printf("%llu %s scenes (%d x %d) in %s\n", static_cast<unsigned long long>(count), split_name.c_str(), size, size,
              out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glimpse-scenes: error: %s\n", e.what());
    return 1;
  }
}
