// glimpse-vqa: the visual question answering sample. Loads a model and an image once, then
// answers the questions typed at its prompt (line editing and history on a terminal; a script
// of questions can be piped in). Commands: ":image PATH" switches image, ":quit" leaves.
// --show opens a window with the image and the last question and answer; --camera N answers
// about a fresh frame from camera N at every question.
#include "options.hpp"
#include "window.hpp"

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
  if (s.empty() || !end || *end || v < 0 || v > 255)
    throw glimpse::sample::UsageError("--camera needs a camera index (0, 1, ...), found '" + s + "'");
  return int(v);
}

// An image file decoded as the model will see it (glimpse_image_decode).
glimpse::vqa::Frame image_load(const std::string& path) {
  const glimpse_image image = glimpse_image_from_path(path.c_str());
  glimpse_pixels px{};
  if (const glimpse_status s = glimpse_image_decode(&image, &px); s != GLIMPSE_OK)
    throw glimpse::embed::Error(s, glimpse_last_error());
  glimpse::vqa::Frame f;
  f.rgb.assign(px.rgb, px.rgb + size_t(px.width) * px.height * 3);
  f.width = int(px.width);
  f.height = int(px.height);
  glimpse_pixels_free(&px);
  return f;
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t\r\n"), b = s.find_last_not_of(" \t\r\n");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

}  // namespace

int main(int argc, char** argv) {
  using namespace glimpse;
  using sample::UsageError;
  std::string model_dir, image_path, device, show_save;
  bool show = false;
  int camera_index = -1;
  glimpse_generate_params gen = glimpse_generate_default_params();
  const std::vector<std::string> args(argv + 1, argv + argc);
  try {
    for (size_t i = 0; i < args.size(); ++i) {
      auto value = [&]() -> const std::string& {
        if (i + 1 >= args.size()) throw UsageError(args[i] + " needs a value");
        return args[++i];
      };
      if (sample::parse_generation_flag(args, i, gen)) continue;
      if (args[i] == "--model") model_dir = value();
      else if (args[i] == "--image") image_path = value();
      else if (args[i] == "--device") device = value();
      else if (args[i] == "--show") show = true;
      else if (args[i] == "--show-save") show_save = value();  // also write each shown frame (tests)
      else if (args[i] == "--camera") camera_index = camera_number(value());
      else if (args[i] == "-h" || args[i] == "--help") {
        std::fputs(kUsage, stdout);
        std::fputs(sample::kGenerationUsage, stdout);
        return 0;
      } else throw UsageError("unknown option '" + args[i] + "'\n" + kUsage);
    }
    if (image_path.empty() && camera_index < 0) throw UsageError(std::string("--image (or --camera) is required\n") + kUsage);
    if (model_dir.empty()) model_dir = sample::bundled_model(GLIMPSE_BUNDLED_VQA_MODEL);

    glimpse_model_params params = glimpse_model_default_params();
    if (!device.empty()) params.device = device.c_str();
    const embed::Model model(model_dir, params);
    const glimpse_model_info info = model.info();
    if (info.task != GLIMPSE_TASK_ANSWER)
      throw embed::Error(GLIMPSE_ERROR_WRONG_MODEL, model_dir + ": not a visual question answering model; use 'glimpse caption'");
    embed::Session session(model);
    std::unique_ptr<vqa::Camera> camera;
    vqa::Frame image;
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
                                 info.device, image_path.c_str());
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
          if (path.empty()) throw UsageError(":image needs a path");
          image = image_load(path);  // the old image stays when this one fails
          image_path = path;
          std::printf("image: %s (%dx%d)\n", image_path.c_str(), image.width, image.height);
        } else if (input[0] == ':') {
          throw UsageError("unknown command '" + input + "' (:help lists them)");
        } else {
          if (camera) image = camera->grab();  // a fresh frame per question
          const glimpse_image pixels = glimpse_image_from_pixels(image.rgb.data(), uint32_t(image.width),
                                                                 uint32_t(image.height), 0, GLIMPSE_PIXELS_RGB8);
          const embed::Result r = session.answer(pixels, input, gen);
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
    return sample::exit_status(e);
  }
}
