#version 450
#extension GL_GOOGLE_include_directive : require
// x [B, T, D]: x[b, 0, d] = mean over t = 1 .. T-1 of x[b, t, d]. One lane per (b, d).
#include "common.glsl"

layout(binding = 0, std430) buffer X { float x[]; };
layout(push_constant) uniform Push { uint B, T, D; } p;

void main() {
  const uint idx = flat_index();
  if (idx >= p.B * p.D) return;
  const uint d = idx % p.D, b = idx / p.D;
  float acc = 0.0;
  for (uint t = 1; t < p.T; ++t) acc += x[(b * p.T + t) * p.D + d];
  x[b * p.T * p.D + d] = acc / float(p.T - 1u);
}
