// What a family needs from its text tokenizer when more than one kind can serve it (TrOCR: RoBERTa's
// byte-level BPE, or XLM-R's SentencePiece): ids of a prompt, text of generated ids.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <string_view>
#include <vector>

namespace glimpse {

// Python's str.replace(from, to): every non-overlapping occurrence, left to right; the text a
// replacement produced is not searched again. `from` must not be empty.
inline std::string replace_all(std::string s, std::string_view from, std::string_view to) {
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
  return s;
}

// transformers' clean_up_tokenization (tokenization_utils_base.py), applied when a tokenizer's
// clean_up_tokenization_spaces asks for it.
inline std::string clean_up_tokenization(std::string s) {
  for (auto [from, to] : {std::pair{" .", "."}, {" ?", "?"}, {" !", "!"}, {" ,", ","}, {" ' ", "'"}, {" n't", "n't"},
                          {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}})
    s = replace_all(std::move(s), from, to);
  return s;
}

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;
  // Ids of `text`, no special tokens added. Throws Error on invalid UTF-8.
  virtual std::vector<uint32_t> encode(std::string_view text) const = 0;
  // batch_decode(ids, skip_special_tokens=skip_special) of one sequence.
  virtual std::string decode(const std::vector<uint32_t>& ids, bool skip_special = true) const = 0;
  virtual size_t size() const = 0;  // ids are below this
};

// Splits `text` at the special tokens' texts `specials`, ordered longest first (where two start at
// the same place, the longer wins): plain(chunk) for the text between them (possibly empty),
// special(k) for each occurrence of specials[k]. Each special's next occurrence is looked up again
// only once the cursor has passed it, so the split is linear in the text.
template <typename Plain, typename Special>
void split_specials(std::string_view text, const std::vector<std::string>& specials, Plain&& plain, Special&& special) {
  std::vector<size_t> next(specials.size());
  for (size_t k = 0; k < next.size(); ++k) next[k] = text.find(specials[k]);
  size_t pos = 0;
  while (true) {
    size_t at = std::string_view::npos, which = 0;
    for (size_t k = 0; k < next.size(); ++k) {
      if (next[k] != std::string_view::npos && next[k] < pos) next[k] = text.find(specials[k], pos);
      if (next[k] < at) at = next[k], which = k;  // ties keep the earlier (longer) text
    }
    if (at == std::string_view::npos) {
      plain(text.substr(pos));
      return;
    }
    plain(text.substr(pos, at - pos));
    special(which);
    pos = at + specials[which].size();
  }
}

}  // namespace glimpse
