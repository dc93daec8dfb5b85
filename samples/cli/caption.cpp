// glimpse caption / glimpse vqa: image-to-text with a model folder, one model load for many
// images, on the public C API (glimpse.h) alone.
#include "commands.hpp"
#include "options.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <functional>

namespace glimpse::cli {

namespace {

using sample::UsageError;

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
  glimpse_generate_params gen = glimpse_generate_default_params();
  bool f16 = false, json = false;
  std::vector<std::string> inputs;
};

Request parse(const std::vector<std::string>& args, const char* text_flag, const char* usage, const char* bundled) {
  Request c;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> const std::string& {
      if (i + 1 >= args.size()) throw UsageError(a + " needs a value");
      return args[++i];
    };
    if (sample::parse_generation_flag(args, i, c.gen)) continue;
    if (a == "--model") c.model_dir = value();
    else if (a == text_flag) c.text = value();
    else if (a == "--json") c.json = true;
    else if (a == "--f16") c.f16 = true;
    else if (a == "--dump-tensors") c.dump_dir = value();
    else if (a.size() > 1 && a[0] == '-')
      throw UsageError("unknown option '" + a + "'\n" + usage + sample::kGenerationUsage + kDumpUsage);
    else c.inputs.push_back(a);
  }
  if (c.inputs.empty()) throw UsageError(std::string("no images given\n") + usage);
  if (c.model_dir.empty()) c.model_dir = sample::bundled_model(bundled);
  return c;
}

embed::Model load(const Common& common, const Request& c, glimpse_task task, const char* wrong) {
  glimpse_model_params p = glimpse_model_default_params();
  if (!common.device.empty()) p.device = common.device.c_str();
  p.fp16_weights = c.f16;
  embed::Model model(c.model_dir, p);
  if (model.info().task != task) throw embed::Error(GLIMPSE_ERROR_WRONG_MODEL, c.model_dir + ": " + wrong);
  return model;
}

// One JSON line. File names need not be UTF-8 (Linux allows any bytes): invalid sequences are
// written as U+FFFD instead of ending the batch.
std::string json_line(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

// Runs `one` on every input image; a failure is reported for that image and the rest go on. The
// exit status is 0, or 2 when every failure was the caller's mistake (a bad question or setting),
// else 1.
int for_each_image(const Request& c, const std::function<nlohmann::json(const std::string&)>& one,
                   const std::function<std::string(const nlohmann::json&)>& line) {
  int status = 0;
  for (const std::string& file : sample::expand_inputs(c.inputs)) {
    try {
      sample::dump_dir_for(c.dump_dir, file);
      const nlohmann::json out = one(file);
      if (c.json) std::printf("%s\n", json_line(out).c_str());
      else std::printf("%s: %s\n", file.c_str(), line(out).c_str());
    } catch (const std::exception& e) {
      status = status == 1 ? 1 : sample::exit_status(e);
      if (c.json) std::printf("%s\n", json_line({{"file", file}, {"error", e.what()}}).c_str());
      else if (std::string(e.what()).rfind(file, 0) == 0) std::fprintf(stderr, "glimpse: %s\n", e.what());
      else std::fprintf(stderr, "glimpse: %s: %s\n", file.c_str(), e.what());
    }
    std::fflush(stdout);
  }
  return status;
}

nlohmann::json timings(const embed::Result& r) { return {{"encode_ms", r.encode_ms}, {"decode_ms", r.decode_ms}}; }

}  // namespace

int caption_main(const Common& common, const std::vector<std::string>& args) {
  Request c = parse(args, "--prompt", kCaptionUsage, GLIMPSE_BUNDLED_CAPTION_MODEL);
  const embed::Model model = load(common, c, GLIMPSE_TASK_CAPTION,
                                  "a visual question answering model; use 'glimpse vqa --question ...'");
  embed::Session session(model);
  if (!c.text.empty()) c.gen.prompt = c.text.c_str();
  return for_each_image(
      c,
      [&](const std::string& file) {
        const embed::Result r = session.caption(file, c.gen);
        return nlohmann::json{
            {"file", file}, {"generated_text", r.text}, {"token_ids", r.token_ids}, {"timings", timings(r)}};
      },
      [](const nlohmann::json& out) { return out["generated_text"].get<std::string>(); });
}

int vqa_main(const Common& common, const std::vector<std::string>& args) {
  const Request c = parse(args, "--question", kVqaUsage, GLIMPSE_BUNDLED_VQA_MODEL);
  if (c.text.empty()) throw UsageError(std::string("vqa: --question TEXT is required\n") + kVqaUsage);
  const embed::Model model = load(common, c, GLIMPSE_TASK_ANSWER, "not a visual question answering model; use 'glimpse caption'");
  embed::Session session(model);
  return for_each_image(
      c,
      [&](const std::string& file) {
        const embed::Result r = session.answer(file, c.text, c.gen);
        return nlohmann::json{{"file", file},          {"question", c.text},  {"answer", r.text},
                              {"token_ids", r.token_ids}, {"timings", timings(r)}};
      },
      [](const nlohmann::json& out) { return out["answer"].get<std::string>(); });
}

}  // namespace glimpse::cli
