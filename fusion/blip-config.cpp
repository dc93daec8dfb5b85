#include "fusion/blip-config.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

namespace glimpse {

namespace {

using json = nlohmann::json;

// Overlays an integer field, checking it is a sane positive size.
void int_field(const json& j, const char* key, int& value, const std::string& where, int lo = 1, int hi = 1 << 24) {
  if (!j.contains(key)) return;
  if (!j[key].is_number_integer()) fail(where, ": ", key, " must be an integer, found ", j[key].dump());
  const int64_t v = j[key].get<int64_t>();
  if (v < lo || v > hi) fail(where, ": ", key, " = ", v, " is out of range [", lo, ", ", hi, "]");
  value = int(v);
}

void float_field(const json& j, const char* key, float& value, const std::string& where) {
  if (!j.contains(key)) return;
  if (!j[key].is_number()) fail(where, ": ", key, " must be a number, found ", j[key].dump());
  value = j[key].get<float>();
  if (!(value > 0 && value < 1)) fail(where, ": ", key, " = ", value, " is not a usable epsilon");
}

void check_act(const json& j, const std::string& where) {
  if (j.contains("hidden_act") && j["hidden_act"] != "gelu")
    fail(where, ": hidden_act ", j["hidden_act"].dump(), " is not supported (BLIP uses \"gelu\")");
}

void check_heads(int hidden, int heads, const std::string& where) {
  if (hidden % heads) fail(where, ": num_attention_heads ", heads, " does not divide hidden_size ", hidden);
  const int dh = hidden / heads;
  if (dh % 8 || dh > 128)
    fail(where, ": head size ", dh, " (hidden_size ", hidden, " / ", heads, " heads) is not supported: glimpse's attention "
         "needs a multiple of 8 up to 128");
}

}  // namespace

static BlipConfig blip_config_read(const std::string& path);

BlipConfig blip_config_load(const std::string& path) {
  return json_read(path, [&] { return blip_config_read(path); });
}

static BlipConfig blip_config_read(const std::string& path) {
  const json j = json_load(path);
  if (!j.is_object()) fail(path, ": not a JSON object");
  BlipConfig c;
  if (j.contains("architectures") && j["architectures"].is_array() && !j["architectures"].empty())
    c.architecture = j["architectures"][0].get<std::string>();
  const std::string model_type = j.value("model_type", "");
  if (model_type != "blip") fail(path, ": model_type '", model_type, "' is not 'blip'");

  const json vj = j.value("vision_config", json::object());
  const std::string vw = path + " vision_config";
  int_field(vj, "hidden_size", c.vision.hidden, vw);
  int_field(vj, "intermediate_size", c.vision.intermediate, vw);
  int_field(vj, "num_hidden_layers", c.vision.layers, vw, 1, 256);
  int_field(vj, "num_attention_heads", c.vision.heads, vw, 1, 1024);
  int_field(vj, "image_size", c.vision.image_size, vw, 1, 8192);
  int_field(vj, "patch_size", c.vision.patch, vw, 1, 1024);
  float_field(vj, "layer_norm_eps", c.vision.eps, vw);
  check_act(vj, vw);
  check_heads(c.vision.hidden, c.vision.heads, vw);
  if (c.vision.image_size % c.vision.patch)
    fail(vw, ": image_size ", c.vision.image_size, " is not a multiple of patch_size ", c.vision.patch);

  const json tj = j.value("text_config", json::object());
  const std::string tw = path + " text_config";
  int_field(tj, "vocab_size", c.text.vocab, tw);
  int_field(tj, "hidden_size", c.text.hidden, tw);
  int_field(tj, "encoder_hidden_size", c.text.encoder_hidden, tw);
  int_field(tj, "intermediate_size", c.text.intermediate, tw);
  int_field(tj, "num_hidden_layers", c.text.layers, tw, 1, 256);
  int_field(tj, "num_attention_heads", c.text.heads, tw, 1, 1024);
  int_field(tj, "max_position_embeddings", c.text.max_positions, tw, 2, 1 << 20);
  float_field(tj, "layer_norm_eps", c.text.eps, tw);
  int_field(tj, "bos_token_id", c.text.bos, tw, 0);
  int_field(tj, "sep_token_id", c.text.sep, tw, 0);
  int_field(tj, "pad_token_id", c.text.pad, tw, 0);
  int_field(tj, "eos_token_id", c.text.eos, tw, 0);
  check_act(tj, tw);
  check_heads(c.text.hidden, c.text.heads, tw);
  for (auto [name, id] : {std::pair{"bos_token_id", c.text.bos}, {"sep_token_id", c.text.sep}, {"pad_token_id", c.text.pad}})
    if (id >= c.text.vocab) fail(tw, ": ", name, " ", id, " is outside the vocabulary (vocab_size ", c.text.vocab, ")");
  int_field(j, "max_length", c.max_length, path, 1, c.text.max_positions);
  return c;
}

BlipFolder blip_folder_open(const std::string& dir, const std::string& architecture) {
  namespace fs = std::filesystem;
  const fs::path d(dir);
  if (!fs::is_directory(d)) fail(dir, ": not a model folder");
  BlipFolder f;
  f.config = blip_config_load((d / "config.json").string());
  if (!f.config.architecture.empty() && f.config.architecture != architecture)
    fail(dir, ": architecture ", f.config.architecture, " is not ", architecture);
  f.preprocessor = image_processor_load((d / "preprocessor_config.json").string());
  if (f.preprocessor.width != f.config.vision.image_size || f.preprocessor.height != f.config.vision.image_size)
    fail(dir, ": preprocessor size ", f.preprocessor.width, "x", f.preprocessor.height,
         " does not match the vision image_size ", f.config.vision.image_size);
  f.tokenizer = std::make_unique<WordPiece>(fs::exists(d / "tokenizer.json")
                                                ? WordPiece::from_tokenizer_json((d / "tokenizer.json").string())
                                                : WordPiece::from_vocab_txt((d / "vocab.txt").string()));
  return f;
}

}  // namespace glimpse
