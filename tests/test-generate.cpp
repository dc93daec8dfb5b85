// The logits processors of text/generate.hpp (LogitsRules) on hand-made sequences, and beam search
// under forced tokens. The model tests hold them to transformers end to end (Florence-2 decodes
// with no_repeat_ngram_size 3, forced bos and forced eos).
#include "text/generate.hpp"

#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

using namespace glimpse;

namespace {
std::vector<int> masked(const std::vector<float>& row) {
  std::vector<int> out;
  for (size_t i = 0; i < row.size(); ++i)
    if (std::isinf(row[i]) && row[i] < 0) out.push_back(int(i));
  return out;
}
}  // namespace

TEST_CASE("no_repeat_ngram_size forbids what followed earlier occurrences of the last n - 1 tokens", "[text][generate]") {
  LogitsRules r;
  r.no_repeat_ngram_size = 3;
  r.max_length = 100;
  std::vector<float> row(10, 1.0f);
  CHECK_FALSE(r.active(1));
  CHECK(r.active(2));
  r.apply({2, 0, 5, 7, 5, 7, 3, 5, 7}, row.data(), 10);  // (5, 7) was followed by 5 and by 3
  CHECK(masked(row) == std::vector<int>{3, 5});
  row.assign(10, 1.0f);
  r.apply({2, 0, 5}, row.data(), 10);  // (0, 5) never came before
  CHECK(masked(row).empty());
  row.assign(10, 1.0f);
  r.no_repeat_ngram_size = 2;
  r.apply({1, 2, 1}, row.data(), 10);
  CHECK(masked(row) == std::vector<int>{2});
  row.assign(10, 1.0f);
  r.no_repeat_ngram_size = 1;  // every token already in the sequence
  r.apply({4, 9, 4}, row.data(), 10);
  CHECK(masked(row) == std::vector<int>{4, 9});
}

TEST_CASE("forced bos and eos leave one token at score 0, and win over the other rules", "[text][generate]") {
  GenerationConfig g;
  g.no_repeat_ngram_size = 2;
  g.min_length = 6;
  g.forced_bos_token_id = 0;
  g.forced_eos_token_id = 2;
  const LogitsRules r = LogitsRules::of(g, 2, 5);
  std::vector<float> row(6, 0.5f);
  r.apply({2}, row.data(), 6);
  CHECK(masked(row) == std::vector<int>{1, 2, 3, 4, 5});
  CHECK(row[0] == 0.0f);
  row.assign(6, 0.5f);
  r.apply({2, 0, 3}, row.data(), 6);  // min_length masks eos; no n-gram repeats yet
  CHECK(masked(row) == std::vector<int>{2});
  row.assign(6, 0.5f);
  r.apply({2, 0, 3, 2}, row.data(), 6);  // the length limit: eos forced although min_length and the 2-gram (2, 0)
  CHECK(masked(row) == std::vector<int>{0, 1, 3, 4, 5});
  CHECK(row[2] == 0.0f);
  CHECK(r.active(1));
  CHECK(r.active(4));
  const LogitsRules none = LogitsRules::of(GenerationConfig{}, 2, 5);
  for (int64_t len = 0; len < 6; ++len) CHECK_FALSE(none.active(len));
}

TEST_CASE("beam search under forced tokens: the forced bos costs nothing and the limit ends in eos", "[text][generate]") {
  // A fixed model: token 3 is likely after anything, eos (2) unlikely; bos (0) very unlikely.
  const int64_t vocab = 5;
  const std::vector<float> logits_row = {-8.0f, 0.0f, -3.0f, 2.0f, 1.0f};
  GenerationConfig g;
  g.forced_bos_token_id = 0;
  g.forced_eos_token_id = 2;
  g.no_repeat_ngram_size = 2;
  const int64_t max_length = 6;
  BeamSearch search(1, 3, {2}, 1.0f, true, LogitsRules::of(g, 2, max_length));
  std::vector<uint32_t> tokens, source;
  int steps = 0;
  while (!search.done()) {
    std::vector<float> logits;
    for (int j = 0; j < 3; ++j) logits.insert(logits.end(), logits_row.begin(), logits_row.end());
    search.step(logits.data(), vocab, tokens, source);
    if (steps == 0) CHECK(tokens == std::vector<uint32_t>{0, 0, 0});  // every live beam takes the forced bos
    ++steps;
  }
  const std::vector<uint32_t> best = search.best().at(0);
  REQUIRE(best.size() == size_t(max_length));
  CHECK(best[0] == 2);
  CHECK(best[1] == 0);
  CHECK(best.back() == 2);  // forced at the limit
  // no 2-gram twice: 3 and 4 alternate where 3 alone would repeat (3, 3)
  for (size_t i = 1; i + 1 < best.size(); ++i)
    for (size_t j = i + 1; j + 1 < best.size(); ++j) CHECK_FALSE((best[i] == best[j] && best[i + 1] == best[j + 1]));
}
