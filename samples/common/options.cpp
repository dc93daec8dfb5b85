#include "options.hpp"

#include <algorithm>
#include <cstdlib>
#include <filesystem>

namespace glimpse::sample {

namespace fs = std::filesystem;

const char* const kGenerationUsage =
    "  generation: [--max-new-tokens N] [--max-length N] [--min-length N]\n"
    "              [--beams N [--length-penalty X] [--early-stopping]]\n"
    "              [--sample [--temperature X] [--top-k N] [--top-p X] [--seed N]]\n";

int exit_status(const std::exception& e) {
  if (dynamic_cast<const UsageError*>(&e)) return 2;
  if (const auto* g = dynamic_cast<const embed::Error*>(&e))
    return g->status() == GLIMPSE_ERROR_INVALID_ARGUMENT || g->status() == GLIMPSE_ERROR_WRONG_MODEL ? 2 : 1;
  return 1;
}

uint32_t parse_count(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const long v = std::strtol(value.c_str(), &end, 10);
  if (!end || *end || v <= 0 || v > 100000)
    throw UsageError(flag + " needs a positive integer, found '" + value + "'");
  return uint32_t(v);
}

float parse_float(const std::string& flag, const std::string& value) {
  char* end = nullptr;
  const float v = std::strtof(value.c_str(), &end);
  if (!end || *end || value.empty() || !(v >= 0) || v > 1e6f)
    throw UsageError(flag + " needs a non-negative number, found '" + value + "'");
  return v;
}

bool parse_generation_flag(const std::vector<std::string>& args, size_t& i, glimpse_generate_params& gen) {
  const std::string& a = args[i];
  auto value = [&]() -> const std::string& {
    if (i + 1 >= args.size()) throw UsageError(a + " needs a value");
    return args[++i];
  };
  if (a == "--max-new-tokens") gen.max_new_tokens = parse_count(a, value());
  else if (a == "--max-length") gen.max_length = parse_count(a, value());
  else if (a == "--min-length") gen.min_length = parse_count(a, value());
  else if (a == "--beams") gen.num_beams = parse_count(a, value());
  else if (a == "--length-penalty") gen.length_penalty = parse_float(a, value());
  else if (a == "--early-stopping") gen.early_stopping = 1;
  else if (a == "--sample") gen.do_sample = 1;
  else if (a == "--temperature") gen.temperature = parse_float(a, value());
  else if (a == "--top-k") gen.top_k = parse_count(a, value());
  else if (a == "--top-p") gen.top_p = parse_float(a, value());
  else if (a == "--seed") gen.seed = parse_count(a, value());
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
  setenv("GLIMPSE_DUMP", where.c_str(), 1);  // the library writes the named tensors there
}

std::string bundled_model(const char* name) {
  char path[4096];
  const glimpse_status s = glimpse_bundled_model(name, path, sizeof path);
  if (s != GLIMPSE_OK) throw embed::Error(s, glimpse_last_error());
  return path;
}

}  // namespace glimpse::sample
