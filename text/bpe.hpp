// GPT-2's byte-level BPE tokenizer (docs/models/vit-gpt2.md), also RoBERTa's (TrOCR,
// docs/models/trocr.md): the GPT-2 pre-split pattern, bytes mapped to printable characters, merges
// applied in rank order; decoding maps characters back to bytes and replaces invalid UTF-8 (a
// character may span tokens). The special tokens are the folder's (GPT-2: <|endoftext|>;
// RoBERTa: <s> <pad> </s> <unk> <mask>).
#pragma once

#include "text/tokenizer.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace glimpse {

class BytePairTokenizer : public TextTokenizer {
 public:
  // The special tokens of a folder's tokenizer files, and which of them ends a sequence.
  struct Specials {
    std::vector<std::string> tokens;  // empty (and no added_tokens): GPT-2's <|endoftext|>
    std::string eos;                  // empty: <|endoftext|> when the vocabulary has it, else </s>
  };
  static BytePairTokenizer from_files(const std::string& vocab_json, const std::string& merges_txt,
                                      const Specials& specials = {});
  static BytePairTokenizer from_tokenizer_json(const std::string& path, const Specials& specials = {});
  // A model folder: tokenizer.json when present, else vocab.json + merges.txt; the special tokens
  // are those special_tokens_map.json and tokenizer_config.json name and tokenizer.json's special
  // added_tokens, all of them (skip_special_tokens drops every one).
  static BytePairTokenizer from_folder(const std::string& dir);
  static Specials folder_specials(const std::string& dir);

  // The GPT-2 pre-split of `text` (pieces of the original text).
  std::vector<std::string> pre_split(std::string_view text) const;
  // Ids of `text` (no special tokens added; a special token's text, e.g. "<|endoftext|>", maps to
  // its id). Throws Error on invalid UTF-8.
  std::vector<uint32_t> encode(std::string_view text) const override;
  // Text of `ids`; with skip_special, the special tokens' ids are dropped.
  std::string decode(const std::vector<uint32_t>& ids, bool skip_special = true) const override;

  int64_t id(const std::string& token) const;
  // tokenizer.add_special_tokens: each of `tokens` not in the vocabulary yet takes the next id
  // (size()), in order; all of them become special (split out before BPE, dropped by
  // skip_special). Florence-2's processor adds its task, region and location tokens this way.
  void add_special_tokens(const std::vector<std::string>& tokens);
  size_t size() const override { return tokens_.size(); }
  uint32_t eos_id() const { return eos_; }

 private:
  BytePairTokenizer(std::vector<std::string> tokens, std::vector<std::pair<std::string, std::string>> merges,
                    const std::string& source, const Specials& specials);
  void bpe(const std::string& mapped, std::vector<uint32_t>& out) const;

  std::vector<std::string> tokens_;  // token strings in byte-mapped characters (UTF-8)
  std::unordered_map<std::string, uint32_t> ids_;
  std::unordered_map<std::string, uint32_t> ranks_;  // "left right" -> merge rank
  std::vector<bool> special_;
  std::vector<std::string> special_texts_;  // in the vocabulary, longest first
  uint32_t eos_ = 0;
};

}  // namespace glimpse
