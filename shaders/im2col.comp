#version 450
#extension GL_GOOGLE_include_directive : require
// The rows of a convolution's GEMM: y[b * OH * OW + oy * OW + ox, c * K * K + ky * K + kx] =
// x[b, c, oy * S - P + ky, ox * S - P + kx], zero outside the input; the columns in the order of
// the conv weight [D, C, K, K]. x is an image [B, C, H, W] or, CHANNELS_LAST, tokens [B, H*W, C].
#include "common.glsl"

layout(binding = 0, std430) readonly buffer X { float x[]; };
layout(binding = 1, std430) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint B, C, H, W, K, S, P, OH, OW, channels_last; } p;

void main() {
  const uint idx = flat_index();
  const uint cols = p.C * p.K * p.K, rows = p.B * p.OH * p.OW;
  if (idx >= rows * cols) return;
  const uint col = idx % cols, row = idx / cols;
  const uint kx = col % p.K, ky = (col / p.K) % p.K, c = col / (p.K * p.K);
  const uint ox = row % p.OW, oy = (row / p.OW) % p.OH, b = row / (p.OW * p.OH);
  const int iy = int(oy * p.S + ky) - int(p.P), ix = int(ox * p.S + kx) - int(p.P);
  float v = 0.0;
  if (iy >= 0 && iy < int(p.H) && ix >= 0 && ix < int(p.W)) {
    const uint pix = uint(iy) * p.W + uint(ix);
    v = p.channels_last != 0u ? x[(b * p.H * p.W + pix) * p.C + c] : x[(b * p.C + c) * p.H * p.W + pix];
  }
  y[idx] = v;
}
