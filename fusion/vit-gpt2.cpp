#include "fusion/vit-gpt2.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"
#include "runtime/weights.hpp"

#include <chrono>
#include <filesystem>
#include <optional>

namespace glimpse {

static VitGpt2Config vit_gpt2_config_read(const std::string& path);

VitGpt2Config vit_gpt2_config_load(const std::string& path) {
  return json_read(path, [&] { return vit_gpt2_config_read(path); });
}

static VitGpt2Config vit_gpt2_config_read(const std::string& path) {
  const nlohmann::json j = json_load(path);
  if (j.value("model_type", "") != "vision-encoder-decoder")
    fail(path, ": model_type '", j.value("model_type", ""), "' is not 'vision-encoder-decoder'");
  const nlohmann::json enc = json_object_field(j, "encoder", path);
  const nlohmann::json dec = json_object_field(j, "decoder", path);
  if (enc.value("model_type", "") != "vit")
    fail(path, ": encoder model_type '", enc.value("model_type", ""), "' is not supported (expected vit)");
  if (dec.value("model_type", "") != "gpt2")
    fail(path, ": decoder model_type '", dec.value("model_type", ""), "' is not supported (expected gpt2)");
  VitGpt2Config c;
  c.encoder = vit_config_parse(enc, path + " encoder", vit_config_defaults());
  c.decoder = gpt2_config_parse(dec, path + " decoder");
  Gpt2Config& g = c.decoder;
  g.encoder_hidden = c.encoder.hidden;
  if (c.encoder.hidden != g.hidden)
    fail(path, ": the encoder is ", c.encoder.hidden, " wide and the decoder ", g.hidden,
         ": that needs enc_to_dec_proj, which glimpse does not support yet");
  // Token ids and max_length: the top level's win over the decoder section's, which win over
  // GPT2Config's defaults; pad and the decoder start fall back to eos.
  auto has = [](const nlohmann::json& o, const char* key) { return o.contains(key) && !o[key].is_null(); };
  json_field(j, "eos_token_id", g.eos, path, 0);
  if (!has(j, "pad_token_id") && !has(dec, "pad_token_id")) g.pad = g.eos;
  json_field(j, "pad_token_id", g.pad, path, 0);
  c.decoder_start = has(dec, "bos_token_id") ? g.bos : g.eos;
  json_field(j, "decoder_start_token_id", c.decoder_start, path, 0);
  json_field(dec, "max_length", c.max_length, path + " decoder");
  json_field(j, "max_length", c.max_length, path);
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
