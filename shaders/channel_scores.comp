#version 450
#extension GL_GOOGLE_include_directive : require
// DaViT channel attention, pass 1: partial scores over one slice of the tokens.
// part[((b * G + g) * SPLITS + s) * CG * CG + i * CG + j] = sum over n in slice s of
//   q[b, n, g*CG + i] * k[b, n, g*CG + j], with q, k inside qkv [B, N, 3C].
// A workgroup per (b, g, s); tokens pass through shared memory 16 at a time; each lane owns
// outputs lane, lane + WG, ... (at most 16 of them: CG <= 64).
#include "common.glsl"

layout(binding = 0, std430) readonly buffer QKV { float qkv[]; };
layout(binding = 1, std430) writeonly buffer Part { float part[]; };
layout(push_constant) uniform Push { uint B, N, C, G, CG, SPLITS; } p;

const uint TN = 16;
shared float sq[TN * 64];
shared float sk[TN * 64];

void main() {
  const uint wg = flat_group();
  if (wg >= p.B * p.G * p.SPLITS) return;
  const uint s = wg % p.SPLITS, g = (wg / p.SPLITS) % p.G, b = wg / (p.SPLITS * p.G);
  const uint per = (p.N + p.SPLITS - 1) / p.SPLITS;
  const uint n0 = min(p.N, s * per), n1 = min(p.N, n0 + per);
  const uint outs = p.CG * p.CG, lane = gl_LocalInvocationID.x;
  float acc[16];
  [[unroll]] for (uint o = 0; o < 16; ++o) acc[o] = 0.0;
  for (uint t0 = n0; t0 < n1; t0 += TN) {
    const uint tn = min(TN, n1 - t0);
    for (uint e = lane; e < tn * p.CG; e += WG) {
      const uint t = e / p.CG, c = e % p.CG;
      const uint at = (b * p.N + t0 + t) * 3u * p.C + g * p.CG + c;
      sq[t * 64 + c] = qkv[at];
      sk[t * 64 + c] = qkv[at + p.C];
    }
    barrier();
    [[unroll]] for (uint o = 0; o < 16; ++o) {
      const uint out_i = lane + o * WG;
      if (out_i < outs) {
        const uint i = out_i / p.CG, j = out_i % p.CG;
        float a = acc[o];
        for (uint t = 0; t < tn; ++t) a += sq[t * 64 + i] * sk[t * 64 + j];
        acc[o] = a;
      }
    }
    barrier();
  }
  const uint base = wg * outs;
  [[unroll]] for (uint o = 0; o < 16; ++o) {
    const uint out_i = lane + o * WG;
    if (out_i < outs) part[base + out_i] = acc[o];
  }
}
