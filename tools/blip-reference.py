#!/usr/bin/python3
"""BLIP captioning in plain PyTorch, written from docs/models/blip.md and docs/generation.md, and the tiny random
checkpoints (exact Hugging Face layout) and goldens that tests/test-blip.cpp compares against.

    apt-get install python3-torch python3-numpy python3-pil
    /usr/bin/python3 tools/blip-reference.py tests/data/blip

Two checkpoints: "tiny-base" (vision width = text width, every tied alias stored, a full
config.json) and "tiny-large" (vision width 64 != text width 32, one name per tied pair as the
Hub's conversion bot leaves it, a compact config.json relying on the class defaults). Their
vocabulary is made up (not bert-base-uncased), with [DEC]/[ENC] past it as in BLIP.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
from PIL import Image

torch.set_grad_enabled(False)
HERE = os.path.dirname(os.path.abspath(__file__))

WORDS = ("a an the of in on at with and photography picture photo image man woman dog cat cats dogs "
         "sitting standing sleeping couch table street car red blue green white black two three small "
         "large is are there this that of front near next to group people bird birds flying sky water "
         "##s ##ing ##ed ##er ##ly").split()
PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")


QUESTION_WORDS = "what how many color where who does do ##es".split()


def vocab_tokens(extra=()):
    tokens = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    return tokens + PUNCT + WORDS + list(extra)


# ---- the model, from the spec -------------------------------------------------------------------

def ln(x, p, name, eps):
    return torch.nn.functional.layer_norm(x, (x.shape[-1],), p[name + ".weight"], p[name + ".bias"], eps)


def lin(x, p, name):
    return x @ p[name + ".weight"].T + p[name + ".bias"]


def gelu(x):
    return torch.nn.functional.gelu(x)  # exact erf form


def attend(q, k, v, heads, mask=None):
    b, tq, d = q.shape
    tk, dh = k.shape[1], d // heads
    q = q.view(b, tq, heads, dh).transpose(1, 2)
    k = k.view(b, tk, heads, dh).transpose(1, 2)
    v = v.view(b, tk, heads, dh).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)
    if mask is not None:
        s = s + mask
    return (s.softmax(-1) @ v).transpose(1, 2).reshape(b, tq, d)


def vision(p, vc, pixel_values):
    pre = "vision_model."
    x = torch.nn.functional.conv2d(pixel_values, p[pre + "embeddings.patch_embedding.weight"],
                                   p[pre + "embeddings.patch_embedding.bias"], stride=vc["patch_size"])
    x = x.flatten(2).transpose(1, 2)  # row-major patches
    cls = p[pre + "embeddings.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], 1) + p[pre + "embeddings.position_embedding"][:, : x.shape[1] + 1]
    d, eps = vc["hidden_size"], vc["layer_norm_eps"]
    for i in range(vc["num_hidden_layers"]):
        l = f"{pre}encoder.layers.{i}."
        h = x
        qkv = lin(ln(x, p, l + "layer_norm1", eps), p, l + "self_attn.qkv")
        a = attend(qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:], vc["num_attention_heads"])
        x = lin(a, p, l + "self_attn.projection") + h
        h = x
        x = lin(gelu(lin(ln(x, p, l + "layer_norm2", eps), p, l + "mlp.fc1")), p, l + "mlp.fc2") + h
    return ln(x, p, pre + "post_layernorm", eps)


def text_layers(p, tc, ids, enc, prefix, causal):
    """BlipTextModel (docs/models/blip.md): embeddings, post-LN layers with self- and cross-attention."""
    t = ids.shape[1]
    x = p[prefix + "embeddings.word_embeddings.weight"][ids] + p[prefix + "embeddings.position_embeddings.weight"][:t]
    eps, heads = tc["layer_norm_eps"], tc["num_attention_heads"]
    x = ln(x, p, prefix + "embeddings.LayerNorm", eps)
    mask = (1.0 - torch.tril(torch.ones(t, t))) * -10000.0 if causal else None
    for i in range(tc["num_hidden_layers"]):
        l = f"{prefix}encoder.layer.{i}."
        a = attend(lin(x, p, l + "attention.self.query"), lin(x, p, l + "attention.self.key"),
                   lin(x, p, l + "attention.self.value"), heads, mask)
        x = ln(lin(a, p, l + "attention.output.dense") + x, p, l + "attention.output.LayerNorm", eps)
        c = attend(lin(x, p, l + "crossattention.self.query"), lin(enc, p, l + "crossattention.self.key"),
                   lin(enc, p, l + "crossattention.self.value"), heads)
        x = ln(lin(c, p, l + "crossattention.output.dense") + x, p, l + "crossattention.output.LayerNorm", eps)
        m = lin(gelu(lin(x, p, l + "intermediate.dense")), p, l + "output.dense")
        x = ln(m + x, p, l + "output.LayerNorm", eps)
    return x


def text_decoder(p, tc, ids, enc):
    x = text_layers(p, tc, ids, enc, "text_decoder.bert.", causal=True)
    eps = tc["layer_norm_eps"]
    h = ln(gelu(lin(x, p, "text_decoder.cls.predictions.transform.dense")), p,
           "text_decoder.cls.predictions.transform.LayerNorm", eps)
    return h @ p["text_decoder.cls.predictions.decoder.weight"].T + p["text_decoder.cls.predictions.bias"]


def greedy(p, tc, enc, start_ids, max_length=20):
    """Captioning (docs/models/blip.md, docs/generation.md): max_length counts the prompt; stop at sep; argmax, lowest index on ties."""
    ids = list(start_ids)
    steps = []
    while len(ids) < max_length:
        logits = text_decoder(p, tc, torch.tensor([ids]), enc)[0, -1]
        top2 = torch.topk(logits, 2).values
        steps.append(float(top2[0] - top2[1]))
        nxt = int(torch.argmax(logits))
        ids.append(nxt)
        if nxt == tc["sep_token_id"]:
            break
    return ids, min(steps)


def greedy_min_length(p, tc, enc, start_ids, min_length, max_length=20):
    """Greedy with MinLengthLogitsProcessor: eos is -inf while the sequence is shorter than min_length."""
    ids = list(start_ids)
    while len(ids) < max_length:
        logits = text_decoder(p, tc, torch.tensor([ids]), enc)[0, -1].clone()
        if len(ids) < min_length:
            logits[tc["sep_token_id"]] = -float("inf")
        nxt = int(torch.argmax(logits))
        ids.append(nxt)
        if nxt == tc["sep_token_id"]:
            break
    return ids


def beam_search(p, tc, enc, start_ids, num_beams, max_length=20, length_penalty=1.0, early_stopping=False):
    """Greedy decoding (docs/generation.md) with the BLIP decoder."""
    return beam_search_with(lambda seq: text_decoder(p, tc, torch.tensor([seq]), enc)[0, -1], tc["sep_token_id"],
                            start_ids, num_beams, max_length, length_penalty, early_stopping)


def beam_search_with(last_logits, eos, start_ids, num_beams, max_length=20, length_penalty=1.0, early_stopping=False,
                     process=None):
    """Beam search (docs/generation.md), transformers >= 4.50's vectorised one, for one input; last_logits(ids) gives the
    next-token logits of a sequence; process(ids, logprobs, max_length), when given, is the logits processors, applied
    after the log_softmax as _beam_search does."""
    prompt_len = len(start_ids)
    running = [list(start_ids) for _ in range(num_beams)]
    running_scores = torch.tensor([0.0] + [-1e9] * (num_beams - 1))
    finished = [[] for _ in range(num_beams)]
    finished_scores = torch.full((num_beams,), -1e9)
    finished_flags = torch.zeros(num_beams, dtype=torch.bool)
    cur_len = prompt_len
    while cur_len < max_length:
        rows = [torch.log_softmax(last_logits(seq), -1) for seq in running]
        if process:
            rows = [process(seq, row, max_length) for seq, row in zip(running, rows)]
        logprobs = torch.stack(rows) + running_scores[:, None]
        vocab = logprobs.shape[1]
        values, flat = torch.topk(logprobs.flatten(), 2 * num_beams)
        beams, tokens = flat // vocab, flat % vocab
        cands = [running[int(b)] + [int(t)] for b, t in zip(beams, tokens)]
        hits = (tokens == eos) | torch.tensor(cur_len + 1 == max_length)
        run_values = values + hits.float() * -1e9
        keep = torch.topk(run_values, num_beams).indices
        running = [cands[int(i)] for i in keep]
        running_scores = run_values[keep]
        norm = values / ((cur_len + 1 - prompt_len) ** length_penalty)
        if early_stopping and bool(finished_flags.all()):
            norm = norm - 1e9
        qualifies = hits & (torch.arange(2 * num_beams) < num_beams)
        norm = norm + (~qualifies).float() * -1e9
        merged_scores = torch.cat([finished_scores, norm])
        merged = finished + cands
        merged_flags = torch.cat([finished_flags, qualifies])
        top = torch.topk(merged_scores, num_beams).indices
        finished = [merged[int(i)] for i in top]
        finished_scores = merged_scores[top]
        finished_flags = merged_flags[top]
        cur_len += 1
        best_running = running_scores[0] / ((cur_len - prompt_len) ** length_penalty)
        worst = torch.where(finished_flags, finished_scores.min(), torch.tensor(-1e9))
        improvement = bool((best_running > worst).any())
        open_beam = not (bool(finished_flags.all()) and early_stopping)
        if not (improvement and open_beam and not bool(hits.all())):
            break
    return finished[0]


# ---- preprocessing (HF BlipImageProcessor, slow path) ---------------------------------------------

def pixel_values(path, pre):
    im = Image.open(path).convert("RGB").resize((pre["size"]["width"], pre["size"]["height"]), resample=pre["resample"])
    x = (np.asarray(im).astype(np.float64) * pre["rescale_factor"]).astype(np.float32)
    x = (x - np.array(pre["image_mean"], dtype=np.float32)) / np.array(pre["image_std"], dtype=np.float32)
    return torch.from_numpy(x.transpose(2, 0, 1).copy())[None]


# ---- checkpoints ----------------------------------------------------------------------------------

def make_params(vc, tc, seed, text_encoder=False):
    g = torch.Generator().manual_seed(seed)
    def rnd(*shape, std=0.3):
        return torch.randn(*shape, generator=g) * std
    def ln_params(name, n):
        return {name + ".weight": 1.0 + rnd(n, std=0.1), name + ".bias": rnd(n, std=0.1)}
    def lin_params(name, n_out, n_in, std=None):
        return {name + ".weight": rnd(n_out, n_in, std=std or 1.0 / math.sqrt(n_in)), name + ".bias": rnd(n_out, std=0.1)}
    p = {}
    dv, dt, pt = vc["hidden_size"], tc["hidden_size"], vc["patch_size"]
    n = (vc["image_size"] // pt) ** 2 + 1
    p["vision_model.embeddings.class_embedding"] = rnd(1, 1, dv)
    p["vision_model.embeddings.patch_embedding.weight"] = rnd(dv, 3, pt, pt, std=1.0 / math.sqrt(3 * pt * pt))
    p["vision_model.embeddings.patch_embedding.bias"] = rnd(dv, std=0.1)
    p["vision_model.embeddings.position_embedding"] = rnd(1, n, dv)
    for i in range(vc["num_hidden_layers"]):
        l = f"vision_model.encoder.layers.{i}."
        p.update(ln_params(l + "layer_norm1", dv))
        p.update(lin_params(l + "self_attn.qkv", 3 * dv, dv))
        p.update(lin_params(l + "self_attn.projection", dv, dv))
        p.update(ln_params(l + "layer_norm2", dv))
        p.update(lin_params(l + "mlp.fc1", vc["intermediate_size"], dv))
        p.update(lin_params(l + "mlp.fc2", dv, vc["intermediate_size"]))
    p.update(ln_params("vision_model.post_layernorm", dv))
    for b in ["text_decoder.bert."] + (["text_encoder."] if text_encoder else []):
        text_params(p, b, tc, dt, rnd, ln_params, lin_params)
    p.update(lin_params("text_decoder.cls.predictions.transform.dense", dt, dt))
    p.update(ln_params("text_decoder.cls.predictions.transform.LayerNorm", dt))
    p["text_decoder.cls.predictions.bias"] = rnd(tc["vocab_size"], std=0.1)
    p["text_decoder.cls.predictions.bias"][tc["sep_token_id"]] += 2.0  # let some captions end early
    # Tied: the LM head reads the word embeddings (docs/checkpoints.md).
    p["text_decoder.cls.predictions.decoder.weight"] = p["text_decoder.bert.embeddings.word_embeddings.weight"]
    p["text_decoder.cls.predictions.decoder.bias"] = p["text_decoder.cls.predictions.bias"]
    return p


def text_params(p, b, tc, dt, rnd, ln_params, lin_params):
    """A BlipTextModel's parameters under prefix b ("text_decoder.bert." or "text_encoder.")."""
    p[b + "embeddings.word_embeddings.weight"] = rnd(tc["vocab_size"], dt, std=1.0)
    p[b + "embeddings.position_embeddings.weight"] = rnd(tc["max_position_embeddings"], dt)
    p.update(ln_params(b + "embeddings.LayerNorm", dt))
    for i in range(tc["num_hidden_layers"]):
        l = f"{b}encoder.layer.{i}."
        for part, n_in in (("attention", dt), ("crossattention", tc["encoder_hidden_size"])):
            p.update(lin_params(f"{l}{part}.self.query", dt, dt))
            p.update(lin_params(f"{l}{part}.self.key", dt, n_in))
            p.update(lin_params(f"{l}{part}.self.value", dt, n_in))
            p.update(lin_params(f"{l}{part}.output.dense", dt, dt))
            p.update(ln_params(f"{l}{part}.output.LayerNorm", dt))
        p.update(lin_params(l + "intermediate.dense", tc["intermediate_size"], dt))
        p.update(lin_params(l + "output.dense", dt, tc["intermediate_size"]))
        p.update(ln_params(l + "output.LayerNorm", dt))


def save_safetensors(path, tensors):
    """The safetensors layout (docs/checkpoints.md), written directly: header length, JSON, data."""
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        dtype = {torch.float32: "F32", torch.int64: "I64", torch.uint8: "U8"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def write_model(out, name, vc, tc, config_json, p, drop_aliases, vocab=None):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    tensors = dict(p)
    for prefix in ("text_decoder.bert.", "text_encoder."):
        if prefix + "embeddings.word_embeddings.weight" in tensors:
            tensors[prefix + "embeddings.position_ids"] = torch.arange(tc["max_position_embeddings"])[None]
    for alias in drop_aliases:
        del tensors[alias]
    save_safetensors(os.path.join(d, "model.safetensors"), tensors)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(config_json, f, indent=2)
    pre = {"do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
           "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
           "image_processor_type": "BlipImageProcessor", "processor_class": "BlipProcessor", "resample": 3,
           "rescale_factor": 0.00392156862745098, "size": {"height": vc["image_size"], "width": vc["image_size"]}}
    with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab or vocab_tokens()) + "\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": 512, "tokenizer_class": "BertTokenizer"}, f, indent=2)
    return d, pre


def tokenize_prompt(text):
    """[CLS] words [SEP] with the made-up vocabulary (words here are whole vocabulary entries)."""
    tokens = vocab_tokens()
    ids = [tokens.index("[CLS]")]
    for w in text.lower().split():
        ids.append(tokens.index(w))
    return ids + [tokens.index("[SEP]")]


def main(out):
    vocab_n = len(vocab_tokens())
    images = {"pattern": os.path.join(out, "pattern.png")}
    y, x = np.mgrid[0:70, 0:90]
    img = np.stack([((x * 37 + y * 91 + c * 53) ^ (x * y * 7)) & 255 for c in range(3)], -1).astype(np.uint8)
    Image.fromarray(img, "RGB").save(images["pattern"])
    images["photo"] = os.path.join(HERE, "..", "tests", "data", "images", "rgb-420.jpg")

    text_common = {"vocab_size": vocab_n + 2, "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                   "num_attention_heads": 4, "max_position_embeddings": 512, "layer_norm_eps": 1e-12,
                   "bos_token_id": vocab_n, "sep_token_id": 102, "pad_token_id": 0, "eos_token_id": 2}
    variants = {
        # Every field spelled out, all tied aliases stored (like blip-image-captioning-base).
        "tiny-base": dict(vision={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                                  "num_attention_heads": 4, "image_size": 64, "patch_size": 16, "layer_norm_eps": 1e-5},
                          text=dict(text_common, encoder_hidden_size=32), full=True, drop=[], seed=1),
        # Vision wider than text; compact config; one name per tied pair.
        "tiny-large": dict(vision={"hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3,
                                   "num_attention_heads": 4, "image_size": 48, "patch_size": 16, "layer_norm_eps": 1e-5},
                           text=dict(text_common, encoder_hidden_size=64), full=False,
                           drop=["text_decoder.cls.predictions.decoder.weight", "text_decoder.cls.predictions.decoder.bias"],
                           seed=2),
    }
    goldens = {}
    for name, v in variants.items():
        vc, tc = v["vision"], v["text"]
        defaults_vision = {"hidden_size": 768, "intermediate_size": 3072, "num_hidden_layers": 12, "num_attention_heads": 12,
                           "image_size": 384, "patch_size": 16, "layer_norm_eps": 1e-5}
        defaults_text = {"vocab_size": 30524, "hidden_size": 768, "encoder_hidden_size": 768, "intermediate_size": 3072,
                         "num_hidden_layers": 12, "num_attention_heads": 8, "max_position_embeddings": 512,
                         "layer_norm_eps": 1e-12, "bos_token_id": 30522, "sep_token_id": 102, "pad_token_id": 0,
                         "eos_token_id": 2}
        if v["full"]:
            config = {"architectures": ["BlipForConditionalGeneration"], "model_type": "blip",
                      "vision_config": dict(vc, model_type="blip_vision_model", hidden_act="gelu"),
                      "text_config": dict(tc, model_type="blip_text_model", hidden_act="gelu", is_decoder=True),
                      "projection_dim": 512, "torch_dtype": "float32"}
        else:  # only what differs from configuration_blip.py's defaults
            config = {"architectures": ["BlipForConditionalGeneration"], "model_type": "blip",
                      "vision_config": {k: val for k, val in vc.items() if defaults_vision.get(k) != val},
                      "text_config": {k: val for k, val in tc.items() if defaults_text.get(k) != val}}
        # Choose weights whose greedy decisions are not knife-edge: parity must not hinge on rounding.
        seed = v["seed"]
        while True:
            p = make_params(vc, tc, seed)
            ok = True
            results = {}
            for img_name, path in images.items():
                d_pre = {"size": {"width": vc["image_size"], "height": vc["image_size"]}, "resample": 3,
                         "rescale_factor": 0.00392156862745098, "image_mean": [0.48145466, 0.4578275, 0.40821073],
                         "image_std": [0.26862954, 0.26130258, 0.27577711]}
                pv = pixel_values(path, d_pre)
                enc = vision(p, vc, pv)
                logits0 = text_decoder(p, tc, torch.tensor([[tc["bos_token_id"]]]), enc)[0, -1]
                ids, margin = greedy(p, tc, enc, [tc["bos_token_id"]])
                prompt = tokenize_prompt("a photography of")
                prompt = [tc["bos_token_id"]] + prompt[1:-1]
                ids_p, margin_p = greedy(p, tc, enc, prompt)
                if min(margin, margin_p) < 0.05:
                    ok = False
                    break
                results[img_name] = dict(pixel_values=pv, image_embeds=enc, logits0=logits0, ids=ids, ids_prompt=ids_p,
                                         ids_beam3=beam_search(p, tc, enc, [tc["bos_token_id"]], 3),
                                         ids_beam2_prompt_lp2=beam_search(p, tc, enc, prompt, 2, length_penalty=2.0),
                                         ids_min12=greedy_min_length(p, tc, enc, [tc["bos_token_id"]], 12),
                                         ids_beam4_early=beam_search(p, tc, enc, [tc["bos_token_id"]], 4,
                                                                     early_stopping=True))
            # Some caption must stop at [SEP] before max_length, so that stopping is tested too.
            stops = [r[k][-1] == tc["sep_token_id"] and len(r[k]) < 20 for r in results.values() for k in ("ids", "ids_prompt")]
            if ok and any(stops):
                break
            seed += 100
        d, _ = write_model(out, name, vc, tc, config, p, v["drop"])
        tokens = vocab_tokens()
        for img_name, r in results.items():
            stem = os.path.join(d, f"golden-{img_name}")
            np.save(stem + "-pixel_values.npy", r["pixel_values"].numpy())
            np.save(stem + "-image_embeds.npy", r["image_embeds"].numpy())
            np.save(stem + "-logits_step0.npy", r["logits0"].numpy())
            goldens[f"{name}/{img_name}"] = {"ids": r["ids"], "ids_prompt": r["ids_prompt"], "ids_beam3": r["ids_beam3"],
                                             "ids_beam2_prompt_lp2": r["ids_beam2_prompt_lp2"],
                                             "ids_min12": r["ids_min12"], "ids_beam4_early": r["ids_beam4_early"],
                                             "seed": seed}
    with open(os.path.join(out, "goldens.json"), "w") as f:
        json.dump({"torch": torch.__version__, "cases": goldens}, f, indent=1)


def wordpiece_module():
    import importlib.util
    spec = importlib.util.spec_from_file_location("wp", os.path.join(HERE, "wordpiece-reference.py"))
    wp = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(wp)
    return wp


QUESTIONS = ["how many cats are there?", "what color is the car?", "where is the dog sitting?"]


def main_vqa(out):
    """BlipForQuestionAnswering (docs/models/blip.md): question encoder over the image, answer decoder over the question."""
    tokens = vocab_tokens(QUESTION_WORDS)
    vocab = {t: i for i, t in enumerate(tokens)}
    wp = wordpiece_module()
    vc = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4,
          "image_size": 64, "patch_size": 16, "layer_norm_eps": 1e-5}
    tc = {"vocab_size": len(tokens) + 2, "hidden_size": 32, "encoder_hidden_size": 32, "intermediate_size": 64,
          "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 512, "layer_norm_eps": 1e-12,
          "bos_token_id": len(tokens), "sep_token_id": 102, "pad_token_id": 0, "eos_token_id": 2}
    config = {"architectures": ["BlipForQuestionAnswering"], "model_type": "blip",
              "vision_config": dict(vc, model_type="blip_vision_model", hidden_act="gelu"),
              "text_config": dict(tc, model_type="blip_text_model", hidden_act="gelu", is_decoder=True)}
    pre = {"size": {"width": 64, "height": 64}, "resample": 3, "rescale_factor": 0.00392156862745098,
           "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711]}
    image = os.path.join(out, "pattern.png")
    seed = 3
    while True:
        p = make_params(vc, tc, seed, text_encoder=True)
        enc = vision(p, vc, pixel_values(image, pre))
        cases, ok, stops = [], True, 0
        for q in QUESTIONS:
            q_ids = wp.encode(q, vocab)
            q_embeds = text_layers(p, tc, torch.tensor([q_ids]), enc, "text_encoder.", causal=False)
            ids, margin = greedy(p, tc, q_embeds, [tc["bos_token_id"]])
            ok = ok and margin >= 0.05
            stops += ids[-1] == tc["sep_token_id"] and len(ids) < 20
            logits0 = text_decoder(p, tc, torch.tensor([[tc["bos_token_id"]]]), q_embeds)[0, -1]
            cases.append(dict(question=q, question_ids=q_ids, answer_ids=ids, q_embeds=q_embeds, logits0=logits0,
                              beam3=beam_search(p, tc, q_embeds, [tc["bos_token_id"]], 3)))
        if ok and stops >= 2:
            break
        seed += 100
    d, _ = write_model(out, "tiny-vqa", vc, tc, config, p, [], vocab=tokens)
    golden = []
    for i, c in enumerate(cases):
        np.save(os.path.join(d, f"golden-q{i}-question_embeds.npy"), c["q_embeds"].numpy())
        np.save(os.path.join(d, f"golden-q{i}-logits_step0.npy"), c["logits0"].numpy())
        golden.append({k: c[k] for k in ("question", "question_ids", "answer_ids")} | {"ids_beam3": c["beam3"]})
    with open(os.path.join(d, "goldens.json"), "w") as f:
        json.dump({"torch": torch.__version__, "seed": seed, "image": "pattern.png", "cases": golden}, f, indent=1)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/blip")
    main_vqa(sys.argv[1] if len(sys.argv) > 1 else "tests/data/blip")
