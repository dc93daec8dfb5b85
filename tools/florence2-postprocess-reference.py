#!/usr/bin/python3
"""Reference for Florence-2's post_process_generation (tests/data/florence2/postprocess.json).

Written from reading the processor published with the original checkpoints
(processing_florence2.py at the Hub's commit 00d2f15: Florence2Processor.post_process_generation,
Florence2PostProcesser and its BoxQuantizer / CoordinatesQuantizer), to the same regular
expressions and the same torch arithmetic (int64 bins + 0.5 in float32, times the bin size as a
float32 scalar). Run with Debian's python3-torch:

    /usr/bin/python3 tools/florence2-postprocess-reference.py > tests/data/florence2/postprocess.json

Each case is (task, generated text, image width, height): the hand-written CASES, then 200
seeded random ones; the output holds what the processor returns, or {"error": ...} where it
raises. (25,000 further random cases, other seeds, matched glimpse byte for byte when this was
written.)
"""
import json
import random
import re
import sys

import numpy as np
import torch

TASK_TYPE = {
    "<OCR>": "pure_text", "<OCR_WITH_REGION>": "ocr", "<CAPTION>": "pure_text",
    "<DETAILED_CAPTION>": "pure_text", "<MORE_DETAILED_CAPTION>": "pure_text",
    "<OD>": "description_with_bboxes", "<DENSE_REGION_CAPTION>": "description_with_bboxes",
    "<CAPTION_TO_PHRASE_GROUNDING>": "phrase_grounding",
    "<REFERRING_EXPRESSION_SEGMENTATION>": "polygons", "<REGION_TO_SEGMENTATION>": "polygons",
    "<OPEN_VOCABULARY_DETECTION>": "description_with_bboxes_or_polygons",
    "<REGION_TO_CATEGORY>": "pure_text", "<REGION_TO_DESCRIPTION>": "pure_text",
    "<REGION_TO_OCR>": "pure_text", "<REGION_PROPOSAL>": "bboxes",
}

# Phrases the grounding parser drops (as the processor lists them, duplicates folded).
BLACK_LIST = set("""it I me mine you your yours he him his she her hers they them their theirs one oneself
we us our ours its myself yourself himself herself itself ourselves yourselves themselves this that these
those who whom whose which what all another any anybody anyone anything each everybody everyone everything
few many nobody none several some somebody someone something image images the a an lots""".split()) | {
    "each other", "one another", "the image", "a group", "other objects", "a set"}

LOC = r"<loc_(\d+)>"
PHRASE = r"^\s*(.*?)(?=<od>|</od>|<box>|</box>|<bbox>|</bbox>|<loc_)"
PHRASE_POLY = r"^\s*(.*?)(?=<od>|</od>|<box>|</box>|<bbox>|</bbox>|<loc_|<poly>)"


def dequantize(bins, size, width):
    """Bins to coordinates as the quantizers do it: per column, (bin + 0.5) * (size / 1000), with
    the int64 bins promoted to float32 and the Python float bin size taken as a float32 scalar.
    `width` 4: boxes (x1, y1, x2, y2); 2: points (x, y)."""
    t = torch.tensor(np.array(bins).reshape(-1, width))
    if t.numel() == 0:
        return t
    w, h = size
    columns = t.split(1, dim=-1)
    return torch.cat([(c + 0.5) * ((w if k % 2 == 0 else h) / 1000) for k, c in enumerate(columns)], dim=-1)


def boxes_of(text, size):
    bins = [[int(m.group(j)) for j in range(1, 5)] for m in re.finditer(LOC * 4, text)]
    return dequantize(bins, size, 4).tolist()


def clean(text, tokens=("<s>", "</s>", "<pad>")):
    for t in tokens:
        text = text.replace(t, "")
    return text


def with_bboxes(text, size, allow_empty):
    text = clean(text)
    found = re.findall(r"(?:(?:<loc_\d+>){4,})" if allow_empty else r"([^<]+(?:<loc_\d+>){4,})", text)
    out = []
    for piece in found:
        head = piece.replace("<obj>", "", 1)
        if head == "" and not allow_empty:
            continue
        m = re.search(PHRASE, head)
        if m is None:
            continue
        name = m.group().strip()
        boxes = boxes_of(piece, size)
        if not boxes:
            continue
        name = name.encode("ascii", errors="ignore").decode("ascii")
        out += [{"bbox": b, "cat_name": name} for b in boxes]
    return out


def grounding(text, size):
    text = clean(text)
    out = []
    for piece in re.findall(r"([^<]+(?:<loc_\d+>){4,})", text):
        head = piece.replace("<obj>", "", 1)
        if head == "":
            continue
        m = re.search(PHRASE, head)
        if m is None:
            continue
        boxes = boxes_of(piece, size)
        if not boxes:
            continue
        name = m.group().strip()
        if name in BLACK_LIST:
            continue
        out.append({"bbox": boxes, "cat_name": name.encode("ascii", errors="ignore").decode("ascii")})
    return out


def ocr(text, size):
    text = text.replace("<s>", "")
    out = []
    for found in re.findall(r"(.+?)" + LOC * 8, text):
        quad = dequantize([int(v) for v in found[1:]], size, 2).reshape(-1).tolist()
        out.append({"quad_box": quad, "text": found[0]})
    return out


def polygons(text, size, allow_empty):
    text = clean(text)
    tokens = r"(?:<loc_\d+>|<sep>|<poly>|</poly>){4,}"
    found = re.findall(r"(?:" + tokens + ")" if allow_empty else r"([^<]+" + tokens + ")", text)
    out = []
    for piece in found:
        head = re.sub(r"^loc_\d+>", "", piece, count=1)
        if head == "" and not allow_empty:
            continue
        m = re.search(PHRASE_POLY, head)
        if m is None:
            continue
        name = m.group().strip()
        if "<poly>" in piece and "</poly>" in piece:
            parts = [m2.group(1) for m2 in re.finditer(r"<poly>(.*?)</poly>", piece)]
        else:
            parts = [piece]
        for part in parts:
            found_polys = list(re.finditer(r"((?:<loc_\d+>)+)(?:<sep>|$)", part))
            if not found_polys:
                continue
            polys = []
            for fp in found_polys:
                vals = [int(v) for v in re.findall(LOC, fp.group(1))]
                if len(vals) % 2 == 1:
                    vals = vals[:-1]
                polys.append(dequantize(vals, size, 2).reshape(-1).tolist())
            out.append({"cat_name": name, "polygons": polys})
    return out


def post_process(text, task, size):
    kind = TASK_TYPE.get(task, "pure_text")
    if kind == "pure_text":
        answer = text.replace("<s>", "").replace("</s>", "")
    elif kind in ("description_with_bboxes", "bboxes"):
        inst = with_bboxes(text, size, kind == "bboxes")
        answer = {"bboxes": [i["bbox"] for i in inst], "labels": [str(i["cat_name"]) for i in inst]}
    elif kind == "ocr":
        inst = ocr(text, size)
        answer = {"quad_boxes": [i["quad_box"] for i in inst], "labels": [str(i["text"]) for i in inst]}
    elif kind == "phrase_grounding":
        answer = {"bboxes": [], "labels": []}
        for i in grounding(text, size):
            for b in i["bbox"]:
                answer["bboxes"].append(b)
                answer["labels"].append(i["cat_name"])
    elif kind == "polygons":
        inst = polygons(text, size, True)
        answer = {"polygons": [i["polygons"] for i in inst], "labels": [i["cat_name"] for i in inst]}
    else:  # description_with_bboxes_or_polygons
        inst = polygons(text, size, False) if "<poly>" in text else with_bboxes(text, size, False)
        answer = {"bboxes": [], "bboxes_labels": [], "polygons": [], "polygons_labels": []}
        for i in inst:
            if "polygons" in i:
                answer["polygons"].append(i["polygons"])
                answer["polygons_labels"].append(i["cat_name"])
            else:
                answer["bboxes"].append(i["bbox"])
                answer["bboxes_labels"].append(i["cat_name"])
    return {task: answer}


def loc(*v):
    return "".join("<loc_%d>" % x for x in v)


# (task, generated text as decoded with special tokens kept, image width, height)
CASES = [
    ("<CAPTION>", "</s><s>A green car parked in front of a yellow building.</s>", 640, 480),
    ("<OCR>", "<s>NO PARKING\nANY TIME</s><pad><pad>", 640, 480),
    ("<REGION_TO_CATEGORY>", "<s>car" + loc(52, 332, 932, 774) + "</s>", 640, 480),
    ("<SOMETHING_ELSE>", "<s>kept as is <loc_5></s>", 10, 10),
    # str.replace does not search what a removal joins: "<<s>s>" keeps one "<s>"
    ("<CAPTION>", "<<s>s>a <</s>/s>car</s>", 64, 48),
    ("<OD>", "<<s>s>car" + loc(1, 2, 3, 4) + "</s>", 64, 48),
    ("<OCR_WITH_REGION>", "<<s>s>STOP" + loc(1, 2, 3, 4, 5, 6, 7, 8) + "</s>", 64, 48),
    ("<OD>", "</s><s>car" + loc(52, 332, 932, 774) + "door" + loc(711, 203, 764, 391) + loc(300, 310, 320, 330) + "</s>", 640, 480),
    ("<OD>", "<s> Wheel  " + loc(0, 0, 999, 999) + "wheel" + loc(1, 2, 3) + "tyre" + loc(5, 6, 7, 8, 9) + "</s>", 1000, 1000),
    ("<OD>", "<s>" + loc(1, 2, 3, 4) + "x" + loc(10, 20, 30, 40) + "</s>", 333, 517),
    ("<OD>", "<s>caf\u00e9 au lait" + loc(100, 200, 300, 400) + "</s>", 1920, 1080),
    ("<OD>", "<s>two\nlines" + loc(100, 200, 300, 400) + "\n  after" + loc(1, 1, 2, 2) + "</s>", 64, 64),
    ("<OD>", "<s>far" + loc(5000, 12000, 999, 999) + "</s>", 640, 480),
    ("<OD>", "<s>nothing to see</s>", 640, 480),
    ("<OD>", "", 640, 480),
    ("<OD>", "<s>huge<loc_99999999999999999999><loc_1><loc_2><loc_3></s>", 640, 480),
    ("<DENSE_REGION_CAPTION>", "<s>a red car<obj>" + loc(10, 20, 30, 40) + "a <od>tree" + loc(50, 60, 70, 80) + "</s>", 800, 600),
    ("<REGION_PROPOSAL>", "<s>" + loc(10, 20, 30, 40) + loc(50, 60, 70, 80) + loc(1, 2, 3) + "x" + loc(9, 9, 9, 9) + "</s>", 640, 480),
    ("<REGION_PROPOSAL>", "<s>no boxes</s>", 640, 480),
    ("<CAPTION_TO_PHRASE_GROUNDING>", "<s>A green car" + loc(52, 332, 932, 774) + "a yellow building" + loc(0, 0, 999, 500) + loc(10, 10, 20, 20) + "</s>", 640, 480),
    ("<CAPTION_TO_PHRASE_GROUNDING>", "<s>it" + loc(1, 2, 3, 4) + "The image" + loc(1, 2, 3, 4) + "the image" + loc(5, 6, 7, 8) + "I" + loc(1, 1, 1, 1) + "Stra\u00dfe" + loc(2, 2, 2, 2) + "</s>", 100, 200),
    ("<CAPTION_TO_PHRASE_GROUNDING>", "<s>" + loc(1, 2, 3, 4) + "</s>", 100, 200),
    ("<OCR_WITH_REGION>", "<s>NO PARKING" + loc(10, 20, 300, 20, 300, 80, 10, 80) + "ANY TIME" + loc(12, 90, 290, 90, 290, 150, 12, 150) + "</s>", 640, 480),
    ("<OCR_WITH_REGION>", "<s>" + loc(1, 2, 3, 4, 5, 6, 7, 8, 9) + "tail" + loc(1, 2, 3, 4, 5, 6, 7) + "</s>", 640, 480),
    ("<OCR_WITH_REGION>", "<s>line one\n" + loc(1, 2, 3, 4, 5, 6, 7, 8) + "\nline two" + loc(8, 7, 6, 5, 4, 3, 2, 1) + "</s>", 640, 480),
    ("<OCR_WITH_REGION>", "<s></s>x" + loc(1, 2, 3, 4, 5, 6, 7, 8) + "</s>", 640, 480),
    ("<REFERRING_EXPRESSION_SEGMENTATION>", "<s>" + loc(10, 20, 30, 40, 50, 60, 70) + "</s>", 640, 480),
    ("<REFERRING_EXPRESSION_SEGMENTATION>", "<s>" + loc(10, 20, 30, 40) + "<sep>" + loc(50, 60, 70, 80, 90, 100) + "</s>", 640, 480),
    ("<REGION_TO_SEGMENTATION>", "<s><poly>" + loc(1, 2, 3, 4, 5, 6) + "</poly><poly>" + loc(7, 8, 9, 10) + "<sep>" + loc(11, 12, 13, 14) + "</poly></s>", 500, 500),
    ("<REGION_TO_SEGMENTATION>", "<s><sep>" + loc(1, 2, 3, 4) + "</s>", 500, 500),
    ("<REGION_TO_SEGMENTATION>", "<s>" + loc(1, 2, 3) + "<sep>x" + loc(4) + "</s>", 500, 500),
    ("<OPEN_VOCABULARY_DETECTION>", "<s>a car" + loc(52, 332, 932, 774) + "</s>", 640, 480),
    ("<OPEN_VOCABULARY_DETECTION>", "<s>a car<poly>" + loc(1, 2, 3, 4, 5, 6) + "</poly>" + loc(7, 8, 9, 10) + "</s>", 640, 480),
    ("<OPEN_VOCABULARY_DETECTION>", "<s>" + loc(1, 2, 3, 4) + "<poly>" + loc(5, 6, 7, 8) + "</poly></s>", 640, 480),
    ("<OPEN_VOCABULARY_DETECTION>", "<s>car<poly>" + loc(1, 2) + "</poly><sep><sep></s>", 640, 480),
]


def random_cases(count, seed=21):
    """Generations made of the pieces the parsers react to, in random order (seeded): location
    tokens in and past the grid, the polygon and sequence tokens, tags, spaces of several kinds,
    newlines, non-ASCII letters and fragments of tokens."""
    rng = random.Random(seed)
    pieces = ["<sep>", "<poly>", "</poly>", "<s>", "</s>", "<pad>", "<obj>", "<od>", "</od>", "<bbox>", "a", " ",
              "  ", "\n", "word", "\u00e9", "it", "the image", "<", ">", "loc_", "loc_3>", "\u3000", "\u2028",
              "x y", "<loc_", "<loc_>", "<loc_0012>"]
    sizes = [(640, 480), (1, 1), (333, 517), (4000, 3000), (7, 10000)]
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 30)):
            if rng.random() < 0.5:
                parts.append("<loc_%d>" % rng.choice([rng.randint(0, 999), rng.randint(0, 5000)]))
            else:
                parts.append(rng.choice(pieces))
        w, h = rng.choice(sizes)
        out.append((rng.choice(list(TASK_TYPE) + ["<UNKNOWN>"]), "".join(parts), w, h))
    return out


def main():
    out = []
    for task, text, w, h in CASES + random_cases(200):
        try:
            result = post_process(text, task, (w, h))
        except Exception as e:  # the processor raises: so must glimpse (cleanly)
            result = {"error": type(e).__name__}
        out.append({"task": task, "text": text, "width": w, "height": h, "result": result})
    json.dump({"source": "processing_florence2.py (Hub commit 00d2f15), post_process_generation", "cases": out},
              sys.stdout, indent=1, ensure_ascii=False)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
