// libFuzzer: WordPiece (BERT) encoding of arbitrary bytes with the real bert-base-uncased
// vocabulary when ../shared is there, else the test vocabulary; then decoding the ids. Invalid
// UTF-8 must be refused with an Error, never read past the input.
#include "tests/fuzz/fuzz-file.hpp"
#include "text/wordpiece.hpp"

#include <filesystem>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;
  static const WordPiece tok = [] {
    const std::string shared = GLIMPSE_SHARED_DIR "/tokenizers/bert-base-uncased/vocab.txt";
    return WordPiece::from_vocab_txt(std::filesystem::exists(shared) ? shared
                                                                     : GLIMPSE_TEST_DATA "/blip/tiny-base/vocab.txt");
  }();
  fuzz::refused_cleanly([&] {
    const std::vector<uint32_t> ids = tok.encode(std::string_view(reinterpret_cast<const char*>(data), size));
    (void)tok.decode(ids, true);
    (void)tok.decode(ids, false);
  });
  return 0;
}
