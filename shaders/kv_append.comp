#version 450
#extension GL_GOOGLE_include_directive : require
// KV-cache append: cache[b, pos + t, :] = src[b, t, :] for t < T, pos = pos0 (+ step.past).
// src may be a strided view (the K or V part of a fused projection). Rows past max_t are dropped.
#include "common.glsl"

layout(binding = 0, std430) readonly buffer Src { float src[]; };
layout(binding = 1, std430) writeonly buffer Dst { float dst[]; };
layout(binding = 2, std430) readonly buffer Step { uint past; } step;
layout(push_constant) uniform Push {
  uint B, T, D;
  uint s_off, s_ts, s_bs;
  uint max_t, pos0, add_past;
} p;

void main() {
  const uint idx = flat_index();
  if (idx >= p.B * p.T * p.D) return;
  const uint d = idx % p.D, t = (idx / p.D) % p.T, b = idx / (p.D * p.T);
  const uint pos = p.pos0 + (p.add_past != 0 ? step.past : 0) + t;
  if (pos >= p.max_t) return;
  dst[(b * p.max_t + pos) * p.D + d] = src[p.s_off + b * p.s_bs + t * p.s_ts + d];
}
