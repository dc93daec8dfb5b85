#version 450
#extension GL_GOOGLE_include_directive : require
// ViT embeddings: y[b, 0] = cls + pos[0]; y[b, 1 + i] = patches[b, i] + pos[1 + i].
#include "common.glsl"

layout(binding = 0, std430) readonly buffer Patches { float patches[]; };
layout(binding = 1, std430) readonly buffer Cls { float cls[]; };
layout(binding = 2, std430) readonly buffer Pos { float pos[]; };
layout(binding = 3, std430) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint B, Np, D; } p;

void main() {
  const uint idx = flat_index();
  const uint T = p.Np + 1;
  if (idx >= p.B * T * p.D) return;
  const uint d = idx % p.D, t = (idx / p.D) % T, b = idx / (p.D * T);
  const float v = t == 0 ? cls[d] : patches[(b * p.Np + t - 1) * p.D + d];
  y[idx] = v + pos[t * p.D + d];
}
