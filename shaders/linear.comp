#version 450
#extension GL_GOOGLE_include_directive : require
// y[M,N] = act(x[M,K] . W[N,K]^T + bias) + residual — register-blocked, no shared memory.
// Each invocation computes TM rows x TN columns from registers; a workgroup spans columns only,
// so its lanes share the x rows and each streams its own weight rows. On lavapipe every load is
// a per-lane loop, so the fewest, widest loads win: 16-byte texel fetches of x and W, and a
// 16x16 block that reuses each of them 16 times. With TM = 1..8 it is also the decode GEMV on CPUs.
#include "common.glsl"
#include "linear-io.glsl"

layout(constant_id = 1) const uint TM = 8;
layout(constant_id = 2) const uint TN = 8;
layout(constant_id = 3) const uint X_ALIGNED = 1;  // K % 4 == 0: x rows start on vec4 boundaries

// x[row_base + k + q] for q < 4, zero past K.
vec4 x_guarded(uint row_base, uint k) {
  vec4 v = vec4(0.0);
  [[unroll]] for (uint q = 0; q < 4; ++q)
    if (k + q < p.K) v[q] = xs[row_base + k + q];
  return v;
}

vec4 x_full(uint row_base, uint k) {
  if (X_ALIGNED != 0) return XV((row_base + k) >> 2);
  return vec4(xs[row_base + k], xs[row_base + k + 1], xs[row_base + k + 2], xs[row_base + k + 3]);
}

void main() {
  const uint col0 = (gl_WorkGroupID.x * WG + gl_LocalInvocationID.x) * TN;
  const uint row0 = gl_WorkGroupID.y * TM;

  uint wrow[TN];
  [[unroll]] for (uint j = 0; j < TN; ++j) wrow[j] = min(col0 + j, p.N - 1) * p.units;
  uint xrow[TM];
  [[unroll]] for (uint i = 0; i < TM; ++i) xrow[i] = min(row0 + i, p.M - 1) * p.K;

  float acc[TM * TN];
  [[unroll]] for (uint e = 0; e < TM * TN; ++e) acc[e] = 0.0;

  const uint full = p.K / WPU;
  for (uint t = 0; t < full; ++t) {
    const uint k = t * WPU;
#ifdef WEIGHT_F16
    vec4 wlo[TN], whi[TN];
    [[unroll]] for (uint j = 0; j < TN; ++j) w_load(wrow[j] + t, wlo[j], whi[j]);
    [[unroll]] for (uint i = 0; i < TM; ++i) {
      vec4 alo = x_full(xrow[i], k), ahi = x_full(xrow[i], k + 4);
      [[unroll]] for (uint j = 0; j < TN; ++j) acc[i * TN + j] += dot(alo, wlo[j]) + dot(ahi, whi[j]);
    }
#else
    vec4 w[TN];
    [[unroll]] for (uint j = 0; j < TN; ++j) w[j] = w_unit(wrow[j] + t);
    [[unroll]] for (uint i = 0; i < TM; ++i) {
      vec4 a = x_full(xrow[i], k);
      [[unroll]] for (uint j = 0; j < TN; ++j) acc[i * TN + j] += dot(a, w[j]);
    }
#endif
  }
  if (full * WPU < p.K) {  // the last, partial unit: weights are zero padded, x is not
    const uint t = full, k = full * WPU;
#ifdef WEIGHT_F16
    vec4 wlo[TN], whi[TN];
    [[unroll]] for (uint j = 0; j < TN; ++j) w_load(wrow[j] + t, wlo[j], whi[j]);
    [[unroll]] for (uint i = 0; i < TM; ++i) {
      vec4 alo = x_guarded(xrow[i], k), ahi = x_guarded(xrow[i], k + 4);
      [[unroll]] for (uint j = 0; j < TN; ++j) acc[i * TN + j] += dot(alo, wlo[j]) + dot(ahi, whi[j]);
    }
#else
    vec4 w[TN];
    [[unroll]] for (uint j = 0; j < TN; ++j) w[j] = w_unit(wrow[j] + t);
    [[unroll]] for (uint i = 0; i < TM; ++i) {
      vec4 a = x_guarded(xrow[i], k);
      [[unroll]] for (uint j = 0; j < TN; ++j) acc[i * TN + j] += dot(a, w[j]);
    }
#endif
  }

  [[unroll]] for (uint i = 0; i < TM; ++i) {
    const uint row = row0 + i;
    if (row >= p.M) break;
    [[unroll]] for (uint j = 0; j < TN; ++j) {
      const uint col = col0 + j;
      if (col >= p.N) break;
      store_output(row, col, acc[i * TN + j]);
    }
  }
}
