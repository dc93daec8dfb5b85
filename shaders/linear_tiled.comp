#version 450
#extension GL_GOOGLE_include_directive : require
// y[M,N] = act(x[M,K] . W[N,K]^T + bias) + residual — the GPU GEMM: 64x64 output tiles, 256
// lanes each owning a 4x4 block, x and W tiles of 16 k staged through shared memory with
// coalesced loads, fp32 accumulation. (On lavapipe shared memory is slow: linear.comp serves it.)
#include "common.glsl"
#include "linear-io.glsl"

layout(constant_id = 1) const uint X_ALIGNED = 1;

const uint BM = 64, BN = 64, BK = 16;  // WG must be 256
shared float xs_tile[BK][BM + 1];      // +1: no bank conflicts on the transposed stores
shared float ws_tile[BK][BN + 1];

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint tx = lid % 16, ty = lid / 16;  // this lane's outputs: rows ty + 16 i, cols tx + 16 j
  const uint row0 = gl_WorkGroupID.y * BM, col0 = gl_WorkGroupID.x * BN;

  float acc[4][4];
  [[unroll]] for (uint i = 0; i < 4; ++i)
    [[unroll]] for (uint j = 0; j < 4; ++j) acc[i][j] = 0.0;

  // Loader roles: x tile = 64 rows x 4 vec4; W tile = 64 rows x (16 / WPU) units.
  const uint lr = lid / 4, lq = lid % 4;
  const uint x_row = min(row0 + lr, p.M - 1);
  const uint w_row = min(col0 + lr, p.N - 1);

  for (uint k0 = 0; k0 < p.K; k0 += BK) {
    const uint k = k0 + lq * 4;
    vec4 xv4;
    if (X_ALIGNED != 0 && k + 4 <= p.K) {
      xv4 = XV((x_row * p.K + k) >> 2);
    } else {
      xv4 = vec4(0.0);
      [[unroll]] for (uint q = 0; q < 4; ++q)
        if (k + q < p.K) xv4[q] = xs[x_row * p.K + k + q];
    }
    [[unroll]] for (uint q = 0; q < 4; ++q) xs_tile[lq * 4 + q][lr] = xv4[q];

#ifdef WEIGHT_F16
    if (lq < 2) {  // 2 units of 8 halves cover 16 k
      vec4 lo, hi;
      const uint t = k0 / WPU + lq;
      if (t < p.units) w_load(w_row * p.units + t, lo, hi);
      else lo = hi = vec4(0.0);
      [[unroll]] for (uint q = 0; q < 4; ++q) {
        ws_tile[lq * 8 + q][lr] = lo[q];
        ws_tile[lq * 8 + 4 + q][lr] = hi[q];
      }
    }
#else
    {
      const uint t = k0 / WPU + lq;
      const vec4 w = t < p.units ? w_unit(w_row * p.units + t) : vec4(0.0);
      [[unroll]] for (uint q = 0; q < 4; ++q) ws_tile[lq * 4 + q][lr] = w[q];
    }
#endif
    barrier();

    [[unroll]] for (uint kk = 0; kk < BK; ++kk) {
      float a[4], b[4];
      [[unroll]] for (uint i = 0; i < 4; ++i) a[i] = xs_tile[kk][ty + 16 * i];
      [[unroll]] for (uint j = 0; j < 4; ++j) b[j] = ws_tile[kk][tx + 16 * j];
      [[unroll]] for (uint i = 0; i < 4; ++i)
        [[unroll]] for (uint j = 0; j < 4; ++j) acc[i][j] += a[i] * b[j];
    }
    barrier();
  }

  [[unroll]] for (uint i = 0; i < 4; ++i) {
    const uint row = row0 + ty + 16 * i;
    if (row >= p.M) break;
    [[unroll]] for (uint j = 0; j < 4; ++j) {
      const uint col = col0 + tx + 16 * j;
      if (col >= p.N) continue;
      store_output(row, col, acc[i][j]);
    }
  }
}
