#!/usr/bin/python3
"""BERT WordPiece reference, written from docs/models/blip.md with Python's unicodedata, and the
goldens the C++ tokenizer tests compare against.

    /usr/bin/python3 tools/wordpiece-reference.py ../shared/tokenizers/bert-base-uncased/vocab.txt \
        tests/data/wordpiece/bert-base-uncased.jsonl
"""
import json
import sys
import unicodedata

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
CJK = [(0x4E00, 0x9FFF), (0x3400, 0x4DBF), (0x20000, 0x2A6DF), (0x2A700, 0x2B73F), (0x2B740, 0x2B81F),
       (0x2B820, 0x2CEAF), (0xF900, 0xFAFF), (0x2F800, 0x2FA1F)]


def is_whitespace(c):
    return c in " \t\n\r" or unicodedata.category(c) == "Zs"


def is_control(c):
    return c not in "\t\n\r" and unicodedata.category(c) in ("Cc", "Cf")


def is_punctuation(c):
    cp = ord(c)
    if 33 <= cp <= 47 or 58 <= cp <= 64 or 91 <= cp <= 96 or 123 <= cp <= 126:
        return True
    return unicodedata.category(c).startswith("P")


def basic_tokenize(text):
    text = "".join(" " if is_whitespace(c) else c for c in text
                   if not (ord(c) == 0 or ord(c) == 0xFFFD or is_control(c)))
    text = "".join(f" {c} " if any(lo <= ord(c) <= hi for lo, hi in CJK) else c for c in text)
    out = []
    for word in text.split():
        word = word.lower()
        word = "".join(c for c in unicodedata.normalize("NFD", word) if unicodedata.category(c) != "Mn")
        piece = ""
        for c in word:
            if is_punctuation(c):
                if piece:
                    out.append(piece)
                piece = ""
                out.append(c)
            else:
                piece += c
        if piece:
            out.append(piece)
    return out


def wordpiece(word, vocab):
    if len(word) > 100:
        return [vocab["[UNK]"]]
    ids, start = [], 0
    while start < len(word):
        end, found = len(word), None
        while end > start:
            cand = ("##" if start > 0 else "") + word[start:end]
            if cand in vocab:
                found = vocab[cand]
                break
            end -= 1
        if found is None:
            return [vocab["[UNK]"]]
        ids.append(found)
        start = end
    return ids


def encode(text, vocab):
    ids = [vocab["[CLS]"]]
    # Special-token strings in the text map straight to their ids (HF added tokens, not normalised).
    rest = text
    while rest:
        hits = [(rest.find(s), s) for s in SPECIALS if rest.find(s) >= 0]
        if not hits:
            chunk, special, rest = rest, None, ""
        else:
            at, special = min(hits)
            chunk, rest = rest[:at], rest[at + len(special):]
        for w in basic_tokenize(chunk):
            ids += wordpiece(w, vocab)
        if special:
            ids.append(vocab[special])
    return ids + [vocab["[SEP]"]]


def decode(ids, tokens, special_ids):
    out = []
    for i in ids:
        if i >= len(tokens) or i in special_ids:
            continue
        t = tokens[i]
        if out:
            t = t[2:] if t.startswith("##") else " " + t
        if t in (" .", " ?", " !", " ,"):
            t = t[1:]
        out.append(t)
    s = "".join(out)
    for a, b in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
                 (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]:
        s = s.replace(a, b)
    return s


TEXTS = [
    "two cats sleeping on a couch",
    "a photography of",
    "How many cats are in the picture?",
    "The man's dog doesn't bark, isn't it? Yes! It's 2,000.50 dollars...",
    "Café naïve résumé Ångström façade Zürich",
    "我爱北京天安门 and 東京",
    "안녕하세요 세계",
    "Ελληνικά ΓΡΆΜΜΑΤΑ straße İstanbul",
    "tabs\tand\nnewlines\r\nand\u00a0nbsp\u2003em-space",
    "control\x07chars\u200dzero\u200bwidth\ufffdreplacement\x00nul",
    "emoji 😀 and ☃ snowman",
    "hello [SEP] world [MASK] and [cls] lowercase",
    "supercalifragilisticexpialidocious unaffable",
    "a" * 101 + " ok",
    "   ",
    "",
    "“quotes” «guillemets» — dashes – and … ellipsis",
    "C++ & Rust: $100 @ 50% #tag ^caret ~tilde `tick` |pipe| {braces} [brackets] <angles>",
]


def main(vocab_path, out_path):
    tokens = [line.rstrip("\n").rstrip("\r") for line in open(vocab_path, encoding="utf-8")]
    vocab = {}
    for i, t in enumerate(tokens):
        vocab.setdefault(t, i)
    special_ids = {vocab[s] for s in SPECIALS}
    with open(out_path, "w", encoding="utf-8") as f:
        for text in TEXTS:
            ids = encode(text, vocab)
            f.write(json.dumps({"text": text, "ids": ids, "decoded": decode(ids, tokens, special_ids),
                                "basic": basic_tokenize(text)}, ensure_ascii=True) + "\n")
        # Decoding alone: BLIP's [DEC] (30522) and ids past the vocabulary vanish.
        ids = [30522, 1037, 2158, 1005, 1055, 3899, 1012, 102, 0]
        f.write(json.dumps({"decode_only": ids, "decoded": decode(ids, tokens, special_ids)}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
