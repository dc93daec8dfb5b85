#include "text/generate.hpp"

#include "runtime/error.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace glimpse {

namespace {
constexpr float kNegLarge = -1.0e9f;  // HF's "impossible" beam score
}

void log_softmax_row(const float* logits, int64_t n, std::vector<float>& out) {
  out.resize(size_t(n));
  float m = -INFINITY;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, logits[i]);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += std::exp(double(logits[i]) - m);
  const float lse = m + float(std::log(s));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = logits[i] - lse;
}

LogitsRules LogitsRules::of(const GenerationConfig& gen, uint32_t eos, int64_t max_length) {
  LogitsRules r;
  r.min_length = gen.min_length;
  r.max_length = max_length;
  r.no_repeat_ngram_size = gen.no_repeat_ngram_size;
  r.forced_bos = gen.forced_bos_token_id;
  r.forced_eos = gen.forced_eos_token_id;
  r.eos = eos;
  return r;
}

bool LogitsRules::active(int64_t cur_len) const {
  return cur_len < min_length || (no_repeat_ngram_size > 0 && cur_len + 1 >= no_repeat_ngram_size) ||
         (forced_bos >= 0 && cur_len == 1) || (forced_eos >= 0 && cur_len == max_length - 1);
}

void LogitsRules::apply(const std::vector<uint32_t>& ids, float* row, int64_t vocab) const {
  const int64_t cur_len = int64_t(ids.size()), n = no_repeat_ngram_size;
  // NoRepeatNGramLogitsProcessor: every token that would repeat an n-gram of the sequence, i.e.
  // that followed an earlier occurrence of the last n - 1 tokens.
  if (n > 0 && cur_len + 1 >= n) {
    const int64_t tail = cur_len - (n - 1);
    for (int64_t s = 0; s + n <= cur_len; ++s)
      if (std::equal(ids.begin() + s, ids.begin() + s + n - 1, ids.begin() + tail) && ids[size_t(s + n - 1)] < vocab)
        row[ids[size_t(s + n - 1)]] = -INFINITY;
  }
  if (cur_len < min_length && eos < vocab) row[eos] = -INFINITY;  // MinLengthLogitsProcessor
  // ForcedBOSTokenLogitsProcessor / ForcedEOSTokenLogitsProcessor: everything else -inf.
  const int64_t forced = forced_bos >= 0 && cur_len == 1             ? forced_bos
                         : forced_eos >= 0 && cur_len == max_length - 1 ? forced_eos
                                                                      : -1;
  if (forced >= 0 && forced < vocab) {
    std::fill(row, row + vocab, -INFINITY);
    row[forced] = 0.0f;
  }
}

BeamSearch::BeamSearch(int64_t batch, int num_beams, const std::vector<uint32_t>& prompt, float length_penalty,
                       bool early_stopping, const LogitsRules& rules)
    : batch_(batch), beams_(num_beams), prompt_len_(int64_t(prompt.size())), rules_(rules),
      length_penalty_(length_penalty), early_stopping_(early_stopping),
      cur_len_(int64_t(prompt.size())) {
  if (num_beams < 1) fail("beam search: num_beams must be at least 1");
  running_.assign(size_t(batch), {});
  finished_.assign(size_t(batch), {});
  for (int64_t b = 0; b < batch; ++b)
    for (int j = 0; j < num_beams; ++j) {
      // Only beam 0 is live at the start, so the first step expands a single hypothesis.
      running_[size_t(b)].push_back({j == 0 ? 0.0f : kNegLarge, prompt, false});
      finished_[size_t(b)].push_back({kNegLarge, {}, false});
    }
  done_ = cur_len_ >= rules_.max_length;
}

void BeamSearch::step(const float* logits, int64_t vocab, std::vector<uint32_t>& tokens,
                      std::vector<uint32_t>& source_rows) {
  if (done_) fail("beam search: step after the search ended");
  const int64_t k2 = 2 * beams_;
  tokens.assign(size_t(batch_ * beams_), 0);
  source_rows.assign(size_t(batch_ * beams_), 0);
  std::vector<float> lp;
  struct Cand {
    float value;
    int64_t flat;  // beam * vocab + token: ties go to the lower index
  };
  bool all_hit = true;
  for (int64_t b = 0; b < batch_; ++b) {
    // Top 2K of running score + log_softmax over every beam's vocabulary.
    std::vector<Cand> cands;
    for (int64_t j = 0; j < beams_; ++j) {
      const float* row = logits + (b * beams_ + j) * vocab;
      log_softmax_row(row, vocab, lp);
      // The processors see the log-probabilities (transformers' _beam_search: log_softmax, then
      // the logits processor).
      if (rules_.active(cur_len_)) rules_.apply(running_[size_t(b)][size_t(j)].ids, lp.data(), vocab);
      const float base = running_[size_t(b)][size_t(j)].score;
      for (int64_t v = 0; v < vocab; ++v) cands.push_back({lp[size_t(v)] + base, j * vocab + v});
    }
    auto better = [](const Cand& a, const Cand& c) { return a.value > c.value || (a.value == c.value && a.flat < c.flat); };
    std::partial_sort(cands.begin(), cands.begin() + k2, cands.end(), better);
    cands.resize(size_t(k2));
    std::vector<Hyp> cand_hyps;
    std::vector<bool> hits;
    std::vector<int64_t> from;
    for (const Cand& c : cands) {
      const int64_t j = c.flat / vocab;
      const uint32_t tok = uint32_t(c.flat % vocab);
      Hyp h{c.value, running_[size_t(b)][size_t(j)].ids, false};
      h.ids.push_back(tok);
      cand_hyps.push_back(std::move(h));
      hits.push_back(tok == rules_.eos || cur_len_ + 1 == rules_.max_length);
      from.push_back(j);
      all_hit = all_hit && hits.back();
    }
    // Next running beams: the best candidates that did not hit.
    std::vector<int64_t> order(static_cast<size_t>(k2));
    std::iota(order.begin(), order.end(), 0);
    auto running_value = [&](int64_t c) { return cand_hyps[size_t(c)].score + (hits[size_t(c)] ? kNegLarge : 0.0f); };
    std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t c) { return running_value(a) > running_value(c); });
    std::vector<Hyp> next_running;
    for (int64_t j = 0; j < beams_; ++j) {
      const int64_t c = order[size_t(j)];
      next_running.push_back({running_value(c), cand_hyps[size_t(c)].ids, false});
      tokens[size_t(b * beams_ + j)] = cand_hyps[size_t(c)].ids.back();
      source_rows[size_t(b * beams_ + j)] = uint32_t(b * beams_ + from[size_t(c)]);
    }
    // Finished: hits among the top num_beams candidates, length-normalised, merged with the set.
    bool full = true;
    for (const Hyp& f : finished_[size_t(b)]) full = full && f.finished;
    const float norm = std::pow(float(cur_len_ + 1 - prompt_len_), length_penalty_);
    std::vector<Hyp> merged = finished_[size_t(b)];
    for (int64_t c = 0; c < k2; ++c) {
      const bool qualifies = hits[size_t(c)] && c < beams_;
      float score = cand_hyps[size_t(c)].score / norm;
      if (early_stopping_ && full) score += kNegLarge;
      if (!qualifies) score += kNegLarge;
      merged.push_back({score, cand_hyps[size_t(c)].ids, qualifies});
    }
    std::stable_sort(merged.begin(), merged.end(), [](const Hyp& a, const Hyp& c) { return a.score > c.score; });
    merged.resize(size_t(beams_));
    finished_[size_t(b)] = std::move(merged);
    running_[size_t(b)] = std::move(next_running);
  }
  ++cur_len_;

  // Go on while some open beam can still beat a finished one (docs/generation.md, beam search).
  bool improvement = false, all_finished = true;
  for (int64_t b = 0; b < batch_; ++b) {
    const float denom = std::pow(float(cur_len_ - prompt_len_), length_penalty_);
    const float best_running = running_[size_t(b)][0].score / denom;
    float worst = INFINITY;
    for (const Hyp& f : finished_[size_t(b)]) worst = std::min(worst, f.score);
    for (const Hyp& f : finished_[size_t(b)]) {
      improvement = improvement || best_running > (f.finished ? worst : kNegLarge);
      all_finished = all_finished && f.finished;
    }
  }
  const bool open_beam = !(all_finished && early_stopping_);
  done_ = cur_len_ >= rules_.max_length || !(improvement && open_beam && !all_hit);
}

std::vector<std::vector<uint32_t>> BeamSearch::best() const {
  std::vector<std::vector<uint32_t>> out;
  for (const auto& f : finished_) out.push_back(f[0].finished ? f[0].ids : std::vector<uint32_t>{});
  return out;
}

uint32_t sample_token(const float* logits, int64_t n, const GenerationConfig& cfg, std::mt19937_64& rng) {
  // HF's warper order: temperature, top-k, top-p; then softmax and a multinomial draw.
  std::vector<std::pair<float, uint32_t>> v;
  v.reserve(size_t(n));
  const float t = cfg.temperature > 0 ? cfg.temperature : 1.0f;
  for (int64_t i = 0; i < n; ++i) v.push_back({logits[i] / t, uint32_t(i)});
  std::stable_sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  size_t keep = v.size();
  if (cfg.top_k > 0) keep = std::min(keep, size_t(cfg.top_k));
  double total = 0;
  std::vector<double> p(keep);
  for (size_t i = 0; i < keep; ++i) total += (p[i] = std::exp(double(v[i].first - v[0].first)));
  if (cfg.top_p < 1.0f) {  // smallest prefix whose probability reaches top_p (at least one token)
    double acc = 0;
    size_t cut = 0;
    while (cut < keep && acc < cfg.top_p * total) acc += p[cut++];
    keep = std::max<size_t>(cut, 1);
  }
  std::discrete_distribution<size_t> pick(p.begin(), p.begin() + long(keep));
  return v[pick(rng)].second;
}

}  // namespace glimpse
