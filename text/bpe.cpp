#include "text/bpe.hpp"

#include "runtime/error.hpp"
#include "runtime/file.hpp"
#include "runtime/json-file.hpp"
#include "text/unicode.hpp"

#include <algorithm>
#include <array>
#include <filesystem>
#include <sstream>
#include <queue>

namespace glimpse {

namespace {

// GPT-2's bytes_to_unicode: printable bytes map to themselves, the other 68 to U+0100 onward.
const std::array<char32_t, 256>& byte_to_char() {
  static const std::array<char32_t, 256> table = [] {
    std::array<char32_t, 256> t{};
    char32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      t[size_t(b)] = printable ? char32_t(b) : next++;
    }
    return t;
  }();
  return table;
}

int char_to_byte(char32_t c) {
  static const std::unordered_map<char32_t, int> inverse = [] {
    std::unordered_map<char32_t, int> m;
    for (int b = 0; b < 256; ++b) m[byte_to_char()[size_t(b)]] = b;
    return m;
  }();
  auto it = inverse.find(c);
  return it == inverse.end() ? -1 : it->second;
}

bool is_space(char32_t c) { return unicode::is_white_space(c); }

}  // namespace

BytePairTokenizer::BytePairTokenizer(std::vector<std::string> tokens,
                                     std::vector<std::pair<std::string, std::string>> merges,
                                     const std::string& source, const Specials& specials)
    : tokens_(std::move(tokens)), special_(tokens_.size(), false) {
  for (uint32_t i = 0; i < tokens_.size(); ++i) ids_.emplace(tokens_[i], i);
  for (uint32_t r = 0; r < merges.size(); ++r) ranks_.emplace(merges[r].first + " " + merges[r].second, r);
  const std::string gpt2 = "<|endoftext|>";
  const std::string eos_text = !specials.eos.empty() ? specials.eos : id(gpt2) >= 0 ? gpt2 : "</s>";
  const int64_t eos = id(eos_text);
  if (eos < 0) fail(source, ": the vocabulary has no ", eos_text, " token (its end of sequence)");
  eos_ = uint32_t(eos);
  special_[eos_] = true;
  std::vector<std::string> texts = specials.tokens.empty() ? std::vector<std::string>{eos_text} : specials.tokens;
  for (const std::string& t : texts) {
    const int64_t i = id(t);
    if (i < 0 || t.empty() || special_texts_.end() != std::find(special_texts_.begin(), special_texts_.end(), t))
      continue;  // a special token the vocabulary lacks is never produced
    special_[size_t(i)] = true;
    special_texts_.push_back(t);
  }
  if (std::find(special_texts_.begin(), special_texts_.end(), eos_text) == special_texts_.end())
    special_texts_.push_back(eos_text);
  std::stable_sort(special_texts_.begin(), special_texts_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

BytePairTokenizer BytePairTokenizer::from_files(const std::string& vocab_json, const std::string& merges_txt,
                                                const Specials& specials) {
  const nlohmann::json vocab = json_load(vocab_json);
  if (!vocab.is_object() || vocab.empty()) fail(vocab_json, ": expected a JSON object of token -> id");
  std::vector<std::string> tokens(vocab.size());
  std::vector<bool> seen(vocab.size(), false);
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_unsigned()) fail(vocab_json, ": id of ", it.key(), " is not a non-negative integer");
    const uint64_t i = it.value().get<uint64_t>();
    if (i >= tokens.size() || seen[i]) fail(vocab_json, ": ids are not 0..", tokens.size() - 1, " (", it.key(), " = ", i, ")");
    tokens[i] = it.key();
    seen[i] = true;
  }
  std::istringstream in(file_read(merges_txt, kMaxTextFileBytes, "a merges file"));
  std::vector<std::pair<std::string, std::string>> merges;
  std::string line;
  for (size_t n = 1; std::getline(in, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#version", 0) == 0) continue;
    const size_t sp = line.find(' ');
    if (sp == std::string::npos || sp == 0 || sp + 1 == line.size() || line.find(' ', sp + 1) != std::string::npos)
      fail(merges_txt, ":", n, ": expected 'left right', found '", line, "'");
    merges.emplace_back(line.substr(0, sp), line.substr(sp + 1));
  }
  return BytePairTokenizer(std::move(tokens), std::move(merges), vocab_json, specials);
}

BytePairTokenizer BytePairTokenizer::from_tokenizer_json(const std::string& path, const Specials& given) {
  const nlohmann::json j = json_load(path);
  try {
    const nlohmann::json& model = j.at("model");
    if (model.value("type", "") != "BPE") fail(path, ": model type '", model.value("type", "?"), "' is not BPE");
    const nlohmann::json& vocab = model.at("vocab");
    std::vector<std::string> tokens(vocab.size());
    for (auto it = vocab.begin(); it != vocab.end(); ++it) {
      const uint64_t i = json_uint(it.value(), path, "the vocabulary id of " + it.key());
      if (i >= tokens.size()) fail(path, ": vocabulary id ", i, " of ", it.key(), " is out of range");
      tokens[i] = it.key();
    }
    std::vector<std::pair<std::string, std::string>> merges;
    for (const nlohmann::json& m : model.at("merges")) {
      if (m.is_string()) {  // "left right" (older files)
        const std::string s = m.get<std::string>();
        const size_t sp = s.find(' ');
        if (sp == std::string::npos) fail(path, ": merge '", s, "' is not 'left right'");
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else {  // ["left", "right"] (newer files)
        merges.emplace_back(m.at(0).get<std::string>(), m.at(1).get<std::string>());
      }
    }
    Specials specials = given;  // and the file's own special added tokens (duplicates are dropped)
    if (j.contains("added_tokens") && j["added_tokens"].is_array())
      for (const nlohmann::json& t : j["added_tokens"]) {
        if (!t.is_object() || !t.contains("content") || !t["content"].is_string()) continue;
        const std::string content = t["content"].get<std::string>();
        // Added tokens may extend the vocabulary (a converted Florence-2's <loc_N>): their ids
        // continue the model's, each slot filled once.
        if (t.contains("id")) {
          const uint64_t i = json_uint(t["id"], path, "the id of added token " + content);
          if (i >= tokens.size()) {
            if (i > tokens.size() + (1u << 20)) fail(path, ": added token ", content, " has id ", i, ", far past the vocabulary");
            tokens.resize(size_t(i) + 1);
          }
          if (tokens[i].empty()) tokens[i] = content;
          else if (tokens[i] != content)
            fail(path, ": added token ", content, " takes id ", i, ", which is ", tokens[i], "'s");
        }
        if (t.value("special", false)) specials.tokens.push_back(content);
      }
    for (size_t i = 0; i < tokens.size(); ++i)
      if (tokens[i].empty()) fail(path, ": no token has id ", i, " (ids must run 0..", tokens.size() - 1, ")");
    return BytePairTokenizer(std::move(tokens), std::move(merges), path, specials);
  } catch (const nlohmann::json::exception& e) {
    fail(path, ": unexpected tokenizer.json layout: ", e.what());
  }
}

BytePairTokenizer::Specials BytePairTokenizer::folder_specials(const std::string& dir) {
  // special_tokens_map.json and tokenizer_config.json together: the named special tokens (a string,
  // or an AddedToken object's "content"), additional_special_tokens and the special entries of
  // added_tokens_decoder. The first eos_token (the map's) names the end.
  namespace fs = std::filesystem;
  Specials s;
  auto text_of = [](const nlohmann::json& v) -> std::string {
    if (v.is_string()) return v.get<std::string>();
    if (v.is_object() && v.contains("content") && v["content"].is_string()) return v["content"].get<std::string>();
    return {};
  };
  for (const char* file : {"special_tokens_map.json", "tokenizer_config.json"}) {
    const fs::path p = fs::path(dir) / file;
    if (!fs::exists(p)) continue;
    const nlohmann::json j = json_load(p.string());
    if (!j.is_object()) continue;
    for (const char* key : {"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"})
      if (j.contains(key))
        if (std::string t = text_of(j[key]); !t.empty()) {
          s.tokens.push_back(t);
          if (std::string(key) == "eos_token" && s.eos.empty()) s.eos = t;
        }
    if (j.contains("additional_special_tokens") && j["additional_special_tokens"].is_array())
      for (const nlohmann::json& v : j["additional_special_tokens"])
        if (std::string t = text_of(v); !t.empty()) s.tokens.push_back(t);
    if (j.contains("added_tokens_decoder") && j["added_tokens_decoder"].is_object())
      for (const auto& [id, v] : j["added_tokens_decoder"].items())
        if (v.is_object() && v.value("special", false))
          if (std::string t = text_of(v); !t.empty()) s.tokens.push_back(t);
  }
  return s;
}

BytePairTokenizer BytePairTokenizer::from_folder(const std::string& dir) {
  namespace fs = std::filesystem;
  const fs::path d(dir);
  const Specials specials = folder_specials(dir);
  if (fs::exists(d / "tokenizer.json")) return from_tokenizer_json((d / "tokenizer.json").string(), specials);
  return from_files((d / "vocab.json").string(), (d / "merges.txt").string(), specials);
}

void BytePairTokenizer::add_special_tokens(const std::vector<std::string>& tokens) {
  for (const std::string& t : tokens) {
    if (t.empty()) fail("tokenizer: an added token is empty");
    int64_t i = id(t);
    if (i < 0) {
      i = int64_t(tokens_.size());
      tokens_.push_back(t);
      special_.push_back(false);
      ids_.emplace(t, uint32_t(i));
    }
    special_[size_t(i)] = true;
    if (std::find(special_texts_.begin(), special_texts_.end(), t) == special_texts_.end()) special_texts_.push_back(t);
  }
  std::stable_sort(special_texts_.begin(), special_texts_.end(),
                   [](const std::string& a, const std::string& b) { return a.size() > b.size(); });
}

int64_t BytePairTokenizer::id(const std::string& token) const {
  auto it = ids_.find(token);
  return it == ids_.end() ? -1 : int64_t(it->second);
}

std::vector<std::string> BytePairTokenizer::pre_split(std::string_view text) const {
  // 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ — alternatives
  // tried in order at each position, as the regex engine does.
  const std::u32string s = unicode::utf8_decode(text);
  const size_t n = s.size();
  auto other = [](char32_t c) { return !is_space(c) && !unicode::is_letter(c) && !unicode::is_number(c); };
  std::vector<std::string> out;
  for (size_t i = 0; i < n;) {
    size_t end = i;
    if (s[i] == U'\'') {
      for (const char32_t* c : {U"s", U"t", U"re", U"ve", U"m", U"ll", U"d"}) {
        const std::u32string_view suffix(c);
        if (s.compare(i + 1, suffix.size(), suffix) == 0) {
          end = i + 1 + suffix.size();
          break;
        }
      }
    }
    if (end == i) {
      const size_t j = s[i] == U' ' ? i + 1 : i;  // optional leading space
      for (auto cls : {+[](char32_t c) { return unicode::is_letter(c); }, +[](char32_t c) { return unicode::is_number(c); }}) {
        size_t k = j;
        while (k < n && cls(s[k])) ++k;
        if (k > j) {
          end = k;
          break;
        }
      }
      if (end == i) {
        size_t k = j;
        while (k < n && other(s[k])) ++k;
        if (k > j) end = k;
      }
    }
    if (end == i) {  // whitespace: \s+(?!\S), else \s+
      size_t k = i;
      while (k < n && is_space(s[k])) ++k;
      end = k;
      if (k < n && k - i >= 2) end = k - 1;  // leave one for the next piece's " ?"
    }
    out.push_back(unicode::utf8_encode(std::u32string_view(s).substr(i, end - i)));
    i = end;
  }
  return out;
}

void BytePairTokenizer::bpe(const std::string& mapped, std::vector<uint32_t>& out) const {
  // Symbols: one per mapped character, merged pairwise by lowest rank until none applies.
  // tokenization_gpt2.py's bpe() merges every occurrence of the lowest-ranked pair, left to right,
  // then looks again. A heap of (rank, position) does the same in n log n instead of n^2 (a
  // 100 KB word of letters is one piece): a pair a merge creates contains the merged token,
  // which only later merges can use, so it never outranks the merge that made it.
  struct Symbol {
    std::string s;
    int prev, next;  // neighbours, -1 at the ends
  };
  std::vector<Symbol> sym;
  const std::u32string chars = unicode::utf8_decode(mapped);
  for (size_t i = 0; i < chars.size(); ++i)
    sym.push_back({unicode::utf8_encode(std::u32string(1, chars[i])), int(i) - 1,
                   i + 1 < chars.size() ? int(i) + 1 : -1});
  struct Pair {
    uint32_t rank;
    int left;                      // the left symbol's index (its position in the word)
    size_t left_len, right_len;    // the symbols' lengths when queued: a merged symbol is longer
    bool operator>(const Pair& o) const { return rank != o.rank ? rank > o.rank : left > o.left; }
  };
  std::priority_queue<Pair, std::vector<Pair>, std::greater<Pair>> queue;
  auto push = [&](int left) {
    const int right = left < 0 ? -1 : sym[size_t(left)].next;
    if (right < 0) return;
    const auto it = ranks_.find(sym[size_t(left)].s + " " + sym[size_t(right)].s);
    if (it != ranks_.end()) queue.push({it->second, left, sym[size_t(left)].s.size(), sym[size_t(right)].s.size()});
  };
  for (size_t i = 0; i + 1 < sym.size(); ++i) push(int(i));
  std::vector<bool> gone(sym.size(), false);
  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Symbol& l = sym[size_t(p.left)];
    if (gone[size_t(p.left)] || l.next < 0 || l.s.size() != p.left_len) continue;  // stale
    Symbol& r = sym[size_t(l.next)];
    if (r.s.size() != p.right_len) continue;
    gone[size_t(l.next)] = true;
    l.s += r.s;
    l.next = r.next;
    if (r.next >= 0) sym[size_t(r.next)].prev = p.left;
    push(l.prev);
    push(p.left);
  }
  for (size_t i = 0; i < sym.size(); ++i) {
    if (gone[i]) continue;
    const int64_t id_ = id(sym[i].s);
    if (id_ < 0) fail("BPE: piece '", sym[i].s, "' is not in the vocabulary (incomplete byte coverage?)");
    out.push_back(uint32_t(id_));
  }
}

std::vector<uint32_t> BytePairTokenizer::encode(std::string_view text) const {
  unicode::utf8_decode(text);  // invalid UTF-8 is an error naming the byte
  std::vector<uint32_t> ids;
  // A special token's text stands for itself (added tokens split the text first).
  split_specials(
      text, special_texts_,
      [&](std::string_view chunk) {
        for (const std::string& piece : pre_split(chunk)) {
          std::string mapped;
          for (unsigned char b : piece) unicode::utf8_append(mapped, byte_to_char()[b]);
          bpe(mapped, ids);
        }
      },
      [&](size_t k) { ids.push_back(uint32_t(ids_.at(special_texts_[k]))); });
  return ids;
}

std::string BytePairTokenizer::decode(const std::vector<uint32_t>& ids, bool skip_special) const {
  std::string bytes;
  for (uint32_t i : ids) {
    if (i >= tokens_.size() || (skip_special && special_[i])) continue;
    for (char32_t c : unicode::utf8_decode(tokens_[i])) {
      const int b = char_to_byte(c);
      if (b >= 0) bytes.push_back(char(b));
      else unicode::utf8_append(bytes, c);  // a token outside the byte alphabet (added tokens)
    }
  }
  return unicode::utf8_sanitize(bytes);
}

}  // namespace glimpse
