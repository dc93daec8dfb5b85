#version 450
#extension GL_GOOGLE_include_directive : require
// Patch extraction for a conv with kernel = stride = P and no padding:
// y[b * Np + py * gw + px, c * P * P + ky * P + kx] = img[b, c, py * P + ky, px * P + kx]
// (row-major patch order and (c, ky, kx) flattening, as the conv weight [D, C, P, P] is laid out).
#include "common.glsl"

layout(binding = 0, std430) readonly buffer Img { float img[]; };
layout(binding = 1, std430) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint B, C, H, W, P, gh, gw; } p;

void main() {
  const uint idx = flat_index();
  const uint cols = p.C * p.P * p.P, Np = p.gh * p.gw;
  if (idx >= p.B * Np * cols) return;
  const uint col = idx % cols, row = idx / cols;
  const uint kx = col % p.P, ky = (col / p.P) % p.P, c = col / (p.P * p.P);
  const uint pidx = row % Np, b = row / Np;
  const uint py = pidx / p.gw, px = pidx % p.gw;
  y[idx] = img[((b * p.C + c) * p.H + py * p.P + ky) * p.W + px * p.P + kx];
}
