// Tokenizers take time linear in their input: a question or prompt of repeated special tokens, or
// one very long word, once cost quadratic time (200 KB of "[SEP]": 17.8 s) before any length
// check could refuse it. 100 KB of input may cost at most 32 times what 10 KB costs: the geometric
// midpoint between linear (10 times) and quadratic (100 times) work, i.e. a growth exponent
// below 1.5. (20 was too tight: under ASan on a busy 2-core machine a linear WordPiece run measured
// 20.7.) Each figure is the fastest of five runs.
#include "text/bpe.hpp"
#include "text/wordpiece.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <functional>
#include <string>

using namespace glimpse;
namespace fs = std::filesystem;

namespace {

const fs::path kData = fs::path(GLIMPSE_TEST_DATA);
constexpr double kMaxGrowth = 32;  // 100 KB vs 10 KB: linear 10, quadratic 100

double fastest_seconds(const std::function<void()>& fn) {
  double best = 1e30;
  for (int r = 0; r < 5; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

std::string repeat(const std::string& unit, size_t bytes) {
  std::string s;
  while (s.size() < bytes) s += unit;
  return s;
}

// Pseudo-random lowercase letters, no spaces: one word.
std::string letters(size_t bytes) {
  std::string s;
  for (uint32_t x = 12345; s.size() < bytes; x = x * 1103515245u + 12345u) s += char('a' + (x >> 16) % 26);
  return s;
}

// How much more 100 KB costs than 10 KB, the input made by `make(bytes)`.
double growth_of(const std::function<std::string(size_t)>& make, const std::function<size_t(const std::string&)>& encode) {
  const std::string small = make(10'000), big = make(100'000);
  size_t ids = 0;
  const double t_small = fastest_seconds([&] { ids += encode(small); });
  const double t_big = fastest_seconds([&] { ids += encode(big); });
  CHECK(ids > 0);
  return t_big / std::max(t_small, 1e-6);
}

double growth(const std::string& unit, const std::function<size_t(const std::string&)>& encode) {
  return growth_of([&](size_t bytes) { return repeat(unit, bytes); }, encode);
}

}  // namespace

TEST_CASE("tokenizers take time linear in their input", "[text]") {
  WordPieceOptions wide;
  wide.max_word_chars = 1'000'000;  // as a folder's max_input_chars_per_word may say
  const WordPiece wp = WordPiece::from_vocab_txt((kData / "blip/tiny-base/vocab.txt").string(), wide);
  const auto wp_encode = [&](const std::string& s) { return wp.encode(s).size(); };
  for (const char* unit : {"[SEP]", "[SEP] a photo ", "a"}) {
    INFO("WordPiece input: repeated '" << unit << "'");
    CHECK(growth(unit, wp_encode) < kMaxGrowth);
  }
  // Still exact: the special tokens stand for themselves, the longest first where two start at
  // one place, and a word no piece covers is one [UNK].
  CHECK(wp.encode("a[SEP]photo[MASK]") ==
        std::vector<uint32_t>{wp.cls_id(), uint32_t(wp.id("a")), wp.sep_id(), uint32_t(wp.id("photo")),
                              uint32_t(wp.id("[MASK]")), wp.sep_id()});
  CHECK(wp.encode(repeat("a", 500)) == std::vector<uint32_t>{wp.cls_id(), wp.unk_id(), wp.sep_id()});

  const BytePairTokenizer bpe = BytePairTokenizer::from_folder((kData / "vit-gpt2/tiny-wte").string());
  const auto bpe_encode = [&](const std::string& s) { return bpe.encode(s).size(); };
  for (const char* unit : {"ab", "the dog ", "<|endoftext|>"}) {
    INFO("BPE input: repeated '" << unit << "'");
    CHECK(growth(unit, bpe_encode) < kMaxGrowth);
  }
  // GPT-2's 50,000 merges: one long word of random letters takes more merge rounds the longer it
  // is, which the pairwise loop paid for with a scan of the whole word each.
  const fs::path gpt2 = fs::path(GLIMPSE_SHARED_DIR) / "tokenizers/gpt2";
  if (!fs::exists(gpt2 / "vocab.json")) {
    WARN("skipped the GPT-2 case: " << gpt2 << " is absent (it exists in CI and next to the project checkout)");
    return;
  }
  const BytePairTokenizer real = BytePairTokenizer::from_folder(gpt2.string());
  CHECK(growth_of(letters, [&](const std::string& s) { return real.encode(s).size(); }) < kMaxGrowth);
}
