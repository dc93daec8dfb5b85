#version 450
// Flash-style attention: O = softmax(Q K^T * scale + mask) V with an online softmax over blocks
// of 4 keys, so the Tq x Tk score matrix never exists. One lane per (query, head, batch); all
// lanes of a workgroup share (head, batch) and walk the same keys, so K/V loads are uniform.
// Q, K, V, O are [B, T, H*DH] views with any token/batch stride and element offset (a fused QKV
// projection is read in place). Tk may grow with the decode position held in the step buffer.
#include "common.glsl"
layout(constant_id = 1) const uint DH = 64;      // head dim, multiple of 8, <= 128
layout(constant_id = 2) const uint CAUSAL = 0;   // key j visible to query i iff j <= Tk - Tq + i
layout(constant_id = 3) const uint HAS_MASK = 0; // additive mask [B, Tk] (padding)

layout(binding = 0, std430) readonly buffer Q { vec4 q4[]; };
layout(binding = 1, std430) readonly buffer K { vec4 k4[]; };
layout(binding = 2, std430) readonly buffer V { vec4 v4[]; };
layout(binding = 3, std430) readonly buffer Mask { float mask[]; };
layout(binding = 4, std430) writeonly buffer O { vec4 o4[]; };
layout(binding = 5, std430) readonly buffer Step { uint past; } step;

layout(push_constant) uniform Push {
  uint Tq, Tk, tk_add_past;  // keys = Tk (+ step.past when tk_add_past != 0)
  uint q_off, q_ts, q_bs;    // element offset, token stride, batch stride (all multiples of 4)
  uint k_off, k_ts, k_bs;
  uint v_off, v_ts, v_bs;
  uint o_off, o_ts, o_bs;
  uint m_bs;
  float scale;
} p;

const uint D4 = DH / 4;

void main() {
  const uint h = gl_WorkGroupID.y, b = gl_WorkGroupID.z;
  const uint i = gl_WorkGroupID.x * WG + gl_LocalInvocationID.x;
  const uint iq = min(i, p.Tq - 1);
  const uint Tk = p.Tk + (p.tk_add_past != 0 ? step.past : 0);

  vec4 q[D4];
  const uint qb = (p.q_off + b * p.q_bs + iq * p.q_ts + h * DH) >> 2;
  [[unroll]] for (uint d = 0; d < D4; ++d) q[d] = q4[qb + d] * p.scale;

  // Causal limits: per lane (jlim) and for the whole workgroup (jend, so loads stay uniform).
  const uint last_q = min(gl_WorkGroupID.x * WG + WG, p.Tq) - 1;
  const uint jend = CAUSAL != 0 ? min(Tk, Tk - p.Tq + last_q + 1) : Tk;
  const uint jlim = CAUSAL != 0 ? Tk - p.Tq + iq + 1 : Tk;

  float m = NEG_INF, l = 0.0;
  vec4 o[D4];
  [[unroll]] for (uint d = 0; d < D4; ++d) o[d] = vec4(0.0);

  for (uint j0 = 0; j0 < jend; j0 += 4) {
    float s[4];
    [[unroll]] for (uint u = 0; u < 4; ++u) {
      const uint j = j0 + u;
      s[u] = NEG_INF;
      if (j < jend) {
        const uint kb = (p.k_off + b * p.k_bs + j * p.k_ts + h * DH) >> 2;
        float acc = 0.0;
        [[unroll]] for (uint d = 0; d < D4; ++d) acc += dot(q[d], k4[kb + d]);
        if (HAS_MASK != 0) acc += mask[b * p.m_bs + j];
        if (j < jlim) s[u] = acc;
      }
    }
    const float m_new = max(m, max(max(s[0], s[1]), max(s[2], s[3])));
    if (m_new == NEG_INF) continue;  // no visible key yet
    const float corr = exp(m - m_new);
    l *= corr;
    [[unroll]] for (uint d = 0; d < D4; ++d) o[d] *= corr;
    [[unroll]] for (uint u = 0; u < 4; ++u) {
      const uint j = j0 + u;
      if (j < jend) {
        const float pu = exp(s[u] - m_new);
        l += pu;
        const uint vb = (p.v_off + b * p.v_bs + j * p.v_ts + h * DH) >> 2;
        [[unroll]] for (uint d = 0; d < D4; ++d) o[d] += pu * v4[vb + d];
      }
    }
    m = m_new;
  }

  if (i >= p.Tq) return;
  const float inv = l > 0.0 ? 1.0 / l : 0.0;
  const uint ob = (p.o_off + b * p.o_bs + i * p.o_ts + h * DH) >> 2;
  [[unroll]] for (uint d = 0; d < D4; ++d) o4[ob + d] = o[d] * inv;
}
