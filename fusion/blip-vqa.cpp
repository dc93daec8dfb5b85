#include "fusion/blip-vqa.hpp"

#include "runtime/error.hpp"
#include "runtime/weights.hpp"

namespace glimpse {

namespace {

std::string strip(const std::string& s) {  // Python str.strip() for the whitespace decode can leave
  const size_t a = s.find_first_not_of(" \t\n\r\f\v"), b = s.find_last_not_of(" \t\n\r\f\v");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}

}  // namespace

constinit const Family kBlipVqaFamily = {
    "blip-vqa", "BlipForQuestionAnswering (model_type blip): visual question answering",
    "Salesforce/blip-vqa-base, Salesforce/blip-vqa-capfilt-large", Task::Answer,
    [](const ModelFolder& f) { return f.is("blip", {"BlipForQuestionAnswering"}); },
    model_make<BlipVqa>};

BlipVqa::BlipVqa(Context& ctx, ModelFolder& folder, const ModelOptions& opt)
    : blip_(blip_folder_open(folder, "BlipForQuestionAnswering")),
      cfg_(blip_.config),
      weights_(ctx, MemoryKind::Device, "model weights") {
  if (cfg_.text.encoder_hidden != cfg_.vision.hidden || cfg_.text.encoder_hidden != cfg_.text.hidden)
    fail(folder.dir(), ": BLIP VQA needs vision hidden_size = text hidden_size = encoder_hidden_size (the decoder "
         "cross-attends to the question states), found ", cfg_.vision.hidden, ", ", cfg_.text.hidden, ", ",
         cfg_.text.encoder_hidden);
  WeightLoader w = folder.loader(ctx, weights_, opt);
  vision_ = std::make_unique<VitEncoder>(w, cfg_.vision, VitLayout::Blip, "vision_model.");
  encoder_ = std::make_unique<BlipText>(w, cfg_.text, "text_encoder.");
  decoder_ = std::make_unique<BlipTextDecoder>(w, cfg_.text);
  pipeline_ = std::make_unique<EncodeDecode>(ctx, blip_.preprocessor, *vision_, *decoder_);
  info_ = blip_model_info(cfg_, "blip-vqa", "BlipForQuestionAnswering", Task::Answer, opt);
}

std::vector<AnswerResult> BlipVqa::answer(const std::vector<Image>& images, const std::string& question,
                                          const AnswerOptions& opt) {
  if (images.empty()) return {};
  if (strip(question).empty()) fail(ErrorCode::InvalidArgument, "question is empty");
  // [CLS] ... [SEP], as the processor does
  const std::vector<uint32_t> q = with_error_code(ErrorCode::InvalidArgument, [&] { return blip_.tokenizer->encode(question); });
  const int64_t lq = int64_t(q.size()), d = cfg_.text.hidden;
  if (lq > cfg_.text.max_positions)
    fail(ErrorCode::InvalidArgument, "question is ", lq, " tokens long; the model reads at most ", cfg_.text.max_positions);

  // the question encoded against the image; the answer decoder reads its states (all-ones mask)
  MiddleStage question_encoder;
  question_encoder.tokens = lq;
  question_encoder.width = d;
  question_encoder.name = "question_embeds";
  question_encoder.record = [&](Sequence& seq, Allocator& arena, const Tensor& image, const Tensor& out) {
    const int64_t b = image.dim(0), n = image.dim(1);
    Tensor ids = arena.alloc(DType::U32, {b * lq});
    std::vector<uint32_t> tiled;
    for (int64_t i = 0; i < b; ++i) tiled.insert(tiled.end(), q.begin(), q.end());
    tensor_upload(arena.context(), ids, tiled.data(), tiled.size() * 4);
    const CrossKv image_kv = encoder_->cross_alloc(arena, b, n);
    encoder_->record_cross(seq, image, image_kv);
    encoder_->record_encode(seq, arena, ids, b, lq, image_kv, out);
  };
  PipelineRequest rq;
  rq.start = {uint32_t(cfg_.text.bos)};
  rq.gen = opt.gen;
  rq.keep_tensors = opt.keep_tensors;
  rq.middle = &question_encoder;
  rq.max_len = max_length_of(opt.gen, 1, cfg_.max_length, cfg_.text.max_positions);
  PipelineResult r = pipeline_->run(images, rq);
  std::vector<AnswerResult> results(images.size());
  for (size_t i = 0; i < results.size(); ++i) {
    AnswerResult& a = results[i];
    a.ids = std::move(r.ids[i]);
    a.question_ids = q;
    a.text = strip(blip_.tokenizer->decode(a.ids));
    a.timings = r.timings;
    if (opt.keep_tensors) {
      a.question_embeds = std::move(r.middle[i]);
      a.logits_step0 = std::move(r.logits0[i]);
    }
  }
  return results;
}

}  // namespace glimpse
