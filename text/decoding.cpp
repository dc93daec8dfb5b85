#include "text/decoding.hpp"

#include "runtime/error.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

namespace glimpse {

// Device state of one generate() call: per-row caches and the tensors each step uses.
struct Decoding::Request {
  Request(Allocator& a, Allocator& h) : arena(a), host(h) {}
  Allocator &arena, &host;
  int64_t inputs = 0, beams = 1, rows = 0;  // rows = inputs x beams
  DecodeState state;
  const CrossKv* cross = nullptr;
  Tensor logits;                 // [rows, V]
  Tensor next, next_logit;       // argmax of logits: u32 / f32 [rows], host-visible
  Tensor step_ids, reorder;      // the tokens a step feeds, the rows beams continue: u32 [rows]
  std::vector<uint32_t> tokens;  // host copy of step_ids
};

void Decoding::check(const GenerationConfig& gen) {
  if (gen.num_beams > 1 && gen.do_sample)
    fail(ErrorCode::InvalidArgument, "generate: beam search with sampling is not supported");
  if (gen.num_beams < 0 || gen.num_beams > kMaxBeams)
    fail(ErrorCode::InvalidArgument, "generate: num_beams ", gen.num_beams, " is outside [0, ", kMaxBeams,
         "] (0: the model's default)");
  if (gen.do_sample && !(gen.temperature > 0))
    fail(ErrorCode::InvalidArgument, "generate: sampling needs a temperature above 0, found ", gen.temperature);
  if (gen.do_sample && !(gen.top_p >= 0 && gen.top_p <= 1))
    fail(ErrorCode::InvalidArgument, "generate: top_p must be in [0, 1], found ", gen.top_p);
}

std::vector<std::vector<uint32_t>> Decoding::generate(const CrossKv& cross, int64_t batch,
                                                      const std::vector<uint32_t>& prompt, const GenerationConfig& gen,
                                                      int64_t max_len, std::vector<std::vector<float>>* logits0) {
  check(gen);
  if (prompt.empty()) fail(ErrorCode::Internal, "generate: empty decoder prompt");
  const DecoderTokens tk = decoder_.tokens();
  const int64_t lp = int64_t(prompt.size());
  Request rq(arena_, host_);
  rq.inputs = batch;
  rq.beams = std::max(1, gen.num_beams);
  rq.rows = batch * rq.beams;
  if (cross.batch * cross.beams != rq.rows)
    fail(ErrorCode::Internal, "internal error: generate() was given cross-attention K/V for ", cross.batch, " x ",
         cross.beams, " rows, needs ", rq.rows);
  rq.cross = &cross;
  rq.state = decoder_.decode_alloc(rq.arena, rq.host, rq.rows, std::max(max_len, lp), rq.beams > 1);
  rq.logits = rq.arena.alloc(DType::F32, {rq.rows, tk.vocab});
  rq.next = rq.host.alloc(DType::U32, {rq.rows});
  rq.next_logit = rq.host.alloc(DType::F32, {rq.rows});
  rq.step_ids = rq.host.alloc(DType::U32, {rq.rows});
  rq.reorder = rq.host.alloc(DType::U32, {rq.rows});
  rq.tokens.assign(size_t(rq.rows), 0);

  std::vector<std::vector<uint32_t>> ids(size_t(batch), prompt);
  check_stop(gen);
  prefill(rq, prompt, logits0);
  if (rq.beams > 1) decode_beam(rq, gen, prompt, max_len, ids);
  else decode_greedy(rq, gen, lp, max_len, ids);
  return ids;
}

void Decoding::prefill(Request& rq, const std::vector<uint32_t>& prompt, std::vector<std::vector<float>>* logits0) {
  const int64_t lp = int64_t(prompt.size()), vocab = decoder_.tokens().vocab;
  Tensor prompt_ids = rq.arena.alloc(DType::U32, {rq.rows * lp});
  std::vector<uint32_t> tiled;
  for (int64_t i = 0; i < rq.rows; ++i) tiled.insert(tiled.end(), prompt.begin(), prompt.end());
  tensor_upload(ctx_, prompt_ids, tiled.data(), tiled.size() * 4);
  const uint32_t zero = 0;
  tensor_upload(ctx_, rq.state.step, &zero, 4);
  Sequence seq(ctx_);
  decoder_.record_step(seq, rq.arena, rq.state, prompt_ids, lp, *rq.cross, rq.logits, rq.next, rq.next_logit);
  seq.dump("logits_step0", rq.logits);
  seq.run();
  if (logits0) {
    logits0->assign(size_t(rq.inputs), std::vector<float>(size_t(vocab)));
    for (int64_t i = 0; i < rq.inputs; ++i)
      tensor_download(ctx_, rq.logits, (*logits0)[size_t(i)].data(), size_t(vocab) * 4, size_t(i * rq.beams * vocab) * 4);
  }
}

// The new tokens sit at position len - 1: the step reads them and the cache length from there.
void Decoding::feed(Request& rq, int64_t len) {
  const uint32_t past = uint32_t(len - 1);
  tensor_upload(ctx_, rq.state.step, &past, 4);
  tensor_upload(ctx_, rq.step_ids, rq.tokens.data(), rq.tokens.size() * 4);
}

void Decoding::decode_greedy(Request& rq, const GenerationConfig& gen, int64_t len, int64_t max_len,
                             std::vector<std::vector<uint32_t>>& ids) {
  // Greedy (docs/generation.md) on the device's argmax; sampling and min_length choose on the host
  // from the logits. Finished rows get pad.
  const DecoderTokens tk = decoder_.tokens();
  const int64_t vocab = tk.vocab;
  Sequence step(ctx_);
  decoder_.record_step(step, rq.arena, rq.state, rq.step_ids, 1, *rq.cross, rq.logits, rq.next, rq.next_logit);
  std::mt19937_64 rng(gen.seed);
  std::vector<bool> finished(static_cast<size_t>(rq.rows), false);
  std::vector<float> logits;
  const LogitsRules rules = LogitsRules::of(gen, tk.eos, max_len);
  while (len < max_len) {
    const bool processed = rules.active(len);
    if (gen.do_sample || processed) {
      logits.resize(size_t(rq.rows * vocab));
      tensor_download(ctx_, rq.logits, logits.data(), logits.size() * 4);
      for (int64_t i = 0; i < rq.rows; ++i) {
        float* row = logits.data() + i * vocab;
        if (processed) rules.apply(ids[size_t(i)], row, vocab);
        rq.tokens[size_t(i)] = gen.do_sample ? sample_token(row, vocab, gen, rng)
                                             : uint32_t(std::max_element(row, row + vocab) - row);
      }
    } else {
      tensor_download(ctx_, rq.next, rq.tokens.data(), rq.tokens.size() * 4);
    }
    bool all_done = true;
    for (int64_t i = 0; i < rq.rows; ++i) {
      uint32_t& tok = rq.tokens[size_t(i)];
      if (finished[size_t(i)]) {
        tok = tk.pad;
      } else {
        ids[size_t(i)].push_back(tok);
        if (gen.on_token) gen.on_token(size_t(i), tok);
      }
      if (tok == tk.eos && !gen.ignore_eos) finished[size_t(i)] = true;
      all_done = all_done && finished[size_t(i)];
    }
    ++len;
    if (all_done || len >= max_len) break;
    check_stop(gen);
    feed(rq, len);
    step.run();
  }
}

void Decoding::decode_beam(Request& rq, const GenerationConfig& gen, const std::vector<uint32_t>& prompt,
                           int64_t max_len, std::vector<std::vector<uint32_t>>& ids) {
  // Beam search (docs/generation.md): steps alternate cache sets, each beam continuing its source
  // beam's cache.
  const int64_t vocab = decoder_.tokens().vocab;
  Sequence step_into[2] = {Sequence(ctx_), Sequence(ctx_)};
  for (int set = 0; set < 2; ++set)
    decoder_.record_step(step_into[set], rq.arena, rq.state, rq.step_ids, 1, *rq.cross, rq.logits, rq.next,
                         rq.next_logit, set, &rq.reorder);
  BeamSearch search(rq.inputs, int(rq.beams), prompt, gen.length_penalty, gen.early_stopping,
                    LogitsRules::of(gen, decoder_.tokens().eos, max_len));
  std::vector<float> logits(static_cast<size_t>(rq.rows * vocab));
  std::vector<uint32_t> source;
  for (int64_t len = int64_t(prompt.size()), k = 0;; ++k) {
    tensor_download(ctx_, rq.logits, logits.data(), logits.size() * 4);
    search.step(logits.data(), vocab, rq.tokens, source);
    ++len;
    if (search.done()) break;
    check_stop(gen);
    feed(rq, len);
    tensor_upload(ctx_, rq.reorder, source.data(), source.size() * 4);
    step_into[(k + 1) % 2].run();  // the prefill filled set 0
  }
  ids = search.best();
  if (gen.on_token)
    for (size_t i = 0; i < ids.size(); ++i)
      for (size_t t = prompt.size(); t < ids[i].size(); ++t) gen.on_token(i, ids[i][t]);
}

void Decoding::check_stop(const GenerationConfig& gen) {
  if (gen.should_stop && gen.should_stop()) fail(ErrorCode::Cancelled, "cancelled");
}

}  // namespace glimpse
