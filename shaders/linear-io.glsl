// Operands of the linear kernels (linear.comp, linear_gemv.comp, linear_tiled.comp); the push
// constants mirror runtime/ops-linear.cpp.
//
// Weights: The weight is packed at load time as [N, Kp] rows
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

// x [M, K] read as floats, and as vec4 where rows are aligned (through texels with texel weights).
layout(binding = 1, std430) readonly buffer Xs { float xs[]; };
#ifdef WEIGHT_TEXEL
layout(binding = 2) uniform samplerBuffer x_texels;
#define XV(i) texelFetch(x_texels, int(i))
#else
layout(binding = 2, std430) readonly buffer Xv { vec4 xv[]; };
#define XV(i) xv[i]
#endif
layout(binding = 3, std430) readonly buffer Bias { float bias[]; };
layout(binding = 4, std430) readonly buffer Res { float res[]; };
layout(binding = 5, std430) writeonly buffer Y { float y[]; };

layout(push_constant) uniform Push {
  uint M, N, K;  // N: columns of this chunk
  uint units;    // 16-byte weight units per weight row
  uint n0;       // first column of this chunk in y, bias and residual
  uint ldy;      // row stride of y and residual
  uint epilogue; // ACT_* | EPI_BIAS | EPI_RESIDUAL (push constants, not specialisation: one
                 // pipeline, one JIT, serves every epilogue; the branch runs once per output)
} p;

// The epilogue of every linear kernel: bias, activation, residual, store.
void store_output(uint row, uint col, float v) {
  if ((p.epilogue & EPI_BIAS) != 0) v += bias[p.n0 + col];
  v = activate(v, p.epilogue & EPI_ACT_MASK);
  const uint o = row * p.ldy + p.n0 + col;
  if ((p.epilogue & EPI_RESIDUAL) != 0) v += res[o];
  y[o] = v;
}
