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

std::vector<CaptionResult> BlipCaptioner::caption(const std::vector<Image>& images, const CaptionOptions& opt) {
  if (images.empty()) return {};
  const auto t0 = std::chrono::steady_clock::now();
  const GenerationConfig& gen = opt.gen;
  const int64_t b = int64_t(images.size()), s = cfg_.vision.image_size, n = cfg_.vision.tokens();
  const int64_t beams = std::max(1, gen.num_beams), rows = b * beams;
  const BlipTextConfig& tc = cfg_.text;
  if (gen.num_beams > 1 && gen.do_sample) fail("caption: beam search with sampling is not supported");

  // The decoder prompt (§2.5): tokenizer ids with [CLS]/[SEP], the first replaced by bos, the
  // last dropped. Unconditional: [bos, eos] -> [bos].
  std::vector<uint32_t> prompt = opt.prompt.empty() ? std::vector<uint32_t>{uint32_t(tc.bos), uint32_t(tc.eos)}
                                                    : tok_->encode(opt.prompt);
  prompt[0] = uint32_t(tc.bos);
  prompt.pop_back();
  const int64_t lp = int64_t(prompt.size());
  const int64_t max_len = gen.max_new_tokens > 0 ? lp + gen.max_new_tokens : gen.max_length > 0 ? gen.max_length : cfg_.max_length;
  if (max_len > tc.max_positions) fail("caption: length ", max_len, " exceeds the model's ", tc.max_positions, " positions");

  std::vector<float> pixels;
  for (const Image& img : images) pixel_values_append(pre_, img, pixels);

  Allocator arena(ctx_, MemoryKind::Device, "caption activations");
  Allocator host(ctx_, MemoryKind::Host, "caption step", 4096);
  Tensor pv = arena.alloc(DType::F32, {b, 3, s, s});
  tensor_upload(ctx_, pv, pixels.data(), pixels.size() * 4);
  Tensor embeds = arena.alloc(DType::F32, {b, n, int64_t(cfg_.vision.hidden)});
  BlipTextDecoder::State state = text_->state_create(arena, host, rows, std::max<int64_t>(max_len, lp), n, beams > 1);

  // image: vision tower, then each layer's cross-attention K/V, once (per beam row)
  {
    Sequence seq(ctx_);
    seq.dump("pixel_values", pv);
    vision_->record(seq, arena, pv, embeds);
    seq.dump("image_embeds", embeds);
    if (beams > 1) {
      Tensor per_beam = host.alloc(DType::U32, {rows});
      std::vector<uint32_t> idx;
      for (int64_t i = 0; i < rows; ++i) idx.push_back(uint32_t(i / beams));
      tensor_upload(ctx_, per_beam, idx.data(), idx.size() * 4);
      Tensor expanded = arena.alloc(DType::F32, {rows, n, int64_t(cfg_.vision.hidden)});
      gather_rows(seq, embeds, per_beam, expanded);
      text_->record_cross(seq, expanded, state);
    } else {
      text_->record_cross(seq, embeds, state);
    }
    seq.run();
  }
  std::vector<CaptionResult> results(images.size());
  for (auto& r : results) r.ids = prompt;
  if (opt.keep_tensors)
    for (int64_t i = 0; i < b; ++i) {
      const size_t px = size_t(3 * s * s), em = size_t(n * cfg_.vision.hidden);
      results[size_t(i)].pixel_values.assign(pixels.begin() + i * px, pixels.begin() + (i + 1) * px);
      results[size_t(i)].image_embeds.resize(em);
      tensor_download(ctx_, embeds, results[size_t(i)].image_embeds.data(), em * 4, size_t(i) * em * 4);
    }
  const double encode_ms = ms_since(t0);
  const auto t1 = std::chrono::steady_clock::now();

  // prefill the prompt on every row, then one replayed step per token
  const int64_t vocab = tc.vocab;
  Tensor logits = arena.alloc(DType::F32, {rows, vocab});
  Tensor next = host.alloc(DType::U32, {rows});
  Tensor next_logit = host.alloc(DType::F32, {rows});
  Tensor prompt_ids = arena.alloc(DType::U32, {rows * lp});
  std::vector<uint32_t> tiled;
  for (int64_t i = 0; i < rows; ++i) tiled.insert(tiled.end(), prompt.begin(), prompt.end());
  tensor_upload(ctx_, prompt_ids, tiled.data(), tiled.size() * 4);
  const uint32_t zero = 0;
  tensor_upload(ctx_, state.step, &zero, 4);
  Sequence prefill(ctx_);
  text_->record_step(prefill, arena, state, prompt_ids, lp, logits, next, next_logit);
  prefill.dump("logits_step0", logits);
  prefill.run();
  if (opt.keep_tensors)
    for (int64_t i = 0; i < b; ++i) {
      auto& v = results[size_t(i)].logits_step0;
      v.resize(size_t(vocab));
      tensor_download(ctx_, logits, v.data(), v.size() * 4, size_t(i * beams) * v.size() * 4);
    }

  Tensor step_ids = host.alloc(DType::U32, {rows});
  Tensor reorder = host.alloc(DType::U32, {rows});
  std::vector<uint32_t> tokens(static_cast<size_t>(rows)), source;
  std::vector<float> row_logits;
  auto logits_download = [&] {
    row_logits.resize(size_t(rows * vocab));
    tensor_download(ctx_, logits, row_logits.data(), row_logits.size() * 4);
  };
  auto advance = [&](int64_t len) {  // the new tokens sit at position len - 1
    const uint32_t past = uint32_t(len - 1);
    tensor_upload(ctx_, state.step, &past, 4);
    tensor_upload(ctx_, step_ids, tokens.data(), tokens.size() * 4);
  };

  if (beams > 1) {
    // Beam search (§5.2): steps alternate cache sets, each beam continuing its source beam's cache.
    Sequence step_to[2] = {Sequence(ctx_), Sequence(ctx_)};
    for (int set = 0; set < 2; ++set)
      text_->record_step(step_to[set], arena, state, step_ids, 1, logits, next, next_logit, set, &reorder);
    BeamSearch search(b, int(beams), prompt, max_len, gen.length_penalty, gen.early_stopping, uint32_t(tc.sep),
                      gen.min_length);
    for (int64_t len = lp, k = 0; !search.done(); ++k) {
      logits_download();
      search.step(row_logits.data(), vocab, tokens, source);
      ++len;
      if (search.done()) break;
      advance(len);
      tensor_upload(ctx_, reorder, source.data(), source.size() * 4);
      step_to[(k + 1) % 2].run();
    }
    const auto best = search.best();
    for (int64_t i = 0; i < b; ++i) results[size_t(i)].ids = best[size_t(i)];
  } else {
    // Greedy (§5.1) on the device's argmax, or host-side choice when sampling or min_length needs
    // the logits. Finished rows get pad.
    Sequence decode(ctx_);
    text_->record_step(decode, arena, state, step_ids, 1, logits, next, next_logit);
    std::mt19937_64 rng(gen.seed);
    std::vector<bool> finished(static_cast<size_t>(rows), false);
    for (int64_t len = lp; len < max_len;) {
      const bool forbid_eos = len < gen.min_length;
      if (gen.do_sample || forbid_eos) {
        logits_download();
        for (int64_t i = 0; i < rows; ++i) {
          float* row = row_logits.data() + i * vocab;
          if (forbid_eos) row[tc.sep] = -INFINITY;
          tokens[size_t(i)] = gen.do_sample ? sample_token(row, vocab, gen, rng)
                                            : uint32_t(std::max_element(row, row + vocab) - row);
        }
      } else {
        tensor_download(ctx_, next, tokens.data(), tokens.size() * 4);
      }
      bool all_done = true;
      for (int64_t i = 0; i < rows; ++i) {
        uint32_t& tok = tokens[size_t(i)];
        if (finished[size_t(i)]) tok = uint32_t(tc.pad);
        else results[size_t(i)].ids.push_back(tok);
        if (tok == uint32_t(tc.sep) && !gen.ignore_eos) finished[size_t(i)] = true;
        all_done = all_done && finished[size_t(i)];
      }
      ++len;
      if (all_done || len >= max_len) break;
      advance(len);
      decode.run();
    }
  }
  const double decode_ms = ms_since(t1);
  for (auto& r : results) {
    r.text = tok_->decode(r.ids);
    r.encode_ms = encode_ms;
    r.decode_ms = decode_ms;
  }
  return results;
}

}  // namespace glimpse
