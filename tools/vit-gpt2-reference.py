#!/usr/bin/python3
"""ViT-GPT2 (VisionEncoderDecoderModel: HF ViT encoder, GPT-2 decoder with cross-attention) in plain
PyTorch, written from docs/models/vit-gpt2.md and docs/generation.md, and tiny checkpoints + goldens for tests/test-vit-gpt2.cpp.

    /usr/bin/python3 tools/vit-gpt2-reference.py tests/data/vit-gpt2

Two checkpoints in the exact Hugging Face layout (GPT-2's Conv1D [in, out] weights, legacy
attn.bias / masked_bias buffers, the unused ViT pooler): "tiny-lmhead" stores the tied output
matrix only as decoder.lm_head.weight, "tiny-wte" only as decoder.transformer.wte.weight. The BPE
vocabulary is made up: the 256 byte symbols, merges that build a few words, <|endoftext|> last.
"""
import importlib.util
import json
import math
import os
import sys

import numpy as np
import torch
from PIL import Image

torch.set_grad_enabled(False)
HERE = os.path.dirname(os.path.abspath(__file__))
def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = load("blip_ref", "blip-reference.py")
bpe_ref = load("bpe_ref", "bpe-reference.py")

WORDS = "a an the man woman dog cat two birds standing next to each other on of with sitting table street red".split()


def bpe_vocab():
    """256 byte symbols, then every prefix of each word (with and without the space symbol Ġ)."""
    symbols = [bpe_ref.bytes_to_unicode()[b] for b in range(256)]
    merges, tokens = [], list(symbols)
    for w in WORDS:
        for word in (w, "\u0120" + w):
            for i in range(2, len(word) + 1):
                left, right = word[: i - 1], word[i - 1]
                if word[:i] not in tokens:
                    merges.append((left, right))
                    tokens.append(word[:i])
    return tokens + ["<|endoftext|>"], merges


def vit(p, vc, pixel_values):
    """The encoder (docs/models/vit-gpt2.md): HF ViTModel, pre-LN, separate q/k/v, final layernorm over all tokens (pooler unused)."""
    pre, eps, d = "encoder.", vc["layer_norm_eps"], vc["hidden_size"]
    x = torch.nn.functional.conv2d(pixel_values, p[pre + "embeddings.patch_embeddings.projection.weight"],
                                   p[pre + "embeddings.patch_embeddings.projection.bias"], stride=vc["patch_size"])
    x = x.flatten(2).transpose(1, 2)
    x = torch.cat([p[pre + "embeddings.cls_token"].expand(x.shape[0], 1, -1), x], 1) + p[pre + "embeddings.position_embeddings"]
    for i in range(vc["num_hidden_layers"]):
        l = f"{pre}encoder.layer.{i}."
        y = ref.ln(x, p, l + "layernorm_before", eps)
        a = ref.attend(ref.lin(y, p, l + "attention.attention.query"), ref.lin(y, p, l + "attention.attention.key"),
                       ref.lin(y, p, l + "attention.attention.value"), vc["num_attention_heads"])
        x = x + ref.lin(a, p, l + "attention.output.dense")
        y = ref.ln(x, p, l + "layernorm_after", eps)
        x = x + ref.lin(ref.gelu(ref.lin(y, p, l + "intermediate.dense")), p, l + "output.dense")
    return ref.ln(x, p, pre + "layernorm", eps)


def conv1d(x, p, name):  # GPT-2's Conv1D: weight [in, out], y = x W + b
    return x @ p[name + ".weight"] + p[name + ".bias"]


def gelu_new(x):
    return 0.5 * x * (1.0 + torch.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * torch.pow(x, 3.0))))


def gpt2(p, dc, ids, enc):
    """The decoder (docs/models/vit-gpt2.md): pre-LN blocks with causal self-attention and cross-attention; logits = ln_f(h) wte^T."""
    pre, eps, d, heads = "decoder.transformer.", dc["layer_norm_epsilon"], dc["n_embd"], dc["n_head"]
    t = ids.shape[1]
    wte = p.get(pre + "wte.weight", p.get("decoder.lm_head.weight"))
    h = wte[ids] + p[pre + "wpe.weight"][:t]
    causal = torch.triu(torch.full((t, t), torch.finfo(torch.float32).min), 1)
    for i in range(dc["n_layer"]):
        l = f"{pre}h.{i}."
        qkv = conv1d(ref.ln(h, p, l + "ln_1", eps), p, l + "attn.c_attn")
        h = h + conv1d(ref.attend(qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:], heads, causal), p, l + "attn.c_proj")
        q = conv1d(ref.ln(h, p, l + "ln_cross_attn", eps), p, l + "crossattention.q_attn")
        kv = conv1d(enc, p, l + "crossattention.c_attn")
        h = h + conv1d(ref.attend(q, kv[..., :d], kv[..., d:], heads), p, l + "crossattention.c_proj")
        h = h + conv1d(gelu_new(conv1d(ref.ln(h, p, l + "ln_2", eps), p, l + "mlp.c_fc")), p, l + "mlp.c_proj")
    return ref.ln(h, p, pre + "ln_f", eps) @ wte.T


def make_params(vc, dc, seed):
    g = torch.Generator().manual_seed(seed)
    def rnd(*shape, std=0.3):
        return torch.randn(*shape, generator=g) * std
    p = {}
    d, pt, n = vc["hidden_size"], vc["patch_size"], (vc["image_size"] // vc["patch_size"]) ** 2 + 1
    e = "encoder."
    p[e + "embeddings.cls_token"] = rnd(1, 1, d)
    p[e + "embeddings.position_embeddings"] = rnd(1, n, d)
    p[e + "embeddings.patch_embeddings.projection.weight"] = rnd(d, 3, pt, pt, std=1 / math.sqrt(3 * pt * pt))
    p[e + "embeddings.patch_embeddings.projection.bias"] = rnd(d, std=0.1)
    def lin(name, o, i):
        p[name + ".weight"], p[name + ".bias"] = rnd(o, i, std=1 / math.sqrt(i)), rnd(o, std=0.1)
    def norm(name, k):
        p[name + ".weight"], p[name + ".bias"] = 1 + rnd(k, std=0.1), rnd(k, std=0.1)
    for i in range(vc["num_hidden_layers"]):
        l = f"{e}encoder.layer.{i}."
        norm(l + "layernorm_before", d)
        for part in ("query", "key", "value"):
            lin(l + "attention.attention." + part, d, d)
        lin(l + "attention.output.dense", d, d)
        norm(l + "layernorm_after", d)
        lin(l + "intermediate.dense", vc["intermediate_size"], d)
        lin(l + "output.dense", d, vc["intermediate_size"])
    norm(e + "layernorm", d)
    lin(e + "pooler.dense", d, d)
    dd, inner, t = dc["n_embd"], 4 * dc["n_embd"], "decoder.transformer."
    def conv(name, i, o):
        p[name + ".weight"], p[name + ".bias"] = rnd(i, o, std=1 / math.sqrt(i)), rnd(o, std=0.1)
    p[t + "wte.weight"] = rnd(dc["vocab_size"], dd, std=0.5)
    p[t + "wpe.weight"] = rnd(dc["n_positions"], dd)
    for i in range(dc["n_layer"]):
        l = f"{t}h.{i}."
        norm(l + "ln_1", dd)
        conv(l + "attn.c_attn", dd, 3 * dd)
        conv(l + "attn.c_proj", dd, dd)
        norm(l + "ln_cross_attn", dd)
        conv(l + "crossattention.q_attn", dd, dd)
        conv(l + "crossattention.c_attn", d, 2 * dd)
        conv(l + "crossattention.c_proj", dd, dd)
        norm(l + "ln_2", dd)
        conv(l + "mlp.c_fc", dd, inner)
        conv(l + "mlp.c_proj", inner, dd)
    norm(t + "ln_f", dd)
    return p


def main(out):
    tokens, merges = bpe_vocab()
    eos = len(tokens) - 1
    vc = {"hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 64,
          "image_size": 32, "patch_size": 16, "layer_norm_eps": 1e-12}
    dc = {"n_embd": 32, "n_layer": 2, "n_head": 4, "n_positions": 64, "vocab_size": len(tokens), "layer_norm_epsilon": 1e-5}
    config = {"architectures": ["VisionEncoderDecoderModel"], "model_type": "vision-encoder-decoder",
              "encoder": dict(vc, model_type="vit", hidden_act="gelu", qkv_bias=True),
              "decoder": dict(dc, model_type="gpt2", n_inner=None, activation_function="gelu_new", add_cross_attention=True,
                              is_decoder=True, bos_token_id=eos, eos_token_id=eos, n_ctx=64),
              "decoder_start_token_id": eos, "eos_token_id": eos, "pad_token_id": eos, "tie_word_embeddings": False}
    pre = {"do_normalize": True, "do_resize": True, "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
           "resample": 2, "size": 32, "feature_extractor_type": "ViTFeatureExtractor"}
    images = {"pattern": os.path.join(HERE, "..", "tests", "data", "blip", "pattern.png"),
              "photo": os.path.join(HERE, "..", "tests", "data", "images", "rgb-420.jpg")}
    norm = {"size": {"width": 32, "height": 32}, "resample": 2, "rescale_factor": 1 / 255,
            "image_mean": pre["image_mean"], "image_std": pre["image_std"]}
    seed = 713105  # the first seed from 5 in steps of 100 that passes (the search takes minutes)
    while True:  # weights whose greedy choices are not knife-edge, and a caption that ends at eos
        p = make_params(vc, dc, seed)
        results, ok, stops = {}, True, 0
        for name, path in images.items():
            pv = ref.pixel_values(path, norm)
            enc = vit(p, vc, pv)
            ids, margins = [eos], []
            while len(ids) < 20:
                logits = gpt2(p, dc, torch.tensor([ids]), enc)[0, -1]
                top2 = torch.topk(logits, 2).values
                margins.append(float(top2[0] - top2[1]))
                ids.append(int(torch.argmax(logits)))
                if ids[-1] == eos:
                    break
            ok = ok and min(margins) >= 0.05 and len(ids) >= 6
            stops += ids[-1] == eos
            beam = ref.beam_search_with(lambda seq: gpt2(p, dc, torch.tensor([seq]), enc)[0, -1], eos, [eos], 4,
                                        max_length=16)
            results[name] = dict(pixel_values=pv, enc=enc, ids=ids, beam=beam,
                                 logits0=gpt2(p, dc, torch.tensor([[eos]]), enc)[0, -1])
        if ok and stops >= 1:
            break
        seed += 100
    goldens = {"torch": torch.__version__, "seed": seed, "cases": {}}
    for variant, drop in (("tiny-lmhead", "decoder.transformer.wte.weight"), ("tiny-wte", "decoder.lm_head.weight")):
        d = os.path.join(out, variant)
        os.makedirs(d, exist_ok=True)
        tensors = dict(p)
        tensors["decoder.lm_head.weight"] = p["decoder.transformer.wte.weight"]
        del tensors[drop]
        if variant == "tiny-lmhead":  # legacy GPT-2 buffers, to be skipped
            for i in range(dc["n_layer"]):
                for part in ("attn", "crossattention"):
                    tensors[f"decoder.transformer.h.{i}.{part}.bias"] = torch.tril(torch.ones(1, 1, 64, 64)).to(torch.uint8)
                    tensors[f"decoder.transformer.h.{i}.{part}.masked_bias"] = torch.tensor(-1e4)
        ref.save_safetensors(os.path.join(d, "model.safetensors"), tensors)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump(config, f, indent=2)
        with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
            json.dump(pre, f, indent=2)
        with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
            json.dump({t: i for i, t in enumerate(tokens)}, f, ensure_ascii=False)
        with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
            f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    for name, r in results.items():
        stem = os.path.join(out, f"golden-{name}")
        np.save(stem + "-pixel_values.npy", r["pixel_values"].numpy())
        np.save(stem + "-encoder_states.npy", r["enc"].numpy())
        np.save(stem + "-logits_step0.npy", r["logits0"].numpy())
        goldens["cases"][name] = {"ids": r["ids"], "ids_beam4_ml16": r["beam"]}
    with open(os.path.join(out, "goldens.json"), "w") as f:
        json.dump(goldens, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/vit-gpt2")
