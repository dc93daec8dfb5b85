// SentencePiece tokenizers as XLM-RoBERTa's tokenizer uses them (TrOCR-small:
// sentencepiece.bpe.model; docs/models/trocr.md): the model protobuf read by glimpse itself,
// SentencePiece's normalizer (its precompiled character map, whitespace rules, the ▁ prefix),
// unigram (Viterbi) or BPE segmentation, and fairseq's ids on top (<s> 0, <pad> 1, </s> 2,
// <unk> 3, every other piece its SentencePiece id + 1, <mask> last).
#pragma once

#include "text/tokenizer.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace glimpse {

class SentencePieceTokenizer : public TextTokenizer {
 public:
  enum class Kind { Unigram, Bpe };
  // `path`: a ModelProto file (sentencepiece.bpe.model). Errors name the file and what is wrong
  // with it (truncated, absurd lengths, wrong field types, a model type glimpse does not run).
  static SentencePieceTokenizer from_file(const std::string& path);
  static SentencePieceTokenizer parse(std::string_view bytes, const std::string& name);

  // SentencePiece's normalised form of `text` (▁ for spaces, the dummy prefix).
  std::string normalize(std::string_view text) const;
  // fairseq ids of `text`, no special tokens added; a special token's text stands for its id.
  // Throws Error on invalid UTF-8.
  std::vector<uint32_t> encode(std::string_view text) const override;
  // The text of fairseq ids as the fast tokenizer decodes them: special ids dropped (with
  // skip_special), pieces joined, ▁ as spaces, the first leading space removed.
  std::string decode(const std::vector<uint32_t>& ids, bool skip_special = true) const override;

  size_t size() const override { return pieces_.size() + 2; }  // the fairseq vocabulary: offset 1, <mask>
  uint32_t eos_id() const { return 2; }
  Kind kind() const { return kind_; }

 private:
  struct Piece {
    std::string text;
    float score = 0;
    int type = 1;  // NORMAL 1, UNKNOWN 2, CONTROL 3, USER_DEFINED 4, UNUSED 5, BYTE 6
  };
  SentencePieceTokenizer() = default;
  std::vector<int> segment(const std::string& normalized) const;  // SentencePiece ids
  std::vector<int> unigram(const std::string& s) const;
  std::vector<int> bpe(const std::string& s) const;
  int piece_id(std::string_view s) const;  // -1 when absent (or unused)
  uint32_t fairseq_id(int sp) const;
  // The longest match of the normaliser's character map at the start of `s`: the replacement
  // and the bytes it consumes (0: no match).
  std::pair<std::string_view, size_t> charsmap_match(std::string_view s) const;

  std::vector<Piece> pieces_;
  std::unordered_multimap<uint64_t, int> index_;  // hash of a piece's text -> id
  size_t max_piece_bytes_ = 0;
  Kind kind_ = Kind::Unigram;
  int unk_ = 0;
  float min_score_ = 0, max_score_ = 0;
  bool add_dummy_prefix_ = true, remove_extra_whitespaces_ = true, escape_whitespaces_ = true;
  std::vector<uint32_t> trie_;  // the precompiled charsmap's double array (darts-clone units)
  std::string replacements_;    // its NUL-terminated normalised strings
};

}  // namespace glimpse
