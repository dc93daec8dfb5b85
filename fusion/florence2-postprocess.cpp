#include "fusion/florence2-postprocess.hpp"

#include "runtime/error.hpp"
#include "text/tokenizer.hpp"

#include <array>
#include <optional>
#include <set>
#include <utility>
#include <vector>

namespace glimpse::florence2 {

using Json = nlohmann::ordered_json;

namespace {

// ---- Python's string semantics ---------------------------------------------------------------

// The code point at s[i] (UTF-8) and its length; invalid bytes read as themselves, one byte long.
std::pair<char32_t, size_t> code_point(std::string_view s, size_t i) {
  const auto b = static_cast<unsigned char>(s[i]);
  const size_t n = b < 0x80 ? 1 : (b >> 5) == 6 ? 2 : (b >> 4) == 14 ? 3 : (b >> 3) == 30 ? 4 : 1;
  if (n == 1 || i + n > s.size()) return {b, 1};
  char32_t c = b & (0x7f >> n);
  for (size_t k = 1; k < n; ++k) c = (c << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3f);
  return {c, n};
}

// str.isspace(), which is also what re's \s matches in a str pattern.
bool py_space(char32_t c) {
  return (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x20) || c == 0x85 || c == 0xa0 || c == 0x1680 ||
         (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f || c == 0x205f || c == 0x3000;
}

// Where the leading whitespace of s ends.
size_t space_end(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto [c, n] = code_point(s, i);
    if (!py_space(c)) break;
    i += n;
  }
  return i;
}

// str.strip().
std::string py_strip(std::string_view s) {
  s.remove_prefix(space_end(s));
  size_t end = 0;  // after the last non-space code point
  for (size_t i = 0; i < s.size();) {
    const auto [c, n] = code_point(s, i);
    i += n;
    if (!py_space(c)) end = i;
  }
  return std::string(s.substr(0, end));
}

// s.encode('ascii', errors='ignore').decode('ascii'): every byte of a multi-byte character goes.
std::string ascii_only(std::string_view s) {
  std::string out;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x80) out += c;
  return out;
}

std::string without(std::string s, std::initializer_list<std::string_view> tokens) {
  for (std::string_view t : tokens) s = replace_all(std::move(s), t, "");  // str.replace(t, "")
  return s;
}

// ---- the tokens the patterns are made of ---------------------------------------------------------

bool starts(std::string_view s, size_t i, std::string_view what) { return s.compare(i, what.size(), what) == 0; }

// The length of "<loc_DIGITS>" at s[i] (0 when there is none); its digits in *digits.
size_t loc_at(std::string_view s, size_t i, std::string_view* digits = nullptr) {
  if (!starts(s, i, "<loc_")) return 0;
  size_t j = i + 5;
  while (j < s.size() && s[j] >= '0' && s[j] <= '9') ++j;
  if (j == i + 5 || j >= s.size() || s[j] != '>') return 0;
  if (digits) *digits = s.substr(i + 5, j - i - 5);
  return j + 1 - i;
}

// A location token, or (for polygons) one of <sep>, <poly>, </poly>.
size_t token_at(std::string_view s, size_t i, bool polygon_tokens) {
  if (const size_t n = loc_at(s, i)) return n;
  if (!polygon_tokens) return 0;
  for (std::string_view t : {"<sep>", "<poly>", "</poly>"})
    if (starts(s, i, t)) return t.size();
  return 0;
}

// How far a run of tokens starting at s[i] goes, and how many it holds (greedy).
std::pair<size_t, size_t> token_run(std::string_view s, size_t i, bool polygon_tokens) {
  size_t count = 0;
  while (const size_t n = token_at(s, i, polygon_tokens)) i += n, ++count;
  return {i, count};
}

// A bin as Python's int() and torch.tensor take it: past int64 the processor raises.
int64_t bin_value(std::string_view digits) {
  while (digits.size() > 1 && digits[0] == '0') digits.remove_prefix(1);
  if (digits.size() > 19 || (digits.size() == 19 && digits > "9223372036854775807"))
    fail(ErrorCode::InvalidArgument, "Florence-2 answer: the location bin ", digits.substr(0, 40),
         " does not fit in int64 (the processor's torch.tensor overflows on it)");
  int64_t v = 0;
  for (char c : digits) v = v * 10 + (c - '0');
  return v;
}

// Every location token's bin in s, in order.
std::vector<int64_t> loc_bins(std::string_view s) {
  std::vector<int64_t> out;
  for (size_t i = 0; i < s.size();) {
    std::string_view digits;
    if (const size_t n = loc_at(s, i, &digits)) {
      out.push_back(bin_value(digits));
      i += n;
    } else {
      ++i;
    }
  }
  return out;
}

// re.findall(r"([^<]+(?:TOKEN){4,})", s) (with_text) or re.findall(r"(?:TOKEN){4,}", s): a run
// of text without '<' (as long as it goes: the pattern cannot stop it short) then at least 4
// tokens, leftmost first, not overlapping. A start inside a failed run fails the same way, so the
// scan jumps to the run's end.
std::vector<std::string> find_phrases(std::string_view s, bool with_text, bool polygon_tokens) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    if (with_text) {
      if (s[i] == '<') {
        ++i;
        continue;
      }
      const size_t lt = std::min(s.find('<', i), s.size());
      const auto [end, count] = token_run(s, lt, polygon_tokens);
      if (count >= 4) out.emplace_back(s.substr(i, end - i));
      i = count >= 4 ? end : lt;
    } else {
      const auto [end, count] = token_run(s, i, polygon_tokens);
      if (count >= 4) out.emplace_back(s.substr(i, end - i));
      i = count == 0 ? i + 1 : end;
    }
  }
  return out;
}

// re.search(r'^\s*(.*?)(?=TAG|...)', s).group(): the text up to the first tag after the leading
// whitespace, which '.' may not cross a newline to reach; nothing when there is no such tag.
std::optional<std::string> phrase_before_tags(std::string_view s, bool poly_tag) {
  static constexpr std::array<std::string_view, 7> tags = {"<od>", "</od>", "<box>", "</box>", "<bbox>", "</bbox>", "<loc_"};
  for (size_t p = space_end(s); p < s.size(); ++p) {
    if (s[p] == '\n') return std::nullopt;
    if (s[p] != '<') continue;
    bool tag = poly_tag && starts(s, p, "<poly>");
    for (std::string_view t : tags) tag = tag || starts(s, p, t);
    if (tag) return std::string(s.substr(0, p));
  }
  return std::nullopt;
}

// The dequantized boxes of re.finditer(r'<loc_(\d+)>' * 4, s): four consecutive tokens each.
Json boxes_in(std::string_view s, int64_t w, int64_t h) {
  Json boxes = Json::array();
  for (size_t i = 0; i < s.size();) {
    size_t at = i;
    std::array<std::string_view, 4> digits;
    size_t k = 0;
    for (; k < 4; ++k) {
      const size_t n = loc_at(s, at, &digits[k]);
      if (!n) break;
      at += n;
    }
    if (k < 4) {
      ++i;
      continue;
    }
    boxes.push_back({dequantize(bin_value(digits[0]), w), dequantize(bin_value(digits[1]), h),
                     dequantize(bin_value(digits[2]), w), dequantize(bin_value(digits[3]), h)});
    i = at;
  }
  return boxes;
}

// Bins taken as (x, y) pairs, flattened.
Json points(const std::vector<int64_t>& bins, int64_t w, int64_t h) {
  Json out = Json::array();
  for (size_t i = 0; i < bins.size(); ++i) out.push_back(dequantize(bins[i], i % 2 == 0 ? w : h));
  return out;
}

std::string first_replaced(std::string s, std::string_view what) {
  if (const size_t at = s.find(what); at != std::string::npos) s.erase(at, what.size());
  return s;
}

// ---- the processor's parsers ---------------------------------------------------------------------

struct Instance {
  std::string name;
  Json boxes;     // [[x1, y1, x2, y2], ...]
  Json polygons;  // [[x, y, x, y, ...], ...], or null for a box instance
};

// parse_description_with_bboxes_from_text_and_spans: one instance per box.
std::vector<Instance> with_bboxes(const std::string& raw, int64_t w, int64_t h, bool allow_empty) {
  const std::string text = without(raw, {"<s>", "</s>", "<pad>"});
  std::vector<Instance> out;
  for (const std::string& piece : find_phrases(text, !allow_empty, false)) {
    // The processor strips "<ground>" and then, from the original again, "<obj>": only the
    // second counts.
    const std::string head = first_replaced(piece, "<obj>");
    if (head.empty() && !allow_empty) continue;
    const std::optional<std::string> phrase = phrase_before_tags(head, false);
    if (!phrase) continue;
    const std::string name = ascii_only(py_strip(*phrase));
    for (const Json& box : boxes_in(piece, w, h)) out.push_back({name, Json::array({box}), nullptr});
  }
  return out;
}

bool black_listed(const std::string& phrase) {
  static const std::set<std::string> list = {
      "it", "I", "me", "mine", "you", "your", "yours", "he", "him", "his", "she", "her", "hers", "they", "them", "their",
      "theirs", "one", "oneself", "we", "us", "our", "ours", "its", "myself", "yourself", "himself", "herself", "itself",
      "ourselves", "yourselves", "themselves", "this", "that", "these", "those", "who", "whom", "whose", "which", "what",
      "all", "another", "any", "anybody", "anyone", "anything", "each", "everybody", "everyone", "everything", "few",
      "many", "nobody", "none", "several", "some", "somebody", "someone", "something", "each other", "one another",
      "the image", "image", "images", "the", "a", "an", "a group", "other objects", "lots", "a set"};
  return list.count(phrase) != 0;
}

// parse_phrase_grounding_from_text_and_spans: one instance per phrase, with all its boxes; the
// black list is checked before non-ASCII characters are dropped.
std::vector<Instance> grounding(const std::string& raw, int64_t w, int64_t h) {
  const std::string text = without(raw, {"<s>", "</s>", "<pad>"});
  std::vector<Instance> out;
  for (const std::string& piece : find_phrases(text, true, false)) {
    const std::string head = first_replaced(piece, "<obj>");
    if (head.empty()) continue;
    const std::optional<std::string> phrase = phrase_before_tags(head, false);
    if (!phrase) continue;
    Json boxes = boxes_in(piece, w, h);
    if (boxes.empty()) continue;
    const std::string name = py_strip(*phrase);
    if (black_listed(name)) continue;
    out.push_back({ascii_only(name), std::move(boxes), nullptr});
  }
  return out;
}

// parse_ocr_from_text_and_spans: re.findall(r'(.+?)' + '<loc_(\d+)>' * 8) on the text without
// "<s>". The shortest text (at least one character, no newline) followed by eight location
// tokens; found in one pass with, for each position, the nearest run of eight at or after it.
Json ocr(const std::string& raw, int64_t w, int64_t h, Json& labels) {
  const std::string s = replace_all(raw, "<s>", "");
  const size_t n = s.size();
  std::vector<size_t> eight_end(n + 1, 0), next(n + 2, SIZE_MAX);  // end of 8 tokens at i; the next i that has them
  std::vector<uint32_t> run(n + 1, 0);  // consecutive location tokens starting at i
  std::vector<size_t> len(n + 1, 0);
  for (size_t i = n; i-- > 0;) {
    len[i] = loc_at(s, i);
    if (len[i]) run[i] = 1 + (i + len[i] <= n ? run[i + len[i]] : 0);
  }
  for (size_t i = n + 1; i-- > 0;) {
    next[i] = next[i + 1];
    if (i < n && run[i] >= 8) {
      size_t end = i;
      for (int k = 0; k < 8; ++k) end += len[end];
      eight_end[i] = end;
      next[i] = i;
    }
  }
  Json quads = Json::array();
  for (size_t i = 0; i < n;) {
    if (s[i] == '\n') {
      ++i;
      continue;
    }
    const size_t newline = std::min(s.find('\n', i), n);
    const size_t k = next[i + 1];
    if (k == SIZE_MAX || k > newline) {
      i = newline;  // no start on this line can reach eight tokens
      continue;
    }
    labels.push_back(s.substr(i, k - i));
    quads.push_back(points(loc_bins(std::string_view(s).substr(k, eight_end[k] - k)), w, h));
    i = eight_end[k];
  }
  return quads;
}

// parse_description_with_polygons_from_text_and_spans (with_box_at_start off).
std::vector<Instance> polygons(const std::string& raw, int64_t w, int64_t h, bool allow_empty) {
  const std::string text = without(raw, {"<s>", "</s>", "<pad>"});
  std::vector<Instance> out;
  for (const std::string& piece : find_phrases(text, !allow_empty, true)) {
    // re.sub(r'^loc_\d+>', '', piece, count=1): a run that began inside a location token.
    std::string head = piece;
    if (starts(head, 0, "loc_")) {
      size_t j = 4;
      while (j < head.size() && head[j] >= '0' && head[j] <= '9') ++j;
      if (j > 4 && j < head.size() && head[j] == '>') head.erase(0, j + 1);
    }
    if (head.empty() && !allow_empty) continue;
    const std::optional<std::string> phrase = phrase_before_tags(head, true);
    if (!phrase) continue;
    const std::string name = py_strip(*phrase);
    // One instance per <poly>...</poly> (the shortest, not across a newline) when the piece has
    // both tokens, else the whole piece.
    std::vector<std::string_view> parts;
    const std::string_view p(piece);
    if (p.find("<poly>") != std::string_view::npos && p.find("</poly>") != std::string_view::npos) {
      for (size_t at = p.find("<poly>"); at != std::string_view::npos; at = p.find("<poly>", at)) {
        const size_t close = p.find("</poly>", at + 6), newline = p.find('\n', at + 6);
        if (close == std::string_view::npos || (newline != std::string_view::npos && newline < close)) {
          ++at;
          continue;
        }
        parts.push_back(p.substr(at + 6, close - at - 6));
        at = close + 7;
      }
    } else {
      parts.push_back(p);
    }
    for (std::string_view part : parts) {
      // re.finditer(r'((?:<loc_\d+>)+)(?:<sep>|$)', part): a run of location tokens that a <sep>
      // or the end follows.
      Json polys = Json::array();
      for (size_t i = 0; i < part.size();) {
        const auto [end, count] = token_run(part, i, false);
        if (count == 0) {
          ++i;
          continue;
        }
        const bool at_end = end == part.size() || (end + 1 == part.size() && part[end] == '\n');
        if (!at_end && !starts(part, end, "<sep>")) {
          i = end;
          continue;
        }
        std::vector<int64_t> bins = loc_bins(part.substr(i, end - i));
        if (bins.size() % 2 == 1) bins.pop_back();  // an unpaired last value is dropped
        polys.push_back(points(bins, w, h));
        i = at_end ? part.size() : end + 5;
      }
      if (polys.empty()) continue;
      out.push_back({name, nullptr, std::move(polys)});
    }
  }
  return out;
}

}  // namespace

double dequantize(int64_t bin, int64_t size) {
  const float bin_size = float(double(size) / 1000.0);
  return double((float(bin) + 0.5f) * bin_size);
}

AnswerKind answer_kind(std::string_view task) {
  static const std::pair<std::string_view, AnswerKind> table[] = {
      {"<OCR_WITH_REGION>", AnswerKind::Ocr},
      {"<OD>", AnswerKind::DescriptionWithBboxes},
      {"<DENSE_REGION_CAPTION>", AnswerKind::DescriptionWithBboxes},
      {"<CAPTION_TO_PHRASE_GROUNDING>", AnswerKind::PhraseGrounding},
      {"<REFERRING_EXPRESSION_SEGMENTATION>", AnswerKind::Polygons},
      {"<REGION_TO_SEGMENTATION>", AnswerKind::Polygons},
      {"<OPEN_VOCABULARY_DETECTION>", AnswerKind::DescriptionWithBboxesOrPolygons},
      {"<REGION_PROPOSAL>", AnswerKind::Bboxes},
  };
  for (const auto& [name, kind] : table)
    if (name == task) return kind;
  return AnswerKind::PureText;
}

Json post_process_generation(const std::string& text, const std::string& task, int64_t width, int64_t height) {
  Json answer;
  switch (answer_kind(task)) {
    case AnswerKind::PureText:
      answer = without(text, {"<s>", "</s>"});
      break;
    case AnswerKind::DescriptionWithBboxes:
    case AnswerKind::Bboxes: {
      answer = {{"bboxes", Json::array()}, {"labels", Json::array()}};
      for (const Instance& i : with_bboxes(text, width, height, answer_kind(task) == AnswerKind::Bboxes)) {
        answer["bboxes"].push_back(i.boxes[0]);
        answer["labels"].push_back(i.name);
      }
      break;
    }
    case AnswerKind::Ocr: {
      Json labels = Json::array();
      Json quads = ocr(text, width, height, labels);
      answer = {{"quad_boxes", std::move(quads)}, {"labels", std::move(labels)}};
      break;
    }
    case AnswerKind::PhraseGrounding: {
      answer = {{"bboxes", Json::array()}, {"labels", Json::array()}};
      for (const Instance& i : grounding(text, width, height))
        for (const Json& box : i.boxes) {
          answer["bboxes"].push_back(box);
          answer["labels"].push_back(i.name);
        }
      break;
    }
    case AnswerKind::Polygons: {
      answer = {{"polygons", Json::array()}, {"labels", Json::array()}};
      for (const Instance& i : polygons(text, width, height, true)) {
        answer["polygons"].push_back(i.polygons);
        answer["labels"].push_back(i.name);
      }
      break;
    }
    case AnswerKind::DescriptionWithBboxesOrPolygons: {
      // Polygons when the text has a <poly> anywhere, else boxes: never both.
      const bool poly = text.find("<poly>") != std::string::npos;
      answer = {{"bboxes", Json::array()}, {"bboxes_labels", Json::array()}, {"polygons", Json::array()}, {"polygons_labels", Json::array()}};
      for (const Instance& i : poly ? polygons(text, width, height, false) : with_bboxes(text, width, height, false)) {
        if (poly) {
          answer["polygons"].push_back(i.polygons);
          answer["polygons_labels"].push_back(i.name);
        } else {
          answer["bboxes"].push_back(i.boxes[0]);
          answer["bboxes_labels"].push_back(i.name);
        }
      }
      break;
    }
  }
  Json out = Json::object();
  out[task] = std::move(answer);
  return out;
}

}  // namespace glimpse::florence2
