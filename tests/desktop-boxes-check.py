#!/usr/bin/env python3
"""glimpse-desktop with Florence-2 and a region task under Xvfb: the caption line names the task and
how many regions it found, and the saved window shows the first region's outline colour.
    desktop-boxes-check.py GLIMPSE_DESKTOP MODEL IMAGE SCREENSHOT"""
import re
import struct
import subprocess
import sys
import zlib


def png_pixels(path):
    """(width, height, rows of RGB(A) bytes) of an 8-bit non-interlaced PNG, as Qt writes them."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, idat, width = 8, b"", 0
    while pos < len(data):
        n, tag = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            width, height, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and color in (2, 6) and interlace == 0, (depth, color, interlace)
            bpp = 3 if color == 2 else 4
        elif tag == b"IDAT":
            idat += body
        pos += 12 + n
    raw, rows, prev = zlib.decompress(idat), [], bytearray(width * bpp)
    stride = width * bpp
    for y in range(height):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b, c = prev[i], prev[i - bpp] if i >= bpp else 0
            if f == 1: line[i] = (line[i] + a) & 255
            elif f == 2: line[i] = (line[i] + b) & 255
            elif f == 3: line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = line
    return width, height, bpp, rows


def main(desktop, model, image, shot):
    out = subprocess.run(["xvfb-run", "-a", desktop, "--model", model, "--image", image, "--task", "<OD>",
                          "--quit-after-caption", "--screenshot", shot], capture_output=True, text=True, timeout=300)
    line = next((l for l in out.stdout.splitlines() if l.startswith("caption: ")), None)
    print(line)
    if out.returncode != 0 or not line:
        sys.exit("glimpse-desktop failed: %s" % out.stderr)
    m = re.match(r"caption: <OD>: (\d+) regions? ", line + " ")
    if not m or int(m.group(1)) < 1:
        sys.exit("the caption does not report the regions")
    width, height, bpp, rows = png_pixels(shot)
    outline = sum(1 for row in rows for x in range(width)
                  if abs(row[x * bpp] - 230) < 8 and abs(row[x * bpp + 1] - 25) < 8 and abs(row[x * bpp + 2] - 75) < 8)
    print("screenshot %d x %d: %d pixels in the first region's colour" % (width, height, outline))
    if outline < 20:
        sys.exit("no box is drawn on the image")
    print("desktop boxes: pass")


if __name__ == "__main__":
    main(*sys.argv[1:5])
