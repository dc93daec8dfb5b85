#!/usr/bin/python3
"""Writes a BLIP captioning folder with random weights in the real BLIP-base / BLIP-large
configuration, laid out as the Hub publishes it (config.json, model.safetensors, vocab.txt,
preprocessor_config.json), for measuring what loading a real checkpoint costs (peak memory, time
to the first caption) without downloading one.

    /usr/bin/python3 tools/bench/random-checkpoint.py --config blip-base --dtype f32 /tmp/blip-base-random
Needs Debian's python3-torch."""
import argparse
import importlib.util
import json
import os
import struct

import torch

here = os.path.dirname(os.path.abspath(__file__))
spec = importlib.util.spec_from_file_location("peer", os.path.join(here, "blip-torch.py"))
peer = importlib.util.module_from_spec(spec)
spec.loader.exec_module(peer)
ref = peer.ref


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default="blip-base", choices=sorted(peer.CONFIGS))
    ap.add_argument("--dtype", default="f32", choices=["f32", "f16"])
    ap.add_argument("out")
    a = ap.parse_args()
    c = peer.CONFIGS[a.config]
    vc = dict(c["vision"])
    tc = dict(vocab_size=30524, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              max_position_embeddings=512, layer_norm_eps=1e-12, bos_token_id=30522, sep_token_id=102, pad_token_id=0,
              eos_token_id=2, encoder_hidden_size=c["encoder_hidden_size"])
    params = ref.make_params(vc, tc, 0)
    os.makedirs(a.out, exist_ok=True)
    # safetensors: an 8-byte header length, the JSON header, then the tensors back to back.
    dtype, st = (torch.float16, "F16") if a.dtype == "f16" else (torch.float32, "F32")
    header, offset, blobs = {}, 0, []
    for name, t in params.items():
        if name == "text_decoder.cls.predictions.decoder.weight":
            continue  # tied to the word embeddings, stored once as the Hub's conversion does
        data = t.to(dtype).contiguous().numpy().tobytes()
        header[name] = {"dtype": st, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    head += b" " * (-len(head) % 8)
    with open(os.path.join(a.out, "model.safetensors"), "wb") as f:
        f.write(struct.pack("<Q", len(head)) + head)
        for b in blobs:
            f.write(b)
    vision = {k: v for k, v in vc.items()}
    with open(os.path.join(a.out, "config.json"), "w") as f:
        json.dump({"architectures": ["BlipForConditionalGeneration"], "model_type": "blip", "vision_config": vision,
                   "text_config": {k: tc[k] for k in ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers",
                                                     "num_attention_heads", "encoder_hidden_size")}}, f)
    with open(os.path.join(a.out, "preprocessor_config.json"), "w") as f:
        json.dump({"size": {"height": 384, "width": 384}, "resample": 3, "rescale_factor": 1 / 255,
                   "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}, f)
    special = {0: "[PAD]", 100: "[UNK]", 101: "[CLS]", 102: "[SEP]", 103: "[MASK]"}
    with open(os.path.join(a.out, "vocab.txt"), "w") as f:
        f.writelines(special.get(i, f"w{i}") + "\n" for i in range(30522))
    print(f"{a.out}: {a.config}, {a.dtype}, {offset / 2**20:.0f} MiB of weights in {len(header)} tensors")


if __name__ == "__main__":
    main()
