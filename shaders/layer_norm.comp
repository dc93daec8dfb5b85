#version 450
#extension GL_GOOGLE_include_directive : require
// y = LayerNorm(x (+ r)) over rows of n, statistics in fp32 and two passes (mean, then the
// variance of x - mean): never E[x^2] - mean^2, which cancels badly. One workgroup per row.
#include "common.glsl"
layout(constant_id = 1) const uint HAS_RESIDUAL = 0;
#define RED_SIZE 256
#include "reduce.glsl"

layout(binding = 0, std430) readonly buffer X { float x[]; };
layout(binding = 1, std430) readonly buffer R { float r[]; };
layout(binding = 2, std430) readonly buffer G { float gamma[]; };
layout(binding = 3, std430) readonly buffer B { float beta[]; };
layout(binding = 4, std430) buffer Y { float y[]; };  // may alias x
layout(push_constant) uniform Push { uint rows, n; float eps; } p;

float value(uint i) { return HAS_RESIDUAL != 0 ? x[i] + r[i] : x[i]; }

void main() {
  const uint row = flat_group();
  if (row >= p.rows) return;  // uniform across the workgroup
  const uint lid = gl_LocalInvocationID.x, base = row * p.n;

  float s = 0.0;
  for (uint i = lid; i < p.n; i += WG) s += value(base + i);
  const float mean = wg_sum(s) / float(p.n);

  float q = 0.0;
  for (uint i = lid; i < p.n; i += WG) {
    float d = value(base + i) - mean;
    q += d * d;
  }
  const float rstd = inversesqrt(wg_sum(q) / float(p.n) + p.eps);

  for (uint i = lid; i < p.n; i += WG) y[base + i] = (value(base + i) - mean) * rstd * gamma[i] + beta[i];
}
