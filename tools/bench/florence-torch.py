#!/usr/bin/python3
"""The PyTorch peer of `glimpse bench caption --config florence-2-base`: Florence-2-base's shapes with
random weights, eager fp32: the image features (DaViT and the projection), the BART encoder over
[image tokens; the <CAPTION> prompt], the cross-attention K/V once, then 20 new tokens of 3-beam
search as generate() runs it (log_softmax, no_repeat_ngram_size 3, forced bos, eos held off until the
forced eos at the end, the self-attention caches reordered with index_select each step). The model
is tools/florence2-reference.py's (written from modeling_florence2.py). Prints one JSON object, as
tools/bench/blip-torch.py does.

    OPENBLAS_CORETYPE=SkylakeX OPENBLAS_NUM_THREADS=2 OMP_WAIT_POLICY=PASSIVE \\
        /usr/bin/python3 tools/bench/florence-torch.py --config florence-2-base
"""
import argparse
import importlib.util
import json
import os
import resource
import statistics
import time

import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)
torch.set_num_threads(int(os.environ.get("TORCH_THREADS", "1")))  # as blip-torch.py: OpenBLAS has the cores
spec = importlib.util.spec_from_file_location("florence2_ref",
                                              os.path.join(os.path.dirname(__file__), "..", "florence2-reference.py"))
fr = importlib.util.module_from_spec(spec)
spec.loader.exec_module(fr)

VISION = dict(fr.VISION, dim_embed=[128, 256, 512, 1024], num_heads=[4, 8, 16, 32], num_groups=[4, 8, 16, 32],
              depths=[1, 1, 9, 1], window_size=12, projection_dim=768)
TEXT = dict(fr.TEXT, vocab_size=51289, d_model=768, decoder_attention_heads=12, decoder_ffn_dim=3072, decoder_layers=6,
            encoder_attention_heads=12, encoder_ffn_dim=3072, encoder_layers=6, max_position_embeddings=1024)
CONFIGS = {"florence-2-base": (VISION, TEXT)}  # as glimpse's bench-caption.cpp writes it (microsoft/Florence-2-base)


def split(x, heads):
    b, t, d = x.shape
    return x.view(b, t, heads, d // heads).transpose(1, 2)


def decoder_step(p, tc, ids, past, cache, cross):
    """One cached Florence2Decoder step over one new id per beam row at position `past`."""
    d, heads = "language_model.model.decoder", tc["decoder_attention_heads"]
    x = p[d + ".embed_tokens.weight"][ids] + p[d + ".embed_positions.weight"][past + 2]
    x = fr.layer_norm(x, p, d + ".layernorm_embedding")
    dh = tc["d_model"] // heads
    for i in range(tc["decoder_layers"]):
        l = f"{d}.layers.{i}"
        q = split(fr.linear(x, p, l + ".self_attn.q_proj") * dh ** -0.5, heads)
        k, v = split(fr.linear(x, p, l + ".self_attn.k_proj"), heads), split(fr.linear(x, p, l + ".self_attn.v_proj"), heads)
        if i in cache:
            k, v = torch.cat([cache[i][0], k], 2), torch.cat([cache[i][1], v], 2)
        cache[i] = (k, v)
        a = ((q @ k.transpose(-1, -2)).softmax(-1) @ v).transpose(1, 2).reshape(x.shape)
        x = fr.layer_norm(x + fr.linear(a, p, l + ".self_attn.out_proj"), p, l + ".self_attn_layer_norm")
        q = split(fr.linear(x, p, l + ".encoder_attn.q_proj") * dh ** -0.5, heads)
        a = ((q @ cross[i][0].transpose(-1, -2)).softmax(-1) @ cross[i][1]).transpose(1, 2).reshape(x.shape)
        x = fr.layer_norm(x + fr.linear(a, p, l + ".encoder_attn.out_proj"), p, l + ".encoder_attn_layer_norm")
        h = fr.linear(F.gelu(fr.linear(x, p, l + ".fc1")), p, l + ".fc2")
        x = fr.layer_norm(x + h, p, l + ".final_layer_norm")
    return F.linear(x[:, -1], p["language_model.lm_head.weight"]) + p["language_model.final_logits_bias"][0]


def caption(p, vc, tc, pixel_values, prompt_ids, tokens, beams=3):
    t0 = time.perf_counter()
    enc = fr.encoder_states(p, vc, tc, pixel_values, prompt_ids)
    enc = enc.expand(beams, -1, -1)
    heads = tc["decoder_attention_heads"]
    cross = {}
    for i in range(tc["decoder_layers"]):
        l = f"language_model.model.decoder.layers.{i}.encoder_attn"
        cross[i] = (split(fr.linear(enc, p, l + ".k_proj"), heads), split(fr.linear(enc, p, l + ".v_proj"), heads))
    t1 = time.perf_counter()
    max_length = 1 + tokens
    seqs = [[tc["decoder_start_token_id"]] for _ in range(beams)]
    scores = torch.tensor([0.0] + [-1e9] * (beams - 1))
    cache = {}
    for step in range(tokens):
        logits = decoder_step(p, tc, torch.tensor([[s[-1]] for s in seqs]), step, cache, cross)
        lp = torch.log_softmax(logits, -1)
        rows = []
        for b in range(beams):
            row = fr.process(seqs[b], lp[b], tc, max_length)
            if len(seqs[b]) + 1 < max_length:
                row[tc["eos_token_id"]] = float("-inf")  # min_length: held off until the forced eos
            rows.append(row)
        cand = (torch.stack(rows) + scores[:, None]).flatten()
        values, flat = torch.topk(cand, 2 * beams)
        src, tok = flat[:beams] // logits.shape[1], flat[:beams] % logits.shape[1]
        scores = values[:beams]
        seqs = [seqs[int(s)] + [int(t)] for s, t in zip(src, tok)]
        for i in cache:  # _reorder_cache: index_select on the beam rows
            cache[i] = (cache[i][0].index_select(0, src), cache[i][1].index_select(0, src))
    t2 = time.perf_counter()
    return (t1 - t0) * 1e3, (t2 - t1) * 1e3


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="florence-2-base", choices=sorted(CONFIGS))
    ap.add_argument("--tokens", type=int, default=20)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()
    vc, tc = CONFIGS[args.config]
    loc = list(range(50269, 51269))
    p = fr.make_params(vc, 0, tc, tc["vocab_size"], loc)
    p["language_model.lm_head.weight"] = p["language_model.model.shared.weight"]  # tied, as glimpse's bench has them
    pixel_values = torch.randn(1, 3, 768, 768)
    # "What does the image describe?" as glimpse's bench tokenises it with its stand-in vocabulary
    # (byte symbols only): 29 ids between <s> and </s>
    prompt_ids = [0] + list(range(100, 129)) + [2]
    caption(p, vc, tc, pixel_values, prompt_ids, 2)  # warm-up
    enc, dec = [], []
    for _ in range(args.reps):
        e, d = caption(p, vc, tc, pixel_values, prompt_ids, args.tokens)
        enc.append(e)
        dec.append(d / args.tokens)
    print(json.dumps({"config": args.config, "peer": f"pytorch {torch.__version__}, fp32 on cpu, {torch.get_num_threads()} threads",
                      "tokens": args.tokens, "encode_ms": statistics.median(enc),
                      "decode_ms_per_token": statistics.median(dec),
                      "total_ms": statistics.median(e + d * args.tokens for e, d in zip(enc, dec)),
                      "peak_host_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
