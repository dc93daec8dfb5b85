// libFuzzer: SentencePiece model files (sentencepiece.bpe.model, a protobuf) on arbitrary bytes.
// A model that loads then normalises, encodes and decodes a fixed sentence and decodes every id.
#include "tests/fuzz/fuzz-file.hpp"
#include "text/sentencepiece.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;
  fuzz::refused_cleanly([&] {
    const SentencePieceTokenizer sp =
        SentencePieceTokenizer::parse(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.model");
    const char* const sentence = "  A caf\xc3\xa9\xe3\x80\x80 <mask>\xef\xbd\x88 123!  ";
    (void)sp.normalize(sentence);
    (void)sp.decode(sp.encode(sentence), false);
    std::vector<uint32_t> all;
    for (uint32_t i = 0; i < sp.size() + 2 && i < 4096; ++i) all.push_back(i);
    (void)sp.decode(all, false);
  });
  return 0;
}
