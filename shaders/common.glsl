// Shared helpers for glimpse compute shaders.
#extension GL_EXT_control_flow_attributes : enable

// Workgroup size (x) as an explicit specialisation constant. Use WG, never gl_WorkGroupSize:
// spirv-opt (glslc -O) folds gl_WorkGroupSize.x in arithmetic to its default of 1.
layout(local_size_x_id = 0) in;
layout(constant_id = 0) const uint WG = 64;

// erf(x), Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7): GLSL has no erf builtin.
float erf_approx(float x) {
  float a = abs(x);
  float t = 1.0 / (1.0 + 0.3275911 * a);
  float poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  float r = 1.0 - poly * exp(-a * a);
  return x < 0.0 ? -r : r;
}

// GELU, exact erf form (BLIP, ViT): 0.5 x (1 + erf(x / sqrt 2)).
float gelu_erf(float x) { return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752)); }

// GELU, tanh form (GPT-2 gelu_new): 0.5 x (1 + tanh(u)) == x * sigmoid(2u), u = sqrt(2/pi)(x + 0.044715 x^3).
// The sigmoid form cannot produce inf/inf for large |x| as a naive tanh can.
float gelu_tanh(float x) {
  float u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return x / (1.0 + exp(-2.0 * u));
}

// Epilogue codes shared with the host (runtime/ops.hpp: Activation).
#define ACT_NONE 0u
#define ACT_GELU_ERF 1u
#define ACT_GELU_TANH 2u
#define ACT_RELU 3u

// Linear epilogue flags (runtime/ops-linear.cpp): the activation code in the low bits.
#define EPI_ACT_MASK 3u
#define EPI_BIAS 4u
#define EPI_RESIDUAL 8u

float activate(float x, uint act) {
  if (act == ACT_GELU_ERF) return gelu_erf(x);
  if (act == ACT_GELU_TANH) return gelu_tanh(x);
  if (act == ACT_RELU) return max(x, 0.0);
  return x;
}

// Flat invocation index over a 2D grid of 1D workgroups (host: grid_2d in ops-common.hpp), so
// element-wise ops are not capped by maxComputeWorkGroupCount[0].
uint flat_index() {
  return (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * WG + gl_LocalInvocationID.x;
}
uint flat_group() { return gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x; }

#define NEG_INF uintBitsToFloat(0xff800000u)
