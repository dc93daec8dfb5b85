#version 450
#extension GL_GOOGLE_include_directive : require
// ViT embeddings: C prefix tokens (the class token; DeiT adds a distillation token) before the
// patches, positions added: y[b, c] = cls[c] + pos[c]; y[b, C + i] = patches[b, i] + pos[C + i].
#include "common.glsl"

layout(binding = 0, std430) readonly buffer Patches { float patches[]; };
layout(binding = 1, std430) readonly buffer Cls { float cls[]; };
layout(binding = 2, std430) readonly buffer Pos { float pos[]; };
layout(binding = 3, std430) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint B, Np, D, C; } p;

void main() {
  const uint idx = flat_index();
  const uint T = p.Np + p.C;
  if (idx >= p.B * T * p.D) return;
  const uint d = idx % p.D, t = (idx / p.D) % T, b = idx / (p.D * T);
  const float v = t < p.C ? cls[t * p.D + d] : patches[(b * p.Np + t - p.C) * p.D + d];
  y[idx] = v + pos[t * p.D + d];
}
