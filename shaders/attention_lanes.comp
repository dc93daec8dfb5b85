#version 450
#extension GL_GOOGLE_include_directive : require
#extension GL_KHR_shader_subgroup_shuffle : require
// Attention over many queries for GPUs: LPQ neighbouring lanes of a subgroup share one query, each
// owning DH/4/LPQ of its vec4 columns; per key their partial dot products are summed with
// subgroup shuffles. A head's Tq queries keep Tq*LPQ lanes busy: one lane per query
// (attention.comp) left an H100 ~95% idle at BLIP's 577 queries x 12 heads (0.45 ms a layer).
// Semantics as attention.comp: online softmax, causal limit, additive padding mask, a key count
// that may grow with the decode position.
#include "common.glsl"
layout(constant_id = 1) const uint DH = 64;      // head dim, multiple of 8, <= 128
layout(constant_id = 2) const uint CAUSAL = 0;   // key j visible to query i iff j <= Tk - Tq + i
layout(constant_id = 3) const uint HAS_MASK = 0; // additive mask [B, Tk] (padding)
layout(constant_id = 4) const uint LPQ = 16;     // lanes per query: a power of two dividing DH/4 and the subgroup

#include "attention-io.glsl"

const uint PER = D4 / LPQ;  // vec4 columns per lane

void main() {
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint lane = gl_LocalInvocationID.x % LPQ;
  const uint i = (gl_WorkGroupID.x * WG + gl_LocalInvocationID.x) / LPQ;  // this lane's query
  const uint iq = min(i, p.Tq - 1);  // lanes past the last query compute it again, write nothing
  const uint Tk = p.Tk + (p.tk_add_past != 0 ? step.past : 0);
  const uint col = h * DH + lane * PER * 4;  // this lane's first column

  vec4 q[PER];
  const uint qb = (p.q_off + b * p.q_bs + iq * p.q_ts + col) >> 2;
  [[unroll]] for (uint r = 0; r < PER; ++r) q[r] = q4[qb + r] * p.scale;
  const uint jlim = CAUSAL != 0 ? Tk - p.Tq + iq + 1 : Tk;
  // Every lane of the workgroup walks the same keys (to the last query's limit): the shuffles
  // below then never meet a lane that left the loop.
  const uint last_q = min(((gl_WorkGroupID.x + 1) * WG - 1) / LPQ, p.Tq - 1);
  const uint jend = CAUSAL != 0 ? min(Tk, Tk - p.Tq + last_q + 1) : Tk;

  float m = NEG_INF, l = 0.0;
  vec4 o[PER];
  [[unroll]] for (uint r = 0; r < PER; ++r) o[r] = vec4(0.0);
  for (uint j = 0; j < jend; ++j) {
    const uint kb = (p.k_off + b * p.k_bs + j * p.k_ts + col) >> 2;
    float s = 0.0;
    [[unroll]] for (uint r = 0; r < PER; ++r) s += dot(q[r], K4(kb + r));
    [[unroll]] for (uint off = LPQ / 2; off > 0; off >>= 1) s += subgroupShuffleXor(s, off);
    const float bias = HAS_MASK != 0 ? mask[b * p.m_bs + j] : 0.0;
    const float sj = j < jlim ? s + bias : NEG_INF;
    const float m_new = max(m, sj);
    const float corr = m_new == NEG_INF ? 1.0 : exp(m - m_new);
    const float pr = sj == NEG_INF ? 0.0 : exp(sj - m_new);
    l = l * corr + pr;
    m = m_new;
    const uint vb = (p.v_off + b * p.v_bs + j * p.v_ts + col) >> 2;
    [[unroll]] for (uint r = 0; r < PER; ++r) o[r] = o[r] * corr + pr * V4(vb + r);
  }
  if (i >= p.Tq) return;
  const float inv = l > 0.0 ? 1.0 / l : 0.0;
  const uint ob = (p.o_off + b * p.o_bs + i * p.o_ts + col) >> 2;
  [[unroll]] for (uint r = 0; r < PER; ++r) o4[ob + r] = o[r] * inv;
}
