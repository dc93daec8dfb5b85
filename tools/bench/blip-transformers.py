#!/usr/bin/env python3
"""The GPU check's peer as issue 7 names it: Hugging Face transformers' own BlipForConditionalGeneration
(random weights in the real BLIP-base / BLIP-large configuration, eager attention) on CUDA, timed like
tools/bench/blip-torch.py and printing the same JSON keys, so tools/bench/caption-compare.sh can put
either beside glimpse (`--peer transformers`). total_ms is one generate() call: the image encode plus
20 greedy tokens (min_new_tokens = max_new_tokens, so a random model's early EOS cannot shorten it);
encode_ms is the per-image work, counted as glimpse and blip-torch.py count it: the vision model and
the image's cross-attention K/V in each text layer (generate() projects them once, at its first
step); decode_ms_per_token is the rest of generate() over the tokens. Needs
transformers and a CUDA PyTorch (the GPU machine's python3); not used in CI.
"""
import argparse
import json
import resource
import statistics
import sys
import time

import torch
import transformers
from transformers import BlipConfig, BlipForConditionalGeneration

torch.set_grad_enabled(False)

VISION = {
    "blip-base": dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12),
    "blip-large": dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16),
}


def build(config_name, device, dtype):
    vc = dict(VISION[config_name], image_size=384, patch_size=16, layer_norm_eps=1e-5)
    # Salesforce/blip-image-captioning-base's text_config (docs/models/blip.md).
    tc = dict(vocab_size=30524, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              max_position_embeddings=512, layer_norm_eps=1e-12, bos_token_id=30522, sep_token_id=102,
              pad_token_id=0, eos_token_id=2, encoder_hidden_size=vc["hidden_size"], is_decoder=True)
    config = BlipConfig(text_config=tc, vision_config=vc)
    with torch.device(device):  # random init on the GPU: seconds instead of a minute on the host
        try:
            model = BlipForConditionalGeneration._from_config(config, attn_implementation="eager")
        except (TypeError, ValueError):
            model = BlipForConditionalGeneration(config)
    return model.to(device, dtype).eval(), getattr(model.config, "_attn_implementation", "?")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="blip-base", choices=sorted(VISION))
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "fp16"])
    ap.add_argument("--encode-batch", type=int, default=0,
                    help="instead: time encoding N images at once (and their cross-attention K/V)")
    args = ap.parse_args()
    device, dtype = torch.device(args.device), torch.float16 if args.dtype == "fp16" else torch.float32
    torch.manual_seed(0)
    model, attn = build(args.config, device, dtype)
    peer = f"transformers {transformers.__version__} (torch {torch.__version__}, {attn} attention), {args.dtype} on " + (
        torch.cuda.get_device_name() if device.type == "cuda" else "cpu")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def timed(fn):
        sync()
        t0 = time.perf_counter()
        out = fn()
        sync()
        return (time.perf_counter() - t0) * 1e3, out

    n = max(args.encode_batch, 1)
    pixel_values = torch.randn(n, 3, 384, 384, device=device, dtype=dtype)
    try:
        cross = [layer.crossattention.self for layer in model.text_decoder.bert.encoder.layer]
    except AttributeError as e:
        sys.exit(f"blip-transformers.py: no cross-attention layers where transformers {transformers.__version__} "
                 f"had them ({e})")

    def encode(pv):
        states = model.vision_model(pixel_values=pv)[0]
        return states, [(a.key(states), a.value(states)) for a in cross]

    if args.encode_batch:
        for _ in range(2):
            timed(lambda: encode(pixel_values))  # warm-up (cuBLAS handles, kernels)
        enc = statistics.median(timed(lambda: encode(pixel_values))[0] for _ in range(args.reps))
        print(json.dumps({"config": args.config, "peer": peer, "batch": n, "encode_ms": enc,
                          "encode_images_per_s": n * 1000 / enc,
                          "peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    gen = lambda: model.generate(pixel_values=pixel_values, max_new_tokens=args.tokens, min_new_tokens=args.tokens,
                                 num_beams=1, do_sample=False)
    for _ in range(2):
        timed(gen)  # warm-up
    enc, dec, tot = [], [], []
    for _ in range(args.reps):
        e, _ = timed(lambda: encode(pixel_values))
        t, ids = timed(gen)
        produced = ids.shape[1] - 1  # generate() returns the BOS and the new ids
        if produced != args.tokens:
            print(f"blip-transformers.py: warning: generate() returned {ids.shape[1]} ids for {args.tokens} tokens",
                  file=sys.stderr)
        enc.append(e)
        tot.append(t)
        dec.append((t - e) / args.tokens)
    print(json.dumps({"config": args.config, "peer": peer, "tokens": args.tokens,
                      "encode_ms": statistics.median(enc), "decode_ms_per_token": statistics.median(dec),
                      "total_ms": statistics.median(tot),
                      "peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
