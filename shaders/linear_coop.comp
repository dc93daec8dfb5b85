#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
// y[M,N] = act(x[M,K] . W[N,K]^T + bias) + residual on tensor cores (VK_NV_cooperative_matrix),
// for fp16 weights: 64x64 output tiles, 4 subgroups of 32 lanes each owning a 32x32 quarter as
// 2x2 fp32 accumulators of 16x16; x (converted to fp16) and W tiles of 32 k staged through shared
// memory. The epilogue (bias, activation, residual) reads the accumulators back from shared memory.
// Chosen only on devices that report 16x16x16 fp16 x fp16 -> fp32 at subgroup scope, subgroup 32.
#include "common.glsl"
#include "linear-io.glsl"

layout(constant_id = 1) const uint X_ALIGNED = 1;

const uint BM = 64, BN = 64, BK = 32;  // WG must be 128
shared float16_t xs_t[BM * BK];  // x tile, row-major [m][k]
shared float16_t ws_t[BN * BK];  // W tile [n][k]: W^T (K x N) column-major
shared float cs_t[BM * BN];      // accumulators for the epilogue

#define HALF16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define ACC32 fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

void main() {
  const uint lid = gl_LocalInvocationID.x, sg = lid / 32;
  const uint row0 = gl_WorkGroupID.y * BM, col0 = gl_WorkGroupID.x * BN;
  const uint wm = (sg / 2) * 32, wn = (sg % 2) * 32;  // this subgroup's quarter of the tile

  ACC32 acc[2][2];
  [[unroll]] for (uint i = 0; i < 2; ++i)
    [[unroll]] for (uint j = 0; j < 2; ++j) acc[i][j] = ACC32(0.0);

  for (uint k0 = 0; k0 < p.K; k0 += BK) {
    // x: 64 rows x 8 vec4 = 512 vec4, 4 per lane (rows past M repeat the last; never stored)
    [[unroll]] for (uint t = 0; t < 4; ++t) {
      const uint idx = lid + t * 128, r = idx / 8, q = idx % 8;
      const uint row = min(row0 + r, p.M - 1), k = k0 + q * 4;
      vec4 v;
      if (X_ALIGNED != 0 && k + 4 <= p.K) {
        v = XV((row * p.K + k) >> 2);
      } else {
        v = vec4(0.0);
        [[unroll]] for (uint e = 0; e < 4; ++e)
          if (k + e < p.K) v[e] = xs[row * p.K + k + e];
      }
      const uint s = r * BK + q * 4;
      xs_t[s] = float16_t(v.x);
      xs_t[s + 1] = float16_t(v.y);
      xs_t[s + 2] = float16_t(v.z);
      xs_t[s + 3] = float16_t(v.w);
    }
    // W: 64 rows x 4 units of 8 halves = 256 units, 2 per lane (zero past the row's units)
    [[unroll]] for (uint t = 0; t < 2; ++t) {
      const uint idx = lid + t * 128, r = idx / 4, u = idx % 4;
      const uint wrow = min(col0 + r, p.N - 1), unit = k0 / 8 + u;
      const uvec4 w = unit < p.units ? w_unit(wrow * p.units + unit) : uvec4(0);
      const uint s = r * BK + u * 8;
      f16vec2 h = unpackFloat2x16(w.x);
      ws_t[s] = h.x, ws_t[s + 1] = h.y;
      h = unpackFloat2x16(w.y);
      ws_t[s + 2] = h.x, ws_t[s + 3] = h.y;
      h = unpackFloat2x16(w.z);
      ws_t[s + 4] = h.x, ws_t[s + 5] = h.y;
      h = unpackFloat2x16(w.w);
      ws_t[s + 6] = h.x, ws_t[s + 7] = h.y;
    }
    barrier();
    [[unroll]] for (uint kk = 0; kk < BK; kk += 16) {
      HALF16 a[2], b[2];
      [[unroll]] for (uint i = 0; i < 2; ++i) coopMatLoadNV(a[i], xs_t, (wm + i * 16) * BK + kk, BK, false);
      [[unroll]] for (uint j = 0; j < 2; ++j) coopMatLoadNV(b[j], ws_t, (wn + j * 16) * BK + kk, BK, true);
      [[unroll]] for (uint i = 0; i < 2; ++i)
        [[unroll]] for (uint j = 0; j < 2; ++j) acc[i][j] = coopMatMulAddNV(a[i], b[j], acc[i][j]);
    }
    barrier();
  }

  [[unroll]] for (uint i = 0; i < 2; ++i)
    [[unroll]] for (uint j = 0; j < 2; ++j)
      coopMatStoreNV(acc[i][j], cs_t, (wm + i * 16) * BN + wn + j * 16, BN, false);
  barrier();
  for (uint t = 0; t < BM * BN / 128; ++t) {
    const uint idx = lid + t * 128, r = idx / BN, c = idx % BN;
    const uint row = row0 + r, col = col0 + c;
    if (row < p.M && col < p.N) store_output(row, col, cs_t[idx]);
  }
}
