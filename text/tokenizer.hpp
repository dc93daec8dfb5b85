// What a family needs from its text tokenizer when more than one kind can serve it (TrOCR: RoBERTa's
// byte-level BPE, or XLM-R's SentencePiece): ids of a prompt, text of generated ids.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace glimpse {

class TextTokenizer {
 public:
  virtual ~TextTokenizer() = default;
  // Ids of `text`, no special tokens added. Throws Error on invalid UTF-8.
  virtual std::vector<uint32_t> encode(std::string_view text) const = 0;
  // batch_decode(ids, skip_special_tokens=skip_special) of one sequence.
  virtual std::string decode(const std::vector<uint32_t>& ids, bool skip_special = true) const = 0;
  virtual size_t size() const = 0;  // ids are below this
};

}  // namespace glimpse
