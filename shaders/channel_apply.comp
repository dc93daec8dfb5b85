#version 450
#extension GL_GOOGLE_include_directive : require
// DaViT channel attention, passes 2 and 3.
// SOFTMAX: one lane per score row (b, g, i): the slices' partial sums added, scaled, and the
//   softmax over j written to probs[((b * G + g) * CG + i) * CG + j].
// otherwise: one lane per output: y[b, n, g*CG + i] = sum_j probs[b, g, i, j] * v[b, n, g*CG + j].
#include "common.glsl"

layout(binding = 0, std430) readonly buffer QKV { float qkv[]; };
layout(binding = 1, std430) buffer Scratch { float scratch[]; };  // partial sums, then the probabilities
layout(binding = 2, std430) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint B, N, C, G, CG, SPLITS; float scale; uint probs_at; } p;
layout(constant_id = 1) const uint SOFTMAX = 0;

void main() {
  const uint idx = flat_index();
  if (SOFTMAX != 0u) {
    if (idx >= p.B * p.G * p.CG) return;
    const uint i = idx % p.CG, bg = idx / p.CG;
    float row[64];
    float m = NEG_INF;
    for (uint j = 0; j < p.CG; ++j) {
      float a = 0.0;
      for (uint s = 0; s < p.SPLITS; ++s) a += scratch[((bg * p.SPLITS + s) * p.CG + i) * p.CG + j];
      row[j] = a * p.scale;
      m = max(m, row[j]);
    }
    float sum = 0.0;
    for (uint j = 0; j < p.CG; ++j) {
      row[j] = exp(row[j] - m);
      sum += row[j];
    }
    for (uint j = 0; j < p.CG; ++j) scratch[p.probs_at + idx * p.CG + j] = row[j] / sum;
    return;
  }
  if (idx >= p.B * p.N * p.C) return;
  const uint c = idx % p.C, tok = idx / p.C;  // tok = b * N + n
  const uint g = c / p.CG, i = c % p.CG, b = tok / p.N;
  const uint prow = p.probs_at + ((b * p.G + g) * p.CG + i) * p.CG;
  const uint vrow = tok * 3u * p.C + 2u * p.C + g * p.CG;
  float a = 0.0;
  for (uint j = 0; j < p.CG; ++j) a += scratch[prow + j] * qkv[vrow + j];
  y[idx] = a;
}
