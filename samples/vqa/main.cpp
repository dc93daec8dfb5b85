// glimpse-vqa: the visual question answering sample. Loads a model and an image once, then
// answers the questions typed at its prompt (line editing and history on a terminal; a script
// of questions can be piped in). Commands: ":image PATH" switches image, ":quit" leaves.
// --show opens a window with the image and the last question and answer; --camera N answers
// about a fresh frame from camera N at every question.
#include "fusion/family.hpp"
#include "runtime/error.hpp"
#include "samples/cli/options.hpp"
#include "samples/vqa/window.hpp"
#include "vision/decode.hpp"

#include <editline/readline.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <string>

namespace {

const char* const kUsage =
    "usage: glimpse-vqa [--model DIR] (--image PATH | --camera N) [--show [--show-save PNG]]\n"
    "                   [--device INDEX|NAME] [generation options]\n"
    "  without --model: the bundled blip-scenes-vqa, which knows only synthetic scenes\n"
    "  then type questions; ':image PATH' switches the image, ':help' lists commands, ':quit' leaves\n";

// One line from the user: editline with history on a terminal, plain lines from a pipe.
std::optional<std::string> read_line(bool interactive) {
  if (interactive) {
    char* line = readline("question> ");
    if (!line) return std::nullopt;
    std::string s(line);
    std::free(line);
    if (!s.empty()) add_history(s.c_str());
    return s;
  }
  std::string s;
  if (!std::getline(std::cin, s)) return std::nullopt;
  return s;
}

int camera_number(const std::string& s) {
  char* end = nullptr;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || !end || *end || v < 0 || v > 255) glimpse::fail("--camera needs a camera index (0, 1, ...), found '", s, "'");
  return int(v);
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace glimpse;
  std::string model_dir, image_path, device, show_save;
  bool show = false;
  int camera_index = -1;
  AnswerOptions opt;
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      auto value = [&]() -> const std::string& {
        if (i + 1 >= args.size()) fail(args[i], " needs a value");
        return args[++i];
      };
      if (cli::parse_generation_flag(args, i, opt.gen)) continue;
      if (args[i] == "--model") model_dir = value();
      else if (args[i] == "--image") image_path = value();
      else if (args[i] == "--device") device = value();
      else if (args[i] == "--show") show = true;
      else if (args[i] == "--show-save") show_save = value();  // also write each shown frame (tests)
      else if (args[i] == "--camera") camera_index = camera_number(value());
      else if (args[i] == "-h" || args[i] == "--help") {
        std::fputs(kUsage, stdout);
        std::fputs(cli::kGenerationUsage, stdout);
        return 0;
      } else fail("unknown option '", args[i], "'\n", kUsage);
    }
    if (image_path.empty() && camera_index < 0) fail("--image (or --camera) is required\n", kUsage);
    if (model_dir.empty()) model_dir = bundled_model_dir(kBundledVqaModel);

    ContextOptions copt;
    copt.device = device;
    Context ctx(copt);
    const std::unique_ptr<Model> model = model_open(ctx, model_dir);
    if (model->info().task != Task::Answer)
      fail(ErrorCode::WrongTask, model_dir, ": not a visual question answering model; use 'glimpse caption'");
    std::unique_ptr<vqa::Camera> camera;
    Image image;
    if (camera_index >= 0) {
      camera = std::make_unique<vqa::Camera>(camera_index);
      image = camera->grab();
      image_path = "camera " + std::to_string(camera_index);
    } else {
      image = image_load(image_path);
    }
    std::unique_ptr<vqa::Window> window;
    if (show) window = std::make_unique<vqa::Window>();
    const bool interactive = isatty(STDIN_FILENO);
    if (interactive) std::printf("glimpse-vqa: %s on %s; ask about %s (:help for commands)\n", model_dir.c_str(),
                                 ctx.info().name.c_str(), image_path.c_str());
    while (const std::optional<std::string> line = read_line(interactive)) {
      const std::string input = trim(*line);
      if (input.empty()) continue;
      if (input == ":quit" || input == ":q") break;
      if (input == ":help") {
        std::printf(":image PATH   answer about another image\n:quit        leave\nanything else is a question\n");
        continue;
      }
      try {
        if (input.rfind(":image", 0) == 0) {
          const std::string path = trim(input.substr(6));
          if (path.empty()) fail(":image needs a path");
          image = image_load(path);  // the old image stays when this one fails
          image_path = path;
          std::printf("image: %s (%dx%d)\n", image_path.c_str(), image.width, image.height);
        } else if (input[0] == ':') {
          fail("unknown command '", input, "' (:help lists them)");
        } else {
          if (camera) image = camera->grab();  // a fresh frame per question
          const AnswerResult r = model->answer({image}, input, opt).at(0);
          std::printf("answer: %s\n", r.text.c_str());
          if (window) window->show(image, input, r.text, show_save);
        }
      } catch (const std::exception& e) {
        std::printf("error: %s\n", e.what());  // a bad question or image does not end the session
      }
      std::fflush(stdout);
    }
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glimpse-vqa: error: %s\n", e.what());
    return 1;
  }
}
