// libFuzzer: GPT-2 byte-level BPE encoding of arbitrary bytes with the real GPT-2 files when
// ../shared is there, else the test tokenizer; then decoding the ids, and decoding the raw input
// read as token ids (out-of-range ids must be an Error). The same for Florence-2's tokenizer (BART's
// with the processor's 1024 added tokens split out first) and its task prompts.
#include "tests/fuzz/fuzz-file.hpp"
#include "fusion/florence2.hpp"
#include "text/bpe.hpp"

#include <cstring>
#include <filesystem>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;
  static const BytePairTokenizer tok = [] {
    const std::string shared = GLIMPSE_SHARED_DIR "/tokenizers/gpt2";
    return std::filesystem::exists(shared + "/vocab.json")
               ? BytePairTokenizer::from_files(shared + "/vocab.json", shared + "/merges.txt")
               : BytePairTokenizer::from_folder(GLIMPSE_TEST_DATA "/vit-gpt2/tiny-lmhead");
  }();
  fuzz::refused_cleanly([&] {
    const std::vector<uint32_t> ids = tok.encode(std::string_view(reinterpret_cast<const char*>(data), size));
    (void)tok.decode(ids, true);
  });
  static const BytePairTokenizer florence = [] {
    BytePairTokenizer t = BytePairTokenizer::from_folder(GLIMPSE_TEST_DATA "/florence2/tiny");
    t.add_special_tokens(florence2::added_tokens());
    return t;
  }();
  fuzz::refused_cleanly([&] {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto [task, rest] = florence2::split_task(text);
    const std::vector<uint32_t> ids =
        florence.encode(task.empty() ? text : florence2::construct_prompt(task, rest));
    (void)florence.decode(ids, false);
  });
  fuzz::refused_cleanly([&] {
    std::vector<uint32_t> ids(size / 4);
    if (!ids.empty()) std::memcpy(ids.data(), data, ids.size() * 4);
    (void)tok.decode(ids, false);
  });
  return 0;
}
