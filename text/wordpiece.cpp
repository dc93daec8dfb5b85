#include "text/wordpiece.hpp"

#include "runtime/error.hpp"
#include "runtime/file.hpp"
#include "text/tokenizer.hpp"
#include "runtime/json-file.hpp"
#include "text/tokenizer.hpp"
#include "text/unicode.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <sstream>

namespace glimpse {

using unicode::utf8_encode;

WordPiece::WordPiece(std::vector<std::string> tokens, std::vector<bool> special, WordPieceOptions opt,
                     const std::string& source)
    : opt_(std::move(opt)), tokens_(std::move(tokens)), special_(std::move(special)) {
  special_.resize(tokens_.size(), false);
  for (uint32_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], i);  // first wins on duplicates
  auto need = [&](const std::string& t) {
    const int64_t i = id(t);
    if (i < 0) fail(source, ": the vocabulary has no ", t, " token");
    special_[size_t(i)] = true;
    return uint32_t(i);
  };
  unk_ = need(opt_.unk);
  cls_ = need(opt_.cls);
  sep_ = need(opt_.sep);
  pad_ = need(opt_.pad);
  if (id(opt_.mask) >= 0) special_[size_t(id(opt_.mask))] = true;
  // Longer candidates can never match, so greedy matching tries no more than this many
  // characters per piece: linear in the word, whatever max_word_chars a folder sets.
  for (const std::string& t : tokens_) {
    const std::string_view piece =
        std::string_view(t).substr(t.compare(0, opt_.prefix.size(), opt_.prefix) == 0 ? opt_.prefix.size() : 0);
    max_piece_chars_ = std::max(max_piece_chars_, unicode::utf8_decode(piece).size());
  }
  for (uint32_t i = 0; i < tokens_.size(); ++i)
    if (special_[i] && !tokens_[i].empty()) special_ids_.push_back(i);
  std::stable_sort(special_ids_.begin(), special_ids_.end(),
                   [&](uint32_t a, uint32_t b) { return tokens_[a].size() > tokens_[b].size(); });
  for (uint32_t i : special_ids_) special_texts_.push_back(tokens_[i]);
}

WordPiece WordPiece::from_vocab_txt(const std::string& path, const WordPieceOptions& opt) {
  std::istringstream in(file_read(path, kMaxTextFileBytes, "a vocabulary"));
  std::vector<std::string> tokens;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    unicode::utf8_decode(line);  // validates: errors name the byte
    tokens.push_back(line);
  }
  if (tokens.empty()) fail(path, ": empty vocabulary");
  // The flags are sized before `tokens` is moved: argument evaluation order is unspecified, and
  // clang's left-to-right order left them empty (found by fuzz-wordpiece).
  std::vector<bool> special(tokens.size(), false);
  return WordPiece(std::move(tokens), std::move(special), opt, path);
}

WordPiece WordPiece::from_tokenizer_json(const std::string& path) {
  using json = nlohmann::json;
  const json j = json_load(path);
  try {
    const json& model = j.at("model");
    if (model.value("type", "") != "WordPiece")
      fail(path, ": model type '", model.value("type", "?"), "' is not WordPiece");
    WordPieceOptions opt;
    opt.unk = model.value("unk_token", opt.unk);
    opt.prefix = model.value("continuing_subword_prefix", opt.prefix);
    if (model.contains("max_input_chars_per_word"))
      opt.max_word_chars = size_t(json_uint(model["max_input_chars_per_word"], path, "max_input_chars_per_word"));
    if (j.contains("normalizer") && j["normalizer"].is_object()) {
      const json& n = j["normalizer"];
      if (n.value("type", "") != "BertNormalizer")
        fail(path, ": normalizer type '", n.value("type", "?"), "' is not supported (expected BertNormalizer)");
      opt.lowercase = n.value("lowercase", true);
      opt.clean_text = n.value("clean_text", true);
      opt.isolate_cjk = n.value("handle_chinese_chars", true);
      opt.strip_accents = n.contains("strip_accents") && n["strip_accents"].is_boolean() ? n["strip_accents"].get<bool>()
                                                                                           : opt.lowercase;
    }
    const json& vocab = model.at("vocab");
    std::vector<std::string> tokens(vocab.size());
    std::vector<bool> filled(vocab.size(), false);
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      const uint64_t i = json_uint(it.value(), path, "the vocabulary id of " + it.key());
      if (i >= tokens.size() || filled[i]) fail(path, ": vocabulary ids are not 0..", tokens.size() - 1, " (", it.key(), " = ", i, ")");
      tokens[i] = it.key();
      filled[i] = true;
    }
    std::vector<bool> special(tokens.size(), false);
    if (j.contains("added_tokens"))
      for (const json& t : j["added_tokens"]) {
        const uint64_t i = json_uint(t.at("id"), path, "an added token's id");
        if (i < tokens.size() && t.value("special", false)) special[i] = true;
      }
    return WordPiece(std::move(tokens), std::move(special), opt, path);
  } catch (const json::exception& e) {
    fail(path, ": unexpected tokenizer.json layout: ", e.what());
  }
}

int64_t WordPiece::id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : int64_t(it->second);
}

const std::string& WordPiece::token(uint32_t i) const {
  if (i >= tokens_.size()) fail("token id ", i, " is outside the vocabulary (", tokens_.size(), " tokens)");
  return tokens_[i];
}

std::vector<std::string> WordPiece::basic_tokenize(std::string_view text) const {
  const std::u32string in = unicode::utf8_decode(text);
  // Clean (drop NUL, U+FFFD, controls; whitespace -> space) and isolate CJK ideographs.
  std::u32string cleaned;
  for (char32_t c : in) {
    if (opt_.clean_text && (c == 0 || c == 0xFFFD || unicode::is_control(c))) continue;
    if (opt_.clean_text && unicode::is_whitespace(c)) c = U' ';
    if (opt_.isolate_cjk && unicode::is_cjk(c)) {
      cleaned += U' ';
      cleaned += c;
      cleaned += U' ';
    } else {
      cleaned += c;
    }
  }
  std::vector<std::string> out;
  std::u32string word, normal;
  auto flush = [&] {
    if (word.empty()) return;
    // Lowercase, then accent stripping (BertTokenizer's order: docs/models/blip.md).
    normal.clear();
    if (opt_.lowercase) {
      std::u32string lowered;
      for (char32_t c : word) unicode::append_lower(lowered, c);
      word.swap(lowered);
    }
    if (opt_.strip_accents)
      for (char32_t c : word) unicode::append_stripped(normal, c);
    else
      normal = word;
    // Every punctuation character becomes its own token.
    std::u32string piece;
    for (char32_t c : normal) {
      if (unicode::is_punctuation(c)) {
        if (!piece.empty()) out.push_back(utf8_encode(piece));
        piece.clear();
        out.push_back(utf8_encode(std::u32string(1, c)));
      } else {
        piece += c;
      }
    }
    if (!piece.empty()) out.push_back(utf8_encode(piece));
    word.clear();
  };
  for (char32_t c : cleaned) {
    if (unicode::is_whitespace(c)) flush();
    else word += c;
  }
  flush();
  return out;
}

void WordPiece::wordpiece(const std::u32string& word, std::vector<uint32_t>& out) const {
  if (word.size() > opt_.max_word_chars) {
    out.push_back(unk_);
    return;
  }
  std::vector<uint32_t> pieces;
  for (size_t start = 0; start < word.size();) {
    size_t end = std::min(word.size(), start + max_piece_chars_);
    int64_t found = -1;
    for (; end > start; --end) {
      std::string candidate = start > 0 ? opt_.prefix : std::string();
      candidate += utf8_encode(std::u32string_view(word).substr(start, end - start));
      if ((found = id(candidate)) >= 0) break;
    }
    if (found < 0) {  // a word that cannot be segmented is one [UNK]
      out.push_back(unk_);
      return;
    }
    pieces.push_back(uint32_t(found));
    start = end;
  }
  out.insert(out.end(), pieces.begin(), pieces.end());
}

std::vector<uint32_t> WordPiece::encode(std::string_view text, bool add_special) const {
  unicode::utf8_decode(text);  // invalid UTF-8 is an error naming the byte, wherever it is
  std::vector<uint32_t> ids;
  if (add_special) ids.push_back(cls_);
  // Special-token strings in the text stand for themselves, unnormalised (HF added tokens): the
  // earliest match, the longest among those at one place.
  split_specials(
      text, special_texts_,
      [&](std::string_view chunk) {
        for (const std::string& w : basic_tokenize(chunk)) wordpiece(unicode::utf8_decode(w), ids);
      },
      [&](size_t k) { ids.push_back(special_ids_[k]); });
  if (add_special) ids.push_back(sep_);
  return ids;
}

namespace {

}  // namespace

std::string WordPiece::decode(const std::vector<uint32_t>& ids, bool skip_special) const {
  std::string text;
  size_t emitted = 0;
  for (uint32_t i : ids) {
    if (i >= tokens_.size()) continue;  // e.g. BLIP's [DEC]/[ENC], which only the model knows
    if (skip_special && special_[i]) continue;
    std::string t = tokens_[i];
    // tokenizers' WordPiece decoder: glue "##" pieces, space before the others (not the first).
    if (emitted > 0) {
      if (t.compare(0, opt_.prefix.size(), opt_.prefix) == 0) t.erase(0, opt_.prefix.size());
      else t.insert(0, " ");
    }
    // Its per-token clean-up only ever touches a lone punctuation token.
    for (const char* p : {" .", " ?", " !", " ,"})
      if (t == p) t.erase(0, 1);
    text += t;
    ++emitted;
  }
  return clean_up_tokenization(std::move(text));  // over the whole string
}

}  // namespace glimpse
