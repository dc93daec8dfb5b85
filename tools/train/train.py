#!/usr/bin/python3
"""Trains glimpse's bundled models: a tiny BlipForConditionalGeneration (captions) and a tiny
BlipForQuestionAnswering (VQA) on the synthetic scenes of tools/scenes, and exports both in the exact
Hugging Face layout (config.json, F16 model.safetensors, vocab.txt, tokenizer_config.json,
special_tokens_map.json, preprocessor_config.json, generation_config.json).

    apt-get install python3-torch python3-numpy python3-pil
    tools/train/train.sh            # builds glimpse-scenes, makes the data, runs this script

    /usr/bin/python3 tools/train/train.py --data DIR --out models [--steps N] [--minutes M]

DIR holds train.jsonl / validation.jsonl and their PNGs from `glimpse-scenes --size 96`.

One network is trained for both tasks, as BLIP itself was: the vision tower is shared, the caption
decoder cross-attends to the image, the VQA question encoder cross-attends to the image and the
answer decoder to the question encoder's states (docs/models/blip.md). The export writes the
shared vision weights into both checkpoints. Module and parameter names are Hugging Face's, so the
state dict is the checkpoint. Everything is seeded; the data comes from the committed generator.
"""
import argparse
import json
import math
import os
import random
import re
import struct
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

IMAGE_SIZE, PATCH = 96, 16
MEAN = [0.48145466, 0.4578275, 0.40821073]  # BLIP's (OpenAI CLIP) normalisation, docs/models/blip.md
STD = [0.26862954, 0.26130258, 0.27577711]
SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
PAD, UNK, CLS, SEP = 0, 1, 2, 3
MAX_LENGTH = 32  # longest caption: 4 phrases ~ 21 tokens with [DEC] and [SEP]


def config(vocab_size):
    vision = dict(hidden_size=128, intermediate_size=512, num_hidden_layers=6, num_attention_heads=4,
                  image_size=IMAGE_SIZE, patch_size=PATCH, hidden_act="gelu", layer_norm_eps=1e-5,
                  num_channels=3, model_type="blip_vision_model")
    # The VQA answer decoder cross-attends to the question encoder (text width), the question encoder
    # to the image (vision width): with one text_config for both, the two widths must agree.
    text = dict(vocab_size=vocab_size, hidden_size=128, encoder_hidden_size=128, intermediate_size=512,
                num_hidden_layers=3, num_attention_heads=4, max_position_embeddings=64, hidden_act="gelu",
                layer_norm_eps=1e-12, bos_token_id=vocab_size - 2, eos_token_id=SEP, sep_token_id=SEP,
                pad_token_id=PAD, is_decoder=True, use_cache=True, max_length=MAX_LENGTH,
                model_type="blip_text_model")
    return vision, text


# ---- tokenizer: whole words, a vocabulary of its own ---------------------------------------------

def words(text):
    """BERT's basic tokenisation for this ASCII vocabulary: lowercase, punctuation split off."""
    return re.findall(r"[a-z0-9]+|[^\sa-z0-9]", text.lower())


def build_vocab(rows):
    seen = set()
    for r in rows:
        seen.update(words(r["caption"]))
        for q in r["qa"]:
            seen.update(words(q["question"]))
            seen.update(words(q["answer"]))
    return SPECIALS + sorted(seen)


class Tok:
    def __init__(self, vocab):
        self.vocab = vocab
        self.ids = {t: i for i, t in enumerate(vocab)}
        self.dec = len(vocab)  # [DEC] = bos, past the tokenizer's vocabulary as in BLIP (docs/models/blip.md)

    def encode(self, text):
        return [self.ids.get(w, UNK) for w in words(text)]

    def decode(self, ids):
        out = " ".join(self.vocab[i] for i in ids if i < len(self.vocab) and i >= len(SPECIALS))
        for p in (",", "?", "."):
            out = out.replace(" " + p, p)
        return out


def pad(seqs, value=PAD):
    n = max(len(s) for s in seqs)
    return torch.tensor([s + [value] * (n - len(s)) for s in seqs])


# ---- the model, Hugging Face names ------------------------------------------------------------------

def heads_attend(q, k, v, heads, mask):
    b, tq, d = q.shape
    tk, dh = k.shape[1], d // heads
    q = q.view(b, tq, heads, dh).transpose(1, 2)
    k = k.view(b, tk, heads, dh).transpose(1, 2)
    v = v.view(b, tk, heads, dh).transpose(1, 2)
    s = q @ k.transpose(-1, -2) / math.sqrt(dh)
    if mask is not None:
        s = s + mask
    return (s.softmax(-1) @ v).transpose(1, 2).reshape(b, tq, d)


def sincos_2d(d, grid):
    """[1, 1 + grid*grid, d]: zeros for the class token, then per patch (row-major) sin/cos of its
    row in the first half of the channels and of its column in the second half."""
    quarter = d // 4
    freq = 1.0 / (10000 ** (torch.arange(quarter, dtype=torch.float32) / quarter))
    ys, xs = torch.meshgrid(torch.arange(grid, dtype=torch.float32), torch.arange(grid, dtype=torch.float32), indexing="ij")
    parts = []
    for v in (ys.reshape(-1), xs.reshape(-1)):
        a = v[:, None] * freq[None]
        parts += [a.sin(), a.cos()]
    pe = torch.cat(parts, 1)
    return torch.cat([torch.zeros(1, d), pe], 0)[None].clone()


class VisionLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.layer_norm1 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.self_attn = nn.Module()
        self.self_attn.qkv = nn.Linear(d, 3 * d)
        self.self_attn.projection = nn.Linear(d, d)
        self.layer_norm2 = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.mlp = nn.Module()
        self.mlp.fc1 = nn.Linear(d, c["intermediate_size"])
        self.mlp.fc2 = nn.Linear(c["intermediate_size"], d)

    def forward(self, x):
        d = x.shape[-1]
        qkv = self.self_attn.qkv(self.layer_norm1(x))
        x = x + self.self_attn.projection(heads_attend(qkv[..., :d], qkv[..., d:2 * d], qkv[..., 2 * d:], self.heads, None))
        return x + self.mlp.fc2(F.gelu(self.mlp.fc1(self.layer_norm2(x))))


class VisionModel(nn.Module):
    """BlipVisionModel (docs/models/blip.md): patch conv, class token, positions, pre-LN layers, post LayerNorm."""

    def __init__(self, c):
        super().__init__()
        d, n = c["hidden_size"], (c["image_size"] // c["patch_size"]) ** 2 + 1
        self.embeddings = nn.Module()
        self.embeddings.class_embedding = nn.Parameter(torch.randn(1, 1, d) * 0.02)
        self.embeddings.patch_embedding = nn.Conv2d(3, d, c["patch_size"], c["patch_size"])
        # Initialised with 2-D sine-cosine values (as MAE does), then learned: captions never
        # mention where things are, so random positions learn only from the position questions.
        self.embeddings.position_embedding = nn.Parameter(sincos_2d(d, c["image_size"] // c["patch_size"]))
        self.encoder = nn.Module()
        self.encoder.layers = nn.ModuleList([VisionLayer(c) for _ in range(c["num_hidden_layers"])])
        self.post_layernorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, pixels):
        e = self.embeddings
        x = e.patch_embedding(pixels).flatten(2).transpose(1, 2)
        x = torch.cat([e.class_embedding.expand(x.shape[0], 1, -1), x], 1) + e.position_embedding
        for layer in self.encoder.layers:
            x = layer(x)
        return self.post_layernorm(x)


class Attention(nn.Module):
    """BlipTextAttention: `self.{query,key,value}` then `output.{dense,LayerNorm}` (post-LN)."""

    def __init__(self, c, kv_width):
        super().__init__()
        d = c["hidden_size"]
        self.heads = c["num_attention_heads"]
        self.self = nn.Module()
        self.self.query = nn.Linear(d, d)
        self.self.key = nn.Linear(kv_width, d)
        self.self.value = nn.Linear(kv_width, d)
        self.output = nn.Module()
        self.output.dense = nn.Linear(d, d)
        self.output.LayerNorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, x, kv, mask):
        s = self.self
        a = heads_attend(s.query(x), s.key(kv), s.value(kv), self.heads, mask)
        return self.output.LayerNorm(self.output.dense(a) + x)


class TextLayer(nn.Module):
    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.attention = Attention(c, d)
        self.crossattention = Attention(c, c["encoder_hidden_size"])
        self.intermediate = nn.Module()
        self.intermediate.dense = nn.Linear(d, c["intermediate_size"])
        self.output = nn.Module()
        self.output.dense = nn.Linear(c["intermediate_size"], d)
        self.output.LayerNorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])

    def forward(self, x, self_mask, enc, enc_mask):
        x = self.attention(x, x, self_mask)
        x = self.crossattention(x, enc, enc_mask)
        return self.output.LayerNorm(self.output.dense(F.gelu(self.intermediate.dense(x))) + x)


class TextModel(nn.Module):
    """BlipTextModel (docs/models/blip.md): causal as the decoder, bidirectional as the VQA question encoder."""

    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.embeddings = nn.Module()
        self.embeddings.word_embeddings = nn.Embedding(c["vocab_size"], d, padding_idx=PAD)
        self.embeddings.position_embeddings = nn.Embedding(c["max_position_embeddings"], d)
        self.embeddings.LayerNorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        self.encoder = nn.Module()
        self.encoder.layer = nn.ModuleList([TextLayer(c) for _ in range(c["num_hidden_layers"])])

    def forward(self, ids, pad_mask, enc, enc_mask, causal):
        t = ids.shape[1]
        e = self.embeddings
        x = e.LayerNorm(e.word_embeddings(ids) + e.position_embeddings(torch.arange(t)))
        allowed = pad_mask[:, None, None, :].float()
        if causal:
            allowed = allowed * torch.tril(torch.ones(t, t))
        self_mask = (1.0 - allowed) * -10000.0
        enc_mask = (1.0 - enc_mask[:, None, None, :].float()) * -10000.0
        for layer in self.encoder.layer:
            x = layer(x, self_mask, enc, enc_mask)
        return x


class LMHeadModel(nn.Module):
    """BlipTextLMHeadModel: `bert` plus `cls.predictions` whose decoder weight is the word embeddings."""

    def __init__(self, c):
        super().__init__()
        d = c["hidden_size"]
        self.bert = TextModel(c)
        self.cls = nn.Module()
        self.cls.predictions = nn.Module()
        p = self.cls.predictions
        p.transform = nn.Module()
        p.transform.dense = nn.Linear(d, d)
        p.transform.LayerNorm = nn.LayerNorm(d, eps=c["layer_norm_eps"])
        p.bias = nn.Parameter(torch.zeros(c["vocab_size"]))

    def forward(self, ids, pad_mask, enc, enc_mask):
        h = self.bert(ids, pad_mask, enc, enc_mask, causal=True)
        p = self.cls.predictions
        t = p.transform.LayerNorm(F.gelu(p.transform.dense(h)))
        return t @ self.bert.embeddings.word_embeddings.weight.T + p.bias


class Joint(nn.Module):
    def __init__(self, vc, tc):
        super().__init__()
        self.vision_model = VisionModel(vc)
        self.caption_decoder = LMHeadModel(tc)  # -> text_decoder.* of the caption checkpoint
        self.text_encoder = TextModel(tc)       # -> text_encoder.* of the VQA checkpoint
        self.answer_decoder = LMHeadModel(tc)   # -> text_decoder.* of the VQA checkpoint
        self.apply(self.init)

    @staticmethod
    def init(m):
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.bias)

    def question(self, image, q_ids):
        ones = torch.ones(image.shape[:2], dtype=torch.long)
        return self.text_encoder(q_ids, q_ids != PAD, image, ones, causal=False)


# ---- data -------------------------------------------------------------------------------------------

def load_split(data, split, limit=None):
    rows = [json.loads(l) for l in open(os.path.join(data, split + ".jsonl"))]
    if limit:
        rows = rows[:limit]
    images = np.empty((len(rows), IMAGE_SIZE, IMAGE_SIZE, 3), np.uint8)
    for i, r in enumerate(rows):
        im = Image.open(os.path.join(data, r["file"])).convert("RGB")
        if im.size != (IMAGE_SIZE, IMAGE_SIZE):
            sys.exit(f"{r['file']}: {im.size}, expected {IMAGE_SIZE}x{IMAGE_SIZE} (glimpse-scenes --size {IMAGE_SIZE})")
        images[i] = np.asarray(im)
    return rows, torch.from_numpy(images)


def pixels(images_u8):
    """docs/models/blip.md for an image already at the model size (the bicubic resize is then the identity)."""
    x = images_u8.permute(0, 3, 1, 2).float() / 255.0
    return (x - torch.tensor(MEAN)[:, None, None]) / torch.tensor(STD)[:, None, None]


def caption_targets(tok, rows):
    return [[tok.dec] + tok.encode(r["caption"]) + [SEP] for r in rows]


def lm_loss(dec, ids, enc, enc_mask):
    logits = dec(ids[:, :-1], ids[:, :-1] != PAD, enc, enc_mask)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), ignore_index=PAD)


@torch.no_grad()
def greedy(dec, tok, enc, enc_mask, max_length=MAX_LENGTH):
    ids = torch.full((enc.shape[0], 1), tok.dec)
    done = torch.zeros(enc.shape[0], dtype=torch.bool)
    while ids.shape[1] < max_length and not done.all():
        nxt = dec(ids, torch.ones_like(ids, dtype=torch.bool), enc, enc_mask)[:, -1].argmax(-1)
        nxt = torch.where(done, torch.full_like(nxt, PAD), nxt)
        ids = torch.cat([ids, nxt[:, None]], 1)
        done |= nxt == SEP
    return [tok.decode(row.tolist()) for row in ids]


@torch.no_grad()
def evaluate(model, tok, rows, images, batch=100):
    model.eval()
    cap_ok, qa_ok, qa_n = 0, {}, {}
    for s in range(0, len(rows), batch):
        r, im = rows[s:s + batch], images[s:s + batch]
        emb = model.vision_model(pixels(im))
        ones = torch.ones(emb.shape[:2], dtype=torch.long)
        caps = greedy(model.caption_decoder, tok, emb, ones)
        cap_ok += sum(c == x["caption"] for c, x in zip(caps, r))
        pairs = [(x, qa, j) for j, x in enumerate(r) for qa in x["qa"]]  # 2-4 questions a scene
        q_ids = pad([[CLS] + tok.encode(qa["question"]) + [SEP] for _, qa, _ in pairs])
        sel = torch.tensor([j for _, _, j in pairs])
        qe = model.question(emb[sel], q_ids)
        ans = greedy(model.answer_decoder, tok, qe, q_ids != PAD)
        for a, (x, qa, _) in zip(ans, pairs):
            t = qa["type"]
            qa_n[t] = qa_n.get(t, 0) + 1
            qa_ok[t] = qa_ok.get(t, 0) + (a == qa["answer"])
    model.train()
    acc = {t: qa_ok[t] / qa_n[t] for t in qa_n}
    return cap_ok / len(rows), sum(qa_ok.values()) / sum(qa_n.values()), acc


# ---- export -----------------------------------------------------------------------------------------

def save_safetensors(path, tensors):
    header, blobs, offset = {"__metadata__": {"format": "pt"}}, [], 0
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        dtype = {torch.float16: "F16", torch.int64: "I64"}[t.dtype]
        data = t.numpy().tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def export(model, vc, tc, vocab, out, name, architecture, parts):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    sd = model.state_dict()
    tensors = {}
    for src, dst in parts:
        for k, v in sd.items():
            if k.startswith(src):
                tensors[dst + k[len(src):]] = v.detach().to(torch.float16)
    # The tied LM-head weight is stored once, as the Hub's conversion leaves it (docs/checkpoints.md):
    # transformers re-ties text_decoder.cls.predictions.decoder.weight to the word embeddings.
    for prefix in ("text_decoder.bert.", "text_encoder."):
        if prefix + "embeddings.word_embeddings.weight" in tensors:
            tensors[prefix + "embeddings.position_ids"] = torch.arange(tc["max_position_embeddings"])[None]
    save_safetensors(os.path.join(d, "model.safetensors"), tensors)
    cfg = {"architectures": [architecture], "model_type": "blip", "initializer_factor": 1.0,
           "initializer_range": 0.02, "logit_scale_init_value": 2.6592, "projection_dim": 128,
           "image_text_hidden_size": 128, "label_smoothing": 0.0, "max_length": MAX_LENGTH,
           "torch_dtype": "float16", "text_config": tc, "vision_config": vc}
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "generation_config.json"), "w") as f:
        json.dump({"max_length": MAX_LENGTH, "bos_token_id": tc["bos_token_id"], "eos_token_id": SEP,
                   "pad_token_id": PAD}, f, indent=2)
        f.write("\n")
    pre = {"do_convert_rgb": True, "do_normalize": True, "do_rescale": True, "do_resize": True,
           "image_mean": MEAN, "image_std": STD, "image_processor_type": "BlipImageProcessor",
           "processor_class": "BlipProcessor", "resample": 3, "rescale_factor": 0.00392156862745098,
           "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE}}
    with open(os.path.join(d, "preprocessor_config.json"), "w") as f:
        json.dump(pre, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "vocab.txt"), "w") as f:
        f.write("\n".join(vocab) + "\n")
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "model_max_length": tc["max_position_embeddings"],
                   "tokenizer_class": "BertTokenizer", "processor_class": "BlipProcessor"}, f, indent=2)
        f.write("\n")
    with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
        json.dump({"cls_token": "[CLS]", "mask_token": "[MASK]", "pad_token": "[PAD]", "sep_token": "[SEP]",
                   "unk_token": "[UNK]"}, f, indent=2)
        f.write("\n")
    return os.path.getsize(os.path.join(d, "model.safetensors"))


# ---- training ---------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=6000)
    ap.add_argument("--minutes", type=float, default=55.0, help="stop early (and export) after this long")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--log", default=None)
    ap.add_argument("--eval-every", type=int, default=1000)
    a = ap.parse_args()

    torch.manual_seed(a.seed)
    random.seed(a.seed)
    torch.set_num_threads(int(os.environ.get("TRAIN_THREADS", "2")))
    if a.log:
        os.makedirs(os.path.dirname(os.path.abspath(a.log)), exist_ok=True)
    log_file = open(a.log, "w") if a.log else None

    def log(msg):
        print(msg, flush=True)
        if log_file:
            log_file.write(msg + "\n")
            log_file.flush()

    t0 = time.time()
    rows, images = load_split(a.data, "train")
    vrows, vimages = load_split(a.data, "validation")
    vocab = build_vocab(rows)
    tok = Tok(vocab)
    vc, tc = config(len(vocab) + 2)  # + [DEC] and [ENC], which only the model knows (docs/models/blip.md)
    model = Joint(vc, tc)
    n_params = sum(p.numel() for p in model.parameters())
    log(f"data: {len(rows)} train, {len(vrows)} validation scenes loaded in {time.time() - t0:.0f} s; "
        f"vocabulary {len(vocab)} tokens; {n_params} parameters; torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads; seed {a.seed}")

    caps = caption_targets(tok, rows)
    qas = [[([CLS] + tok.encode(q["question"]) + [SEP], [tok.dec] + tok.encode(q["answer"]) + [SEP]) for q in r["qa"]]
           for r in rows]
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2 and "embedding" not in n]
    rest = [p for n, p in model.named_parameters() if not (p.dim() >= 2 and "embedding" not in n)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": rest, "weight_decay": 0.0}],
                            lr=a.lr, betas=(0.9, 0.98))
    warmup = 300
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / a.steps))))
    g = torch.Generator().manual_seed(a.seed)
    t_train = time.time()
    step, avg = 0, None
    while step < a.steps:
        idx = torch.randint(len(rows), (a.batch,), generator=g).tolist()
        # Two different questions of each scene (scenes have 2-4), for twice the VQA signal at a
        # small cost: the vision tower runs once for both.
        which = [torch.randperm(len(qas[i]), generator=g)[:2].tolist() for i in idx]
        emb = model.vision_model(pixels(images[idx]))
        ones = torch.ones(emb.shape[:2], dtype=torch.long)
        cap = pad([caps[i] for i in idx])
        loss_c = lm_loss(model.caption_decoder, cap, emb, ones)
        pairs = [(j, i, k) for j, (i, ks) in enumerate(zip(idx, which)) for k in ks]
        q_ids = pad([qas[i][k][0] for _, i, k in pairs])
        ans = pad([qas[i][k][1] for _, i, k in pairs])
        qe = model.question(emb[torch.tensor([j for j, _, _ in pairs])], q_ids)
        loss_a = lm_loss(model.answer_decoder, ans, qe, q_ids != PAD)
        loss = loss_c + loss_a
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        step += 1
        avg = loss.item() if avg is None else 0.98 * avg + 0.02 * loss.item()
        elapsed = time.time() - t_train
        if step % 50 == 0:
            log(f"step {step:5d}  loss {avg:.4f} (caption {loss_c.item():.4f}, answer {loss_a.item():.4f})  "
                f"lr {sched.get_last_lr()[0]:.2e}  {elapsed / 60:.1f} min")
        if step % a.eval_every == 0 or step == a.steps:
            c, q, per = evaluate(model, tok, vrows[:200], vimages[:200])
            log(f"  validation (200 scenes, PyTorch greedy): caption exact {c:.3f}, VQA {q:.3f} "
                + " ".join(f"{t} {v:.3f}" for t, v in sorted(per.items())))
        if elapsed > a.minutes * 60:
            log(f"time limit: stopping at step {step}")
            break

    train_min = (time.time() - t_train) / 60
    c, q, per = evaluate(model, tok, vrows, vimages)
    log(f"final validation ({len(vrows)} scenes, PyTorch fp32 greedy): caption exact {c:.4f}, VQA {q:.4f} "
        + " ".join(f"{t} {v:.4f}" for t, v in sorted(per.items())))
    sizes = {}
    sizes["blip-scenes-caption"] = export(model, vc, tc, vocab, a.out, "blip-scenes-caption",
                                          "BlipForConditionalGeneration",
                                          [("vision_model.", "vision_model."), ("caption_decoder.", "text_decoder.")])
    sizes["blip-scenes-vqa"] = export(model, vc, tc, vocab, a.out, "blip-scenes-vqa", "BlipForQuestionAnswering",
                                      [("vision_model.", "vision_model."), ("text_encoder.", "text_encoder."),
                                       ("answer_decoder.", "text_decoder.")])
    log(f"training {train_min:.1f} min ({step} steps of {a.batch}); total {(time.time() - t0) / 60:.1f} min; "
        + ", ".join(f"{k} {v / 1e6:.2f} MB" for k, v in sizes.items()))
    metrics = {"steps": step, "batch": a.batch, "seed": a.seed, "train_minutes": round(train_min, 1),
               "validation_scenes": len(vrows), "validation_caption_exact": c, "validation_vqa": q,
               "validation_vqa_per_type": per, "parameters": n_params,
               "model_bytes": sizes, "torch": torch.__version__}
    if a.log:
        with open(os.path.join(os.path.dirname(a.log), "metrics.json"), "w") as f:
            json.dump(metrics, f, indent=2)
            f.write("\n")


if __name__ == "__main__":
    main()
