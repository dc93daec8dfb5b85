// glimpse caption / glimpse vqa: image-to-text with a model folder, one model load for many
// images, on the public C API (glimpse.h) alone.
#include "commands.hpp"
#include "draw.hpp"
#include "options.hpp"

#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <functional>

namespace glimpse::cli {

namespace {

using sample::UsageError;

const char* const kCaptionUsage =
    "usage: glimpse caption [--model DIR] [--prompt TEXT] [--task TASK [--text TEXT]] [generation] [--f16] [--json]\n"
    "                       [--draw OUT.png|FOLDER] [--dump-tensors DIR] IMAGE|FOLDER...\n"
    "  without --model: the bundled blip-scenes-caption, which knows only synthetic scenes (models/README.md)\n"
    "  --task, --text (Florence-2): the task token, default <CAPTION>; <OCR>, <OD>, <DENSE_REGION_CAPTION>, ...;\n"
    "                  --text for the tasks that take one (<CAPTION_TO_PHRASE_GROUNDING>, <REGION_TO_*>, ...)\n"
    "  --draw: the image with the answer's boxes, quads and polygons (a file for one image, else a folder)\n";
const char* const kVqaUsage =
    "usage: glimpse vqa [--model DIR] --question TEXT [generation] [--f16] [--json] [--dump-tensors DIR]\n"
    "                   IMAGE|FOLDER...\n"
    "  without --model: the bundled blip-scenes-vqa, which knows only synthetic scenes (models/README.md)\n";
const char* const kDumpUsage =
    "  --dump-tensors DIR  writes pixel_values, image_embeds, logits_step0, ... as DIR/<image>/<name>.npy\n";

struct Request {
  std::string model_dir, dump_dir, text;  // text: the prompt or the question
  std::string task, task_text, draw;      // caption only
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
    else if (a == "--task" && text_flag == std::string("--prompt")) c.task = value();
    else if (a == "--text" && text_flag == std::string("--prompt")) c.task_text = value();
    else if (a == "--draw" && text_flag == std::string("--prompt")) c.draw = value();
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

namespace {

// A task's answer for people: a text answer as it is; otherwise one line per instance, its label and
// coordinates (rounded to 0.1 px).
std::string readable(const nlohmann::json& answer) {
  if (answer.is_string()) return answer.get<std::string>();
  std::string out;
  for (const AnswerShape& s : answer_shapes(answer)) {
    std::string rings;
    for (const std::vector<double>& ring : s.rings) {
      std::string xy;
      for (double v : ring) {
        char b[32];
        std::snprintf(b, sizeof b, "%.1f", v);
        xy += (xy.empty() ? "" : ", ") + std::string(b);
      }
      rings += (rings.empty() ? "" : " ") + ("[" + xy + "]");
    }
    out += "\n  " + (s.label.empty() ? std::string("(no label)") : s.label) + ": " + rings;
  }
  return out.empty() ? "\n  (nothing found)" : out;
}

std::string draw_path(const Request& c, const std::string& file, size_t inputs) {
  namespace fs = std::filesystem;
  const bool folder = inputs > 1 || fs::is_directory(c.draw) || (!c.draw.empty() && c.draw.back() == '/');
  if (!folder) return c.draw;
  fs::create_directories(c.draw);
  return (fs::path(c.draw) / (fs::path(file).stem().string() + ".png")).string();
}

}  // namespace

int caption_main(const Common& common, const std::vector<std::string>& args) {
  Request c = parse(args, "--prompt", kCaptionUsage, GLIMPSE_BUNDLED_CAPTION_MODEL);
  const embed::Model model = load(common, c, GLIMPSE_TASK_CAPTION,
                                  "a visual question answering model; use 'glimpse vqa --question ...'");
  embed::Session session(model);
  if (!c.text.empty()) c.gen.prompt = c.text.c_str();
  if (!c.task.empty()) c.gen.task = c.task.c_str();
  if (!c.task_text.empty()) c.gen.task_text = c.task_text.c_str();
  const size_t inputs = sample::expand_inputs(c.inputs).size();
  return for_each_image(
      c,
      [&](const std::string& file) {
        const embed::Result r = session.caption(file, c.gen);
        if (r.result_json.empty()) {
          if (!c.draw.empty()) throw embed::Error(GLIMPSE_ERROR_INVALID_ARGUMENT, "--draw needs a model with tasks (Florence-2)");
          return nlohmann::json{
              {"file", file}, {"generated_text", r.text}, {"token_ids", r.token_ids}, {"timings", timings(r)}};
        }
        // Florence-2: the generated text with its special tokens, and post_process_generation's result
        const nlohmann::json task = nlohmann::json::parse(r.result_json);
        const nlohmann::json& answer_of = task["result"];  // {task: answer}
        const nlohmann::json& answer = answer_of.begin().value();
        if (!c.draw.empty()) {
          glimpse_pixels px{};
          const glimpse_image img = glimpse_image_from_path(file.c_str());
          if (const glimpse_status s = glimpse_image_decode(&img, &px); s != GLIMPSE_OK) throw embed::Error(s, glimpse_last_error());
          Rgb im;
          im.width = int(px.width), im.height = int(px.height);
          im.pixels.assign(px.rgb, px.rgb + size_t(px.width) * px.height * 3);
          glimpse_pixels_free(&px);
          draw_answer(im, answer);
          write_png(draw_path(c, file, inputs), im);
        }
        nlohmann::json out = {{"file", file}, {"task", task["task"]}, {"generated_text", task["generated_text"]},
                              {"token_ids", r.token_ids}, {"result", answer_of}};
        out["text"] = (answer.is_string() ? "" : task["task"].get<std::string>()) + readable(answer);
        out["timings"] = timings(r);
        return out;
      },
      [](const nlohmann::json& out) {
        return out.contains("text") ? out["text"].get<std::string>() : out["generated_text"].get<std::string>();
      });
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
