#version 450
#extension GL_GOOGLE_include_directive : require
// Depthwise conv (one K x K filter per channel) over a token grid [B, H*W, C]:
// y[b, oy * OW + ox, c] = bias[c] + sum_{ky, kx} w[c, ky * K + kx] x[b, (oy*S - P + ky) * W + ox*S - P + kx, c]
// (+ x[b, oy * OW + ox, c] with a residual). One lane per output; neighbouring lanes read
// neighbouring channels.
#include "common.glsl"

layout(binding = 0, std430) readonly buffer X { float x[]; };
layout(binding = 1, std430) readonly buffer Wt { float w[]; };
layout(binding = 2, std430) readonly buffer Bias { float bias[]; };
layout(binding = 3, std430) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint B, C, H, W, K, S, P, OH, OW, residual; } p;

void main() {
  const uint idx = flat_index();
  if (idx >= p.B * p.OH * p.OW * p.C) return;
  const uint c = idx % p.C, pix = idx / p.C;
  const uint ox = pix % p.OW, oy = (pix / p.OW) % p.OH, b = pix / (p.OW * p.OH);
  float acc = bias[c];
  for (uint ky = 0; ky < p.K; ++ky) {
    const int iy = int(oy * p.S + ky) - int(p.P);
    if (iy < 0 || iy >= int(p.H)) continue;
    for (uint kx = 0; kx < p.K; ++kx) {
      const int ix = int(ox * p.S + kx) - int(p.P);
      if (ix < 0 || ix >= int(p.W)) continue;
      acc += w[c * p.K * p.K + ky * p.K + kx] * x[((b * p.H + uint(iy)) * p.W + uint(ix)) * p.C + c];
    }
  }
  if (p.residual != 0u) acc += x[idx];
  y[idx] = acc;
}
