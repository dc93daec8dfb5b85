// libFuzzer: tokenizer files on arbitrary bytes: tokenizer.json (WordPiece and BPE readers),
// vocab.txt, and vocab.json + merges.txt (the input split at its first NUL byte). A tokenizer that
// loads then encodes and decodes a fixed sentence.
#include "tests/fuzz/fuzz-file.hpp"
#include "text/bpe.hpp"
#include "text/wordpiece.hpp"

#include <algorithm>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;
  const char* const sentence = "A dog's photo, caf\xc3\xa9 \xe4\xb8\xad 123!";
  const std::string tj = fuzz::write_file("tokenizer.json", data, size);
  fuzz::refused_cleanly([&] {
    const WordPiece wp = WordPiece::from_tokenizer_json(tj);
    (void)wp.decode(wp.encode(sentence));
  });
  fuzz::refused_cleanly([&] {
    const BytePairTokenizer bpe = BytePairTokenizer::from_tokenizer_json(tj);
    (void)bpe.decode(bpe.encode(sentence));
  });
  const std::string vt = fuzz::write_file("vocab.txt", data, size);
  fuzz::refused_cleanly([&] {
    const WordPiece wp = WordPiece::from_vocab_txt(vt);
    (void)wp.decode(wp.encode(sentence));
  });
  const uint8_t* nul = std::find(data, data + size, uint8_t(0));
  const std::string vj = fuzz::write_file("vocab.json", data, size_t(nul - data));
  const size_t rest = nul == data + size ? 0 : size_t(data + size - nul - 1);
  const std::string mt = fuzz::write_file("merges.txt", nul + (rest ? 1 : 0), rest);
  fuzz::refused_cleanly([&] {
    const BytePairTokenizer bpe = BytePairTokenizer::from_files(vj, mt);
    (void)bpe.decode(bpe.encode(sentence));
  });
  return 0;
}
