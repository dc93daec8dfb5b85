#include "fusion/blip-vqa.hpp"

#include "fusion/decoding.hpp"
#include "runtime/error.hpp"

#include <chrono>
#include <optional>

namespace glimpse {

namespace {
double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

std::string strip(const std::string& s) {  // Python str.strip() for the whitespace decode can leave
  const size_t a = s.find_first_not_of(" \t\n\r\f\v"), b = s.find_last_not_of(" \t\n\r\f\v");
  return a == std::string::npos ? std::string() : s.substr(a, b - a + 1);
}
}  // namespace

BlipVqa::BlipVqa(Context& ctx, const std::string& dir, const ModelOptions& opt, const TensorSource* weights)
    : ctx_(ctx), weights_(ctx, MemoryKind::Device, "model weights") {
  BlipFolder folder = blip_folder_open(dir, "BlipForQuestionAnswering");
  cfg_ = folder.config;
  pre_ = folder.preprocessor;
  tok_ = std::move(folder.tokenizer);
  if (cfg_.text.encoder_hidden != cfg_.vision.hidden || cfg_.text.encoder_hidden != cfg_.text.hidden)
    fail(dir, ": BLIP VQA needs vision hidden_size = text hidden_size = encoder_hidden_size (the decoder "
         "cross-attends to the question states), found ", cfg_.vision.hidden, ", ", cfg_.text.hidden, ", ",
         cfg_.text.encoder_hidden);
  std::optional<SafeTensors> from_dir;
  if (!weights) weights = &from_dir.emplace(SafeTensors::open(dir));
  WeightLoader w(ctx, weights_, *weights, opt.weights);
  w.progress = opt.progress;
  vision_ = std::make_unique<VitEncoder>(w, cfg_.vision, VitLayout::Blip, "vision_model.");
  encoder_ = std::make_unique<BlipText>(w, cfg_.text, "text_encoder.");
  decoder_ = std::make_unique<BlipTextDecoder>(w, cfg_.text);
}

std::vector<AnswerResult> BlipVqa::answer(const std::vector<Image>& images, const std::string& question,
                                          const AnswerOptions& opt) {
  if (images.empty()) return {};
  if (strip(question).empty()) fail("question is empty");
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<uint32_t> q = tok_->encode(question);  // [CLS] ... [SEP], as the processor does
  const int64_t b = int64_t(images.size()), s = cfg_.vision.image_size, n = cfg_.vision.tokens(), d = cfg_.text.hidden;
  const int64_t lq = int64_t(q.size());
  if (lq > cfg_.text.max_positions)
    fail("question is ", lq, " tokens long; the model reads at most ", cfg_.text.max_positions);
  const GenerationConfig& gen = opt.gen;
  const std::vector<uint32_t> start = {uint32_t(cfg_.text.bos)};
  const int64_t max_len = gen.max_new_tokens > 0 ? 1 + gen.max_new_tokens
                          : gen.max_length > 0  ? gen.max_length
                                                : cfg_.max_length;
  std::vector<float> pixels;
  for (const Image& img : images) pixel_values_append(pre_, img, pixels);

  // image, then the question encoded against it. On GPUs the image pass is recorded once per
  // batch size and replayed (RecordedEncoder), the question's part recorded per call (its length
  // varies); otherwise both go into one recording.
  std::unique_lock<std::mutex> replaying;  // holds vision_pass_ until its states are consumed
  const bool replay = vision_pass_.prepare(ctx_, *vision_, pixels, b, replaying);
  Allocator arena(ctx_, MemoryKind::Device, "vqa activations", Allocator::kBlockBytes, BlockReuse::Recycle);
  Tensor ids = arena.alloc(DType::U32, {b * lq});
  std::vector<uint32_t> tiled;
  for (int64_t i = 0; i < b; ++i) tiled.insert(tiled.end(), q.begin(), q.end());
  tensor_upload(ctx_, ids, tiled.data(), tiled.size() * 4);
  Tensor question_embeds = arena.alloc(DType::F32, {b, lq, d});
  {
    Tensor embeds;
    if (replay) {
      vision_pass_.seq->run();
      embeds = vision_pass_.states;
    }
    Sequence seq(ctx_);
    if (!replay) {
      Tensor pv = arena.alloc(DType::F32, {b, 3, s, s});
      tensor_upload(ctx_, pv, pixels.data(), pixels.size() * 4);
      embeds = arena.alloc(DType::F32, {b, n, int64_t(cfg_.vision.hidden)});
      seq.dump("pixel_values", pv);
      vision_->record(seq, arena, pv, embeds);
      seq.dump("image_embeds", embeds);
    }
    const CrossKv image_kv = encoder_->cross_alloc(arena, b, n);
    encoder_->record_cross(seq, embeds, image_kv);
    encoder_->record_encode(seq, arena, ids, b, lq, image_kv, question_embeds);
    seq.dump("question_embeds", question_embeds);
    seq.run();
  }
  if (replaying.owns_lock()) replaying.unlock();
  std::vector<AnswerResult> results(images.size());
  if (opt.keep_tensors)
    for (int64_t i = 0; i < b; ++i) {
      auto& v = results[size_t(i)].question_embeds;
      v.resize(size_t(lq * d));
      tensor_download(ctx_, question_embeds, v.data(), v.size() * 4, size_t(i) * v.size() * 4);
    }
  double encode_ms = ms_since(t0);

  // the answer decoder over the question states (all-ones mask: nothing to mask)
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<std::vector<float>> logits0;
  Decoding decoding(ctx_, *decoder_);
  double cross_ms = 0;
  const auto out = decoding.generate(question_embeds, b, lq, start, gen, max_len, opt.keep_tensors ? &logits0 : nullptr,
                                     &cross_ms);
  const double decode_ms = ms_since(t1) - cross_ms;
  encode_ms += cross_ms;  // the question's cross-attention K/V are per-request work
  for (int64_t i = 0; i < b; ++i) {
    AnswerResult& r = results[size_t(i)];
    r.ids = out[size_t(i)];
    r.question_ids = q;
    r.text = strip(tok_->decode(r.ids));
    r.encode_ms = encode_ms;
    r.decode_ms = decode_ms;
    if (opt.keep_tensors) r.logits_step0 = logits0[size_t(i)];
  }
  return results;
}

}  // namespace glimpse
