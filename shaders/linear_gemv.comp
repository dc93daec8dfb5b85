#version 450
#extension GL_GOOGLE_include_directive : require
// y[M,N] = act(x[M,K] . W[N,K]^T + bias) + residual for M <= MR (decode), K split over a
// workgroup: lane l reads weight units l, l+WG, ... of RN adjacent rows (coalesced on GPUs),
// partial sums meet in a shared-memory tree. For GPUs; lavapipe prefers linear.comp with TM=M.
#include "common.glsl"
#include "linear-io.glsl"

layout(constant_id = 1) const uint MR = 8;  // max rows
layout(constant_id = 2) const uint RN = 4;  // columns per workgroup
layout(constant_id = 3) const uint X_ALIGNED = 1;

shared float partial[MR * RN * WG];

vec4 x_load(uint row_base, uint k) {
  if (X_ALIGNED != 0 && k + 4 <= p.K) return XV((row_base + k) >> 2);
  vec4 v = vec4(0.0);
  [[unroll]] for (uint q = 0; q < 4; ++q)
    if (k + q < p.K) v[q] = xs[row_base + k + q];
  return v;
}

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint col0 = flat_group() * RN;

  float acc[MR * RN];
  [[unroll]] for (uint e = 0; e < MR * RN; ++e) acc[e] = 0.0;

  for (uint t = lid; t < p.units; t += WG) {
    const uint k = t * WPU;
    if (k >= p.K) break;
    [[unroll]] for (uint c = 0; c < RN; ++c) {
      const uint wi = min(col0 + c, p.N - 1) * p.units + t;
#ifdef WEIGHT_F16
      vec4 wlo, whi;
      w_load(wi, wlo, whi);
      [[unroll]] for (uint m = 0; m < MR; ++m)
        if (m < p.M) acc[m * RN + c] += dot(x_load(m * p.K, k), wlo) + dot(x_load(m * p.K, k + 4), whi);
#else
      vec4 w = w_unit(wi);
      [[unroll]] for (uint m = 0; m < MR; ++m)
        if (m < p.M) acc[m * RN + c] += dot(x_load(m * p.K, k), w);
#endif
    }
  }

  [[unroll]] for (uint e = 0; e < MR * RN; ++e) partial[e * WG + lid] = acc[e];
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (lid < s)
      [[unroll]] for (uint e = 0; e < MR * RN; ++e) partial[e * WG + lid] += partial[e * WG + lid + s];
    barrier();
  }

  for (uint e = lid; e < MR * RN; e += WG) {
    const uint m = e / RN, col = col0 + e % RN;
    if (m >= p.M || col >= p.N) continue;
    store_output(m, col, partial[e * WG]);
  }
}
