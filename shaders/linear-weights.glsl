// Weight access for the linear kernels. The weight is packed at load time as [N, Kp] rows
// (Kp = K rounded up to 8, zero padded), so one 16-byte unit holds 4 fp32 or 8 fp16 values.
// WEIGHT_F16: fp16 packed 8 per uvec4 (unpackHalf2x16); otherwise fp32 vec4.
// WEIGHT_TEXEL: read through a uniform texel buffer (2-2.5x faster than SSBO loads on lavapipe).
#ifdef WEIGHT_F16
#define WPU 8u  // weights per 16-byte unit
#ifdef WEIGHT_TEXEL
layout(binding = 0) uniform usamplerBuffer w_texels;
uvec4 w_unit(uint i) { return texelFetch(w_texels, int(i)); }
#else
layout(binding = 0, std430) readonly buffer Wbuf { uvec4 w_units[]; };
uvec4 w_unit(uint i) { return w_units[i]; }
#endif
// The 8 weights of unit i as two vec4 (k..k+3, k+4..k+7).
void w_load(uint i, out vec4 lo, out vec4 hi) {
  uvec4 u = w_unit(i);
  lo = vec4(unpackHalf2x16(u.x), unpackHalf2x16(u.y));
  hi = vec4(unpackHalf2x16(u.z), unpackHalf2x16(u.w));
}
#else
#define WPU 4u
#ifdef WEIGHT_TEXEL
layout(binding = 0) uniform samplerBuffer w_texels;
vec4 w_unit(uint i) { return texelFetch(w_texels, int(i)); }
#else
layout(binding = 0, std430) readonly buffer Wbuf { vec4 w_units[]; };
vec4 w_unit(uint i) { return w_units[i]; }
#endif
#endif
