#version 450
#extension GL_GOOGLE_include_directive : require
// Flash-style attention: O = softmax(Q K^T * scale + mask) V with an online softmax, so the
// Tq x Tk score matrix never exists. Each lane owns QB queries of one (head, batch); all lanes of
// a workgroup share (head, batch) and walk the same keys, so every K/V read serves WG*QB queries.
// Q, K, V, O are [B, T, H*DH] views with any token/batch stride and element offset (a fused QKV
// projection is read in place). Tk may grow with the decode position held in the step buffer.
#include "common.glsl"
layout(constant_id = 1) const uint DH = 64;      // head dim, multiple of 8, <= 128
layout(constant_id = 2) const uint CAUSAL = 0;   // key j visible to query i iff j <= Tk - Tq + i
layout(constant_id = 3) const uint HAS_MASK = 0; // additive mask [B, Tk] (padding)
layout(constant_id = 4) const uint QB = 1;       // queries per lane: each K/V read serves QB queries

#include "attention-io.glsl"


void main() {
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint i0 = (gl_WorkGroupID.x * WG + gl_LocalInvocationID.x) * QB;  // this lane's first query
  const uint Tk = p.Tk + (p.tk_add_past != 0 ? step.past : 0);

  vec4 q[QB * D4];
  uint jlim[QB];  // keys visible to each query (causal)
  [[unroll]] for (uint r = 0; r < QB; ++r) {
    const uint iq = min(i0 + r, p.Tq - 1);
    const uint qb = (p.q_off + b * p.q_bs + iq * p.q_ts + h * DH) >> 2;
    [[unroll]] for (uint d = 0; d < D4; ++d) q[r * D4 + d] = q4[qb + d] * p.scale;
    jlim[r] = CAUSAL != 0 ? Tk - p.Tq + iq + 1 : Tk;
  }
  // The whole workgroup walks the same keys (up to the last query's limit) so K/V reads are shared.
  const uint last_q = min((gl_WorkGroupID.x + 1) * WG * QB, p.Tq) - 1;
  const uint jend = CAUSAL != 0 ? min(Tk, Tk - p.Tq + last_q + 1) : Tk;

  float m[QB], l[QB];
  vec4 o[QB * D4];
  [[unroll]] for (uint r = 0; r < QB; ++r) {
    m[r] = NEG_INF;
    l[r] = 0.0;
    [[unroll]] for (uint d = 0; d < D4; ++d) o[r * D4 + d] = vec4(0.0);
  }

  for (uint j = 0; j < jend; ++j) {
    const uint kb = (p.k_off + b * p.k_bs + j * p.k_ts + h * DH) >> 2;
    float s[QB];
    [[unroll]] for (uint r = 0; r < QB; ++r) s[r] = 0.0;
    [[unroll]] for (uint d = 0; d < D4; ++d) {
      const vec4 k = K4(kb + d);
      [[unroll]] for (uint r = 0; r < QB; ++r) s[r] += dot(q[r * D4 + d], k);
    }
    const float bias = HAS_MASK != 0 ? mask[b * p.m_bs + j] : 0.0;
    float pr[QB];
    [[unroll]] for (uint r = 0; r < QB; ++r) {  // online softmax update
      const float sj = j < jlim[r] ? s[r] + bias : NEG_INF;
      const float m_new = max(m[r], sj);
      const float corr = m_new == NEG_INF ? 1.0 : exp(m[r] - m_new);
      pr[r] = sj == NEG_INF ? 0.0 : exp(sj - m_new);
      l[r] = l[r] * corr + pr[r];
      m[r] = m_new;
      [[unroll]] for (uint d = 0; d < D4; ++d) o[r * D4 + d] *= corr;
    }
    const uint vb = (p.v_off + b * p.v_bs + j * p.v_ts + h * DH) >> 2;
    [[unroll]] for (uint d = 0; d < D4; ++d) {
      const vec4 v = V4(vb + d);
      [[unroll]] for (uint r = 0; r < QB; ++r) o[r * D4 + d] += pr[r] * v;
    }
  }

  [[unroll]] for (uint r = 0; r < QB; ++r) {
    const uint i = i0 + r;
    if (i >= p.Tq) break;
    const float inv = l[r] > 0.0 ? 1.0 / l[r] : 0.0;
    const uint ob = (p.o_off + b * p.o_bs + i * p.o_ts + h * DH) >> 2;
    [[unroll]] for (uint d = 0; d < D4; ++d) o4[ob + d] = o[r * D4 + d] * inv;
  }
}
