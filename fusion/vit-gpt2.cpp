#include "fusion/vit-gpt2.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"
#include "runtime/weights.hpp"

#include <chrono>
#include <filesystem>
#include <optional>

namespace glimpse {

namespace {

int get_int(const nlohmann::json& j, const char* key, int fallback, const std::string& where) {
  if (!j.contains(key) || j[key].is_null()) return fallback;
  if (!j[key].is_number_integer() || j[key].get<int64_t>() <= 0 || j[key].get<int64_t>() > (1 << 24))
    fail(where, ": ", key, " must be a positive integer, found ", j[key].dump());
  return j[key].get<int>();
}

}  // namespace

static VitGpt2Config vit_gpt2_config_read(const std::string& path);

VitGpt2Config vit_gpt2_config_load(const std::string& path) {
  return json_read(path, [&] { return vit_gpt2_config_read(path); });
}

static VitGpt2Config vit_gpt2_config_read(const std::string& path) {
  const nlohmann::json j = json_load(path);
  if (j.value("model_type", "") != "vision-encoder-decoder")
    fail(path, ": model_type '", j.value("model_type", ""), "' is not 'vision-encoder-decoder'");
  const nlohmann::json enc = j.value("encoder", nlohmann::json::object());
  const nlohmann::json dec = j.value("decoder", nlohmann::json::object());
  if (enc.value("model_type", "") != "vit")
    fail(path, ": encoder model_type '", enc.value("model_type", ""), "' is not supported (expected vit)");
  if (dec.value("model_type", "") != "gpt2")
    fail(path, ": decoder model_type '", dec.value("model_type", ""), "' is not supported (expected gpt2)");
  VitGpt2Config c;
  const std::string ew = path + " encoder", dw = path + " decoder";
  c.encoder.hidden = get_int(enc, "hidden_size", 768, ew);
  c.encoder.intermediate = get_int(enc, "intermediate_size", 3072, ew);
  c.encoder.layers = get_int(enc, "num_hidden_layers", 12, ew);
  c.encoder.heads = get_int(enc, "num_attention_heads", 12, ew);
  c.encoder.image_size = get_int(enc, "image_size", 224, ew);
  c.encoder.patch = get_int(enc, "patch_size", 16, ew);
  c.encoder.eps = enc.value("layer_norm_eps", 1e-12f);
  if (enc.value("hidden_act", "gelu") != "gelu") fail(ew, ": hidden_act must be gelu");
  if (c.encoder.hidden % c.encoder.heads || (c.encoder.hidden / c.encoder.heads) % 8)
    fail(ew, ": ", c.encoder.heads, " heads of ", c.encoder.hidden, " do not give a head size that is a multiple of 8");
  if (c.encoder.image_size % c.encoder.patch) fail(ew, ": image_size is not a multiple of patch_size");
  Gpt2Config& g = c.decoder;
  g.vocab = get_int(dec, "vocab_size", 50257, dw);
  g.hidden = get_int(dec, "n_embd", 768, dw);
  g.layers = get_int(dec, "n_layer", 12, dw);
  g.heads = get_int(dec, "n_head", 12, dw);
  g.inner = get_int(dec, "n_inner", 4 * g.hidden, dw);
  g.positions = get_int(dec, "n_positions", 1024, dw);
  g.eps = dec.value("layer_norm_epsilon", 1e-5f);
  g.encoder_hidden = c.encoder.hidden;
  if (dec.value("activation_function", "gelu_new") != "gelu_new")
    fail(dw, ": activation_function '", dec.value("activation_function", ""), "' is not supported (gelu_new)");
  if (!dec.value("add_cross_attention", false)) fail(dw, ": add_cross_attention must be true");
  if (g.hidden % g.heads || (g.hidden / g.heads) % 8)
    fail(dw, ": ", g.heads, " heads of ", g.hidden, " do not give a head size that is a multiple of 8");
  if (c.encoder.hidden != g.hidden)
    fail(path, ": the encoder is ", c.encoder.hidden, " wide and the decoder ", g.hidden,
         ": that needs enc_to_dec_proj, which glimpse does not support yet");
  g.eos = get_int(j, "eos_token_id", get_int(dec, "eos_token_id", 50256, dw), path);
  g.pad = get_int(j, "pad_token_id", get_int(dec, "pad_token_id", g.eos, dw), path);
  c.decoder_start = get_int(j, "decoder_start_token_id", get_int(dec, "bos_token_id", g.eos, dw), path);
  c.max_length = get_int(j, "max_length", get_int(dec, "max_length", 20, dw), path);
  for (int id : {g.eos, g.pad, c.decoder_start})
    if (id >= g.vocab) fail(path, ": token id ", id, " is outside the vocabulary (", g.vocab, ")");
  return c;
}

VitGpt2Captioner::VitGpt2Captioner(Context& ctx, const std::string& dir, const ModelOptions& opt,
                                   const TensorSource* weights)
    : ctx_(ctx), weights_(ctx, MemoryKind::Device, "model weights") {
  namespace fs = std::filesystem;
  const fs::path d(dir);
  if (!fs::is_directory(d)) fail(dir, ": not a model folder");
  cfg_ = vit_gpt2_config_load((d / "config.json").string());
  pre_ = image_processor_load((d / "preprocessor_config.json").string());
  if (pre_.width != cfg_.encoder.image_size || pre_.height != cfg_.encoder.image_size)
    fail(dir, ": preprocessor size ", pre_.width, "x", pre_.height, " does not match the encoder's image_size ",
         cfg_.encoder.image_size);
  tok_ = std::make_unique<BytePairTokenizer>(BytePairTokenizer::from_folder(dir));
  std::optional<SafeTensors> from_dir;
  if (!weights) weights = &from_dir.emplace(SafeTensors::open(dir));
  WeightLoader w(ctx, weights_, *weights, opt.weights);
  w.progress = opt.progress;
  encoder_ = std::make_unique<VitEncoder>(w, cfg_.encoder, VitLayout::HuggingFaceVit, "encoder.");
  decoder_ = std::make_unique<Gpt2Decoder>(w, cfg_.decoder);
}

std::vector<CaptionResult> VitGpt2Captioner::caption(const std::vector<Image>& images, const CaptionOptions& opt) {
  if (!opt.prompt.empty()) fail("caption: this model (VisionEncoderDecoder) takes no prompt");
  const int64_t max_len = opt.gen.max_new_tokens > 0 ? 1 + opt.gen.max_new_tokens
                          : opt.gen.max_length > 0  ? opt.gen.max_length
                                                    : cfg_.max_length;
  // GPT-2 from decoder_start_token_id over the ViT states (no mask); the text keeps any trailing
  // space, as the image-to-text pipeline does (§3.6).
  return caption_images(ctx_, pre_, *encoder_, *decoder_, images, {uint32_t(cfg_.decoder_start)}, max_len, opt,
                        [&](const std::vector<uint32_t>& ids) { return tok_->decode(ids); }, &encoder_pass_);
}

}  // namespace glimpse
