#version 450
#extension GL_GOOGLE_include_directive : require
// y = LayerNorm(x (+ r)) over rows of n, statistics in fp32 and two passes (mean, then the
// variance of x - mean): never E[x^2] - mean^2, which cancels badly. One workgroup per row.
// ROW_VEC4 (n % 4 == 0): operands read as 16-byte texels and y written as vec4, 4x fewer load
// instructions (on lavapipe each is a per-lane loop); otherwise scalar storage-buffer access.
#include "common.glsl"
layout(constant_id = 1) const uint HAS_RESIDUAL = 0;
#define RED_SIZE 256
#include "reduce.glsl"

#ifdef ROW_VEC4
#define T vec4
layout(binding = 0) uniform samplerBuffer x_t;
layout(binding = 1) uniform samplerBuffer r_t;
layout(binding = 2) uniform samplerBuffer g_t;
layout(binding = 3) uniform samplerBuffer b_t;
layout(binding = 4, std430) writeonly buffer Y { vec4 y[]; };  // may alias x
T x_at(uint i) { return texelFetch(x_t, int(i)); }
T r_at(uint i) { return texelFetch(r_t, int(i)); }
T gamma_at(uint i) { return texelFetch(g_t, int(i)); }
T beta_at(uint i) { return texelFetch(b_t, int(i)); }
float total(T v) { return v.x + v.y + v.z + v.w; }
const uint PER = 4;  // values per element
#else
#define T float
layout(binding = 0, std430) readonly buffer X { float x[]; };
layout(binding = 1, std430) readonly buffer R { float r[]; };
layout(binding = 2, std430) readonly buffer G { float gamma[]; };
layout(binding = 3, std430) readonly buffer B { float beta[]; };
layout(binding = 4, std430) writeonly buffer Y { float y[]; };  // may alias x
T x_at(uint i) { return x[i]; }
T r_at(uint i) { return r[i]; }
T gamma_at(uint i) { return gamma[i]; }
T beta_at(uint i) { return beta[i]; }
float total(T v) { return v; }
const uint PER = 1;
#endif
layout(push_constant) uniform Push { uint rows, n; float eps; } p;

T value(uint i) { return HAS_RESIDUAL != 0 ? x_at(i) + r_at(i) : x_at(i); }

void main() {
  const uint row = flat_group();
  if (row >= p.rows) return;  // uniform across the workgroup
  const uint lid = gl_LocalInvocationID.x, m = p.n / PER, base = row * m;

  T s = T(0.0);
  for (uint i = lid; i < m; i += WG) s += value(base + i);
  const float mean = wg_sum(total(s)) / float(p.n);

  T q = T(0.0);
  for (uint i = lid; i < m; i += WG) {
    T d = value(base + i) - mean;
    q += d * d;
  }
  const float rstd = inversesqrt(wg_sum(total(q)) / float(p.n) + p.eps);

  for (uint i = lid; i < m; i += WG) y[base + i] = (value(base + i) - mean) * rstd * gamma_at(i) + beta_at(i);
}
