#version 450
#extension GL_GOOGLE_include_directive : require
// dst[j, :] = src[index[j], :] for rows of `width` floats: beam search reorders its KV caches
// and replicates an image's embeddings per beam with it.
#include "common.glsl"

layout(binding = 0, std430) readonly buffer Src { float src[]; };
layout(binding = 1, std430) writeonly buffer Dst { float dst[]; };
layout(binding = 2, std430) readonly buffer Index { uint index[]; };
layout(push_constant) uniform Push { uint rows, width, src_rows; } p;

void main() {
  const uint i = flat_index();
  if (i >= p.rows * p.width) return;
  const uint row = i / p.width, e = i % p.width;
  const uint from = index[row];
  dst[i] = from == 0xFFFFFFFFu ? 0.0 : src[min(from, p.src_rows - 1) * p.width + e];  // kZeroRow: window padding
}
