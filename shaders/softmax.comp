#version 450
#extension GL_GOOGLE_include_directive : require
// y = softmax(x * scale) over rows of n, in fp32 with the row maximum subtracted.
#include "common.glsl"
#define RED_SIZE 256
#include "reduce.glsl"

layout(binding = 0, std430) readonly buffer X { float x[]; };
layout(binding = 1, std430) buffer Y { float y[]; };  // may alias x
layout(push_constant) uniform Push { uint rows, n; float scale; } p;

void main() {
  const uint row = flat_group();
  if (row >= p.rows) return;
  const uint lid = gl_LocalInvocationID.x, base = row * p.n;

  float m = NEG_INF;
  for (uint i = lid; i < p.n; i += WG) m = max(m, x[base + i] * p.scale);
  m = wg_max(m);

  float s = 0.0;
  for (uint i = lid; i < p.n; i += WG) s += exp(x[base + i] * p.scale - m);
  const float inv = 1.0 / wg_sum(s);

  for (uint i = lid; i < p.n; i += WG) y[base + i] = exp(x[base + i] * p.scale - m) * inv;
}
