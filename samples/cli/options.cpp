#include "options.hpp"

#include "runtime/error.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace glimpse::cli {

namespace fs = std::filesystem;

const char* const kGenerationUsage =
    "  generation: [--max-new-tokens N] [--max-length N] [--min-length N]\n"
    "              [--beams N [--length-penalty X] [--early-stopping]]\n"
    "              [--sample [--temperature X] [--top-k N] [--top-p X] [--seed N]]\n";

int parse_count(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (!end || *end || v <= 0 || v > 100000) fail(flag, " needs a positive integer, found '", value, "'");
  return int(v);
}

float parse_float(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const float v = std::strtof(value.c_str(), &end);
  if (!end || *end || value.empty() || !(v >= 0) || v > 1e6f) fail(flag, " needs a non-negative number, found '", value, "'");
  return v;
}

bool parse_generation_flag(const std::vector<std::string>& args, size_t& i, GenerationConfig& gen) {
  const std::string& a = args[i];
  auto value = [&]() -> const std::string& {
    if (i + 1 >= args.size()) fail(a, " needs a value");
    return args[++i];
  };
  if (a == "--max-new-tokens") gen.max_new_tokens = parse_count(a, value());
  else if (a == "--max-length") gen.max_length = parse_count(a, value());
  else if (a == "--min-length") gen.min_length = parse_count(a, value());
  else if (a == "--beams") gen.num_beams = parse_count(a, value());
  else if (a == "--length-penalty") gen.length_penalty = parse_float(a, value());
  else if (a == "--early-stopping") gen.early_stopping = true;
  else if (a == "--sample") gen.do_sample = true;
  else if (a == "--temperature") gen.temperature = parse_float(a, value());
  else if (a == "--top-k") gen.top_k = parse_count(a, value());
  else if (a == "--top-p") gen.top_p = parse_float(a, value());
  else if (a == "--seed") gen.seed = uint64_t(parse_count(a, value()));
  else return false;
  return true;
}

namespace {
bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".pnm", ".ppm", ".pgm", ".tga"})
    if (ext == e) return true;
  return false;
}
}  // namespace

std::vector<std::string> expand_inputs(const std::vector<std::string>& inputs) {
  std::vector<std::string> files;
  for (const std::string& in : inputs) {
    std::error_code ec;
    if (fs::is_directory(in, ec)) {
      std::vector<std::string> found;
      for (const auto& entry : fs::directory_iterator(in, ec))
        if (entry.is_regular_file() && is_image_name(entry.path())) found.push_back(entry.path().string());
      std::sort(found.begin(), found.end());
      files.insert(files.end(), found.begin(), found.end());
    } else {
      files.push_back(in);
    }
  }
  return files;
}

void dump_dir_for(const std::string& dir, const std::string& image) {
  if (dir.empty()) return;
  const fs::path where = fs::path(dir) / fs::path(image).filename();
  fs::create_directories(where);
  setenv("GLIMPSE_DUMP", where.c_str(), 1);  // Sequence::dump writes the named tensors there
}

}  // namespace glimpse::cli
