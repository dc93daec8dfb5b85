#include "fusion/registry.hpp"

#include "fusion/blip-captioner.hpp"
#include "fusion/vit-gpt2.hpp"
#include "runtime/error.hpp"
#include "runtime/json-file.hpp"

#include <cstdlib>
#include <filesystem>
#include <vector>

namespace glimpse {

namespace {
const char* const kSupported =
    "supported: BlipForConditionalGeneration and BlipForQuestionAnswering (model_type blip), "
    "VisionEncoderDecoderModel with a vit encoder and a gpt2 decoder";
}

static ModelKind model_kind_read(const std::string& path);

ModelKind model_kind(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "config.json").string();
  return json_read(path, [&] { return model_kind_read(path); });
}

static ModelKind model_kind_read(const std::string& path) {
  const nlohmann::json j = json_load(path);
  const std::string type = j.is_object() ? j.value("model_type", "") : "";
  std::string arch;
  if (j.is_object() && j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty() &&
      j["architectures"][0].is_string())
    arch = j["architectures"][0].get<std::string>();
  if (type == "blip") {
    if (arch == "BlipForQuestionAnswering") return ModelKind::BlipVqa;
    if (arch.empty() || arch == "BlipForConditionalGeneration") return ModelKind::BlipCaption;
  }
  if (type == "vision-encoder-decoder") {
    const auto enc = j.value("encoder", nlohmann::json::object()), dec = j.value("decoder", nlohmann::json::object());
    if (enc.value("model_type", "") == "vit" && dec.value("model_type", "") == "gpt2") return ModelKind::VitGpt2;
    fail(path, ": a vision-encoder-decoder with encoder '", enc.value("model_type", "?"), "' and decoder '",
         dec.value("model_type", "?"), "' is not supported; ", kSupported);
  }
  fail(path, ": model_type '", type, "'", arch.empty() ? "" : " (" + arch + ")", " is not supported; ", kSupported);
}

std::unique_ptr<Captioner> captioner_open(Context& ctx, const std::string& dir, const ModelOptions& opt) {
  switch (model_kind(dir)) {
    case ModelKind::BlipCaption: return std::make_unique<BlipCaptioner>(ctx, dir, opt);
    case ModelKind::VitGpt2: return std::make_unique<VitGpt2Captioner>(ctx, dir, opt);
    case ModelKind::BlipVqa: fail(dir, ": a visual question answering model; use 'glimpse vqa --question ...'");
  }
  fail(dir, ": unknown model kind");
}

std::unique_ptr<BlipVqa> vqa_open(Context& ctx, const std::string& dir, const ModelOptions& opt) {
  if (model_kind(dir) != ModelKind::BlipVqa)
    fail(dir, ": not a visual question answering model (BlipForQuestionAnswering); use 'glimpse caption'");
  return std::make_unique<BlipVqa>(ctx, dir, opt);
}

std::string bundled_model_dir(const std::string& name) {
  namespace fs = std::filesystem;
  std::vector<std::string> places;
  if (const char* env = std::getenv("GLIMPSE_MODELS_DIR"); env && *env) places.emplace_back(env);
#ifdef GLIMPSE_SOURCE_MODELS_DIR
  places.emplace_back(GLIMPSE_SOURCE_MODELS_DIR);
#endif
#ifdef GLIMPSE_INSTALL_MODELS_DIR
  places.emplace_back(GLIMPSE_INSTALL_MODELS_DIR);
#endif
  std::string tried;
  for (const std::string& p : places) {
    const fs::path dir = fs::path(p) / name;
    std::error_code ec;
    if (fs::is_regular_file(dir / "config.json", ec)) return dir.string();
    tried += (tried.empty() ? "" : ", ") + dir.string();
  }
  fail("the bundled model ", name, " is not in ", tried.empty() ? std::string("any known place") : tried,
       "; set GLIMPSE_MODELS_DIR or pass --model DIR");
}

}  // namespace glimpse
