#include "text/unicode.hpp"

#include "runtime/error.hpp"

#include <algorithm>
#include <cstdint>
#include <iterator>

namespace glimpse::unicode {

namespace {

struct CodeRange {
  char32_t lo, hi;
};
struct CodeMap {
  char32_t cp;
  uint32_t offset;  // into kMapPool
  uint32_t length;
};

#include "text/unicode-tables.inc"

template <size_t N>
bool in_ranges(const CodeRange (&table)[N], char32_t cp) {
  auto it = std::upper_bound(std::begin(table), std::end(table), cp, [](char32_t c, const CodeRange& r) { return c < r.lo; });
  return it != std::begin(table) && cp <= std::prev(it)->hi;
}

template <size_t N>
const CodeMap* find_map(const CodeMap (&table)[N], char32_t cp) {
  auto it = std::lower_bound(std::begin(table), std::end(table), cp, [](const CodeMap& m, char32_t c) { return m.cp < c; });
  return it != std::end(table) && it->cp == cp ? &*it : nullptr;
}

}  // namespace

std::u32string utf8_decode(std::string_view text) {
  std::u32string out;
  out.reserve(text.size());
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  const size_t n = text.size();
  for (size_t i = 0; i < n;) {
    const unsigned char b = s[i];
    int len;
    char32_t cp, min;
    if (b < 0x80) len = 1, cp = b, min = 0;
    else if ((b & 0xe0) == 0xc0) len = 2, cp = b & 0x1f, min = 0x80;
    else if ((b & 0xf0) == 0xe0) len = 3, cp = b & 0x0f, min = 0x800;
    else if ((b & 0xf8) == 0xf0) len = 4, cp = b & 0x07, min = 0x10000;
    else fail("invalid UTF-8 at byte ", i, ": unexpected byte 0x", std::hex, int(b));
    if (i + size_t(len) > n) fail("invalid UTF-8 at byte ", i, ": sequence cut off at the end of the text");
    for (int k = 1; k < len; ++k) {
      if ((s[i + k] & 0xc0) != 0x80) fail("invalid UTF-8 at byte ", i + k, ": expected a continuation byte");
      cp = (cp << 6) | (s[i + k] & 0x3f);
    }
    if (cp < min) fail("invalid UTF-8 at byte ", i, ": overlong encoding");
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) fail("invalid UTF-8 at byte ", i, ": not a Unicode scalar value");
    out.push_back(cp);
    i += size_t(len);
  }
  return out;
}

void utf8_append(std::string& out, char32_t cp) {
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xc0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3f)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xe0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(char(0x80 | (cp & 0x3f)));
  } else {
    out.push_back(char(0xf0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3f)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3f)));
    out.push_back(char(0x80 | (cp & 0x3f)));
  }
}

std::string utf8_encode(std::u32string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char32_t cp : text) utf8_append(out, cp);
  return out;
}

bool is_punctuation(char32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126)) return true;
  return in_ranges(kPunctuation, cp);
}

bool is_control(char32_t cp) {
  if (cp == U'\t' || cp == U'\n' || cp == U'\r') return false;
  return in_ranges(kControl, cp);
}

bool is_whitespace(char32_t cp) {
  return cp == U' ' || cp == U'\t' || cp == U'\n' || cp == U'\r' || in_ranges(kSpaceSeparator, cp);
}

bool is_cjk(char32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

bool is_nonspacing_mark(char32_t cp) { return in_ranges(kNonspacingMark, cp); }
bool is_letter(char32_t cp) { return in_ranges(kLetter, cp); }
bool is_number(char32_t cp) { return in_ranges(kNumber, cp); }

bool is_white_space(char32_t cp) {
  return (cp >= 0x9 && cp <= 0xD) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x3000;
}

namespace {

// The character at s[0..n): its length when valid (return), else 0 with `k` the length of the
// maximal invalid prefix.
size_t char_at(const unsigned char* s, size_t n, size_t& k) {
  const unsigned char b = s[0];
  size_t len = b < 0x80 ? 1 : (b & 0xe0) == 0xc0 ? 2 : (b & 0xf0) == 0xe0 ? 3 : (b & 0xf8) == 0xf0 ? 4 : 0;
  // The valid range of the second byte narrows for E0, ED, F0, F4 (no overlongs/surrogates).
  unsigned char lo = 0x80, hi = 0xbf;
  if (b == 0xe0) lo = 0xa0;
  if (b == 0xed) hi = 0x9f;
  if (b == 0xf0) lo = 0x90;
  if (b == 0xf4) hi = 0x8f;
  if (b == 0xc0 || b == 0xc1 || b > 0xf4) len = 0;
  k = 1;
  for (; len && k < len && k < n; ++k) {
    const unsigned char c = s[k];
    if (k == 1 ? (c < lo || c > hi) : (c & 0xc0) != 0x80) break;
  }
  return len && k == len ? len : 0;
}

}  // namespace

size_t utf8_char_length(std::string_view s) {
  size_t k = 0;
  return s.empty() ? 0 : char_at(reinterpret_cast<const unsigned char*>(s.data()), s.size(), k);
}

std::string utf8_sanitize(std::string_view bytes) {
  std::string out;
  const auto* s = reinterpret_cast<const unsigned char*>(bytes.data());
  const size_t n = bytes.size();
  for (size_t i = 0; i < n;) {
    size_t k = 0;
    if (const size_t len = char_at(s + i, n - i, k)) {
      out.append(bytes.substr(i, len));
      i += len;
    } else {
      out += "\xef\xbf\xbd";  // U+FFFD for the maximal invalid prefix
      i += std::max<size_t>(k, 1);
    }
  }
  return out;
}

void append_lower(std::u32string& out, char32_t cp) {
  if (const CodeMap* m = find_map(kLowercase, cp)) out.append(kMapPool + m->offset, m->length);
  else out.push_back(cp);
}

void append_stripped(std::u32string& out, char32_t cp) {
  if (cp >= 0xAC00 && cp <= 0xD7A3) {  // Hangul syllable: L V (T) jamo, Unicode 3.12
    const char32_t s = cp - 0xAC00;
    out.push_back(0x1100 + s / (21 * 28));
    out.push_back(0x1161 + (s % (21 * 28)) / 28);
    if (s % 28) out.push_back(0x11A7 + s % 28);
    return;
  }
  if (is_nonspacing_mark(cp)) return;
  if (const CodeMap* m = find_map(kStripAccents, cp)) out.append(kMapPool + m->offset, m->length);
  else out.push_back(cp);
}

}  // namespace glimpse::unicode
