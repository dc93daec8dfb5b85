// GPT-2 byte-level BPE on the real GPT-2 files, against goldens from tools/bpe-reference.py.
#include "runtime/error.hpp"
#include "text/bpe.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <filesystem>
#include <fstream>

using namespace glimpse;
namespace fs = std::filesystem;

TEST_CASE("BPE encodes and decodes like the reference on GPT-2's vocabulary", "[text][bpe]") {
  const fs::path dir = fs::path(GLIMPSE_SHARED_DIR) / "tokenizers/gpt2";
  if (!fs::exists(dir / "vocab.json")) {
    WARN("skipped: " << dir << " is absent (it exists in CI and next to the project checkout)");
    return;
  }
  const BytePairTokenizer tok = BytePairTokenizer::from_folder(dir.string());
  CHECK(tok.size() == 50257);
  CHECK(tok.eos_id() == 50256);
  std::ifstream in(fs::path(GLIMPSE_TEST_DATA) / "bpe/gpt2.jsonl");
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
    const auto ids = tok.encode(text);
    CHECK(ids == j["ids"].get<std::vector<uint32_t>>());
    CHECK(tok.decode(ids) == j["decoded"].get<std::string>());
    ++cases;
  }
  CHECK(cases >= 8);
  CHECK(tok.decode({50256, 64, 50256}, false) == "<|endoftext|>a<|endoftext|>");
  CHECK_THROWS_WITH(tok.encode("bad \xc3"), Catch::Contains("invalid UTF-8"));
}

TEST_CASE("BPE pre-split follows GPT-2's pattern, alternative by alternative", "[text][bpe]") {
  const fs::path dir = fs::temp_directory_path() / ("glimpse-bpe-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "vocab.json") << R"({"<|endoftext|>": 0, "a": 1})";
  std::ofstream(dir / "merges.txt") << "#version: 0.2\n";
  const BytePairTokenizer tok = BytePairTokenizer::from_files((dir / "vocab.json").string(), (dir / "merges.txt").string());
  using V = std::vector<std::string>;
  CHECK(tok.pre_split("it's  a\n\nb c ") == V{"it", "'s", " ", " a", "\n", "\n", "b", " c", " "});
  CHECK(tok.pre_split("x  \ty") == V{"x", "  ", "\t", "y"});
  CHECK(tok.pre_split("3.14 ok!!") == V{"3", ".", "14", " ok", "!!"});
  std::ofstream(dir / "merges.txt") << "#version: 0.2\nbad line here\n";
  CHECK_THROWS_WITH(BytePairTokenizer::from_files((dir / "vocab.json").string(), (dir / "merges.txt").string()),
                    Catch::Contains("merges.txt:2: expected 'left right'"));
  std::ofstream(dir / "merges.txt") << "#version: 0.2\n";
  std::ofstream(dir / "vocab.json") << R"({"a": 0})";
  CHECK_THROWS_WITH(BytePairTokenizer::from_files((dir / "vocab.json").string(), (dir / "merges.txt").string()),
                    Catch::Contains("has no </s> token"));
  fs::remove_all(dir);
}

TEST_CASE("BPE special tokens: the map files' and tokenizer.json's special added tokens, all of them", "[text][bpe]") {
  // skip_special_tokens drops every special token transformers knows: those special_tokens_map.json
  // names and tokenizer.json's added tokens marked special. Each one's text also stands for itself.
  const fs::path dir = fs::temp_directory_path() / ("glimpse-bpe-specials-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << R"({"added_tokens": [{"id": 1, "content": "<x>", "special": true},
      {"id": 3, "content": "</s>", "special": true}, {"id": 4, "content": "<z>", "special": false}],
      "model": {"type": "BPE", "vocab": {"a": 0, "<x>": 1, "<y>": 2, "</s>": 3, "<z>": 4}, "merges": []}})";
  std::ofstream(dir / "special_tokens_map.json") << R"({"eos_token": "</s>", "additional_special_tokens": ["<y>"]})";
  const BytePairTokenizer tok = BytePairTokenizer::from_folder(dir.string());
  CHECK(tok.eos_id() == 3);
  CHECK(tok.encode("a<y>a<x></s>") == std::vector<uint32_t>{0, 2, 0, 1, 3});
  CHECK(tok.decode({0, 1, 2, 3, 4, 0}) == "a<z>a");
  CHECK(tok.decode({0, 1, 2, 3}, false) == "a<x><y></s>");
  fs::remove_all(dir);
}
