#include "tests/op-test.hpp"

#include "runtime/half.hpp"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <fstream>
#include <iterator>
#include <random>

#include <catch2/catch.hpp>

namespace glimpse::test {

namespace {
constexpr uint32_t kSentinel = 0xA5C3E10Fu;
constexpr uint32_t kNaN = 0x7FC0DEADu;
}  // namespace

Context& context() {
  static Context ctx;
  return ctx;
}

ScopedEnv::ScopedEnv(const char* name, const char* value) : name_(name) {
  if (const char* old = std::getenv(name)) {
    had_ = true;
    old_ = old;
  }
  setenv(name, value, 1);
}

ScopedEnv::~ScopedEnv() {
  if (had_) setenv(name_.c_str(), old_.c_str(), 1);
  else unsetenv(name_.c_str());
}

std::unique_ptr<Context> context_with(std::initializer_list<std::pair<const char*, const char*>> env) {
  std::vector<std::unique_ptr<ScopedEnv>> set;
  for (const auto& [name, value] : env) set.push_back(std::make_unique<ScopedEnv>(name, value));
  return std::make_unique<Context>();
}

Floats random_floats(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  Floats v(n);
  for (float& f : v) f = dist(rng);
  return v;
}

Floats round_to_half(const Floats& v) {
  Floats out(v.size());
  for (size_t i = 0; i < v.size(); ++i) out[i] = half_to_float(float_to_half(v[i]));
  return out;
}

Floats gemm_input(const Context& ctx, DType weights, int64_t m, const Floats& x) {
  const bool coop = std::string(ctx.backend().name()) == "vulkan" && linear_kernel_auto(ctx.caps(), weights, m) == LinearKernel::Coop;
  return coop ? round_to_half(x) : x;
}

Tensor upload(Allocator& arena, const Floats& data, const Shape& shape) {
  Tensor t = arena.alloc(DType::F32, shape);
  REQUIRE(size_t(t.numel()) == data.size());
  tensor_upload(arena.context(), t, data.data(), data.size() * 4);
  return t;
}

Tensor upload_f16(Allocator& arena, const Floats& data, const Shape& shape) {
  Tensor t = arena.alloc(DType::F16, shape);
  REQUIRE(size_t(t.numel()) == data.size());
  std::vector<uint16_t> h(data.size());
  for (size_t i = 0; i < data.size(); ++i) h[i] = float_to_half(data[i]);
  tensor_upload(arena.context(), t, h.data(), h.size() * 2);
  return t;
}

Tensor upload_u32(Allocator& arena, const std::vector<uint32_t>& data, const Shape& shape) {
  Tensor t = arena.alloc(DType::U32, shape);
  REQUIRE(size_t(t.numel()) == data.size());
  tensor_upload(arena.context(), t, data.data(), data.size() * 4);
  return t;
}

Tensor guarded_output(Allocator& arena, DType dtype, const Shape& shape) {
  Tensor t = arena.alloc(dtype, shape, kGuardBytes);
  Tensor whole = t;
  whole.bytes += kGuardBytes;
  std::vector<uint32_t> fill(whole.bytes / 4, kSentinel);
  std::fill(fill.begin(), fill.begin() + t.bytes / 4, kNaN);
  tensor_upload(arena.context(), whole, fill.data(), whole.bytes);
  return t;
}

bool guard_intact(const Tensor& t, Context& ctx) {
  Tensor whole = t;
  whole.bytes += kGuardBytes;
  std::vector<uint32_t> all(whole.bytes / 4);
  tensor_download(ctx, whole, all.data(), whole.bytes);
  for (size_t i = t.bytes / 4; i < all.size(); ++i)
    if (all[i] != kSentinel) return false;
  return true;
}

Floats download(const Tensor& t, Context& ctx) {
  Floats v(size_t(t.numel()));
  tensor_download(ctx, t, v.data(), v.size() * 4);
  return v;
}

Floats download_f16(const Tensor& t, Context& ctx) {
  std::vector<uint16_t> h(size_t(t.numel()));
  tensor_download(ctx, t, h.data(), h.size() * 2);
  Floats v(h.size());
  for (size_t i = 0; i < h.size(); ++i) v[i] = half_to_float(h[i]);
  return v;
}

std::vector<uint32_t> download_u32(const Tensor& t, Context& ctx) {
  std::vector<uint32_t> v(size_t(t.numel()));
  tensor_download(ctx, t, v.data(), v.size() * 4);
  return v;
}

Floats npy_load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  REQUIRE(in.good());
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  REQUIRE(bytes.size() > 10);
  REQUIRE(bytes.compare(0, 6, "\x93NUMPY") == 0);
  const size_t header_len = uint8_t(bytes[8]) | size_t(uint8_t(bytes[9])) << 8;
  REQUIRE(bytes.find("'<f4'") < 10 + header_len);
  Floats v((bytes.size() - 10 - header_len) / 4);
  std::memcpy(v.data(), bytes.data() + 10 + header_len, v.size() * 4);
  return v;
}

double max_abs_diff(const Floats& got, const Floats& want) {
  REQUIRE(got.size() == want.size());
  double m = 0;
  for (size_t i = 0; i < got.size(); ++i) m = std::max(m, std::fabs(double(got[i]) - want[i]));
  return m;
}

double nmse(const Floats& got, const Floats& want) {
  if (got.size() != want.size()) return INFINITY;
  double err = 0, ref = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double d = double(got[i]) - want[i];
    err += d * d;
    ref += double(want[i]) * want[i];
  }
  return ref > 0 ? err / ref : err;
}

bool all_finite(const Floats& v) {
  for (float f : v)
    if (!std::isfinite(f)) return false;
  return true;
}

}  // namespace glimpse::test
