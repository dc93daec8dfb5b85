#!/usr/bin/python3
"""The PyTorch peer of `glimpse bench caption`: BLIP-base / BLIP-large shapes with random weights,
eager fp32, image encode then 20 greedy tokens with a KV cache and the image's cross-attention K/V
computed once, one token id to the host per step (as generate() does). Prints one JSON object.

    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE \\
        /usr/bin/python3 tools/bench/blip-torch.py --config blip-base
Needs Debian's python3-torch and, for an honest peer, libopenblas0-pthread.
"""
import argparse
import importlib.util
import json
import math
import os
import resource
import statistics
import time

import torch

torch.set_grad_enabled(False)
# Its strongest configuration here: OpenBLAS runs the matmuls on both cores; torch's own intra-op
# threads on top of that only compete with them (blip-base encode: 0.41 s with 1, 0.9 s with 2).
torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))
spec = importlib.util.spec_from_file_location("ref", os.path.join(os.path.dirname(__file__), "..", "blip-reference.py"))
ref = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ref)

CONFIGS = {
    "blip-base": dict(vision=dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                                  image_size=384, patch_size=16, layer_norm_eps=1e-5), encoder_hidden_size=768),
    "blip-large": dict(vision=dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
                                   image_size=384, patch_size=16, layer_norm_eps=1e-5), encoder_hidden_size=1024),
}


def decoder_step(p, tc, ids, past, cache, cross):
    """One cached step over new ids [1, T] at position `past` (docs/models/blip.md)."""
    pre = "text_decoder.bert."
    t = ids.shape[1]
    x = p[pre + "embeddings.word_embeddings.weight"][ids] + p[pre + "embeddings.position_embeddings.weight"][past:past + t]
    eps, heads = tc["layer_norm_eps"], tc["num_attention_heads"]
    x = ref.ln(x, p, pre + "embeddings.LayerNorm", eps)
    mask = None
    if t > 1:
        mask = torch.cat([torch.zeros(t, past), (1.0 - torch.tril(torch.ones(t, t))) * -10000.0], 1).to(x.device, x.dtype)
    for i in range(tc["num_hidden_layers"]):
        l = f"{pre}encoder.layer.{i}."
        k = ref.lin(x, p, l + "attention.self.key")
        v = ref.lin(x, p, l + "attention.self.value")
        if i in cache:
            k, v = torch.cat([cache[i][0], k], 1), torch.cat([cache[i][1], v], 1)
        cache[i] = (k, v)
        a = ref.attend(ref.lin(x, p, l + "attention.self.query"), k, v, heads, mask)
        x = ref.ln(ref.lin(a, p, l + "attention.output.dense") + x, p, l + "attention.output.LayerNorm", eps)
        c = ref.attend(ref.lin(x, p, l + "crossattention.self.query"), cross[i][0], cross[i][1], heads)
        x = ref.ln(ref.lin(c, p, l + "crossattention.output.dense") + x, p, l + "crossattention.output.LayerNorm", eps)
        x = ref.ln(ref.lin(ref.gelu(ref.lin(x, p, l + "intermediate.dense")), p, l + "output.dense") + x, p,
                   l + "output.LayerNorm", eps)
    h = ref.ln(ref.gelu(ref.lin(x[:, -1:], p, "text_decoder.cls.predictions.transform.dense")), p,
               "text_decoder.cls.predictions.transform.LayerNorm", eps)
    return h @ p["text_decoder.cls.predictions.decoder.weight"].T + p["text_decoder.cls.predictions.bias"]


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize()


def caption(p, vc, tc, pixel_values, tokens):
    device = pixel_values.device
    sync(device)
    t0 = time.perf_counter()
    enc = ref.vision(p, vc, pixel_values)
    cross = {}
    for i in range(tc["num_hidden_layers"]):
        l = f"text_decoder.bert.encoder.layer.{i}.crossattention.self."
        cross[i] = (ref.lin(enc, p, l + "key"), ref.lin(enc, p, l + "value"))
    sync(device)
    t1 = time.perf_counter()
    ids, cache = [tc["bos_token_id"]], {}
    for _ in range(tokens):
        step_ids = torch.tensor([ids[-1:]] if cache else [ids], device=device)
        logits = decoder_step(p, tc, step_ids, len(ids) - 1 if cache else 0, cache, cross)
        ids.append(int(torch.argmax(logits[0, -1])))  # one id to the host per step (a sync)
    sync(device)
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="blip-base", choices=sorted(CONFIGS))
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (the GPU check)")
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "fp16"])
    ap.add_argument("--encode-batch", type=int, default=0,
                    help="instead: time encoding N images at once (and their cross-attention K/V)")
    args = ap.parse_args()
    c = CONFIGS[args.config]
    vc = c["vision"]
    tc = dict(vocab_size=30524, hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
              max_position_embeddings=512, layer_norm_eps=1e-12, bos_token_id=30522, sep_token_id=102, pad_token_id=0,
              eos_token_id=2, encoder_hidden_size=c["encoder_hidden_size"])
    device, dtype = torch.device(args.device), torch.float16 if args.dtype == "fp16" else torch.float32
    p = {k: v.to(device, dtype) for k, v in ref.make_params(vc, tc, 0).items()}
    peer = f"pytorch {torch.__version__}, {args.dtype} on {args.device}" + (
        f", {torch.get_num_threads()} threads" if args.device == "cpu" else f" ({torch.cuda.get_device_name()})")
    if args.encode_batch:
        pixel_values = torch.randn(args.encode_batch, 3, 384, 384).to(device, dtype)
        caption(p, vc, tc, pixel_values[:1], 0)  # warm-up
        enc = [caption(p, vc, tc, pixel_values, 0)[0] for _ in range(args.reps)]
        print(json.dumps({"config": args.config, "peer": peer,
                          "batch": args.encode_batch, "encode_ms": statistics.median(enc),
                          "encode_images_per_s": args.encode_batch * 1000 / statistics.median(enc),
                          "peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
        return
    pixel_values = torch.randn(1, 3, 384, 384)
    caption(p, vc, tc, pixel_values, 2)  # warm-up
    enc, dec = [], []
    for _ in range(args.reps):
        e, d = caption(p, vc, tc, pixel_values, args.tokens)
        enc.append(e)
        dec.append(d / args.tokens)
    print(json.dumps({"config": args.config, "peer": peer,
                      "tokens": args.tokens, "encode_ms": statistics.median(enc),
                      "decode_ms_per_token": statistics.median(dec),
                      "total_ms": statistics.median(e + d * args.tokens for e, d in zip(enc, dec)),
                      "peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
