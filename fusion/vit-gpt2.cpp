#include "fusion/vit-gpt2.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"
#include "runtime/weights.hpp"

namespace glimpse {

VitGpt2Config vit_gpt2_config_load(const std::string& path) {
  const nlohmann::json j = json_load(path);
  return json_read(path, [&] { return vit_gpt2_config_parse(j, path); });
}

VitGpt2Config vit_gpt2_config_parse(const nlohmann::json& j, const std::string& path) {
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
  // Token ids: the top level's win over the decoder section's, which win over GPT2Config's
  // defaults; pad and the decoder start fall back to eos. max_length: the decoder section's here,
  // the top level's and generation_config.json's over it (ModelFolder::max_length).
  json_field(j, "eos_token_id", g.eos, path, 0);
  if (!json_member(j, "pad_token_id") && !json_member(dec, "pad_token_id")) g.pad = g.eos;
  json_field(j, "pad_token_id", g.pad, path, 0);
  c.decoder_start = json_member(dec, "bos_token_id") ? g.bos : g.eos;
  json_field(j, "decoder_start_token_id", c.decoder_start, path, 0);
  json_field(dec, "max_length", c.max_length, path + " decoder");
  for (int id : {g.eos, g.pad, c.decoder_start})
    if (id >= g.vocab) fail(path, ": token id ", id, " is outside the vocabulary (", g.vocab, ")");
  return c;
}


constinit const Family kVitGpt2Family = {
    "vit-gpt2", "VisionEncoderDecoderModel with a vit encoder and a gpt2 decoder: image captioning",
    "nlpconnect/vit-gpt2-image-captioning", Task::Caption,
    [](const ModelFolder& f) { return f.is("vision-encoder-decoder", {}, "vit", "gpt2"); },
    model_make<VitGpt2Captioner>};

VitGpt2Captioner::VitGpt2Captioner(Context& ctx, ModelFolder& folder, const ModelOptions& opt)
    : weights_(ctx, MemoryKind::Device, "model weights") {
  cfg_ = json_read(folder.config_path(), [&] { return vit_gpt2_config_parse(folder.config(), folder.config_path()); });
  cfg_.max_length = folder.max_length(cfg_.max_length, cfg_.decoder.positions);
  pre_ = folder.preprocessor(cfg_.encoder.image_size);
  tok_ = std::make_unique<BytePairTokenizer>(BytePairTokenizer::from_folder(folder.dir()));
  WeightLoader w = folder.loader(ctx, weights_, opt);
  encoder_ = std::make_unique<VitEncoder>(w, cfg_.encoder, VitLayout::HuggingFaceVit, "encoder.");
  decoder_ = std::make_unique<Gpt2Decoder>(w, cfg_.decoder);
  pipeline_ = std::make_unique<EncodeDecode>(ctx, pre_, *encoder_, *decoder_);
  info_ = vision_encoder_decoder_info(
      "vit-gpt2",
      {cfg_.encoder.image_size, cfg_.encoder.hidden, cfg_.encoder.layers, cfg_.decoder.hidden, cfg_.decoder.layers,
       cfg_.decoder.vocab, uint32_t(cfg_.decoder.eos), cfg_.max_length},
      opt.weights);
}

std::vector<CaptionResult> VitGpt2Captioner::caption(const std::vector<Image>& images, const CaptionOptions& opt) {
  caption_no_task(opt, "ViT-GPT2");
  if (!opt.prompt.empty())
    fail(ErrorCode::InvalidArgument, "caption: this model (VisionEncoderDecoder) takes no prompt");
  PipelineRequest rq;
  rq.start = {uint32_t(cfg_.decoder_start)};
  rq.gen = opt.gen;
  rq.keep_tensors = opt.keep_tensors;
  rq.max_len = max_length_of(opt.gen, 1, cfg_.max_length, cfg_.decoder.positions);
  // GPT-2 from decoder_start_token_id over the ViT states (no mask); the text keeps any trailing
  // space, as the image-to-text pipeline does (docs/models/vit-gpt2.md).
  return captions_from(pipeline_->run(images, rq), [&](const std::vector<uint32_t>& ids) { return tok_->decode(ids); });
}

}  // namespace glimpse
