#version 450
#extension GL_GOOGLE_include_directive : require
// Token embedding gather + position add: y[r, :] = table[ids[r]] * scale + pos_table[pos0 (+ past) + r % T].
// With pad_id (not ~0u), positions are fairseq's pad-aware ones (runtime/ops.hpp EmbedOptions).
// A table wider than one binding may hold is bound in slices of rows [id_lo, id_hi), one dispatch
// each: a dispatch writes only the rows whose (clamped) id its slice holds.
// Ids and positions past the tables are clamped (the host validates ids it uploads; ids the
// device produces come from an argmax over the same vocabulary).
#include "common.glsl"
layout(constant_id = 1) const uint HAS_POS = 1;
layout(constant_id = 2) const uint TABLE_F16 = 0;  // fp16 rows (a tied LM head's), two per word

layout(binding = 0, std430) readonly buffer Ids { uint ids[]; };
layout(binding = 1, std430) readonly buffer Table { uint table[]; };  // f32 bits, or f16 pairs
layout(binding = 2, std430) readonly buffer Pos { float pos_table[]; };
layout(binding = 3, std430) writeonly buffer Y { float y[]; };
layout(binding = 4, std430) readonly buffer Step { uint past; } step;
layout(push_constant) uniform Push {
  uint rows, T, D, V, P;  // rows = B * T; V, P: rows of the token and position tables
  uint ids_off, pos0, add_past;
  float scale;
  uint pad_id;
  uint id_lo, id_hi;  // the rows of the table bound here
} p;

void main() {
  const uint idx = flat_index();
  if (idx >= p.rows * p.D) return;
  const uint d = idx % p.D, r = idx / p.D;
  const uint id = min(ids[p.ids_off + r], p.V - 1);
  if (id < p.id_lo || id >= p.id_hi) return;  // another slice's row
  const uint t = (id - p.id_lo) * p.D + d;
  float v = TABLE_F16 != 0 ? unpackHalf2x16(table[t >> 1])[t & 1] : uintBitsToFloat(table[t]);
  if (p.scale != 1.0) v *= p.scale;
  if (HAS_POS != 0) {
    uint pos = p.pos0 + (p.add_past != 0 ? step.past : 0) + r % p.T;
    if (p.pad_id != 0xFFFFFFFFu) {
      const uint raw = ids[p.ids_off + r];
      if (raw == p.pad_id) {
        pos = p.pos0 - 1;
      } else {
        for (uint q = r - r % p.T; q < r; ++q) pos -= ids[p.ids_off + q] == p.pad_id ? 1 : 0;
      }
    }
    pos = min(pos, p.P - 1);
    v += pos_table[pos * p.D + d];
  }
  y[idx] = v;
}
