#!/usr/bin/python3
"""Writes small images in every mode and container glimpse decodes, and what Pillow makes of them.

Run with Debian's Python and Pillow (apt-get install python3-pil python3-numpy):
    /usr/bin/python3 tools/image-goldens.py tests/data/images
For each file, expected.txt holds the size and an FNV-1a 64 hash of the RGB bytes that HF's
loading gives: ImageOps.exif_transpose(Image.open(f)).convert("RGB") (docs/images.md).
"""
import io
import os
import sys

import numpy as np
import PIL
from PIL import Image, ImageOps


def fnv(data):
    h = 1469598103934665603
    for b in data:
        h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def pattern(w, h, channels=3):
    y, x = np.mgrid[0:h, 0:w]
    planes = [((x * 37 + y * 91 + c * 53) ^ (x * y * 7)) & 255 for c in range(channels)]
    return np.stack(planes, axis=-1).astype(np.uint8)


def exif_with_orientation(orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


def main(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    rgb = Image.fromarray(pattern(23, 17), "RGB")
    files = {}
    files["rgb.png"] = lambda f: rgb.save(f)
    files["rgba.png"] = lambda f: Image.fromarray(pattern(23, 17, 4), "RGBA").save(f)
    files["gray.png"] = lambda f: rgb.convert("L").save(f)
    files["gray-alpha.png"] = lambda f: Image.fromarray(pattern(23, 17, 2), "LA").save(f)
    files["palette.png"] = lambda f: rgb.convert("P", palette=Image.ADAPTIVE, colors=16).save(f)
    files["palette-trns.png"] = lambda f: rgb.convert("P", palette=Image.ADAPTIVE, colors=16).save(f, transparency=3)
    files["rgb16.png"] = lambda f: f.write(png16(pattern(23, 17).astype(np.uint16) * 257 + 3))
    files["rgb.bmp"] = lambda f: rgb.save(f)
    files["rgb.gif"] = lambda f: rgb.save(f)
    files["rgb.jpg"] = lambda f: rgb.save(f, quality=90)
    files["rgb-420.jpg"] = lambda f: Image.fromarray(pattern(64, 48), "RGB").save(f, quality=75, subsampling=2)
    files["progressive.jpg"] = lambda f: rgb.save(f, quality=85, progressive=True)
    files["gray.jpg"] = lambda f: rgb.convert("L").save(f, quality=90)
    files["cmyk.jpg"] = lambda f: rgb.convert("CMYK").save(f, quality=90)
    for o in range(1, 9):
        files[f"exif-{o}.jpg"] = lambda f, o=o: Image.fromarray(pattern(24, 16), "RGB").save(
            f, quality=95, exif=exif_with_orientation(o))
    with open(os.path.join(out_dir, "expected.txt"), "w") as manifest:
        manifest.write(f"# Pillow {PIL.__version__}: file width height fnv1a64(exif_transpose(open(f)).convert('RGB'))\n")
        for name, write in files.items():
            path = os.path.join(out_dir, name)
            with open(path, "wb") as f:
                write(f)
            im = ImageOps.exif_transpose(Image.open(path)).convert("RGB")
            manifest.write(f"{name} {im.width} {im.height} {fnv(im.tobytes()):016x}\n")


def png16(arr):
    """A 16-bit RGB PNG written by hand (Pillow cannot save RGB;16)."""
    import struct
    import zlib
    h, w, _ = arr.shape
    raw = b"".join(b"\0" + arr[y].astype(">u2").tobytes() for y in range(h))
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/data/images")
