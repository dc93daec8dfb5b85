#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
// y[M,N] = act(x[M,K] . W[N,K]^T + bias) + residual on tensor cores (VK_NV_cooperative_matrix),
// for fp16 weights. A workgroup of WM x WN subgroups (32 lanes) owns a BM x BN output tile; each
// subgroup owns TM x TN fp32 accumulators of 16x16. x (converted to fp16) and W come through
// shared memory in steps of 32 k, double buffered: the next step's global loads are in flight
// while the tensor cores work on this one, and there is one barrier per step. Shared rows are
// 40 halves (80 bytes) apart, so the 8 rows a 16x16 load reads per phase hit distinct banks.
// The epilogue (bias, activation, residual) goes through one 16x16 scratch tile per subgroup.
// Chosen only on devices that report 16x16x16 fp16 x fp16 -> fp32 at subgroup scope, subgroup 32.
//
// Shared memory is declared as uvec4 (8 halves): GL_NV_cooperative_matrix loads from an array of
// another type reinterpret it, with the element offset and stride in units of that type.
#include "common.glsl"
#include "linear-io.glsl"

layout(constant_id = 1) const uint X_ALIGNED = 1;
layout(constant_id = 2) const uint WM = 2;  // subgroups along M; WG must be WM * WN * 32
layout(constant_id = 3) const uint WN = 2;  // subgroups along N
layout(constant_id = 4) const uint TM = 2;  // 16x16 tiles per subgroup along M
layout(constant_id = 5) const uint TN = 2;  // along N

const uint BM = WM * TM * 16, BN = WN * TN * 16, BK = 32;
const uint LANES = WM * WN * 32;
const uint SROW = BK / 8 + 1;                    // shared row stride, in 8-half units
const uint XU = (BM * 4 + LANES - 1) / LANES;    // 8-k units of x per lane per step
const uint WU = (BN * 4 + LANES - 1) / LANES;    // of W
shared uvec4 xs_t[2 * BM * SROW];  // x tiles [stage][m][k]
shared uvec4 ws_t[2 * BN * SROW];  // W tiles [stage][n][k]: W^T (K x N) column-major
shared float cs_t[WM * WN * 256];  // one 16x16 epilogue tile per subgroup

#define HALF16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define ACC32 fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

uvec4 pack8(vec4 a, vec4 b) {
  return uvec4(packFloat2x16(f16vec2(a.xy)), packFloat2x16(f16vec2(a.zw)), packFloat2x16(f16vec2(b.xy)),
               packFloat2x16(f16vec2(b.zw)));
}

// 8 values of x from row `row`, columns k..k+7 (zeros past K), as fp16.
uvec4 x_unit(uint row, uint k) {
  if (X_ALIGNED != 0 && k + 8 <= p.K) {
    const uint i = (row * p.K + k) >> 2;
    return pack8(XV(i), XV(i + 1));
  }
  vec4 a = vec4(0.0), b = vec4(0.0);
  [[unroll]] for (uint e = 0; e < 4; ++e) {
    if (k + e < p.K) a[e] = xs[row * p.K + k + e];
    if (k + 4 + e < p.K) b[e] = xs[row * p.K + k + 4 + e];
  }
  return pack8(a, b);
}

void main() {
  const uint lid = gl_LocalInvocationID.x, sg = lid / 32, lane = lid % 32;
  const uint row0 = gl_WorkGroupID.y * BM, col0 = gl_WorkGroupID.x * BN;
  const uint wm = (sg / WN) * TM * 16, wn = (sg % WN) * TN * 16;  // this subgroup's part of the tile

  ACC32 acc[TM * TN];
  [[unroll]] for (uint t = 0; t < TM * TN; ++t) acc[t] = ACC32(0.0);

  // Step s's units for this lane: rows past M repeat the last (never stored), W rows past N the
  // last column's, units past the weight row are zero.
  uvec4 xr[XU], wr[WU];
  const uint steps = (p.K + BK - 1) / BK;
  [[unroll]] for (uint t = 0; t < XU; ++t) {
    const uint idx = lid + t * LANES;
    if (idx < BM * 4) xr[t] = x_unit(min(row0 + idx / 4, p.M - 1), (idx % 4) * 8);
  }
  [[unroll]] for (uint t = 0; t < WU; ++t) {
    const uint idx = lid + t * LANES, unit = idx % 4;
    if (idx < BN * 4) wr[t] = unit < p.units ? w_unit(min(col0 + idx / 4, p.N - 1) * p.units + unit) : uvec4(0);
  }
  [[unroll]] for (uint t = 0; t < XU; ++t) {
    const uint idx = lid + t * LANES;
    if (idx < BM * 4) xs_t[(idx / 4) * SROW + idx % 4] = xr[t];
  }
  [[unroll]] for (uint t = 0; t < WU; ++t) {
    const uint idx = lid + t * LANES;
    if (idx < BN * 4) ws_t[(idx / 4) * SROW + idx % 4] = wr[t];
  }
  barrier();

  for (uint s = 0; s < steps; ++s) {
    const uint cur = s & 1, nxt = cur ^ 1;
    const bool more = s + 1 < steps;
    if (more) {  // the next step's loads, in flight during this step's multiplies
      const uint k1 = (s + 1) * BK;
      [[unroll]] for (uint t = 0; t < XU; ++t) {
        const uint idx = lid + t * LANES;
        if (idx < BM * 4) xr[t] = x_unit(min(row0 + idx / 4, p.M - 1), k1 + (idx % 4) * 8);
      }
      [[unroll]] for (uint t = 0; t < WU; ++t) {
        const uint idx = lid + t * LANES, unit = k1 / 8 + idx % 4;
        if (idx < BN * 4) wr[t] = unit < p.units ? w_unit(min(col0 + idx / 4, p.N - 1) * p.units + unit) : uvec4(0);
      }
    }
    const uint xb = cur * BM * SROW, wb = cur * BN * SROW;
    [[unroll]] for (uint kk = 0; kk < BK / 8; kk += 2) {  // 16 k = 2 units
      HALF16 a[TM], b[TN];
      [[unroll]] for (uint i = 0; i < TM; ++i) coopMatLoadNV(a[i], xs_t, xb + (wm + i * 16) * SROW + kk, SROW, false);
      [[unroll]] for (uint j = 0; j < TN; ++j) coopMatLoadNV(b[j], ws_t, wb + (wn + j * 16) * SROW + kk, SROW, true);
      [[unroll]] for (uint i = 0; i < TM; ++i)
        [[unroll]] for (uint j = 0; j < TN; ++j) acc[i * TN + j] = coopMatMulAddNV(a[i], b[j], acc[i * TN + j]);
    }
    if (more) {  // the other stage was last read in the previous step, before its barrier
      [[unroll]] for (uint t = 0; t < XU; ++t) {
        const uint idx = lid + t * LANES;
        if (idx < BM * 4) xs_t[nxt * BM * SROW + (idx / 4) * SROW + idx % 4] = xr[t];
      }
      [[unroll]] for (uint t = 0; t < WU; ++t) {
        const uint idx = lid + t * LANES;
        if (idx < BN * 4) ws_t[nxt * BN * SROW + (idx / 4) * SROW + idx % 4] = wr[t];
      }
    }
    barrier();
  }

  // Epilogue, one 16x16 tile at a time through this subgroup's scratch: 8 outputs per lane.
  const uint cb = sg * 256;
  [[unroll]] for (uint i = 0; i < TM; ++i) {
    [[unroll]] for (uint j = 0; j < TN; ++j) {
      coopMatStoreNV(acc[i * TN + j], cs_t, cb, 16, false);
      subgroupMemoryBarrierShared();
      subgroupBarrier();
      [[unroll]] for (uint e = 0; e < 8; ++e) {
        const uint idx = lane + e * 32;
        const uint row = row0 + wm + i * 16 + idx / 16, col = col0 + wn + j * 16 + idx % 16;
        if (row < p.M && col < p.N) store_output(row, col, cs_t[cb + idx]);
      }
      subgroupBarrier();
    }
  }
}
