#include "fusion/model-folder.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"

#include <algorithm>
#include <filesystem>

namespace glimpse {

namespace fs = std::filesystem;

std::string config_architecture(const nlohmann::json& config, const std::string& path) {
  const nlohmann::json* arch = json_member(config, "architectures");
  if (!arch || (arch->is_array() && arch->empty())) return "";
  if (!arch->is_array() || !(*arch)[0].is_string())
    fail(path, ": architectures must be a list of class names, found ", arch->dump());
  return (*arch)[0].get<std::string>();
}

ModelFolder::ModelFolder(const std::string& dir) : dir_(dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) fail(ErrorCode::Io, dir, ": not a model folder");
  const std::string cfg = config_path();
  json_read(cfg, [&] {
    config_ = json_load(cfg);
    if (!config_.is_object()) fail(ErrorCode::Model, cfg, ": not a JSON object");
    json_field(config_, "model_type", model_type_, cfg);
    architecture_ = config_architecture(config_, cfg);
    if (has("generation_config.json")) {
      const std::string gen = path("generation_config.json");
      generation_ = json_load(gen);
      if (!generation_.is_object()) fail(ErrorCode::Model, gen, ": not a JSON object");
    } else {
      generation_ = nlohmann::json::object();
    }
  });
}

std::string ModelFolder::path(const std::string& file) const { return (fs::path(dir_) / file).string(); }

bool ModelFolder::has(const std::string& file) const {
  std::error_code ec;
  return fs::is_regular_file(fs::path(dir_) / file, ec);
}

std::string ModelFolder::section_type(const char* key) const {
  const nlohmann::json* section = json_member(config_, key);
  const nlohmann::json* type = section ? json_member(*section, "model_type") : nullptr;
  return type && type->is_string() ? type->get<std::string>() : "";
}

bool ModelFolder::is(const char* model_type, std::initializer_list<const char*> architectures, const char* encoder,
                     const char* decoder) const {
  if (model_type_ != model_type) return false;
  if (architectures.size() &&
      std::none_of(architectures.begin(), architectures.end(), [&](const char* a) { return architecture_ == a; }))
    return false;
  return (!encoder || section_type("encoder") == encoder) && (!decoder || section_type("decoder") == decoder);
}

std::string ModelFolder::describe() const {
  std::string s = "model_type '" + model_type_ + "'";
  if (!architecture_.empty()) s += " (" + architecture_ + ")";
  if (model_type_ == "vision-encoder-decoder")
    s += " with encoder '" + section_type("encoder") + "' and decoder '" + section_type("decoder") + "'";
  return s;
}

int ModelFolder::max_length(int fallback, int limit) const {
  int v = fallback;
  json_field(config_, "max_length", v, config_path(), 1, limit);
  json_field(generation_, "max_length", v, path("generation_config.json"), 1, limit);
  return v;
}

ImageProcessorConfig ModelFolder::preprocessor(int image_size) const {
  const ImageProcessorConfig pre = image_processor_load(path("preprocessor_config.json"));
  if (pre.width != image_size || pre.height != image_size)
    fail(dir_, ": preprocessor size ", pre.width, "x", pre.height, " does not match the encoder's image_size ",
         image_size);
  return pre;
}

WeightLoader ModelFolder::loader(Context& ctx, Allocator& arena, const ModelOptions& opt,
                                 const std::vector<NameRule>& rules) {
  WeightLoader w(ctx, arena, weights(opt, rules), opt.weights);
  w.progress = opt.progress;
  return w;
}

const TensorSource& ModelFolder::weights(const ModelOptions& opt, const std::vector<NameRule>& rules) {
  const TensorSource* source = opt.tensors;
  if (!source) {
    // safetensors when the folder has them; else a PyTorch checkpoint (pytorch_model.bin), read by
    // the restricted unpickler (runtime/torch-checkpoint.hpp)
    if (!has("model.safetensors") && !has("model.safetensors.index.json") && torch_checkpoint_present(dir_)) {
      if (!torch_) torch_.emplace(TorchCheckpoint::open(dir_));
      source = &*torch_;
    } else {
      if (!safetensors_) safetensors_.emplace(SafeTensors::open(dir_));
      source = &*safetensors_;
    }
  }
  if (rules.empty()) return *source;
  renamed_ = std::make_unique<RenamedTensors>(*source, rules);
  return *renamed_;
}

}  // namespace glimpse
