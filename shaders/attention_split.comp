#version 450
#extension GL_GOOGLE_include_directive : require
// Decode attention (few queries, many keys): one workgroup per (query, head, batch); lane l
// takes keys l, l+WG, ... with its own online softmax, then the lanes' partial (max, sum, out)
// are merged through shared memory. Same operands and push constants as attention.comp.
#include "common.glsl"
layout(constant_id = 1) const uint DH = 64;
layout(constant_id = 2) const uint CAUSAL = 0;
layout(constant_id = 3) const uint HAS_MASK = 0;

#include "attention-io.glsl"
shared float lane_m[WG], lane_l[WG];
shared vec4 lane_o[WG * D4];

void main() {
  const uint i = gl_WorkGroupID.x, h = gl_WorkGroupID.y, b = gl_WorkGroupID.z, lid = gl_LocalInvocationID.x;
  const uint Tk = p.Tk + (p.tk_add_past != 0 ? step.past : 0);
  const uint jend = CAUSAL != 0 ? Tk - p.Tq + i + 1 : Tk;

  vec4 q[D4];
  const uint qb = (p.q_off + b * p.q_bs + i * p.q_ts + h * DH) >> 2;
  [[unroll]] for (uint d = 0; d < D4; ++d) q[d] = q4[qb + d] * p.scale;

  float m = NEG_INF, l = 0.0;
  vec4 o[D4];
  [[unroll]] for (uint d = 0; d < D4; ++d) o[d] = vec4(0.0);
  for (uint j = lid; j < jend; j += WG) {
    const uint kb = (p.k_off + b * p.k_bs + j * p.k_ts + h * DH) >> 2;
    float s = 0.0;
    [[unroll]] for (uint d = 0; d < D4; ++d) s += dot(q[d], K4(kb + d));
    if (HAS_MASK != 0) s += mask[b * p.m_bs + j];
    const float m_new = max(m, s);
    const float corr = m_new == NEG_INF ? 1.0 : exp(m - m_new);
    const float pj = s == NEG_INF ? 0.0 : exp(s - m_new);
    l = l * corr + pj;
    m = m_new;
    const uint vb = (p.v_off + b * p.v_bs + j * p.v_ts + h * DH) >> 2;
    [[unroll]] for (uint d = 0; d < D4; ++d) o[d] = o[d] * corr + pj * V4(vb + d);
  }

  // Merge: rescale every lane's partial to the workgroup max, then sum.
  lane_m[lid] = m;
  barrier();
  float gm = NEG_INF;
  for (uint t = 0; t < WG; ++t) gm = max(gm, lane_m[t]);
  const float f = m == NEG_INF ? 0.0 : exp(m - gm);
  lane_l[lid] = l * f;
  [[unroll]] for (uint d = 0; d < D4; ++d) lane_o[lid * D4 + d] = o[d] * f;
  barrier();
  float total = 0.0;
  for (uint t = 0; t < WG; ++t) total += lane_l[t];
  const float inv = total > 0.0 ? 1.0 / total : 0.0;
  const uint ob = (p.o_off + b * p.o_bs + i * p.o_ts + h * DH) >> 2;
  for (uint d = lid; d < D4; d += WG) {
    vec4 acc = vec4(0.0);
    for (uint t = 0; t < WG; ++t) acc += lane_o[t * D4 + d];
    o4[ob + d] = acc * inv;
  }
}
