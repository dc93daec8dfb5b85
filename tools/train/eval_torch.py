#!/usr/bin/python3
"""The exported bundled models evaluated in PyTorch (fp32 from the F16 files) on a split drawn by
glimpse-scenes, for comparison with glimpse-scenes-eval (which runs them through glimpse):

    build/glimpse-scenes --split test --count 100 --size 96 --out /tmp/test-scenes
    /usr/bin/python3 tools/train/eval_torch.py /tmp/test-scenes test models
"""
import json
import os
import struct
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train as T  # noqa: E402


def load_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    header = json.loads(b[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        s, e = v["data_offsets"]
        dt = {"F16": np.float16, "F32": np.float32, "I64": np.int64}[v["dtype"]]
        out[k] = torch.from_numpy(np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt).reshape(v["shape"]).copy())
    return out


def main(data, split, models):
    cap_dir, vqa_dir = os.path.join(models, "blip-scenes-caption"), os.path.join(models, "blip-scenes-vqa")
    cfg = json.load(open(os.path.join(cap_dir, "config.json")))
    vocab = open(os.path.join(cap_dir, "vocab.txt")).read().split("\n")[:-1]
    model = T.Joint(cfg["vision_config"], cfg["text_config"])
    sd = {}
    for k, v in load_safetensors(os.path.join(cap_dir, "model.safetensors")).items():
        if not k.endswith("position_ids"):
            sd[k.replace("text_decoder.", "caption_decoder.", 1)] = v.float()
    for k, v in load_safetensors(os.path.join(vqa_dir, "model.safetensors")).items():
        if k.startswith(("text_encoder.", "text_decoder.")) and not k.endswith("position_ids"):
            sd[k.replace("text_decoder.", "answer_decoder.", 1)] = v.float()
    missing = model.load_state_dict(sd, strict=False)
    assert not missing.unexpected_keys, missing.unexpected_keys
    model.eval()
    rows, images = T.load_split(data, split)
    c, q, per = T.evaluate(model, T.Tok(vocab), rows, images)
    print(f"PyTorch fp32 on {len(rows)} {split} scenes: caption exact {c:.3f}, VQA {q:.3f} "
          + " ".join(f"{t} {v:.3f}" for t, v in sorted(per.items())))


if __name__ == "__main__":
    main(*sys.argv[1:4])
