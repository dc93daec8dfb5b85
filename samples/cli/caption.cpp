// glimpse caption / glimpse vqa: image-to-text with a model folder, one model load for many images.
#include "fusion/family.hpp"
#include "runtime/error.hpp"
#include "commands.hpp"
#include "options.hpp"
#include "vision/decode.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <functional>

namespace glimpse::cli {

namespace {

const char* const kCaptionUsage =
    "usage: glimpse caption [--model DIR] [--prompt TEXT] [generation] [--f16] [--json] [--dump-tensors DIR]\n"
    "                       IMAGE|FOLDER...\n"
    "  without --model: the bundled blip-scenes-caption, which knows only synthetic scenes (models/README.md)\n";
const char* const kVqaUsage =
    "usage: glimpse vqa [--model DIR] --question TEXT [generation] [--f16] [--json] [--dump-tensors DIR]\n"
    "                   IMAGE|FOLDER...\n"
    "  without --model: the bundled blip-scenes-vqa, which knows only synthetic scenes (models/README.md)\n";
const char* const kDumpUsage =
    "  --dump-tensors DIR  writes pixel_values, image_embeds, logits_step0, ... as DIR/<image>/<name>.npy\n";

struct Request {
  std::string model_dir, dump_dir, text;  // text: the prompt or the question
  GenerationConfig gen{0};
  ModelOptions model;
  bool json = false;
  std::vector<std::string> inputs;
};

Request parse(const std::vector<std::string>& args, const char* text_flag, const char* usage, const char* bundled) {
  Request c;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) fail(a, " needs a value");
      return args[++i];
    };
    if (parse_generation_flag(args, i, c.gen)) continue;
    if (a == "--model") c.model_dir = value();
    else if (a == text_flag) c.text = value();
    else if (a == "--json") c.json = true;
    else if (a == "--f16") c.model.weights = DType::F16;
    else if (a == "--dump-tensors") c.dump_dir = value();
    else if (a.size() > 1 && a[0] == '-') fail("unknown option '", a, "'\n", usage, kGenerationUsage, kDumpUsage);
    else c.inputs.push_back(a);
  }
  if (c.inputs.empty()) fail("no images given\n", usage);
  if (c.model_dir.empty()) c.model_dir = bundled_model_dir(bundled);
  return c;
}

// Runs `one` on every input image; a failure is reported for that image and the rest go on.
int for_each_image(const Request& c, const std::function<nlohmann::json(const std::string&, const Image&)>& one,
                   const std::function<std::string(const nlohmann::json&)>& line) {
  int failures = 0;
  for (const std::string& file : expand_inputs(c.inputs)) {
    try {
      dump_dir_for(c.dump_dir, file);
      const nlohmann::json out = one(file, image_load(file));
      if (c.json) std::printf("%s\n", out.dump().c_str());
      else std::printf("%s: %s\n", file.c_str(), line(out).c_str());
    } catch (const std::exception& e) {
      ++failures;
      if (c.json) std::printf("%s\n", nlohmann::json({{"file", file}, {"error", e.what()}}).dump().c_str());
      else if (std::string(e.what()).rfind(file, 0) == 0) std::fprintf(stderr, "glimpse: %s\n", e.what());
      else std::fprintf(stderr, "glimpse: %s: %s\n", file.c_str(), e.what());
    }
    std::fflush(stdout);
  }
  return failures ? 1 : 0;
}

}  // namespace

int caption_main(const Common& common, const std::vector<std::string>& args) {
  const Request c = parse(args, "--prompt", kCaptionUsage, kBundledCaptionModel);
  ContextOptions copt;
  copt.device = common.device;
  Context ctx(copt);
  const std::unique_ptr<Model> model = model_open(ctx, c.model_dir, c.model);
  if (model->info().task != Task::Caption)
    fail(ErrorCode::WrongTask, c.model_dir, ": a visual question answering model; use 'glimpse vqa --question ...'");
  CaptionOptions opt;
  opt.prompt = c.text;
  opt.gen = c.gen;
  return for_each_image(
      c,
      [&](const std::string& file, const Image& img) {
        const CaptionResult r = model->caption({img}, opt).at(0);
        return nlohmann::json{{"file", file},
                              {"generated_text", r.text},
                              {"token_ids", r.ids},
                              {"timings", {{"encode_ms", r.timings.encode_ms}, {"decode_ms", r.timings.decode_ms}}}};
      },
      [](const nlohmann::json& out) { return out["generated_text"].get<std::string>(); });
}

int vqa_main(const Common& common, const std::vector<std::string>& args) {
  const Request c = parse(args, "--question", kVqaUsage, kBundledVqaModel);
  if (c.text.empty()) fail("vqa: --question TEXT is required\n", kVqaUsage);
  ContextOptions copt;
  copt.device = common.device;
  Context ctx(copt);
  const std::unique_ptr<Model> model = model_open(ctx, c.model_dir, c.model);
  if (model->info().task != Task::Answer)
    fail(ErrorCode::WrongTask, c.model_dir, ": not a visual question answering model; use 'glimpse caption'");
  AnswerOptions opt;
  opt.gen = c.gen;
  return for_each_image(
      c,
      [&](const std::string& file, const Image& img) {
        const AnswerResult r = model->answer({img}, c.text, opt).at(0);
        return nlohmann::json{{"file", file},
                              {"question", c.text},
                              {"answer", r.text},
                              {"token_ids", r.ids},
                              {"timings", {{"encode_ms", r.timings.encode_ms}, {"decode_ms", r.timings.decode_ms}}}};
      },
      [](const nlohmann::json& out) { return out["answer"].get<std::string>(); });
}

}  // namespace glimpse::cli
