// A Hugging Face model folder, read once for whichever family opens it: config.json,
// generation_config.json, preprocessor_config.json, the tokenizer files and the weights.
#pragma once

#include "fusion/model.hpp"
#include "runtime/safetensors.hpp"
#include "runtime/torch-checkpoint.hpp"
#include "runtime/weights.hpp"
#include "vision/preprocess.hpp"

#include <nlohmann/json.hpp>

#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace glimpse {

// config.json's architectures[0], or "" when it names none; an Error naming `path` when the
// field is not a list of names.
std::string config_architecture(const nlohmann::json& config, const std::string& path);

class ModelFolder {
 public:
  // Reads `dir`/config.json. Errors: ErrorCode::Io when `dir` is not a folder or config.json
  // cannot be read, ErrorCode::Model when it is not a JSON object.
  explicit ModelFolder(const std::string& dir);

  const std::string& dir() const { return dir_; }
  std::string path(const std::string& file) const;  // dir/file
  bool has(const std::string& file) const;

  const nlohmann::json& config() const { return config_; }
  std::string config_path() const { return path("config.json"); }
  const std::string& model_type() const { return model_type_; }      // "" when absent
  const std::string& architecture() const { return architecture_; }  // architectures[0], or ""
  // The model_type of config.json's section `key` (a VisionEncoderDecoder's "encoder"), or "".
  std::string section_type(const char* key) const;
  // Whether config.json says `model_type`, one of `architectures` (any when the list is empty; ""
  // stands for none named) and, when given, the encoder and decoder sections' model types.
  bool is(const char* model_type, std::initializer_list<const char*> architectures = {},
          const char* encoder = nullptr, const char* decoder = nullptr) const;
  // How the folder describes itself in messages: "model_type 'x' (Arch)", with the encoder and
  // decoder types of a vision-encoder-decoder.
  std::string describe() const;

  // generation_config.json, or an empty object when the folder has none.
  const nlohmann::json& generation_config() const { return generation_; }
  // max_length as generate() takes it: generation_config.json's when present, else config.json's
  // top level (GenerationConfig.from_model_config), else `fallback` (the family's own: a section's,
  // or the class default); checked to be in [1, limit].
  int max_length(int fallback, int limit) const;

  // preprocessor_config.json, checked to produce the `image_size` square the encoder takes.
  ImageProcessorConfig preprocessor(int image_size) const;

  // The checkpoint: `opt.tensors` when given, else the folder's safetensors (model.safetensors or
  // its shards), else its pytorch_model.bin (or shards), the names seen through `rules`
  // (RenamedTensors). Valid while the folder lives.
  const TensorSource& weights(const ModelOptions& opt, const std::vector<NameRule>& rules = {});
  // A loader of those weights into `arena`, storing linear weights as opt.weights and reporting
  // opt.progress.
  WeightLoader loader(Context& ctx, Allocator& arena, const ModelOptions& opt, const std::vector<NameRule>& rules = {});

 private:
  std::string dir_;
  nlohmann::json config_, generation_;
  std::string model_type_, architecture_;
  std::optional<SafeTensors> safetensors_;
  std::optional<TorchCheckpoint> torch_;
  std::unique_ptr<RenamedTensors> renamed_;
};

}  // namespace glimpse
