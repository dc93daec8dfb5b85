#!/usr/bin/python3
"""Writes the PIL resize and HF-normalisation goldens the vision tests compare against.

Run with Debian's Python and Pillow (apt-get install python3-pil python3-numpy):
    /usr/bin/python3 tools/pillow-goldens.py tests/data/resize
Inputs are synthetic patterns that tests/test-vision.cpp regenerates with the same integer
formula, so only the outputs are committed. Pillow's version is recorded in manifest.txt.
"""
import os
import sys

import numpy as np
import PIL
from PIL import Image

# (name, source width, height, target width, height, PIL resample)
CASES = [
    ("down-bicubic", 61, 47, 24, 18, Image.BICUBIC),
    ("down-bilinear", 61, 47, 24, 18, Image.BILINEAR),
    ("up-bicubic", 13, 9, 40, 31, Image.BICUBIC),
    ("up-bilinear", 13, 9, 40, 31, Image.BILINEAR),
    ("vertical-only", 50, 50, 50, 20, Image.BICUBIC),
    ("horizontal-only", 50, 50, 23, 50, Image.BICUBIC),
    ("mixed-bicubic", 150, 90, 64, 64, Image.BICUBIC),
    ("strong-down", 401, 7, 9, 5, Image.BICUBIC),
]
MEAN = [0.48145466, 0.4578275, 0.40821073]  # BLIP (OpenAI CLIP) statistics
STD = [0.26862954, 0.26130258, 0.27577711]


def pattern(w, h):
    """Deterministic RGB test pattern with smooth ramps, xor texture and hard edges."""
    img = np.zeros((h, w, 3), dtype=np.uint8)
    for y in range(h):
        for x in range(w):
            for c in range(3):
                p = ((x * 37 + y * 91 + c * 53) ^ (x * y * 7)) & 255
                if (x // 5 + y // 3) % 4 == 0:
                    p = 255 - p
                img[y, x, c] = p
    return img


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "manifest.txt"), "w") as manifest:
        manifest.write(f"Pillow {PIL.__version__}, numpy {np.__version__}\n")
        for name, sw, sh, tw, th, resample in CASES:
            src = Image.fromarray(pattern(sw, sh), "RGB")
            out = np.asarray(src.resize((tw, th), resample=resample))
            out.tofile(os.path.join(out_dir, f"{name}.rgb"))
            manifest.write(f"{name} {sw}x{sh} -> {tw}x{th} resample={int(resample)}\n")
        # HF BlipImageProcessor rescale + normalize on the mixed case, CHW float32.
        src = Image.fromarray(pattern(150, 90), "RGB").resize((32, 24), resample=Image.BICUBIC)
        x = (np.asarray(src).astype(np.float64) * 0.00392156862745098).astype(np.float32)
        x = (x - np.array(MEAN, dtype=np.float32)) / np.array(STD, dtype=np.float32)
        x.transpose(2, 0, 1).astype(np.float32).tofile(os.path.join(out_dir, "normalized-150x90-32x24.f32"))
        manifest.write("normalized-150x90-32x24: bicubic to 32x24, BLIP rescale/normalize, CHW float32\n")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/resize")
