// The WordPiece tokenizer on the real bert-base-uncased vocabulary, against goldens from
// tools/wordpiece-reference.py (written from the spec with Python's unicodedata).
#include "runtime/error.hpp"
#include "text/unicode.hpp"
#include "text/wordpiece.hpp"

#include <catch2/catch.hpp>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

using namespace glimpse;
namespace fs = std::filesystem;

namespace {

const fs::path kVocab = fs::path(GLIMPSE_SHARED_DIR) / "tokenizers/bert-base-uncased/vocab.txt";

bool have_vocab() {
  if (fs::exists(kVocab)) return true;
  WARN("skipped: " << kVocab << " is absent (it exists in CI and next to the project checkout)");
  return false;
}

}  // namespace

TEST_CASE("WordPiece encodes and decodes like the reference on bert-base-uncased", "[text][wordpiece]") {
  if (!have_vocab()) return;
  const WordPiece tok = WordPiece::from_vocab_txt(kVocab.string());
  REQUIRE(tok.size() == 30522);
  CHECK(tok.cls_id() == 101);
  CHECK(tok.sep_id() == 102);
  CHECK(tok.unk_id() == 100);
  CHECK(tok.pad_id() == 0);
  std::ifstream in(fs::path(GLIMPSE_TEST_DATA) / "wordpiece/bert-base-uncased.jsonl");
  REQUIRE(in.good());
  std::string line;
  int cases = 0;
  while (std::getline(in, line)) {
    const auto j = nlohmann::json::parse(line);
    if (j.contains("decode_only")) {
      CHECK(tok.decode(j["decode_only"].get<std::vector<uint32_t>>()) == j["decoded"].get<std::string>());
      continue;
    }
    const std::string text = j["text"].get<std::string>();
    INFO("text: " << text);
    CHECK(tok.basic_tokenize(text) == j["basic"].get<std::vector<std::string>>());
    const auto ids = tok.encode(text);
    CHECK(ids == j["ids"].get<std::vector<uint32_t>>());
    CHECK(tok.decode(ids) == j["decoded"].get<std::string>());
    ++cases;
  }
  CHECK(cases >= 15);
  CHECK(tok.decode({101, 2048, 8870, 102}, false) == "[CLS] two cats [SEP]");
}

TEST_CASE("WordPiece rejects invalid UTF-8 and broken vocabularies", "[text][wordpiece]") {
  CHECK_THROWS_WITH(unicode::utf8_decode("ok \xff"), "invalid UTF-8 at byte 3: unexpected byte 0xff");
  CHECK_THROWS_WITH(unicode::utf8_decode("\xc3"), Catch::Contains("cut off at the end"));
  CHECK_THROWS_WITH(unicode::utf8_decode("\xc0\xaf"), Catch::Contains("overlong"));
  CHECK_THROWS_WITH(unicode::utf8_decode("\xed\xa0\x80"), Catch::Contains("not a Unicode scalar value"));
  CHECK(unicode::utf8_encode(unicode::utf8_decode("é😀")) == "é😀");

  const fs::path dir = fs::temp_directory_path() / ("glimpse-wp-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "vocab.txt") << "[PAD]\n[UNK]\n[CLS]\nhello\n";
  CHECK_THROWS_WITH(WordPiece::from_vocab_txt((dir / "vocab.txt").string()), Catch::Contains("has no [SEP] token"));
  std::ofstream(dir / "vocab.txt") << "[PAD]\n[UNK]\n[CLS]\n[SEP]\nhello\n##s\n";
  const WordPiece small = WordPiece::from_vocab_txt((dir / "vocab.txt").string());
  CHECK(small.encode("Hellos hello!") == std::vector<uint32_t>{2, 4, 5, 4, 1, 3});  // "!" is unknown
  CHECK_THROWS_WITH(small.encode("bad \xfe"), Catch::Contains("invalid UTF-8"));
  CHECK_THROWS_WITH(WordPiece::from_vocab_txt((dir / "missing.txt").string()), Catch::Contains("cannot open"));

  std::ofstream(dir / "tokenizer.json")
      << R"({"added_tokens": [{"id": 0, "content": "[PAD]", "special": true}],
             "normalizer": {"type": "BertNormalizer", "lowercase": false, "strip_accents": null,
                            "clean_text": true, "handle_chinese_chars": true},
             "model": {"type": "WordPiece", "unk_token": "[UNK]", "continuing_subword_prefix": "##",
                       "max_input_chars_per_word": 100,
                       "vocab": {"[PAD]": 0, "[UNK]": 1, "[CLS]": 2, "[SEP]": 3, "Hello": 4, "##s": 5, "hello": 6}}})";
  const WordPiece cased = WordPiece::from_tokenizer_json((dir / "tokenizer.json").string());
  CHECK(cased.encode("Hellos hello") == std::vector<uint32_t>{2, 4, 5, 6, 3});  // lowercase off
  std::ofstream(dir / "tokenizer.json") << R"({"model": {"type": "BPE", "vocab": {}}})";
  CHECK_THROWS_WITH(WordPiece::from_tokenizer_json((dir / "tokenizer.json").string()),
                    Catch::Contains("model type 'BPE' is not WordPiece"));
  fs::remove_all(dir);
}
