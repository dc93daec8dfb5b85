// glimpse caption: captions images (files or folders) with a BLIP model folder, one model load.
#include "fusion/blip-captioner.hpp"
#include "runtime/error.hpp"
#include "samples/cli/commands.hpp"
#include "vision/decode.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

namespace glimpse::cli {

namespace fs = std::filesystem;

namespace {

const char* const kUsage =
    "usage: glimpse caption --model DIR [--prompt TEXT] [--max-new-tokens N] [--max-length N]\n"
    "                       [--min-length N] [--beams N [--length-penalty X] [--early-stopping]]\n"
    "                       [--sample [--temperature X] [--top-k N] [--top-p X] [--seed N]]\n"
    "                       [--f16] [--json] [--dump-tensors DIR] IMAGE|FOLDER...\n"
    "  --dump-tensors DIR  writes pixel_values, image_embeds, logits_step0 and every layer's\n"
    "                      output as DIR/<image>/<name>.npy, to diff against a reference\n";

bool is_image_name(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return char(std::tolower(c)); });
  for (const char* e : {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".pnm", ".ppm", ".pgm", ".tga"})
    if (ext == e) return true;
  return false;
}

// Files as given; folders expand to their images, sorted.
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

}  // namespace

int caption_main(const Common& common, const std::vector<std::string>& args) {
  std::string model_dir, dump_dir;
  CaptionOptions opt;
  ModelOptions model_opt;
  bool json = false;
  std::vector<std::string> inputs;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) fail(a, " needs a value");
      return args[++i];
    };
    if (a == "--model") model_dir = value();
    else if (a == "--prompt") opt.prompt = value();
    else if (a == "--max-new-tokens") opt.gen.max_new_tokens = parse_count(a, value());
    else if (a == "--max-length") opt.gen.max_length = parse_count(a, value());
    else if (a == "--min-length") opt.gen.min_length = parse_count(a, value());
    else if (a == "--beams") opt.gen.num_beams = parse_count(a, value());
    else if (a == "--length-penalty") opt.gen.length_penalty = parse_float(a, value());
    else if (a == "--early-stopping") opt.gen.early_stopping = true;
    else if (a == "--sample") opt.gen.do_sample = true;
    else if (a == "--temperature") opt.gen.temperature = parse_float(a, value());
    else if (a == "--top-k") opt.gen.top_k = parse_count(a, value());
    else if (a == "--top-p") opt.gen.top_p = parse_float(a, value());
    else if (a == "--seed") opt.gen.seed = uint64_t(parse_count(a, value()));
    else if (a == "--json") json = true;
    else if (a == "--f16") model_opt.weights = DType::F16;
    else if (a == "--dump-tensors") dump_dir = value();
    else if (a.size() > 1 && a[0] == '-') fail("caption: unknown option '", a, "'\n", kUsage);
    else inputs.push_back(a);
  }
  if (model_dir.empty()) fail("caption: --model DIR is required (a Hugging Face BLIP folder)\n", kUsage);
  if (inputs.empty()) fail("caption: no images given\n", kUsage);

  ContextOptions copt;
  copt.device = common.device;
  Context ctx(copt);
  BlipCaptioner model(ctx, model_dir, model_opt);

  int failures = 0;
  for (const std::string& file : expand_inputs(inputs)) {
    try {
      if (!dump_dir.empty()) {  // Sequence::dump writes the named tensors to DIR/<image name>/
        const fs::path where = fs::path(dump_dir) / fs::path(file).filename();
        fs::create_directories(where);
        setenv("GLIMPSE_DUMP", where.c_str(), 1);
      }
      const Image img = image_load(file);
      const CaptionResult r = model.caption({img}, opt).at(0);
      if (json) {
        nlohmann::json out = {{"file", file},
                              {"generated_text", r.text},
                              {"token_ids", r.ids},
                              {"timings", {{"encode_ms", r.encode_ms}, {"decode_ms", r.decode_ms}}}};
        std::printf("%s\n", out.dump().c_str());
      } else {
        std::printf("%s: %s\n", file.c_str(), r.text.c_str());
      }
    } catch (const std::exception& e) {
      ++failures;
      if (json) std::printf("%s\n", nlohmann::json({{"file", file}, {"error", e.what()}}).dump().c_str());
      else if (std::string(e.what()).rfind(file, 0) == 0) std::fprintf(stderr, "glimpse: %s\n", e.what());
      else std::fprintf(stderr, "glimpse: %s: %s\n", file.c_str(), e.what());
    }
    std::fflush(stdout);
  }
  return failures ? 1 : 0;
}

}  // namespace glimpse::cli
