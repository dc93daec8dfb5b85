#version 450
#extension GL_GOOGLE_include_directive : require
// Element-wise ops over n floats: OP 0 y = a + b, 1 y = a * scale, 2 y = gelu_erf(a), 3 y = gelu_tanh(a).
#include "common.glsl"
layout(constant_id = 1) const uint OP = 0;

layout(binding = 0, std430) readonly buffer A { float a[]; };
layout(binding = 1, std430) readonly buffer B { float b[]; };
layout(binding = 2, std430) writeonly buffer Y { float y[]; };
layout(push_constant) uniform Push { uint n; float scale; } p;

void main() {
  const uint i = flat_index();
  if (i >= p.n) return;
  float v = a[i];
  if (OP == 0) v += b[i];
  else if (OP == 1) v *= p.scale;
  else if (OP == 2) v = gelu_erf(v);
  else v = gelu_tanh(v);
  y[i] = v;
}
