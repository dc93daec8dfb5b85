#!/usr/bin/python3
"""GPT-2 byte-level BPE reference, written from docs/models/vit-gpt2.md (Debian python3-regex for
\\p{L}/\\p{N}), and the goldens the C++ tokenizer tests compare against.

    /usr/bin/python3 tools/bpe-reference.py ../shared/tokenizers/gpt2 tests/data/bpe/gpt2.jsonl
"""
import json
import os
import sys

import regex

PATTERN = regex.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""")


def bytes_to_unicode():
    bs = list(range(33, 127)) + list(range(161, 173)) + list(range(174, 256))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def bpe(word, ranks):
    parts = list(word)
    while len(parts) > 1:
        pairs = [(ranks.get((a, b), 1 << 60), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        best, _ = min(pairs)
        if best == 1 << 60:
            break
        left, right = min((r, i) for r, i in pairs)[1], None
        a, b = parts[left], parts[left + 1]
        out, i = [], 0
        while i < len(parts):
            if i + 1 < len(parts) and parts[i] == a and parts[i + 1] == b:
                out.append(a + b)
                i += 2
            else:
                out.append(parts[i])
                i += 1
        parts = out
    return parts


def main(folder, out_path):
    vocab = json.load(open(os.path.join(folder, "vocab.json"), encoding="utf-8"))
    merges = [tuple(l.rstrip("\n").split(" ")) for l in open(os.path.join(folder, "merges.txt"), encoding="utf-8")
              if l.strip() and not l.startswith("#version")]
    ranks = {m: i for i, m in enumerate(merges)}
    inv = {v: k for k, v in vocab.items()}
    b2u = bytes_to_unicode()
    u2b = {v: k for k, v in b2u.items()}

    def encode(text):
        """<|endoftext|> in the text stands for itself (an added special token), the rest is BPE."""
        ids, pieces = [], []
        chunks = text.split("<|endoftext|>")
        for n, chunk in enumerate(chunks):
            for piece in PATTERN.findall(chunk):
                pieces.append(piece)
                mapped = "".join(b2u[b] for b in piece.encode("utf-8"))
                ids += [vocab[p] for p in bpe(mapped, ranks)]
            if n + 1 < len(chunks):
                pieces.append("<|endoftext|>")
                ids.append(vocab["<|endoftext|>"])
        return pieces, ids

    def decode(ids):
        s = "".join(inv[i] for i in ids if i != vocab["<|endoftext|>"])
        return bytes(u2b[c] for c in s).decode("utf-8", errors="replace")

    texts = [
        "a man riding a wave on top of a surfboard",
        "two birds are standing next to each other ",
        "Hello world! It's 2024, isn't it? We'll see... they've I'm you'd",
        "  leading spaces,\ttabs\nnewlines\n\nand   runs of   spaces  ",
        "Café naïve résumé — “quotes” 😀 emoji 我爱北京 한국어",
        "numbers 1234567 and ١٢٣ and ½ and x²",
        "<|endoftext|> is text here",
        "'S 'LL capital contractions",
        "",
    ]
    with open(out_path, "w", encoding="utf-8") as f:
        for t in texts:
            pieces, ids = encode(t)
            f.write(json.dumps({"text": t, "pieces": pieces, "ids": ids, "decoded": decode(ids)}) + "\n")
        # A character split across tokens decodes whole; a lone continuation byte becomes U+FFFD.
        _, ids = encode("😀")
        f.write(json.dumps({"decode_only": ids + [50256], "decoded": decode(ids)}) + "\n")
        f.write(json.dumps({"decode_only": ids[:1], "decoded": decode(ids[:1])}) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
