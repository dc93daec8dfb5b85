#version 450
#extension GL_GOOGLE_include_directive : require
// Greedy decoding on the device: ids[r] = argmax_j x[r, j] (first index among ties, as
// torch.argmax), so the next step can read the token without a logits readback.
#include "common.glsl"

layout(binding = 0, std430) readonly buffer X { float x[]; };
layout(binding = 1, std430) writeonly buffer Ids { uint ids[]; };
layout(binding = 2, std430) writeonly buffer Vals { float vals[]; };
layout(push_constant) uniform Push { uint rows, n, ldx, out_off; } p;

shared float best_v[256];
shared uint best_i[256];

bool better(float v, uint i, float bv, uint bi) { return v > bv || (v == bv && i < bi); }

void main() {
  const uint row = flat_group();
  if (row >= p.rows) return;
  const uint lid = gl_LocalInvocationID.x;
  float bv = NEG_INF;
  uint bi = 0xffffffffu;
  for (uint j = lid; j < p.n; j += WG) {
    const float v = x[row * p.ldx + j];
    if (better(v, j, bv, bi)) { bv = v; bi = j; }
  }
  best_v[lid] = bv;
  best_i[lid] = bi;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (lid < s && better(best_v[lid + s], best_i[lid + s], best_v[lid], best_i[lid])) {
      best_v[lid] = best_v[lid + s];
      best_i[lid] = best_i[lid + s];
    }
    barrier();
  }
  if (lid == 0) {
    ids[p.out_off + row] = min(best_i[0], p.n - 1);
    vals[p.out_off + row] = best_v[0];
  }
}
