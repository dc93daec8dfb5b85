#version 450
#extension GL_GOOGLE_include_directive : require
// Top-k per row (k <= KMAX), sorted by value descending, ties by lower index: each lane keeps
// a sorted list of its own best k, then k rounds of a workgroup argmax over the list heads.
#include "common.glsl"
layout(constant_id = 1) const uint KMAX = 64;

layout(binding = 0, std430) readonly buffer X { float x[]; };
layout(binding = 1, std430) writeonly buffer Ids { uint ids[]; };
layout(binding = 2, std430) writeonly buffer Vals { float vals[]; };
layout(push_constant) uniform Push { uint rows, n, ldx, k; } p;

shared float head_v[64];
shared uint head_i[64];
shared uint head_lane[64];

bool better(float v, uint i, float bv, uint bi) { return v > bv || (v == bv && i < bi); }

void main() {
  const uint row = flat_group();
  if (row >= p.rows) return;
  const uint lid = gl_LocalInvocationID.x;

  float lv[KMAX];
  uint li[KMAX];
  for (uint e = 0; e < KMAX; ++e) { lv[e] = NEG_INF; li[e] = 0xffffffffu; }
  for (uint j = lid; j < p.n; j += WG) {
    const float v = x[row * p.ldx + j];
    if (!better(v, j, lv[p.k - 1], li[p.k - 1])) continue;
    uint e = p.k - 1;  // insertion: shift worse entries down
    while (e > 0 && better(v, j, lv[e - 1], li[e - 1])) {
      lv[e] = lv[e - 1];
      li[e] = li[e - 1];
      --e;
    }
    lv[e] = v;
    li[e] = j;
  }

  uint head = 0;
  for (uint r = 0; r < p.k; ++r) {
    head_v[lid] = head < p.k ? lv[head] : NEG_INF;
    head_i[lid] = head < p.k ? li[head] : 0xffffffffu;
    head_lane[lid] = lid;
    barrier();
    for (uint s = WG / 2; s > 0; s >>= 1) {
      if (lid < s && better(head_v[lid + s], head_i[lid + s], head_v[lid], head_i[lid])) {
        head_v[lid] = head_v[lid + s];
        head_i[lid] = head_i[lid + s];
        head_lane[lid] = head_lane[lid + s];
      }
      barrier();
    }
    if (lid == 0) {
      ids[row * p.k + r] = min(head_i[0], p.n - 1);
      vals[row * p.k + r] = head_v[0];
    }
    if (head_lane[0] == lid) ++head;
    barrier();
  }
}
