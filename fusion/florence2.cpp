#include "fusion/florence2.hpp"

#include "fusion/florence2-postprocess.hpp"
#include "runtime/error.hpp"
#include "runtime/json-file.hpp"

#include <algorithm>
#include <array>

namespace glimpse {

namespace florence2 {

namespace {
struct TaskPrompt {
  const char* task;
  const char* prompt;
  bool input;
};
// processing_florence2.py Florence2Processor.__init__: task_prompts_without_inputs, then
// task_prompts_with_input, each in its order (_construct_prompts tries them in this order).
constexpr std::array<TaskPrompt, 15> kTasks = {{
    {"<OCR>", "What is the text in the image?", false},
    {"<OCR_WITH_REGION>", "What is the text in the image, with regions?", false},
    {"<CAPTION>", "What does the image describe?", false},
    {"<DETAILED_CAPTION>", "Describe in detail what is shown in the image.", false},
    {"<MORE_DETAILED_CAPTION>", "Describe with a paragraph what is shown in the image.", false},
    {"<OD>", "Locate the objects with category name in the image.", false},
    {"<DENSE_REGION_CAPTION>", "Locate the objects in the image, with their descriptions.", false},
    {"<REGION_PROPOSAL>", "Locate the region proposals in the image.", false},
    {"<CAPTION_TO_PHRASE_GROUNDING>", "Locate the phrases in the caption: {input}", true},
    {"<REFERRING_EXPRESSION_SEGMENTATION>", "Locate {input} in the image with mask", true},
    {"<REGION_TO_SEGMENTATION>", "What is the polygon mask of region {input}", true},
    {"<OPEN_VOCABULARY_DETECTION>", "Locate {input} in the image.", true},
    {"<REGION_TO_CATEGORY>", "What is the region {input}?", true},
    {"<REGION_TO_DESCRIPTION>", "What does the region {input} describe?", true},
    {"<REGION_TO_OCR>", "What text is in the region {input}?", true},
}};

}  // namespace

const char* task_prompt(const std::string& task, bool* takes_input) {
  for (const TaskPrompt& t : kTasks)
    if (task == t.task) {
      if (takes_input) *takes_input = t.input;
      return t.prompt;
    }
  return nullptr;
}

std::vector<std::string> task_names() {
  std::vector<std::string> v;
  for (const TaskPrompt& t : kTasks) v.push_back(t.task);
  return v;
}

namespace {
std::string task_list() {  // "<OCR>, <OCR_WITH_REGION>, ...", for messages
  std::string all;
  for (const TaskPrompt& t : kTasks) all += std::string(all.empty() ? "" : ", ") + t.task;
  return all;
}
}  // namespace

std::string construct_prompt(const std::string& task, const std::string& text) {
  bool input = false;
  const char* prompt = task_prompt(task, &input);
  if (!prompt)
    fail(ErrorCode::InvalidArgument, "unknown Florence-2 task '", task, "'; the tasks are ", task_list(),
         ". Free questions are not a Florence-2 task.");
  if (!input) {
    // _construct_prompts asserts that such a task token is the whole text
    if (!text.empty()) fail(ErrorCode::InvalidArgument, "Florence-2 task ", task, " takes no text (found '", text, "')");
    return prompt;
  }
  // task_prompt.format(input=text.replace(task_token, "")): every copy of the token removed
  const std::string input_text = replace_all(task + text, task, "");
  if (input_text.empty())
    fail(ErrorCode::InvalidArgument, "Florence-2 task ", task, " needs a text: ",
         task == "<CAPTION_TO_PHRASE_GROUNDING>" ? "the caption whose phrases to locate"
         : std::string(task).rfind("<REGION_TO_", 0) == 0 ? "a region as four location tokens, e.g. <loc_100><loc_100><loc_500><loc_500>"
                                                          : "what to locate");
  return replace_all(prompt, "{input}", input_text);
}

std::pair<std::string, std::string> split_task(const std::string& text) {
  for (const TaskPrompt& t : kTasks) {
    const std::string token = t.task;
    if (text.compare(0, token.size(), token) == 0) return {token, text.substr(token.size())};
  }
  return {"", text};
}

std::vector<std::string> added_tokens() {
  std::vector<std::string> v = {"<od>", "</od>", "<ocr>", "</ocr>"};
  for (int i = 0; i < 1000; ++i) v.push_back("<loc_" + std::to_string(i) + ">");
  for (const char* t : {"<cap>", "</cap>", "<ncap>", "</ncap>", "<dcap>", "</dcap>", "<grounding>", "</grounding>",
                        "<seg>", "</seg>", "<sep>", "<region_cap>", "</region_cap>", "<region_to_desciption>",
                        "</region_to_desciption>", "<proposal>", "</proposal>", "<poly>", "</poly>", "<and>"})
    v.push_back(t);
  return v;
}

}  // namespace florence2

Florence2Config florence2_config_parse(const nlohmann::json& j, int image_size, const std::string& path) {
  if (j.value("model_type", "") != "florence2")
    fail(path, ": model_type '", j.value("model_type", ""), "' is not 'florence2'");
  const nlohmann::json vc = json_object_field(j, "vision_config", path);
  const nlohmann::json tc = json_object_field(j, "text_config", path);
  if (!vc.contains("dim_embed"))
    fail(ErrorCode::UnsupportedModel, path, ": this is the converted Florence-2 layout (florence-community, "
         "transformers' native Florence2ForConditionalGeneration), which glimpse does not read yet; use the original "
         "checkpoint (microsoft/Florence-2-*)");
  Florence2Config c;
  c.vision = davit_config_parse(vc, image_size, path + " vision_config");
  // Florence2LanguageConfig's defaults (BART-large sizes), then text_config
  BartDecoderConfig& d = c.decoder;
  BartEncoderConfig& e = c.encoder;
  const std::string where = path + " text_config";
  d.vocab = 51289, d.hidden = 1024, d.layers = 12, d.heads = 16, d.ffn = 4096, d.max_positions = 1024;
  json_field(tc, "vocab_size", d.vocab, where);
  json_field(tc, "d_model", d.hidden, where);
  json_field(tc, "decoder_layers", d.layers, where, 1, 256);
  json_field(tc, "decoder_attention_heads", d.heads, where, 1, 1024);
  json_field(tc, "decoder_ffn_dim", d.ffn, where);
  json_field(tc, "max_position_embeddings", d.max_positions, where, 1, 1 << 20);
  json_field(tc, "encoder_layers", e.layers, where, 1, 256);
  json_field(tc, "encoder_attention_heads", e.heads, where, 1, 1024);
  json_field(tc, "encoder_ffn_dim", e.ffn, where);
  e.hidden = d.hidden;
  e.max_positions = d.max_positions;
  std::string act = "gelu";
  json_field(tc, "activation_function", act, where);
  d.act = e.act = activation_parse(act, where + " activation_function");
  json_field(tc, "scale_embedding", d.scale_embedding, where);
  d.learned_positions = d.layernorm_embedding = true;
  d.tie_word_embeddings = true;  // the token table is `shared`; lm_head is read as stored (BartDecoderNames)
  for (const char* key : {"normalize_before", "add_final_layer_norm"}) {
    bool v = false;
    json_field(tc, key, v, where);
    if (v) fail(where, ": ", key, " true is not supported (Florence-2's layers are post-LN)");
  }
  attention_heads_check(d.hidden, d.heads, where + " (decoder)");
  attention_heads_check(e.hidden, e.heads, where + " (encoder)");
  if (c.vision.projection_dim != d.hidden)
    fail(path, ": the image projection gives ", c.vision.projection_dim, " wide tokens, the language model takes d_model ",
         d.hidden);
  json_field(tc, "bos_token_id", d.bos, where, 0);
  json_field(tc, "pad_token_id", d.pad, where, 0);
  json_field(tc, "eos_token_id", d.eos, where, 0);
  json_field(tc, "decoder_start_token_id", d.decoder_start, where, 0);
  json_field(tc, "num_beams", c.num_beams, where, 1, kMaxBeams);
  json_field(tc, "no_repeat_ngram_size", c.no_repeat_ngram_size, where, 0);
  json_field(tc, "forced_bos_token_id", c.forced_bos, where, 0);
  json_field(tc, "forced_eos_token_id", c.forced_eos, where, 0);
  json_field(tc, "early_stopping", c.early_stopping, where);
  for (int id : {d.bos, d.pad, d.eos, d.decoder_start, c.forced_bos, c.forced_eos})
    if (id >= d.vocab) fail(where, ": token id ", id, " is outside the vocabulary (", d.vocab, ")");
  return c;
}

constinit const Family kFlorence2Family = {
    "florence2",
    "Florence2ForConditionalGeneration (Microsoft's remote code): captions, OCR, detection, grounding, segmentation "
    "and region tasks",
    "microsoft/Florence-2-base, microsoft/Florence-2-large, microsoft/Florence-2-base-ft, microsoft/Florence-2-large-ft",
    Task::Caption,
    [](const ModelFolder& f) { return f.model_type() == "florence2"; },
    model_make<Florence2Model>};

namespace {
BytePairTokenizer florence2_tokenizer(const ModelFolder& folder) {
  if (!folder.has("tokenizer.json") && !(folder.has("vocab.json") && folder.has("merges.txt")))
    fail(ErrorCode::Model, folder.dir(), ": no tokenizer glimpse reads for Florence-2 (tokenizer.json, or vocab.json + "
         "merges.txt)");
  BytePairTokenizer tok = BytePairTokenizer::from_folder(folder.dir());
  tok.add_special_tokens(florence2::added_tokens());  // what Florence2Processor.__init__ adds
  return tok;
}
}  // namespace

Florence2Model::Florence2Model(Context& ctx, ModelFolder& folder, const ModelOptions& opt)
    : tok_(florence2_tokenizer(folder)), weights_(ctx, MemoryKind::Device, "model weights") {
  const ImageProcessorConfig pre = image_processor_load(folder.path("preprocessor_config.json"));
  if (pre.width != pre.height)
    fail(ErrorCode::Model, folder.dir(), ": preprocessor size ", pre.width, "x", pre.height,
         " is not square, which DaViT's 2-D positions need");
  cfg_ = json_read(folder.config_path(), [&] { return florence2_config_parse(folder.config(), pre.width, folder.config_path()); });
  pre_ = folder.preprocessor(pre.width);
  if (folder.has("tokenizer_config.json")) {
    const nlohmann::json tc = json_load(folder.path("tokenizer_config.json"));
    if (tc.is_object()) json_field(tc, "clean_up_tokenization_spaces", cfg_.clean_up_spaces, "tokenizer_config.json");
  }
  if (int64_t(tok_.size()) > cfg_.decoder.vocab)
    fail(ErrorCode::Model, folder.dir(), ": the tokenizer with the processor's tokens has ", tok_.size(),
         " tokens, the language model's vocab_size is ", cfg_.decoder.vocab);
  WeightLoader w = folder.loader(ctx, weights_, opt);
  vision_ = std::make_unique<DavitEncoder>(w, cfg_.vision);
  BartDecoderNames names;
  names.who = "Florence-2";
  names.prefix = "language_model.model.decoder.";
  names.embed = "language_model.model.shared.weight";
  names.head = "language_model.lm_head.weight";
  names.logits_bias = "language_model.final_logits_bias";
  decoder_ = std::make_unique<BartDecoder>(w, cfg_.decoder, names);
  encoder_ = std::make_unique<BartEncoder>(w, cfg_.encoder, "language_model.model.encoder.", "Florence-2");
  pipeline_ = std::make_unique<EncodeDecode>(ctx, pre_, *vision_, *decoder_);
  info_.family = "florence2";
  info_.architecture = "Florence2ForConditionalGeneration";
  info_.task = Task::Caption;
  info_.image_size = cfg_.vision.image_size;
  info_.vision_hidden = cfg_.vision.dim_out();
  info_.vision_layers = 0;
  for (const DavitStage& s : cfg_.vision.stages) info_.vision_layers += 2 * s.depth;
  info_.text_hidden = cfg_.decoder.hidden;
  info_.text_layers = cfg_.decoder.layers;
  info_.vocab = cfg_.decoder.vocab;
  info_.eos = uint32_t(cfg_.decoder.eos);
  info_.max_length = int(std::min<int64_t>(1 + cfg_.max_new_tokens, cfg_.decoder.max_positions));
  info_.weights = opt.weights;
}

std::string Florence2Model::decode(const std::vector<uint32_t>& ids, bool skip_special) const {
  std::string s = tok_.decode(ids, skip_special);
  return cfg_.clean_up_spaces ? clean_up_tokenization(std::move(s)) : s;  // when the tokenizer files ask for it
}

std::string Florence2Model::detokenize(const std::vector<uint32_t>& ids) const { return decode(ids, true); }

std::vector<uint32_t> Florence2Model::prompt_ids(const std::string& task, const std::string& text) const {
  // Far past what the encoder reads (its positions, at 64 bytes a token), a text is refused before
  // it is tokenised: a request cannot buy seconds of BPE for a prompt that would be refused anyway.
  const size_t cap = size_t(cfg_.encoder.max_positions) * 64;
  if (text.size() > cap)
    fail(ErrorCode::InvalidArgument, "Florence-2: the task text is ", text.size(), " bytes; the model reads at most ",
         cfg_.encoder.max_positions, " tokens");
  const std::string prompt = florence2::construct_prompt(task, text);
  std::vector<uint32_t> ids = {uint32_t(cfg_.decoder.bos)};
  const std::vector<uint32_t> body = with_error_code(ErrorCode::InvalidArgument, [&] { return tok_.encode(prompt); });
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(uint32_t(cfg_.decoder.eos));
  return ids;
}

std::vector<CaptionResult> Florence2Model::caption(const std::vector<Image>& images, const CaptionOptions& opt) {
  std::string task = opt.task, text = opt.task_text;
  if (!opt.prompt.empty()) {
    if (!task.empty() || !text.empty())
      fail(ErrorCode::InvalidArgument, "Florence-2: give either a prompt (\"<TASK>text\") or a task and its text, not both");
    std::tie(task, text) = florence2::split_task(opt.prompt);
    if (task.empty())
      fail(ErrorCode::InvalidArgument, "Florence-2: the prompt must start with a task token such as <CAPTION> or <OD>; ",
           "free questions are not a Florence-2 task");
  }
  if (task.empty()) task = "<CAPTION>";
  const std::vector<uint32_t> prompt = prompt_ids(task, text);
  const int64_t image_tokens = cfg_.vision.image_tokens();
  MiddleStage encoder;
  encoder.tokens = image_tokens + int64_t(prompt.size());
  encoder.width = cfg_.encoder.hidden;
  encoder.name = "encoder_states";
  encoder.record = [&](Sequence& seq, Allocator& arena, const Tensor& image, const Tensor& out) {
    encoder_->record(seq, arena, image, decoder_->token_table(), prompt, out);
  };
  if (encoder.tokens > cfg_.encoder.max_positions)
    fail(ErrorCode::InvalidArgument, "Florence-2: the prompt is ", prompt.size(), " tokens; with the ", image_tokens,
         " image tokens the encoder reads at most ", cfg_.encoder.max_positions, " (a prompt of at most ",
         cfg_.encoder.max_positions - image_tokens, " tokens)");
  // generate() as the language model's generation config says, the model card's length
  GenerationConfig g = opt.gen;
  if (g.num_beams == 0) g.num_beams = g.do_sample ? 1 : cfg_.num_beams;
  g.no_repeat_ngram_size = g.no_repeat_ngram_size ? g.no_repeat_ngram_size : cfg_.no_repeat_ngram_size;
  g.forced_bos_token_id = cfg_.forced_bos;
  g.forced_eos_token_id = cfg_.forced_eos;
  g.early_stopping = g.early_stopping || cfg_.early_stopping;
  PipelineRequest rq;
  rq.start = {uint32_t(cfg_.decoder.decoder_start)};
  rq.gen = g;
  rq.keep_tensors = opt.keep_tensors;
  rq.middle = &encoder;
  rq.max_len = max_length_of(g, 1, 1 + cfg_.max_new_tokens, cfg_.decoder.max_positions);
  PipelineResult r = pipeline_->run(images, rq);
  std::vector<CaptionResult> out(images.size());
  for (size_t i = 0; i < out.size(); ++i) {
    CaptionResult& c = out[i];
    c.ids = std::move(r.ids[i]);
    c.timings = r.timings;
    c.task = task;
    // batch_decode(generated_ids, skip_special_tokens=False), then post_process_generation with
    // the image's size, as the model card does
    c.generated_text = decode(c.ids, false);
    const nlohmann::ordered_json result =
        florence2::post_process_generation(c.generated_text, task, images[i].width, images[i].height);
    c.result = result.dump();
    const nlohmann::ordered_json& answer = result.begin().value();
    c.text = answer.is_string() ? answer.get<std::string>() : decode(c.ids, true);
    if (opt.keep_tensors) {
      c.pixel_values = std::move(r.pixel_values[i]);
      c.image_embeds = std::move(r.image_embeds[i]);
      c.encoder_states = std::move(r.middle[i]);
      c.logits_step0 = std::move(r.logits0[i]);
    }
  }
  return out;
}

std::vector<AnswerResult> Florence2Model::answer(const std::vector<Image>&, const std::string&, const AnswerOptions&) {
  fail(ErrorCode::WrongTask, "Florence-2 does not answer free questions; it runs tasks (glimpse caption --task TASK "
       "[--text TEXT]): ", florence2::task_list());
}

}  // namespace glimpse
