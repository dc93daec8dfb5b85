// Operands of the attention kernels (attention.comp, attention_split.comp); the push constants
// mirror the struct in runtime/ops-attention.cpp. Q, K, V, O are [B, T, H*DH] views with an
// element offset, a token stride and a batch stride; K/V come as texels where the device allows.
layout(binding = 0, std430) readonly buffer Q { vec4 q4[]; };
#ifdef KV_TEXEL  // texel fetches are 2-2.5x cheaper than storage-buffer loads on lavapipe
layout(binding = 1) uniform samplerBuffer k_texels;
layout(binding = 2) uniform samplerBuffer v_texels;
#define K4(i) texelFetch(k_texels, int(i))
#define V4(i) texelFetch(v_texels, int(i))
#else
layout(binding = 1, std430) readonly buffer K { vec4 k4[]; };
layout(binding = 2, std430) readonly buffer V { vec4 v4[]; };
#define K4(i) k4[i]
#define V4(i) v4[i]
#endif
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
