#include "fusion/blip-captioner.hpp"

#include "runtime/error.hpp"
#include "runtime/safetensors.hpp"
#include "runtime/weights.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>
#include <filesystem>
#include <optional>

namespace glimpse {

namespace fs = std::filesystem;

namespace {
double ms_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

BlipCaptioner::BlipCaptioner(Context& ctx, const std::string& dir, const ModelOptions& opt, const TensorSource* weights)
    : ctx_(ctx), weights_(ctx, MemoryKind::Device, "model weights") {
  const fs::path d(dir);
  if (!fs::is_directory(d)) fail(dir, ": not a model folder");
  cfg_ = blip_config_load((d / "config.json").string());
  if (!cfg_.architecture.empty() && cfg_.architecture != "BlipForConditionalGeneration")
    fail(dir, ": architecture ", cfg_.architecture, " is not BlipForConditionalGeneration");
  pre_ = image_processor_load((d / "preprocessor_config.json").string());
  if (pre_.width != cfg_.vision.image_size || pre_.height != cfg_.vision.image_size)
    fail(dir, ": preprocessor size ", pre_.width, "x", pre_.height, " does not match the vision image_size ",
         cfg_.vision.image_size);
  if (fs::exists(d / "tokenizer.json")) tok_ = std::make_unique<WordPiece>(WordPiece::from_tokenizer_json((d / "tokenizer.json").string()));
  else tok_ = std::make_unique<WordPiece>(WordPiece::from_vocab_txt((d / "vocab.txt").string()));

  std::optional<SafeTensors> from_dir;
  if (!weights) weights = &from_dir.emplace(SafeTensors::open(dir));
  WeightLoader w(ctx, weights_, *weights, opt.weights);
  vision_ = std::make_unique<BlipVision>(w, cfg_.vision);
  text_ = std::make_unique<BlipTextDecoder>(w, cfg_.text);
}

std::vector<uint32_t> BlipCaptioner::decoder_prompt(const std::string& text) const {
  // §2.5: tokenizer ids with [CLS]/[SEP], the first replaced by bos, the last dropped.
  // Unconditional: [bos, eos] -> [bos].
  const BlipTextConfig& tc = cfg_.text;
  std::vector<uint32_t> ids = text.empty() ? std::vector<uint32_t>{uint32_t(tc.bos), uint32_t(tc.eos)} : tok_->encode(text);
  ids[0] = uint32_t(tc.bos);
  ids.pop_back();
  return ids;
}

// Device state of one caption() call: the per-row caches and the tensors each step reads and writes.
struct BlipCaptioner::Request {
  Request(Context& ctx) : arena(ctx, MemoryKind::Device, "caption activations"), host(ctx, MemoryKind::Host, "caption step", 4096) {}
  Allocator arena, host;
  int64_t images = 0, beams = 1, rows = 0;  // rows = images x beams
  BlipTextDecoder::State state;
  Tensor logits;                 // [rows, V]
  Tensor next, next_logit;       // argmax of logits: u32 / f32 [rows], host-visible
  Tensor step_ids, reorder;      // the tokens a step feeds, the rows beams continue: u32 [rows]
  std::vector<uint32_t> tokens;  // host copy of step_ids
};

void BlipCaptioner::encode(Request& rq, const std::vector<float>& pixels, std::vector<CaptionResult>& results,
                           bool keep) {
  const int64_t b = rq.images, s = cfg_.vision.image_size, n = cfg_.vision.tokens(), dv = cfg_.vision.hidden;
  Tensor pv = rq.arena.alloc(DType::F32, {b, 3, s, s});
  tensor_upload(ctx_, pv, pixels.data(), pixels.size() * 4);
  Tensor embeds = rq.arena.alloc(DType::F32, {b, n, dv});
  // vision tower, then each layer's cross-attention K/V, once (per beam row)
  Sequence seq(ctx_);
  seq.dump("pixel_values", pv);
  vision_->record(seq, rq.arena, pv, embeds);
  seq.dump("image_embeds", embeds);
  if (rq.beams > 1) {
    Tensor per_beam = rq.host.alloc(DType::U32, {rq.rows});
    std::vector<uint32_t> idx;
    for (int64_t i = 0; i < rq.rows; ++i) idx.push_back(uint32_t(i / rq.beams));
    tensor_upload(ctx_, per_beam, idx.data(), idx.size() * 4);
    Tensor expanded = rq.arena.alloc(DType::F32, {rq.rows, n, dv});
    gather_rows(seq, embeds, per_beam, expanded);
    text_->record_cross(seq, expanded, rq.state);
  } else {
    text_->record_cross(seq, embeds, rq.state);
  }
  seq.run();
  if (keep)
    for (int64_t i = 0; i < b; ++i) {
      const size_t px = size_t(3 * s * s), em = size_t(n * dv);
      results[size_t(i)].pixel_values.assign(pixels.begin() + i * px, pixels.begin() + (i + 1) * px);
      results[size_t(i)].image_embeds.resize(em);
      tensor_download(ctx_, embeds, results[size_t(i)].image_embeds.data(), em * 4, size_t(i) * em * 4);
    }
}

void BlipCaptioner::prefill(Request& rq, const std::vector<uint32_t>& prompt, std::vector<CaptionResult>& results,
                            bool keep) {
  const int64_t lp = int64_t(prompt.size()), vocab = cfg_.text.vocab;
  Tensor prompt_ids = rq.arena.alloc(DType::U32, {rq.rows * lp});
  std::vector<uint32_t> tiled;
  for (int64_t i = 0; i < rq.rows; ++i) tiled.insert(tiled.end(), prompt.begin(), prompt.end());
  tensor_upload(ctx_, prompt_ids, tiled.data(), tiled.size() * 4);
  const uint32_t zero = 0;
  tensor_upload(ctx_, rq.state.step, &zero, 4);
  Sequence seq(ctx_);
  text_->record_step(seq, rq.arena, rq.state, prompt_ids, lp, rq.logits, rq.next, rq.next_logit);
  seq.dump("logits_step0", rq.logits);
  seq.run();
  if (keep)
    for (int64_t i = 0; i < rq.images; ++i) {
      auto& v = results[size_t(i)].logits_step0;
      v.resize(size_t(vocab));
      tensor_download(ctx_, rq.logits, v.data(), v.size() * 4, size_t(i * rq.beams) * v.size() * 4);
    }
}

// The new tokens sit at position len - 1: the step reads them and the cache length from there.
void BlipCaptioner::feed(Request& rq, int64_t len) {
  const uint32_t past = uint32_t(len - 1);
  tensor_upload(ctx_, rq.state.step, &past, 4);
  tensor_upload(ctx_, rq.step_ids, rq.tokens.data(), rq.tokens.size() * 4);
}

void BlipCaptioner::decode_greedy(Request& rq, const GenerationConfig& gen, int64_t len, int64_t max_len,
                                  std::vector<CaptionResult>& results) {
  // §5.1 on the device's argmax; sampling and min_length choose on the host from the logits.
  // Finished rows get pad.
  const BlipTextConfig& tc = cfg_.text;
  const int64_t vocab = tc.vocab;
  Sequence step(ctx_);
  text_->record_step(step, rq.arena, rq.state, rq.step_ids, 1, rq.logits, rq.next, rq.next_logit);
  std::mt19937_64 rng(gen.seed);
  std::vector<bool> finished(static_cast<size_t>(rq.rows), false);
  std::vector<float> logits;
  while (len < max_len) {
    const bool forbid_eos = len < gen.min_length;
    if (gen.do_sample || forbid_eos) {
      logits.resize(size_t(rq.rows * vocab));
      tensor_download(ctx_, rq.logits, logits.data(), logits.size() * 4);
      for (int64_t i = 0; i < rq.rows; ++i) {
        float* row = logits.data() + i * vocab;
        if (forbid_eos) row[tc.sep] = -INFINITY;
        rq.tokens[size_t(i)] = gen.do_sample ? sample_token(row, vocab, gen, rng)
                                             : uint32_t(std::max_element(row, row + vocab) - row);
      }
    } else {
      tensor_download(ctx_, rq.next, rq.tokens.data(), rq.tokens.size() * 4);
    }
    bool all_done = true;
    for (int64_t i = 0; i < rq.rows; ++i) {
      uint32_t& tok = rq.tokens[size_t(i)];
      if (finished[size_t(i)]) tok = uint32_t(tc.pad);
      else results[size_t(i)].ids.push_back(tok);
      if (tok == uint32_t(tc.sep) && !gen.ignore_eos) finished[size_t(i)] = true;
      all_done = all_done && finished[size_t(i)];
    }
    ++len;
    if (all_done || len >= max_len) break;
    feed(rq, len);
    step.run();
  }
}

void BlipCaptioner::decode_beam(Request& rq, const GenerationConfig& gen, const std::vector<uint32_t>& prompt,
                                int64_t max_len, std::vector<CaptionResult>& results) {
  // §5.2: steps alternate cache sets, each beam continuing its source beam's cache.
  const int64_t vocab = cfg_.text.vocab;
  Sequence step_into[2] = {Sequence(ctx_), Sequence(ctx_)};
  for (int set = 0; set < 2; ++set)
    text_->record_step(step_into[set], rq.arena, rq.state, rq.step_ids, 1, rq.logits, rq.next, rq.next_logit, set,
                       &rq.reorder);
  BeamSearch search(rq.images, int(rq.beams), prompt, max_len, gen.length_penalty, gen.early_stopping,
                    uint32_t(cfg_.text.sep), gen.min_length);
  std::vector<float> logits(static_cast<size_t>(rq.rows * vocab));
  std::vector<uint32_t> source;
  for (int64_t len = int64_t(prompt.size()), k = 0;; ++k) {
    tensor_download(ctx_, rq.logits, logits.data(), logits.size() * 4);
    search.step(logits.data(), vocab, rq.tokens, source);
    ++len;
    if (search.done()) break;
    feed(rq, len);
    tensor_upload(ctx_, rq.reorder, source.data(), source.size() * 4);
    step_into[(k + 1) % 2].run();  // the prefill filled set 0
  }
  const auto best = search.best();
  for (int64_t i = 0; i < rq.images; ++i) results[size_t(i)].ids = best[size_t(i)];
}

std::vector<CaptionResult> BlipCaptioner::caption(const std::vector<Image>& images, const CaptionOptions& opt) {
  if (images.empty()) return {};
  const GenerationConfig& gen = opt.gen;
  if (gen.num_beams > 1 && gen.do_sample) fail("caption: beam search with sampling is not supported");
  const auto t0 = std::chrono::steady_clock::now();
  const std::vector<uint32_t> prompt = decoder_prompt(opt.prompt);
  const int64_t lp = int64_t(prompt.size());
  const int64_t max_len = gen.max_new_tokens > 0 ? lp + gen.max_new_tokens
                          : gen.max_length > 0  ? gen.max_length
                                                : cfg_.max_length;
  if (max_len > cfg_.text.max_positions)
    fail("caption: length ", max_len, " exceeds the model's ", cfg_.text.max_positions, " positions");
  std::vector<float> pixels;
  for (const Image& img : images) pixel_values_append(pre_, img, pixels);

  Request rq(ctx_);
  rq.images = int64_t(images.size());
  rq.beams = std::max(1, gen.num_beams);
  rq.rows = rq.images * rq.beams;
  rq.state = text_->state_create(rq.arena, rq.host, rq.rows, std::max(max_len, lp), cfg_.vision.tokens(), rq.beams > 1);
  rq.logits = rq.arena.alloc(DType::F32, {rq.rows, int64_t(cfg_.text.vocab)});
  rq.next = rq.host.alloc(DType::U32, {rq.rows});
  rq.next_logit = rq.host.alloc(DType::F32, {rq.rows});
  rq.step_ids = rq.host.alloc(DType::U32, {rq.rows});
  rq.reorder = rq.host.alloc(DType::U32, {rq.rows});
  rq.tokens.assign(size_t(rq.rows), 0);

  std::vector<CaptionResult> results(images.size());
  for (auto& r : results) r.ids = prompt;
  encode(rq, pixels, results, opt.keep_tensors);
  const double encode_ms = ms_since(t0);
  const auto t1 = std::chrono::steady_clock::now();
  prefill(rq, prompt, results, opt.keep_tensors);
  if (rq.beams > 1) decode_beam(rq, gen, prompt, max_len, results);
  else decode_greedy(rq, gen, lp, max_len, results);
  const double decode_ms = ms_since(t1);
  for (auto& r : results) {
    r.text = tok_->decode(r.ids);
    r.encode_ms = encode_ms;
    r.decode_ms = decode_ms;
  }
  return results;
}

}  // namespace glimpse
