// The BERT WordPiece tokenizer (bert-base-uncased, as BLIP uses it): basic tokenisation
// (cleaning, CJK isolation, lowercasing, accent stripping, whitespace and punctuation splits),
// greedy longest-match WordPiece, and decoding with Hugging Face's clean-up. docs/models/blip.md.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace glimpse {

struct WordPieceOptions {
  bool lowercase = true;
  bool strip_accents = true;  // BertTokenizer: follows lowercase unless set
  bool clean_text = true;
  bool isolate_cjk = true;
  std::string unk = "[UNK]", cls = "[CLS]", sep = "[SEP]", pad = "[PAD]", mask = "[MASK]";
  std::string prefix = "##";  // continuing-subword prefix
  size_t max_word_chars = 100;
};

class WordPiece {
 public:
  // vocab.txt: one token per line, the id is the line number.
  static WordPiece from_vocab_txt(const std::string& path, const WordPieceOptions& opt = {});
  // tokenizer.json with a WordPiece model and (optionally) a BertNormalizer.
  static WordPiece from_tokenizer_json(const std::string& path);

  // Words and punctuation after basic tokenisation, before WordPiece.
  std::vector<std::string> basic_tokenize(std::string_view text) const;
  // Ids of `text` ([CLS] ... [SEP] with add_special); special-token strings in the text ("[SEP]")
  // map to their ids as HF's added tokens do. Throws Error on invalid UTF-8.
  std::vector<uint32_t> encode(std::string_view text, bool add_special = true) const;
  // Text of `ids`: special tokens skipped when asked, ids without a vocabulary entry dropped
  // (as the fast tokenizer does), "##" pieces glued, HF's clean-up of spaces applied.
  std::string decode(const std::vector<uint32_t>& ids, bool skip_special = true) const;

  int64_t id(const std::string& token) const;  // -1 when absent
  const std::string& token(uint32_t id) const;
  size_t size() const { return tokens_.size(); }
  uint32_t cls_id() const { return cls_; }
  uint32_t sep_id() const { return sep_; }
  uint32_t unk_id() const { return unk_; }
  uint32_t pad_id() const { return pad_; }

 private:
  WordPiece(std::vector<std::string> tokens, std::vector<bool> special, WordPieceOptions opt, const std::string& source);
  void wordpiece(const std::u32string& word, std::vector<uint32_t>& out) const;

  WordPieceOptions opt_;
  std::vector<std::string> tokens_;
  std::vector<bool> special_;
  std::unordered_map<std::string, uint32_t> ids_;
  uint32_t unk_ = 0, cls_ = 0, sep_ = 0, pad_ = 0;
  size_t max_piece_chars_ = 0;  // the longest token, without the continuation prefix, in characters
  // The special tokens' texts, longest first (the same length: lower id first), and their ids.
  std::vector<std::string> special_texts_;
  std::vector<uint32_t> special_ids_;
};

}  // namespace glimpse
