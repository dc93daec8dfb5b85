#include "text/sentencepiece.hpp"

#include "runtime/error.hpp"
#include "runtime/file.hpp"
#include "text/unicode.hpp"

#include <algorithm>
#include <cstring>
#include <queue>

namespace glimpse {

namespace {

constexpr size_t kMaxPieces = size_t(1) << 22;    // XLM-R has 250002
constexpr size_t kMaxPieceBytes = 1024;            // SentencePiece's own default cap is 16 characters
const std::string kSpace = "\xe2\x96\x81";        // U+2581, SentencePiece's whitespace symbol
constexpr float kUnkPenalty = 10.0f;              // unigram_model.cc: unknown = min score - 10

// FNV-1a, whole (hash_bytes) or extended a byte at a time (the unigram search's prefixes).
constexpr uint64_t kFnvOffset = 1469598103934665603ull;
uint64_t hash_step(uint64_t h, unsigned char c) { return (h ^ c) * 1099511628211ull; }
uint64_t hash_bytes(std::string_view s) {
  uint64_t h = kFnvOffset;
  for (unsigned char c : s) h = hash_step(h, c);
  return h;
}

// The protobuf wire format, as much of it as a ModelProto uses.
class Proto {
 public:
  Proto(std::string_view b, const std::string& file, const char* what) : b_(b), file_(file), what_(what) {}
  bool done() const { return pos_ >= b_.size(); }
  // The next field: its number and wire type.
  std::pair<uint64_t, int> tag() {
    const uint64_t t = varint();
    if ((t >> 3) == 0) bad("field number 0");
    return {t >> 3, int(t & 7)};
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= b_.size()) bad("truncated varint");
      const uint8_t c = uint8_t(b_[pos_++]);
      v |= uint64_t(c & 0x7F) << shift;
      if (!(c & 0x80)) return v;
    }
    bad("varint longer than 10 bytes");
  }
  std::string_view bytes() {
    const uint64_t n = varint();
    if (n > b_.size() - pos_) bad("a length of ", n, " bytes runs past the end (", b_.size() - pos_, " left): truncated?");
    const std::string_view s = b_.substr(pos_, size_t(n));
    pos_ += size_t(n);
    return s;
  }
  float fixed32() {
    if (b_.size() - pos_ < 4) bad("truncated fixed32");
    float f;
    std::memcpy(&f, b_.data() + pos_, 4);
    pos_ += 4;
    return f;
  }
  void skip(int wire) {
    switch (wire) {
      case 0: varint(); break;
      case 1: if (b_.size() - pos_ < 8) bad("truncated fixed64"); pos_ += 8; break;
      case 2: bytes(); break;
      case 5: fixed32(); break;
      default: bad("wire type ", wire, " (groups are not used by ModelProto)");
    }
  }
  void expect(int wire, int want, uint64_t field) {
    if (wire != want) bad("field ", field, " has wire type ", wire, ", expected ", want);
  }
  template <typename... A>
  [[noreturn]] void bad(A&&... a) const {
    fail(file_, ": ", what_, " at byte ", pos_, ": ", std::forward<A>(a)...);
  }

 private:
  std::string_view b_;
  size_t pos_ = 0;
  const std::string& file_;
  const char* what_;
};

// darts-clone's unit: label, leaf flag, offset to the children's base, or a leaf's value.
uint32_t unit_label(uint32_t u) { return u & ((1u << 31) | 0xFF); }
bool unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
uint32_t unit_value(uint32_t u) { return u & ((1u << 31) - 1); }
uint32_t unit_offset(uint32_t u) { return (u >> 10) << ((u & (1u << 9)) >> 6); }

}  // namespace

SentencePieceTokenizer SentencePieceTokenizer::from_file(const std::string& path) {
  return parse(file_read(path, kMaxTextFileBytes, "a SentencePiece model"), path);
}

SentencePieceTokenizer SentencePieceTokenizer::parse(std::string_view bytes, const std::string& name) {
  SentencePieceTokenizer t;
  Proto p(bytes, name, "SentencePiece ModelProto");
  int model_type = 1, unk = 0;
  std::string_view charsmap;
  while (!p.done()) {
    const auto [field, wire] = p.tag();
    if (field == 1) {  // SentencePiece { piece = 1; score = 2; type = 3 }
      p.expect(wire, 2, field);
      Proto sp(p.bytes(), name, "SentencePiece entry");
      Piece piece;
      while (!sp.done()) {
        const auto [f, w] = sp.tag();
        if (f == 1) sp.expect(w, 2, f), piece.text = std::string(sp.bytes());
        else if (f == 2) sp.expect(w, 5, f), piece.score = sp.fixed32();
        else if (f == 3) sp.expect(w, 0, f), piece.type = int(sp.varint());
        else sp.skip(w);
      }
      if (piece.type < 1 || piece.type > 6) p.bad("piece ", t.pieces_.size(), " has type ", piece.type);
      if (piece.text.size() > kMaxPieceBytes) p.bad("piece ", t.pieces_.size(), " is ", piece.text.size(), " bytes long");
      if (t.pieces_.size() >= kMaxPieces) p.bad("more than ", kMaxPieces, " pieces");
      t.pieces_.push_back(std::move(piece));
    } else if (field == 2) {  // TrainerSpec { model_type = 3; unk_id = 40 }
      p.expect(wire, 2, field);
      Proto ts(p.bytes(), name, "TrainerSpec");
      while (!ts.done()) {
        const auto [f, w] = ts.tag();
        if (f == 3) ts.expect(w, 0, f), model_type = int(ts.varint());
        else if (f == 40) ts.expect(w, 0, f), unk = int(int32_t(uint32_t(ts.varint())));
        else ts.skip(w);
      }
    } else if (field == 3) {  // NormalizerSpec { name 1; precompiled_charsmap 2; add_dummy_prefix 3; ... }
      p.expect(wire, 2, field);
      Proto ns(p.bytes(), name, "NormalizerSpec");
      while (!ns.done()) {
        const auto [f, w] = ns.tag();
        if (f == 2) ns.expect(w, 2, f), charsmap = ns.bytes();
        else if (f == 3) ns.expect(w, 0, f), t.add_dummy_prefix_ = ns.varint() != 0;
        else if (f == 4) ns.expect(w, 0, f), t.remove_extra_whitespaces_ = ns.varint() != 0;
        else if (f == 5) ns.expect(w, 0, f), t.escape_whitespaces_ = ns.varint() != 0;
        else ns.skip(w);
      }
    } else {
      p.skip(wire);
    }
  }
  if (t.pieces_.empty()) fail(name, ": the SentencePiece model has no pieces");
  if (model_type == 1) t.kind_ = Kind::Unigram;
  else if (model_type == 2) t.kind_ = Kind::Bpe;
  else fail(name, ": SentencePiece model_type ", model_type, " is not supported (unigram 1, bpe 2)");
  if (unk < 0 || size_t(unk) >= t.pieces_.size()) fail(name, ": unk_id ", unk, " is not a piece");
  t.unk_ = unk;
  if (!charsmap.empty()) {  // uint32 trie size, the trie's units, then the replacement strings
    if (charsmap.size() < 4) fail(name, ": precompiled_charsmap of ", charsmap.size(), " bytes is truncated");
    uint32_t trie_bytes;
    std::memcpy(&trie_bytes, charsmap.data(), 4);
    if (trie_bytes % 4 || trie_bytes > charsmap.size() - 4)
      fail(name, ": precompiled_charsmap's trie size ", trie_bytes, " does not fit its ", charsmap.size(), " bytes");
    t.trie_.resize(trie_bytes / 4);
    if (trie_bytes) std::memcpy(t.trie_.data(), charsmap.data() + 4, trie_bytes);  // an empty vector's data() may be null
    t.replacements_ = std::string(charsmap.substr(4 + trie_bytes));
  }
  bool first = true;
  for (size_t i = 0; i < t.pieces_.size(); ++i) {
    const Piece& pc = t.pieces_[i];
    if (pc.type == 1) {
      t.min_score_ = first ? pc.score : std::min(t.min_score_, pc.score);
      t.max_score_ = first ? pc.score : std::max(t.max_score_, pc.score);
      first = false;
    }
    if (pc.type == 1 || pc.type == 4 || pc.type == 5) {  // matchable: normal, user-defined, unused
      if (pc.text.empty()) continue;
      t.index_.emplace(hash_bytes(pc.text), int(i));
      t.max_piece_bytes_ = std::max(t.max_piece_bytes_, pc.text.size());
    }
  }
  return t;
}

int SentencePieceTokenizer::piece_id(std::string_view s) const {
  const auto range = index_.equal_range(hash_bytes(s));
  for (auto it = range.first; it != range.second; ++it)
    if (pieces_[size_t(it->second)].text == s) return it->second;
  return -1;
}

std::pair<std::string_view, size_t> SentencePieceTokenizer::charsmap_match(std::string_view s) const {
  // darts-clone commonPrefixSearch, the longest hit; every index checked against the array.
  if (trie_.empty()) return {{}, 0};
  size_t node = unit_offset(trie_[0]), best_len = 0;
  uint32_t best_value = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    node ^= uint8_t(s[i]);
    if (node >= trie_.size()) break;
    const uint32_t u = trie_[node];
    if (unit_label(u) != uint8_t(s[i])) break;
    node ^= unit_offset(u);
    if (node >= trie_.size()) break;
    if (unit_has_leaf(u)) best_len = i + 1, best_value = unit_value(trie_[node]);
  }
  if (best_len == 0) return {{}, 0};
  if (best_value >= replacements_.size()) fail("SentencePiece: a charsmap entry points past its strings");
  const size_t end = replacements_.find('\0', best_value);
  if (end == std::string::npos) fail("SentencePiece: a charsmap string is not terminated");
  return {std::string_view(replacements_).substr(best_value, end - best_value), best_len};
}

std::string SentencePieceTokenizer::normalize(std::string_view input) const {
  // normalizer.cc Normalizer::Normalize: each prefix replaced by its longest charsmap match (else
  // one character as it is, an invalid byte as U+FFFD); leading, repeated and trailing spaces
  // removed; spaces as ▁; one ▁ in front.
  auto prefix = [&](std::string_view s) -> std::pair<std::string, size_t> {
    const auto [rep, n] = charsmap_match(s);
    if (n) return {std::string(rep), n};
    const size_t len = unicode::utf8_char_length(s);
    if (len == 0) return {"\xef\xbf\xbd", 1};
    return {std::string(s.substr(0, len)), len};
  };
  if (remove_extra_whitespaces_)
    while (!input.empty()) {
      const auto [sp, n] = prefix(input);
      if (sp != " ") break;
      input.remove_prefix(n);
    }
  std::string out;
  if (input.empty()) return out;
  const std::string space = escape_whitespaces_ ? kSpace : " ";
  bool prev_space = remove_extra_whitespaces_;
  if (add_dummy_prefix_) out += space;
  while (!input.empty()) {
    auto [sp, n] = prefix(input);
    std::string_view v = sp;
    if (prev_space && remove_extra_whitespaces_)
      while (!v.empty() && v[0] == ' ') v.remove_prefix(1);
    if (!v.empty()) {
      for (char c : v) {
        if (escape_whitespaces_ && c == ' ') out += kSpace;
        else out += c;
      }
      prev_space = v.back() == ' ';
    }
    input.remove_prefix(n);
    if (!remove_extra_whitespaces_) prev_space = false;
  }
  if (remove_extra_whitespaces_)
    while (out.size() >= space.size() && out.compare(out.size() - space.size(), space.size(), space) == 0)
      out.resize(out.size() - space.size());
  return out;
}

std::vector<int> SentencePieceTokenizer::unigram(const std::string& s) const {
  // unigram_model.cc Model::EncodeOptimized: best path by score over pieces starting at character
  // boundaries; a character no piece starts with is unknown (min score - 10). Ties keep the first.
  struct Node {
    int id = -1, starts_at = -1;
    float score = 0;
  };
  const size_t n = s.size();
  std::vector<Node> best(n + 1);
  const float unk_score = min_score_ - kUnkPenalty;
  for (size_t start = 0; start < n;) {
    const float here = best[start].score;
    const size_t mblen = std::max<size_t>(1, std::min(unicode::utf8_char_length(std::string_view(s).substr(start)), n - start));
    bool single = false;
    uint64_t h = kFnvOffset;
    for (size_t end = start; end < n && end - start < max_piece_bytes_;) {
      h = hash_step(h, uint8_t(s[end]));
      ++end;
      const auto range = index_.equal_range(h);
      for (auto it = range.first; it != range.second; ++it) {
        const Piece& pc = pieces_[size_t(it->second)];
        if (pc.text.size() != end - start || s.compare(start, end - start, pc.text) != 0) continue;
        if (pc.type == 5) continue;  // unused
        const float score = pc.type == 4 ? float(end - start) * max_score_ - 0.1f : pc.score;
        Node& t = best[end];
        if (t.starts_at == -1 || here + score > t.score) t = {it->second, int(start), here + score};
        if (end - start == mblen) single = true;
      }
    }
    if (!single) {
      Node& t = best[start + mblen];
      if (t.starts_at == -1 || here + unk_score > t.score) t = {unk_, int(start), here + unk_score};
    }
    start += mblen;
  }
  std::vector<int> ids;
  for (size_t end = n; end > 0;) {
    const Node& node = best[end];
    if (node.starts_at < 0) fail("SentencePiece: no segmentation reaches byte ", end);
    ids.push_back(node.id);
    end = size_t(node.starts_at);
  }
  std::reverse(ids.begin(), ids.end());
  return ids;
}

std::vector<int> SentencePieceTokenizer::bpe(const std::string& s) const {
  // bpe_model.cc Model::Encode: characters, then the adjacent pair whose concatenation is a piece
  // with the highest score merged first (the leftmost among equals), until none is.
  struct Sym {
    size_t begin, len;
    int prev, next;
  };
  std::vector<Sym> sym;
  for (size_t i = 0; i < s.size();) {
    const size_t len = std::max<size_t>(1, std::min(unicode::utf8_char_length(std::string_view(s).substr(i)), s.size() - i));
    sym.push_back({i, len, int(sym.size()) - 1, -1});
    if (sym.size() > 1) sym[sym.size() - 2].next = int(sym.size()) - 1;
    i += len;
  }
  struct Pair {
    float score;
    int left, right;
    size_t size;  // the merged length when queued: stale once either side changed
    bool operator<(const Pair& o) const { return score < o.score || (score == o.score && left > o.left); }
  };
  std::priority_queue<Pair> queue;
  auto push = [&](int l, int r) {
    if (l < 0 || r < 0) return;
    const size_t len = sym[size_t(l)].len + sym[size_t(r)].len;
    const int id = piece_id(std::string_view(s).substr(sym[size_t(l)].begin, len));
    if (id < 0 || pieces_[size_t(id)].type == 5) return;
    queue.push({pieces_[size_t(id)].score, l, r, len});
  };
  for (size_t i = 0; i + 1 < sym.size(); ++i) push(int(i), int(i + 1));
  while (!queue.empty()) {
    const Pair p = queue.top();
    queue.pop();
    Sym& l = sym[size_t(p.left)];
    if (l.len == 0 || l.next != p.right || l.len + sym[size_t(p.right)].len != p.size) continue;
    Sym& r = sym[size_t(p.right)];
    l.len += r.len;
    r.len = 0;
    l.next = r.next;
    if (r.next >= 0) sym[size_t(r.next)].prev = p.left;
    push(l.prev, p.left);
    push(p.left, l.next);
  }
  std::vector<int> ids;
  for (int i = sym.empty() ? -1 : 0; i >= 0; i = sym[size_t(i)].next) {
    const int id = piece_id(std::string_view(s).substr(sym[size_t(i)].begin, sym[size_t(i)].len));
    ids.push_back(id < 0 || pieces_[size_t(id)].type == 5 ? unk_ : id);
  }
  return ids;
}

std::vector<int> SentencePieceTokenizer::segment(const std::string& normalized) const {
  std::vector<int> ids = kind_ == Kind::Unigram ? unigram(normalized) : bpe(normalized);
  // sentencepiece_processor.cc: a run of unknown pieces is one unknown piece
  std::vector<int> out;
  for (int id : ids)
    if (!(id == unk_ && !out.empty() && out.back() == unk_)) out.push_back(id);
  return out;
}

uint32_t SentencePieceTokenizer::fairseq_id(int sp) const {
  // tokenization_xlm_roberta.py: <s> <pad> </s> <unk> are fairseq's 0..3; SentencePiece's own
  // unknown (PieceToId 0) is <unk>; every other piece is its id + 1.
  const std::string& text = pieces_[size_t(sp)].text;
  if (text == "<s>") return 0;
  if (text == "<pad>") return 1;
  if (text == "</s>") return 2;
  if (sp == unk_ || sp == 0 || text == "<unk>") return 3;
  return uint32_t(sp) + 1;
}

std::vector<uint32_t> SentencePieceTokenizer::encode(std::string_view text) const {
  unicode::utf8_decode(text);  // invalid UTF-8 is an error naming the byte
  static const std::vector<std::string> specials = {"<mask>", "<pad>", "<unk>", "</s>", "<s>"};  // longest first
  const uint32_t special_ids[] = {uint32_t(size() - 1), 1, 3, 2, 0};
  std::vector<uint32_t> ids;
  split_specials(
      text, specials, [&](std::string_view chunk) { for (int sp : segment(normalize(chunk))) ids.push_back(fairseq_id(sp)); },
      [&](size_t k) { ids.push_back(special_ids[k]); });
  return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<uint32_t>& ids, bool skip_special) const {
  // The fast tokenizer's Metaspace decoder: ▁ -> space, the first token's leading space dropped.
  std::string out;
  bool first = true;
  for (uint32_t id : ids) {
    const bool special = id <= 3 || id == size() - 1;
    if (id >= size() || (skip_special && special)) continue;
    std::string piece = id == 0 ? "<s>" : id == 1 ? "<pad>" : id == 2 ? "</s>" : id == 3 ? "<unk>"
                        : id == size() - 1 ? "<mask>" : pieces_[id - 1].text;
    std::string text;
    for (size_t i = 0; i < piece.size();) {
      if (piece.compare(i, kSpace.size(), kSpace) == 0) text += ' ', i += kSpace.size();
      else text += piece[i++];
    }
    if (first && !text.empty() && text[0] == ' ') text.erase(0, 1);
    first = false;
    out += text;
  }
  return unicode::utf8_sanitize(out);
}

}  // namespace glimpse
