#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_NV_cooperative_matrix : require
#extension GL_KHR_memory_scope_semantics : require
#extension GL_KHR_shader_subgroup_basic : require
#extension GL_KHR_shader_subgroup_shuffle : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
// Attention over many queries on tensor cores (VK_NV_cooperative_matrix, 16x16x16 fp16 -> fp32),
// for models that run in fp16 (AttentionArgs::fp16): Q, K, V and the probabilities are rounded to
// fp16, scores, softmax and sums stay fp32. Each subgroup (32 lanes) owns 16 queries; the
// workgroup's subgroups walk a head's keys together in blocks of 32, double buffered in shared
// memory. Per block: S = Q K^T on the tensor cores; the accumulators go to shared memory, where
// two lanes per query row do the online softmax (an accumulator's element-to-lane mapping is
// the driver's, so rows are only reachable through memory) and write P as fp16; P V on the
// tensor cores; the lanes rescale and add it to the output rows they keep in registers.
// Semantics as attention.comp: causal limit, additive padding mask, a key count that may grow
// with the decode position. Head dims 32, 48 or 64 (runtime/ops-attention.cpp picks it).
#include "common.glsl"
layout(constant_id = 1) const uint DH = 64;
layout(constant_id = 2) const uint CAUSAL = 0;   // key j visible to query i iff j <= Tk - Tq + i
layout(constant_id = 3) const uint HAS_MASK = 0; // additive mask [B, Tk] (padding)

#include "attention-io.glsl"

const uint SGS = WG / 32;        // subgroups, 16 queries each
const uint KB = 32;              // keys per block
const uint DU = DH / 8;          // 8-half units per K/V row
const uint KROW = DU + 1;        // K/V row stride in shared memory, in units: conflict-free loads
const uint KU = (KB * DU + WG - 1) / WG;  // K (and V) units per lane per block
const uint QROW = DH / 4 + 2;    // Q rows in the half scratch, in 4-half units
const uint PROW = KB / 4 + 2;    // P rows (<= QROW for DH >= 32)
const uint SROWF = KB + 8;       // S rows in the float scratch (floats)
const uint OROWF = DH + 8;       // O rows (>= SROWF for DH >= 32)

shared uvec4 ks_t[2 * KB * KROW];     // K blocks [stage][key][dim]
shared uvec4 vs_t[2 * KB * KROW];     // V blocks
shared uvec2 hs_t[SGS * 16 * QROW];   // per subgroup: Q, then each block's P
shared float fs_t[SGS * 16 * OROWF];  // per subgroup: each block's S, then its P V

#define HALF16 fcoopmatNV<16, gl_ScopeSubgroup, 16, 16>
#define ACC32 fcoopmatNV<32, gl_ScopeSubgroup, 16, 16>

uvec2 pack4(vec4 a) { return uvec2(packFloat2x16(f16vec2(a.xy)), packFloat2x16(f16vec2(a.zw))); }
uvec4 pack8(vec4 a, vec4 b) { return uvec4(pack4(a), pack4(b)); }

void sync_subgroup() {
  subgroupMemoryBarrierShared();
  subgroupBarrier();
}

void main() {
  const uint lid = gl_LocalInvocationID.x, sg = lid / 32, lane = lid % 32;
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint q0 = (gl_WorkGroupID.x * SGS + sg) * 16;  // this subgroup's first query
  const uint Tk = p.Tk + (p.tk_add_past != 0 ? step.past : 0);
  const uint hb = sg * 16 * QROW, fb = sg * 16 * OROWF;

  // Q: 16 rows (past Tq the last again, never written), into the half scratch, then fragments.
  for (uint idx = lane; idx < 16 * DU; idx += 32) {
    const uint r = idx / DU, u = idx % DU;
    const uint qi = min(q0 + r, p.Tq - 1);
    const uint qb = (p.q_off + b * p.q_bs + qi * p.q_ts + h * DH + u * 8) >> 2;
    hs_t[hb + r * QROW + u * 2] = pack4(q4[qb]);
    hs_t[hb + r * QROW + u * 2 + 1] = pack4(q4[qb + 1]);
  }
  sync_subgroup();
  HALF16 qf[DH / 16];
  [[unroll]] for (uint d = 0; d < DH / 16; ++d) coopMatLoadNV(qf[d], hs_t, hb + d * 4, QROW, false);
  subgroupBarrier();  // the scratch holds P from here on

  // This lane's query row and half of it: vec4 columns 2t + hf of S, P and O.
  const uint r = lane / 2, hf = lane % 2, qi = q0 + r;
  const uint jlim = CAUSAL != 0 ? Tk - p.Tq + min(qi, p.Tq - 1) + 1 : Tk;
  float m = NEG_INF, l = 0.0;
  vec4 o[DH / 8];
  [[unroll]] for (uint t = 0; t < DH / 8; ++t) o[t] = vec4(0.0);

  // K/V block loads: keys past Tk repeat the last (their probabilities are 0).
  uvec4 kr[KU], vr[KU];
  const uint blocks = (Tk + KB - 1) / KB;
  [[unroll]] for (uint t = 0; t < KU; ++t) {
    const uint idx = lid + t * WG;
    if (idx < KB * DU) {
      const uint j = min(idx / DU, Tk - 1), u = idx % DU;
      const uint kb = (p.k_off + b * p.k_bs + j * p.k_ts + h * DH + u * 8) >> 2;
      const uint vb = (p.v_off + b * p.v_bs + j * p.v_ts + h * DH + u * 8) >> 2;
      ks_t[(idx / DU) * KROW + u] = pack8(K4(kb), K4(kb + 1));
      vs_t[(idx / DU) * KROW + u] = pack8(V4(vb), V4(vb + 1));
    }
  }
  barrier();

  for (uint blk = 0; blk < blocks; ++blk) {
    const uint cur = blk & 1, j0 = blk * KB;
    const bool more = blk + 1 < blocks;
    if (more) {  // the next block's loads, in flight during this block's work
      [[unroll]] for (uint t = 0; t < KU; ++t) {
        const uint idx = lid + t * WG;
        if (idx < KB * DU) {
          const uint j = min(j0 + KB + idx / DU, Tk - 1), u = idx % DU;
          const uint kb = (p.k_off + b * p.k_bs + j * p.k_ts + h * DH + u * 8) >> 2;
          const uint vb = (p.v_off + b * p.v_bs + j * p.v_ts + h * DH + u * 8) >> 2;
          kr[t] = pack8(K4(kb), K4(kb + 1));
          vr[t] = pack8(V4(vb), V4(vb + 1));
        }
      }
    }
    const uint sb = cur * KB * KROW;

    // S = Q K^T (16 x KB): K rows are the columns of K^T, so K^T loads column-major.
    [[unroll]] for (uint n = 0; n < KB / 16; ++n) {
      ACC32 s = ACC32(0.0);
      [[unroll]] for (uint d = 0; d < DH / 16; ++d) {
        HALF16 kf;
        coopMatLoadNV(kf, ks_t, sb + n * 16 * KROW + d * 2, KROW, true);
        s = coopMatMulAddNV(qf[d], kf, s);
      }
      coopMatStoreNV(s, fs_t, fb + n * 16, SROWF, false);
    }
    sync_subgroup();

    // Online softmax over this block for row r: two lanes per row, KB/2 keys each.
    float sv[KB / 2];
    float bmax = NEG_INF;
    [[unroll]] for (uint t = 0; t < KB / 8; ++t) {
      const uint c = 2 * t + hf;
      [[unroll]] for (uint e = 0; e < 4; ++e) {
        const uint j = j0 + c * 4 + e;
        float sj = fs_t[fb + r * SROWF + c * 4 + e] * p.scale;
        if (HAS_MASK != 0 && j < Tk) sj += mask[b * p.m_bs + j];
        sj = j < jlim ? sj : NEG_INF;
        sv[t * 4 + e] = sj;
        bmax = max(bmax, sj);
      }
    }
    bmax = max(bmax, subgroupShuffleXor(bmax, 1));
    const float m_new = max(m, bmax);
    const float corr = m_new == NEG_INF ? 1.0 : exp(m - m_new);
    float psum = 0.0;
    [[unroll]] for (uint t = 0; t < KB / 8; ++t) {
      vec4 pv;
      [[unroll]] for (uint e = 0; e < 4; ++e) pv[e] = sv[t * 4 + e] == NEG_INF ? 0.0 : exp(sv[t * 4 + e] - m_new);
      psum += pv.x + pv.y + pv.z + pv.w;
      hs_t[hb + r * PROW + 2 * t + hf] = pack4(pv);
    }
    psum += subgroupShuffleXor(psum, 1);
    l = l * corr + psum;
    m = m_new;
    sync_subgroup();

    // P V (16 x DH), then into this lane's output columns.
    [[unroll]] for (uint n = 0; n < DH / 16; ++n) {
      ACC32 acc = ACC32(0.0);
      [[unroll]] for (uint kc = 0; kc < KB / 16; ++kc) {
        HALF16 pf, vf;
        coopMatLoadNV(pf, hs_t, hb + kc * 4, PROW, false);
        coopMatLoadNV(vf, vs_t, sb + kc * 16 * KROW + n * 2, KROW, false);
        acc = coopMatMulAddNV(pf, vf, acc);
      }
      coopMatStoreNV(acc, fs_t, fb + n * 16, OROWF, false);
    }
    sync_subgroup();
    [[unroll]] for (uint t = 0; t < DH / 8; ++t) {
      const uint f = fb + r * OROWF + (2 * t + hf) * 4;
      o[t] = o[t] * corr + vec4(fs_t[f], fs_t[f + 1], fs_t[f + 2], fs_t[f + 3]);
    }
    subgroupBarrier();  // before the next block's S overwrites the scratch

    if (more) {  // the other stage was last read in the previous block, before its barrier
      [[unroll]] for (uint t = 0; t < KU; ++t) {
        const uint idx = lid + t * WG;
        if (idx < KB * DU) {
          ks_t[(cur ^ 1) * KB * KROW + (idx / DU) * KROW + idx % DU] = kr[t];
          vs_t[(cur ^ 1) * KB * KROW + (idx / DU) * KROW + idx % DU] = vr[t];
        }
      }
    }
    barrier();
  }

  if (qi >= p.Tq) return;
  const float inv = l > 0.0 ? 1.0 / l : 0.0;
  const uint ob = (p.o_off + b * p.o_bs + qi * p.o_ts + h * DH) >> 2;
  [[unroll]] for (uint t = 0; t < DH / 8; ++t) o4[ob + 2 * t + hf] = o[t] * inv;
}
