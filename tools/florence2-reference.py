#!/usr/bin/python3
"""Florence-2 in plain PyTorch, written from reading the original remote code (modeling_florence2.py
and configuration_florence2.py of microsoft/Florence-2-*, Hub commit 00d2f15; DaViT,
Florence2ForConditionalGeneration._encode_image) and transformers' native port
(src/transformers/models/florence2/), and a tiny checkpoint + goldens for tests/test-florence2.cpp.

    /usr/bin/python3 tools/florence2-reference.py tests/data/florence2

So far: the image side (DaViT and the image projection) of docs/models/florence2.md. The checkpoint
is written as Microsoft publishes it: config.json with the DaViT vision_config and the BART
text_config, preprocessor_config.json (CLIPImageProcessor fields), and fp16 weights in
pytorch_model.bin only. The goldens are computed in float32 from the fp16-rounded weights.
"""
import importlib.util
import json
import math
import os
import sys

import numpy as np
import torch
import torch.nn.functional as F

torch.set_grad_enabled(False)
HERE = os.path.dirname(os.path.abspath(__file__))


def load(name, file):
    spec = importlib.util.spec_from_file_location(name, os.path.join(HERE, file))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ref = load("blip_ref", "blip-reference.py")

VISION = {
    "model_type": "davit", "drop_path_rate": 0.1,
    "patch_size": [7, 3, 3, 3], "patch_stride": [4, 2, 2, 2], "patch_padding": [3, 1, 1, 1],
    "patch_prenorm": [False, True, True, True], "enable_checkpoint": False,
    "dim_embed": [16, 24, 32, 48], "num_heads": [2, 3, 4, 6], "num_groups": [2, 3, 4, 6],
    "depths": [1, 1, 2, 1], "window_size": 5, "projection_dim": 40,
    "visual_temporal_embedding": {"type": "COSINE", "max_temporal_embeddings": 100},
    "image_pos_embed": {"type": "learned_abs_2d", "max_pos_embeddings": 50},
    "image_feature_source": ["spatial_avg_pool", "temporal_avg_pool"],
}
IMAGE = 96  # 24, 12, 6 and 3 tokens a side: every stage pads its windows of 5
PRE = {"do_center_crop": False, "do_convert_rgb": None, "do_normalize": True, "do_rescale": True, "do_resize": True,
       "image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225],
       "image_processor_type": "CLIPImageProcessor", "image_seq_length": 10, "processor_class": "Florence2Processor",
       "resample": 3, "rescale_factor": 1 / 255, "size": {"height": IMAGE, "width": IMAGE},
       "crop_size": {"height": IMAGE, "width": IMAGE}}


# ---- DaViT ----------------------------------------------------------------------------------------

def layer_norm(x, p, name):
    return F.layer_norm(x, x.shape[-1:], p[name + ".weight"], p[name + ".bias"], 1e-5)  # nn.LayerNorm's eps


def linear(x, p, name, bias=True):
    return F.linear(x, p[name + ".weight"], p.get(name + ".bias") if bias else None)


def depthwise(x, size, p, name):
    """x + a 3x3 depthwise conv of the token grid (PreNorm(None, DepthWiseConv2d): the residual)."""
    b, n, c = x.shape
    h, w = size
    grid = x.transpose(1, 2).reshape(b, c, h, w)
    y = F.conv2d(grid, p[name + ".fn.dw.weight"], p[name + ".fn.dw.bias"], stride=1, padding=1, groups=c)
    return x + y.flatten(2).transpose(1, 2)


def mlp(x, p, name):
    h = layer_norm(x, p, name + ".norm")
    h = F.gelu(linear(h, p, name + ".fn.net.fc1"))  # nn.GELU: the erf form
    return x + linear(h, p, name + ".fn.net.fc2")


def window_attention(x, size, p, name, heads, ws):
    """Windows of ws x ws over the zero-padded grid (bottom and right), no mask, no shift."""
    b, n, c = x.shape
    h, w = size
    y = layer_norm(x, p, name + ".norm").view(b, h, w, c)
    pb, pr = (ws - h % ws) % ws, (ws - w % ws) % ws
    y = F.pad(y, (0, 0, 0, pr, 0, pb))
    hp, wp = h + pb, w + pr
    win = y.view(b, hp // ws, ws, wp // ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, ws * ws, c)
    qkv = linear(win, p, name + ".fn.qkv").reshape(win.shape[0], ws * ws, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * (c // heads) ** -0.5, qkv[1], qkv[2]
    o = (torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v).transpose(1, 2).reshape(-1, ws * ws, c)
    o = linear(o, p, name + ".fn.proj")
    o = o.view(b, hp // ws, wp // ws, ws, ws, c).permute(0, 1, 3, 2, 4, 5).reshape(b, hp, wp, c)
    return x + o[:, :h, :w, :].reshape(b, h * w, c)


def channel_attention(x, p, name, groups):
    """Attention across channel groups: the scores sum over every token, scaled by tokens^-0.5."""
    b, n, c = x.shape
    y = layer_norm(x, p, name + ".norm")
    qkv = linear(y, p, name + ".fn.qkv").reshape(b, n, 3, groups, c // groups).permute(2, 0, 3, 1, 4)
    q, k, v = qkv[0] * float(n) ** -0.5, qkv[1], qkv[2]
    a = torch.softmax(q.transpose(-1, -2) @ k, dim=-1)
    o = (a @ v.transpose(-1, -2)).transpose(-1, -2).transpose(1, 2).reshape(b, n, c)
    return x + linear(o, p, name + ".fn.proj")


def davit(p, vc, pixel_values):
    """DaViT.forward_features_unpool: the last stage's tokens and grid size (no final norm)."""
    x, size = pixel_values, None
    for i in range(len(vc["dim_embed"])):
        c = f"vision_tower.convs.{i}"
        if i > 0:  # patch_prenorm [False, True, True, True]: LayerNorm on the tokens, then the conv
            assert vc["patch_prenorm"][i]
            x = layer_norm(x, p, c + ".norm")
            b, n, ch = x.shape
            x = x.transpose(1, 2).reshape(b, ch, *size)
        x = F.conv2d(x, p[c + ".proj.weight"], p[c + ".proj.bias"], stride=vc["patch_stride"][i],
                     padding=vc["patch_padding"][i])
        size = tuple(x.shape[2:])
        x = x.flatten(2).transpose(1, 2)
        if i == 0:  # no prenorm: the LayerNorm after the conv
            x = layer_norm(x, p, c + ".norm")
        for j in range(vc["depths"][i]):
            blk = f"vision_tower.blocks.{i}.{j}"
            s, ch = blk + ".spatial_block", blk + ".channel_block"
            x = depthwise(x, size, p, s + ".conv1")
            x = window_attention(x, size, p, s + ".window_attn", vc["num_heads"][i], vc["window_size"])
            x = depthwise(x, size, p, s + ".conv2")
            x = mlp(x, p, s + ".ffn")
            x = depthwise(x, size, p, ch + ".conv1")
            x = channel_attention(x, p, ch + ".channel_attn", vc["num_groups"][i])
            x = depthwise(x, size, p, ch + ".conv2")
            x = mlp(x, p, ch + ".ffn")
    return x, size


def temporal_table(rows, dim):
    """PositionalEmbeddingCosine1D: sin on even channels, cos on odd ones."""
    freq = torch.arange(rows).reshape(rows, 1) * torch.exp(-math.log(10000) * torch.arange(0, dim, 2) / dim)
    t = torch.zeros(rows, dim)
    t[:, 0::2], t[:, 1::2] = torch.sin(freq), torch.cos(freq)
    return t


def image_features(p, vc, pixel_values):
    """Florence2ForConditionalGeneration._encode_image for single frames (T = 1)."""
    x, (h, w) = davit(p, vc, pixel_values)
    b, n, c = x.shape
    cols = p["image_pos_embed.column_embeddings.weight"][:w]  # first half of the channels: the column
    rows = p["image_pos_embed.row_embeddings.weight"][:h]
    pos = torch.cat([cols[None].expand(h, w, -1), rows[:, None].expand(h, w, -1)], dim=-1).reshape(1, h * w, c)
    x = x + pos + p["visual_temporal_embed.pos_idx_to_embed"][0]
    feats = {"spatial_avg_pool": x.mean(dim=1, keepdim=True), "temporal_avg_pool": x, "last_frame": x}
    x = torch.cat([feats[k] for k in vc["image_feature_source"]], dim=1)
    x = x @ p["image_projection"]
    return layer_norm(x, p, "image_proj_norm"), x


# ---- the checkpoint -------------------------------------------------------------------------------

def make_params(vc, seed):
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=0.3):
        return torch.randn(*shape, generator=g) * std
    p = {}

    def lin(name, o, i):
        p[name + ".weight"], p[name + ".bias"] = rnd(o, i, std=1 / math.sqrt(i)), rnd(o, std=0.1)

    def norm(name, k):
        p[name + ".weight"], p[name + ".bias"] = 1 + rnd(k, std=0.1), rnd(k, std=0.1)

    dims = vc["dim_embed"]
    for i, d in enumerate(dims):
        cin, k = (3 if i == 0 else dims[i - 1]), vc["patch_size"][i]
        p[f"vision_tower.convs.{i}.proj.weight"] = rnd(d, cin, k, k, std=1 / math.sqrt(cin * k * k))
        p[f"vision_tower.convs.{i}.proj.bias"] = rnd(d, std=0.1)
        norm(f"vision_tower.convs.{i}.norm", d if i == 0 else cin)
        for j in range(vc["depths"][i]):
            for kind, attn in (("spatial_block", "window_attn"), ("channel_block", "channel_attn")):
                blk = f"vision_tower.blocks.{i}.{j}.{kind}"
                for conv in ("conv1", "conv2"):
                    p[f"{blk}.{conv}.fn.dw.weight"] = rnd(d, 1, 3, 3, std=0.3)
                    p[f"{blk}.{conv}.fn.dw.bias"] = rnd(d, std=0.1)
                norm(f"{blk}.{attn}.norm", d)
                lin(f"{blk}.{attn}.fn.qkv", 3 * d, d)
                lin(f"{blk}.{attn}.fn.proj", d, d)
                norm(f"{blk}.ffn.norm", d)
                lin(f"{blk}.ffn.fn.net.fc1", 4 * d, d)
                lin(f"{blk}.ffn.fn.net.fc2", d, 4 * d)
    d, pd = dims[-1], vc["projection_dim"]
    p["image_projection"] = rnd(d, pd, std=1 / math.sqrt(d))  # [in, out]: x @ image_projection
    norm("image_proj_norm", pd)
    npos = vc["image_pos_embed"]["max_pos_embeddings"]
    p["image_pos_embed.row_embeddings.weight"] = rnd(npos, d // 2)
    p["image_pos_embed.column_embeddings.weight"] = rnd(npos, d - d // 2)
    p["visual_temporal_embed.pos_idx_to_embed"] = temporal_table(vc["visual_temporal_embedding"]["max_temporal_embeddings"], d)
    # As published: fp16 values; the reference computes in float32 from them.
    return {k: v.half().float() for k, v in p.items()}


def config_json(vc):
    return {"architectures": ["Florence2ForConditionalGeneration"],
            "auto_map": {"AutoConfig": "configuration_florence2.Florence2Config",
                         "AutoModelForCausalLM": "modeling_florence2.Florence2ForConditionalGeneration"},
            "bos_token_id": 0, "eos_token_id": 2, "ignore_index": -100, "model_type": "florence2", "pad_token_id": 1,
            "projection_dim": vc["projection_dim"], "vision_config": vc, "torch_dtype": "float16",
            "transformers_version": "4.41.0.dev0", "is_encoder_decoder": True}


def main(out):
    vc = VISION
    images = {"pattern": os.path.join(HERE, "..", "tests", "data", "blip", "pattern.png"),
              "photo": os.path.join(HERE, "..", "tests", "data", "images", "rgb-420.jpg")}
    p = make_params(vc, 2024)
    d = os.path.join(out, "tiny")
    os.makedirs(d, exist_ok=True)
    torch.save({k: v.half() for k, v in p.items()}, os.path.join(d, "pytorch_model.bin"))
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config_json(vc), f, indent=2)
    with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
        json.dump(PRE, f, indent=2)
    goldens = {"torch": torch.__version__, "images": {}}
    for name, path in images.items():
        pv = ref.pixel_values(path, PRE)
        feats, unnormed = image_features(p, vc, pv)
        stem = os.path.join(out, f"golden-tiny-{name}")
        np.save(stem + "-pixel_values.npy", pv.numpy())
        np.save(stem + "-image_features.npy", feats.numpy())
        davit_out, size = davit(p, vc, pv)
        np.save(stem + "-davit.npy", davit_out.numpy())
        goldens["images"][name] = {"grid": list(size), "tokens": feats.shape[1]}
    with open(os.path.join(out, "goldens.json"), "w") as f:
        json.dump(goldens, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/florence2")
