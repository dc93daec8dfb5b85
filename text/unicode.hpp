// The Unicode pieces text processing needs: strict UTF-8, and the character classes and
// mappings of BERT's basic tokenizer (tables generated from Python's unicodedata).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace glimpse::unicode {

// Decodes UTF-8; throws Error naming the byte offset of the first invalid sequence (overlong
// forms, surrogates and values past U+10FFFF are invalid).
std::u32string utf8_decode(std::string_view text);
void utf8_append(std::string& out, char32_t cp);
std::string utf8_encode(std::u32string_view text);

bool is_punctuation(char32_t cp);  // BERT: ASCII 33-47, 58-64, 91-96, 123-126, or category P*
bool is_control(char32_t cp);      // Cc or Cf, except tab, newline and carriage return
bool is_whitespace(char32_t cp);   // space, tab, newline, carriage return, or category Zs
bool is_cjk(char32_t cp);          // the CJK ideograph blocks BERT isolates
bool is_nonspacing_mark(char32_t cp);  // category Mn
bool is_letter(char32_t cp);           // category L* (regex \p{L})
bool is_number(char32_t cp);           // category N* (regex \p{N})
bool is_white_space(char32_t cp);      // the White_Space property (regex \s)

// UTF-8 decoding that replaces each maximal invalid subsequence with U+FFFD (Python's
// errors="replace"), for byte-level tokenizers whose tokens may split a character.
std::string utf8_sanitize(std::string_view bytes);
// The byte length of the valid UTF-8 character `s` starts with; 0 when it starts with an invalid
// sequence (or is empty).
size_t utf8_char_length(std::string_view s);

// Appends Python's str.lower() of cp (usually one character, sometimes more).
void append_lower(std::u32string& out, char32_t cp);
// Appends NFD(cp) without its nonspacing marks: accent stripping (Hangul decomposes to jamo).
void append_stripped(std::u32string& out, char32_t cp);

}  // namespace glimpse::unicode
