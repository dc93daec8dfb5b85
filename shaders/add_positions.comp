#version 450
#extension GL_GOOGLE_include_directive : require
// y[b, t, d] = x[b, t, d] + rows[row0 + t, d]: one position table added to every sequence.
#include "common.glsl"

layout(binding = 0, std430) readonly buffer X { float x[]; };
layout(binding = 1, std430) readonly buffer Rows { float rows[]; };
layout(binding = 2, std430) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint n, T, D, row0; } p;

void main() {
  const uint i = flat_index();
  if (i >= p.n) return;
  const uint d = i % p.D, t = (i / p.D) % p.T;
  y[i] = x[i] + rows[(p.row0 + t) * p.D + d];
}
