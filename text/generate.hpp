// Hugging Face GenerationMixin semantics on the host side of decoding (docs/generation.md):
// the settings, beam search bookkeeping, and sampling. The model computes logits on the device;
// greedy decoding takes their argmax there and needs none of this.
#pragma once

#include <cstdint>
#include <functional>
#include <random>
#include <vector>

namespace glimpse {

// Beams per input: each costs a row of every KV cache and of the cross-attention K/V.
inline constexpr int kMaxBeams = 64;

struct GenerationConfig {
  int max_length = 20;      // counts the prompt (HF default)
  int max_new_tokens = 0;   // when > 0: prompt + this many, overriding max_length
  int min_length = 0;       // eos is forbidden before the sequence is this long
  int num_beams = 0;        // 0: the model's default (Florence-2: its text_config's; the others: 1)
  float length_penalty = 1.0f;
  bool early_stopping = false;
  bool do_sample = false;   // sampling: temperature, then top-k, then top-p, then a draw
  float temperature = 1.0f;
  int top_k = 50;
  float top_p = 1.0f;
  uint64_t seed = 0;
  bool ignore_eos = false;  // benchmarks: always generate the full length
  // Logits processors (docs/generation.md), applied in transformers' order: no n-gram of this size
  // twice in a sequence (0: off), eos forbidden below min_length, then forced tokens: the first
  // generated one when the sequence holds a single id, the last one at the length limit (-1: off).
  int no_repeat_ngram_size = 0;
  int forced_bos_token_id = -1;
  int forced_eos_token_id = -1;
  // Checked before every device submission; returning true ends generation with Error "cancelled".
  std::function<bool()> should_stop;
  // Each generated token of input `index` as it is chosen (greedy and sampling; beam search
  // reports the winning sequence's tokens when it ends).
  std::function<void(size_t index, uint32_t token)> on_token;
};

// The logits processors of one generation (GenerationConfig's fields, the eos id and the length
// limit), applied to one row of scores of a sequence holding `ids`: the raw logits for greedy
// decoding and sampling, the log-probabilities for beam search (transformers' _beam_search processes
// after its log_softmax). Masked entries become -inf; a forced token's score becomes 0.
struct LogitsRules {
  int64_t min_length = 0, max_length = 0;
  int no_repeat_ngram_size = 0;
  int64_t forced_bos = -1, forced_eos = -1;
  uint32_t eos = 0;
  static LogitsRules of(const struct GenerationConfig& gen, uint32_t eos, int64_t max_length);
  // Whether any rule changes a row at this sequence length (else the device's argmax stands).
  bool active(int64_t cur_len) const;
  void apply(const std::vector<uint32_t>& ids, float* row, int64_t vocab) const;
};

// Vectorised beam search as transformers >= 4.50 runs it (docs/generation.md): 2 x num_beams
// candidates per step, hits (eos or the length limit) scored sum_logprob /
// generated_length^length_penalty into a per-input set of num_beams finished hypotheses, the rest
// carried on.
class BeamSearch {
 public:
  // The length limit and eos are the rules' (LogitsRules::of).
  BeamSearch(int64_t batch, int num_beams, const std::vector<uint32_t>& prompt, float length_penalty,
             bool early_stopping, const LogitsRules& rules);

  // logits: [batch * num_beams, vocab] of the current step. Fills the next token of every beam
  // row and the row each one continues (for reordering caches).
  void step(const float* logits, int64_t vocab, std::vector<uint32_t>& tokens, std::vector<uint32_t>& source_rows);
  bool done() const { return done_; }
  // The best finished sequence of each input (prompt included).
  std::vector<std::vector<uint32_t>> best() const;

 private:
  struct Hyp {
    float score;
    std::vector<uint32_t> ids;
    bool finished;
  };
  int64_t batch_, beams_, prompt_len_;
  LogitsRules rules_;
  float length_penalty_;
  bool early_stopping_;
  int64_t cur_len_;
  std::vector<std::vector<Hyp>> running_, finished_;  // [batch][beam]
  bool done_ = false;
};

// log_softmax of one row (max-subtracted, accumulated in double, as float like torch).
void log_softmax_row(const float* logits, int64_t n, std::vector<float>& out);

// Draws one token from `logits` (one row) with temperature, top-k and top-p filtering.
uint32_t sample_token(const float* logits, int64_t n, const GenerationConfig& cfg, std::mt19937_64& rng);

}  // namespace glimpse
