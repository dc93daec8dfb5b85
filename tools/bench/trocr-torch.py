#!/usr/bin/python3
"""The PyTorch peer of `glimpse bench caption --config trocr-*`: TrOCR small / base / large shapes
with random weights, eager fp32, image encode then 20 greedy tokens with a self-attention KV cache
and the image's cross-attention K/V computed once, one token id to the host per step (as
generate() does). The model is tools/trocr-reference.py's (written from modeling_trocr.py). Prints
one JSON object, as tools/bench/blip-torch.py does.

    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE \\
        /usr/bin/python3 tools/bench/trocr-torch.py --config trocr-base
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
torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))  # as blip-torch.py: OpenBLAS has the cores
spec = importlib.util.spec_from_file_location("trocr_ref", os.path.join(os.path.dirname(__file__), "..", "trocr-reference.py"))
tr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tr)
ref = tr.ref

VIT = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12, image_size=384,
           patch_size=16, layer_norm_eps=1e-12, qkv_bias=False)
DEC = dict(d_model=1024, decoder_layers=12, decoder_attention_heads=16, decoder_ffn_dim=4096, max_position_embeddings=512,
           vocab_size=50265, cross_attention_hidden_size=768, activation_function="gelu",
           use_learned_position_embeddings=True, layernorm_embedding=True, scale_embedding=False, tie_word_embeddings=False)
CONFIGS = {  # as glimpse's bench-caption.cpp writes them (microsoft/trocr-*-handwritten's config.json)
    "trocr-base": (VIT, DEC, False),
    "trocr-large": (dict(VIT, hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16),
                    dict(DEC, cross_attention_hidden_size=1024), False),
    "trocr-small": (dict(VIT, hidden_size=384, intermediate_size=1536, num_attention_heads=6, qkv_bias=True),
                    dict(DEC, d_model=256, decoder_layers=6, decoder_attention_heads=8, decoder_ffn_dim=1024,
                         cross_attention_hidden_size=384, activation_function="relu", scale_embedding=True,
                         vocab_size=64044), True),
}


def attend(q, k, v, heads):
    b, t, d = q.shape
    dh = d // heads
    q = (q * dh ** -0.5).view(b, t, heads, dh).transpose(1, 2)
    k = k.view(b, -1, heads, dh).transpose(1, 2)
    v = v.view(b, -1, heads, dh).transpose(1, 2)
    return ((q @ k.transpose(-1, -2)).softmax(-1) @ v).transpose(1, 2).reshape(b, t, d)


def decoder_step(p, dc, ids, past, cache, cross):
    """One cached step of TrOCRDecoder over one new id per row at position `past`."""
    m, d = "decoder.model.decoder.", dc["d_model"]
    act = {"gelu": ref.gelu, "relu": torch.relu}[dc["activation_function"]]
    x = p[m + "embed_tokens.weight"][ids] * (math.sqrt(d) if dc["scale_embedding"] else 1.0)
    x = x + p[m + "embed_positions.weight"][past + 2]
    if dc["layernorm_embedding"]:
        x = ref.ln(x, p, m + "layernorm_embedding", 1e-5)
    heads = dc["decoder_attention_heads"]
    for i in range(dc["decoder_layers"]):
        l = f"{m}layers.{i}."
        k, v = ref.lin(x, p, l + "self_attn.k_proj"), ref.lin(x, p, l + "self_attn.v_proj")
        if i in cache:
            k, v = torch.cat([cache[i][0], k], 1), torch.cat([cache[i][1], v], 1)
        cache[i] = (k, v)
        a = attend(ref.lin(x, p, l + "self_attn.q_proj"), k, v, heads)
        x = ref.ln(x + ref.lin(a, p, l + "self_attn.out_proj"), p, l + "self_attn_layer_norm", 1e-5)
        c = attend(ref.lin(x, p, l + "encoder_attn.q_proj"), cross[i][0], cross[i][1], heads)
        x = ref.ln(x + ref.lin(c, p, l + "encoder_attn.out_proj"), p, l + "encoder_attn_layer_norm", 1e-5)
        x = ref.ln(x + ref.lin(act(ref.lin(x, p, l + "fc1")), p, l + "fc2"), p, l + "final_layer_norm", 1e-5)
    return x[:, -1] @ p["decoder.output_projection.weight"].T


def recognise(p, vc, dc, deit, pixel_values, tokens):
    t0 = time.perf_counter()
    enc = tr.encoder(p, vc, deit, pixel_values)
    cross = {}
    for i in range(dc["decoder_layers"]):
        l = f"decoder.model.decoder.layers.{i}.encoder_attn."
        cross[i] = (ref.lin(enc, p, l + "k_proj"), ref.lin(enc, p, l + "v_proj"))
    t1 = time.perf_counter()
    ids, cache = [2], {}
    for _ in range(tokens):
        logits = decoder_step(p, dc, torch.tensor([ids[-1:]]), len(ids) - 1, cache, cross)
        ids.append(int(torch.argmax(logits[0])))  # one id to the host per step (a sync)
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="trocr-base", choices=sorted(CONFIGS))
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    vc, dc, deit = CONFIGS[args.config]
    p = tr.make_params(vc, dc, deit, 0)
    pixel_values = torch.randn(1, 3, 384, 384)
    recognise(p, vc, dc, deit, pixel_values, 2)  # warm-up
    enc, dec = [], []
    for _ in range(args.reps):
        e, d = recognise(p, vc, dc, deit, pixel_values, args.tokens)
        enc.append(e)
        dec.append(d / args.tokens)
    print(json.dumps({"config": args.config, "peer": f"pytorch {torch.__version__}, fp32 on cpu, {torch.get_num_threads()} threads",
                      "tokens": args.tokens, "encode_ms": statistics.median(enc),
                      "decode_ms_per_token": statistics.median(dec),
                      "total_ms": statistics.median(e + d * args.tokens for e, d in zip(enc, dec)),
                      "peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
