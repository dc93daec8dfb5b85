#include "fusion/trocr.hpp"

#include "runtime/error.hpp"
#include "runtime/json-file.hpp"
#include "text/bpe.hpp"
#include "text/sentencepiece.hpp"

namespace glimpse {

namespace {

// A token id generate() takes from generation_config.json, else config.json's top level, else the
// decoder section (GenerationConfig.from_model_config copies the decoder's values only where the
// top level left them unset), else `fallback`.
int generation_id(const nlohmann::json& generation, const nlohmann::json& top, const nlohmann::json& dec,
                  const char* key, int fallback, const std::string& path) {
  int v = fallback;
  json_field(dec, key, v, path + " decoder", 0);
  json_field(top, key, v, path, 0);
  if (const auto it = generation.find(key); it != generation.end() && it->is_array()) {
    if (it->size() != 1 || !it->at(0).is_number_integer())  // glimpse stops at one eos id
      fail(path, ": generation_config.json ", key, " must be one id, found ", it->dump());
    v = it->at(0).get<int>();
  } else {
    json_field(generation, key, v, "generation_config.json", 0);
  }
  return v;
}

// RoBERTa's BPE (vocab.json + merges.txt, or a BPE tokenizer.json: base, large) or XLM-R's
// SentencePiece (sentencepiece.bpe.model: small). A tokenizer.json of another model type (the
// fast XLM-R one is Unigram) defers to the SentencePiece file beside it.
std::unique_ptr<TextTokenizer> trocr_tokenizer(const ModelFolder& folder) {
  bool bpe_json = false;
  if (folder.has("tokenizer.json")) {
    const nlohmann::json j = json_load(folder.path("tokenizer.json"));
    bpe_json = j.is_object() && j.contains("model") && j["model"].is_object() && j["model"].value("type", "") == "BPE";
  }
  if (folder.has("vocab.json") || bpe_json)
    return std::make_unique<BytePairTokenizer>(BytePairTokenizer::from_folder(folder.dir()));
  if (folder.has("sentencepiece.bpe.model"))
    return std::make_unique<SentencePieceTokenizer>(SentencePieceTokenizer::from_file(folder.path("sentencepiece.bpe.model")));
  fail(ErrorCode::Model, folder.dir(), ": no tokenizer glimpse reads for TrOCR (vocab.json + merges.txt, a BPE "
       "tokenizer.json, or sentencepiece.bpe.model)");
}

}  // namespace

TrocrModelConfig trocr_model_config_parse(const nlohmann::json& j, const nlohmann::json& generation,
                                          const std::string& path) {
  if (j.value("model_type", "") != "vision-encoder-decoder")
    fail(path, ": model_type '", j.value("model_type", ""), "' is not 'vision-encoder-decoder'");
  const nlohmann::json enc = json_object_field(j, "encoder", path);
  const nlohmann::json dec = json_object_field(j, "decoder", path);
  TrocrModelConfig c;
  const std::string encoder_type = enc.value("model_type", "");
  if (encoder_type != "vit" && encoder_type != "deit")
    fail(path, ": encoder model_type '", encoder_type, "' is not supported with a trocr decoder (vit, deit)");
  if (dec.value("model_type", "") != "trocr")
    fail(path, ": decoder model_type '", dec.value("model_type", ""), "' is not 'trocr'");
  // ViTConfig and DeiTConfig share their fields and defaults; DeiT adds the distillation token,
  // which stays in the states the decoder attends to (modeling_deit.py, DeiTEmbeddings).
  c.encoder = vit_config_parse(enc, path + " encoder", vit_config_defaults());
  if (encoder_type == "deit") c.encoder.prefix_tokens = 2;
  c.decoder = trocr_config_parse(dec, path + " decoder");
  BartDecoderConfig& d = c.decoder;
  // Cross-attention reads the encoder's states directly when cross_attention_hidden_size is set;
  // VisionEncoderDecoderModel adds enc_to_dec_proj only when it is unset and the widths differ.
  if (d.encoder_width() != c.encoder.hidden)
    fail(path, ": the encoder is ", c.encoder.hidden, " wide and the decoder's cross-attention reads ",
         d.encoder_width(), d.cross_hidden ? " (cross_attention_hidden_size)" : " (d_model; enc_to_dec_proj is not supported)");
  d.eos = generation_id(generation, j, dec, "eos_token_id", d.eos, path);
  d.pad = generation_id(generation, j, dec, "pad_token_id", d.pad, path);
  d.decoder_start = generation_id(generation, j, dec, "decoder_start_token_id", d.decoder_start, path);
  json_field(dec, "max_length", c.max_length, path + " decoder");
  for (int id : {d.eos, d.pad, d.decoder_start})
    if (id >= d.vocab) fail(path, ": token id ", id, " is outside the vocabulary (", d.vocab, ")");
  return c;
}

constinit const Family kTrocrFamily = {
    "trocr", "VisionEncoderDecoderModel with a vit or deit encoder and a trocr decoder: text-line recognition",
    "microsoft/trocr-{small,base,large}-{printed,handwritten}, microsoft/trocr-{base,large}-str, "
    "microsoft/trocr-{small,base,large}-stage1",
    Task::Caption,
    [](const ModelFolder& f) {
      return f.is("vision-encoder-decoder", {}, "vit", "trocr") || f.is("vision-encoder-decoder", {}, "deit", "trocr");
    },
    model_make<TrocrRecognizer>};

TrocrRecognizer::TrocrRecognizer(Context& ctx, ModelFolder& folder, const ModelOptions& opt)
    : weights_(ctx, MemoryKind::Device, "model weights") {
  cfg_ = json_read(folder.config_path(), [&] {
    return trocr_model_config_parse(folder.config(), folder.generation_config(), folder.config_path());
  });
  cfg_.max_length = folder.max_length(cfg_.max_length, cfg_.decoder.max_positions);
  pre_ = folder.preprocessor(cfg_.encoder.image_size);
  tok_ = trocr_tokenizer(folder);
  if (int64_t(tok_->size()) > cfg_.decoder.vocab)
    fail(ErrorCode::Model, folder.dir(), ": the tokenizer has ", tok_->size(), " tokens, the decoder's vocab_size is ",
         cfg_.decoder.vocab);
  WeightLoader w = folder.loader(ctx, weights_, opt);
  encoder_ = std::make_unique<VitEncoder>(w, cfg_.encoder, VitLayout::HuggingFaceVit, "encoder.");
  decoder_ = std::make_unique<BartDecoder>(w, cfg_.decoder);
  pipeline_ = std::make_unique<EncodeDecode>(ctx, pre_, *encoder_, *decoder_);
  info_ = vision_encoder_decoder_info(
      "trocr",
      {cfg_.encoder.image_size, cfg_.encoder.hidden, cfg_.encoder.layers, cfg_.decoder.hidden, cfg_.decoder.layers,
       cfg_.decoder.vocab, uint32_t(cfg_.decoder.eos), cfg_.max_length},
      opt.weights);
}

std::vector<CaptionResult> TrocrRecognizer::caption(const std::vector<Image>& images, const CaptionOptions& opt) {
  caption_no_task(opt, "TrOCR");
  PipelineRequest rq;
  rq.start = {uint32_t(cfg_.decoder.decoder_start)};
  if (!opt.prompt.empty()) {
    const std::vector<uint32_t> ids = with_error_code(ErrorCode::InvalidArgument, [&] { return tok_->encode(opt.prompt); });
    if (int64_t(ids.size()) + 1 >= cfg_.decoder.max_positions)
      fail(ErrorCode::InvalidArgument, "prompt is ", ids.size(), " tokens long; the model reads at most ",
           cfg_.decoder.max_positions - 2, " before the text");
    rq.start.insert(rq.start.end(), ids.begin(), ids.end());
  }
  rq.gen = opt.gen;
  rq.keep_tensors = opt.keep_tensors;
  rq.max_len = max_length_of(opt.gen, int64_t(rq.start.size()), cfg_.max_length, cfg_.decoder.max_positions);
  // The text is batch_decode(ids, skip_special_tokens=True): the start token and eos drop out,
  // spaces are kept as decoded (no clean-up, as transformers >= 4.45 for RoBERTa's tokenizer).
  return captions_from(pipeline_->run(images, rq), [&](const std::vector<uint32_t>& ids) { return tok_->decode(ids); });
}

}  // namespace glimpse
