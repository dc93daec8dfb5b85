// The device runtime: device choice, memory limits, pipeline cache, replay, profiling, errors.
#include "tests/op-test.hpp"

#include "runtime/error.hpp"
#include "runtime/half.hpp"
#include "runtime/pipeline.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <atomic>
#include <thread>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <cstring>
#include <fstream>
#include <iterator>

using namespace glimpse;
using namespace glimpse::test;

namespace {
DeviceInfo fake_device(uint32_t index, const char* name, VkPhysicalDeviceType type) {
  DeviceInfo d;
  d.index = index;
  d.name = name;
  d.type = type;
  return d;
}
}  // namespace

TEST_CASE("device choice: discrete > integrated > virtual > CPU; index or name selects", "[runtime]") {
  const std::vector<DeviceInfo> devices = {
      fake_device(0, "llvmpipe (LLVM 15.0.6, 256 bits)", VK_PHYSICAL_DEVICE_TYPE_CPU),
      fake_device(1, "Intel(R) UHD Graphics 770", VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU),
      fake_device(2, "NVIDIA H100 80GB HBM3", VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU),
  };
  CHECK(device_choose(devices, "") == 2);
  CHECK(device_choose({devices[0], devices[1]}, "") == 1);
  CHECK(device_choose(devices, "0") == 0);
  CHECK(device_choose(devices, "LLVMPIPE") == 0);
  CHECK(device_choose(devices, "uhd") == 1);
  CHECK_THROWS_WITH(device_choose(devices, "7"), Catch::Contains("out of range"));
  CHECK_THROWS_WITH(device_choose(devices, "radeon"), Catch::Contains("no Vulkan device matches 'radeon'"));
}

TEST_CASE("the device is listed with its capabilities", "[runtime]") {
  const auto devices = devices_list();
  REQUIRE_FALSE(devices.empty());
  const DeviceInfo& d = context().info();
  CHECK(d.subgroup_size > 0);
  CHECK(d.max_storage_buffer_range >= (1u << 27) / 8);
  CHECK(d.max_push_constants >= 128);
  CHECK_FALSE(d.name.empty());
}

TEST_CASE("a memory limit turns allocations past it into errors", "[runtime]") {
  ContextOptions opt;
  opt.memory_limit_bytes = 8 << 20;
  Context ctx(opt);
  Allocator arena(ctx, MemoryKind::Device, "activations", 1 << 20);
  Tensor small = arena.alloc(DType::F32, {1000});
  CHECK(small.bytes == 4000);
  CHECK_THROWS_WITH(arena.alloc(DType::F32, {4 << 20}), Catch::Contains("out of device memory") &&
                                                            Catch::Contains("activations") &&
                                                            Catch::Contains("limit of 8 MiB"));
  // The failed allocation left nothing behind; what fits still works.
  CHECK(ctx.memory_used() == arena.reserved_bytes());
  Tensor more = arena.alloc(DType::F32, {100000});
  CHECK(more.bytes == 400000);
}

TEST_CASE("arenas made per call pass their blocks on to the next, within a cap", "[runtime]") {
  ContextOptions opt;
  opt.poison_spares = true;
  Context ctx(opt);
  ctx.staging();  // made on first use where uploads go through it (GLIMPSE_DISABLE_UMA=1): made now
  const VkDeviceSize mib = 1 << 20, base = ctx.memory_used();
  VkBuffer first = VK_NULL_HANDLE;
  {
    Allocator a(ctx, MemoryKind::Device, "call 1", mib, BlockReuse::Recycle);
    Tensor t = a.alloc(DType::F32, {1000});
    first = t.buffer;
    tensor_upload(ctx, t, std::vector<float>(1000, 1.0f).data(), t.bytes);
  }
  CHECK(ctx.spare_bytes() == mib);
  CHECK(ctx.memory_used() == base + mib);  // kept, so still counted
  {
    // Another kind or size does not take it.
    Allocator host(ctx, MemoryKind::Host, "host", mib, BlockReuse::Recycle);
    CHECK(host.alloc(DType::F32, {10}).buffer != first);
    Allocator bigger(ctx, MemoryKind::Device, "bigger", 2 * mib, BlockReuse::Recycle);
    CHECK(bigger.alloc(DType::F32, {10}).buffer != first);
  }
  CHECK(ctx.spare_bytes() == 4 * mib);
  {
    Allocator b(ctx, MemoryKind::Device, "call 2", mib, BlockReuse::Recycle);
    Tensor t = b.alloc(DType::F32, {1000});
    CHECK(t.buffer == first);
    // It comes back poisoned (ContextOptions::poison_spares): nothing of the last call shows.
    std::vector<float> got(1000);
    tensor_download(ctx, t, got.data(), t.bytes);
    CHECK(std::all_of(got.begin(), got.end(), [](float v) { return std::isnan(v); }));
    CHECK(ctx.spare_bytes() == 3 * mib);
  }
  {
    Allocator weights(ctx, MemoryKind::Device, "weights", mib);  // BlockReuse::Free: not kept
    CHECK(weights.alloc(DType::F32, {10}).buffer != first);      // nor does it take a spare
  }
  CHECK(ctx.spare_bytes() == 4 * mib);
  CHECK(ctx.memory_used() == base + 4 * mib);

  // At most Context::kSpareBytes are kept; the oldest go first.
  const VkDeviceSize big = Context::kSpareBytes / 2 + mib;
  {
    Allocator x(ctx, MemoryKind::Device, "x", big, BlockReuse::Recycle), y(ctx, MemoryKind::Device, "y", big, BlockReuse::Recycle);
    x.alloc(DType::F32, {10});
    y.alloc(DType::F32, {10});
  }
  CHECK(ctx.spare_bytes() == big);
  CHECK(ctx.memory_used() == base + big);
  ctx.spare_drop();
  CHECK(ctx.spare_bytes() == 0);
  CHECK(ctx.memory_used() == base);
}

TEST_CASE("kept blocks give way to allocations that the memory limit would refuse", "[runtime]") {
  ContextOptions opt;
  opt.memory_limit_bytes = 8 << 20;
  Context ctx(opt);
  {
    Allocator call(ctx, MemoryKind::Device, "call", 6 << 20, BlockReuse::Recycle);
    call.alloc(DType::F32, {1000});
  }
  CHECK(ctx.spare_bytes() == (6 << 20));
  Allocator weights(ctx, MemoryKind::Device, "weights", 4 << 20);
  CHECK(weights.alloc(DType::F32, {1000}).bytes == 4000);
  CHECK(ctx.spare_bytes() == 0);
  CHECK(ctx.memory_used() == (4 << 20));
}

TEST_CASE("sub-allocations honour the device alignment and do not overlap", "[runtime]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test", 1 << 16);
  std::vector<Tensor> ts;
  for (int64_t n : {1, 3, 1000, 17, 20000, 5}) ts.push_back(arena.alloc(DType::F32, {n}));
  const VkDeviceSize align = std::max(ctx.info().min_storage_offset_alignment, ctx.info().min_texel_offset_alignment);
  for (size_t i = 0; i < ts.size(); ++i) {
    CHECK(ts[i].offset % align == 0);
    for (size_t j = 0; j < i; ++j)
      if (ts[i].buffer == ts[j].buffer)
        CHECK((ts[i].offset >= ts[j].offset + ts[j].bytes || ts[j].offset >= ts[i].offset + ts[i].bytes));
  }
  CHECK_THROWS_WITH(ts[0].view(DType::F32, {2}), Catch::Contains("needs 8 bytes"));
}

TEST_CASE("the discrete-GPU memory path: device-local memory, staged uploads and downloads", "[runtime]") {
  auto discrete = context_with({{"GLIMPSE_DISABLE_UMA", "1"}, {"GLIMPSE_BACKEND", "vulkan"}});  // staging is Vulkan's
  Context& ctx = *discrete;
  REQUIRE_FALSE(ctx.caps().host_mapped);
  Allocator arena(ctx, MemoryKind::Device, "weights");
  // 40 MiB: more than two passes through the 16 MiB staging buffer, at an odd offset.
  const int64_t n = 10 << 20;
  Tensor t = arena.alloc(DType::F32, {n});
  CHECK(t.mapped == nullptr);
  const Floats data = random_floats(size_t(n), 5);
  tensor_upload(ctx, t, data.data(), data.size() * 4);
  Floats back(data.size());
  tensor_download(ctx, t, back.data(), back.size() * 4);
  CHECK(back == data);
  Floats part(1000);
  tensor_download(ctx, t, part.data(), part.size() * 4, 4 * 12345);
  CHECK(std::equal(part.begin(), part.end(), data.begin() + 12345));
  // And the ops work on it: y = 2x.
  Tensor y = arena.alloc(DType::F32, {n});
  Sequence seq(ctx);
  scale(seq, t, 2.0f, y);
  seq.run();
  tensor_download(ctx, y, back.data(), back.size() * 4);
  for (size_t i = 0; i < data.size(); i += 4099) REQUIRE(back[i] == 2 * data[i]);
}

TEST_CASE("an activation arena is reused after reset without growing", "[runtime]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "activations", 1 << 20);
  Tensor a = arena.alloc(DType::F32, {1000});
  Tensor b = arena.alloc(DType::F32, {2000});
  const VkDeviceSize reserved = arena.reserved_bytes();
  arena.reset();
  Tensor a2 = arena.alloc(DType::F32, {1000});
  Tensor b2 = arena.alloc(DType::F32, {2000});
  CHECK(a2.offset == a.offset);
  CHECK(b2.offset == b.offset);
  CHECK(arena.reserved_bytes() == reserved);
  Tensor big = arena.alloc(DType::F32, {1 << 19});  // 2 MiB: larger than a block, gets its own
  CHECK(big.bytes == VkDeviceSize(2) << 20);
  CHECK(arena.reserved_bytes() >= reserved + (VkDeviceSize(2) << 20));
}

TEST_CASE("the pipeline cache is written, reused, and ignored when corrupt", "[runtime]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("glimpse-cache-test-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  ScopedEnv cache_dir("GLIMPSE_CACHE_DIR", dir.c_str());
  auto build_some = [](Context& ctx) {
    Allocator arena(ctx, MemoryKind::Device, "test");
    Tensor x = arena.alloc(DType::F32, {4, 16});
    Sequence seq(ctx);
    softmax(seq, x, x);
    layer_norm(seq, x, nullptr, x.view(DType::F32, {16}), x.view(DType::F32, {16}), 1e-5f, x);
    seq.run();
  };
  std::string path;
  ContextOptions vulkan;  // pipelines exist only on the Vulkan backend
  vulkan.backend = BackendChoice::Vulkan;
  {
    Context ctx(vulkan);
    CHECK_FALSE(ctx.pipelines().cache_loaded());
    build_some(ctx);
    path = ctx.pipelines().cache_path();
  }
  REQUIRE(fs::exists(path));
  {
    Context ctx(vulkan);
    CHECK(ctx.pipelines().cache_loaded());
    build_some(ctx);
  }
  {  // flip a byte of the driver's data: the checksum rejects it and start-up goes on cold
    std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(-1, std::ios::end);
    f.put('\x5a');
  }
  {
    Context ctx(vulkan);
    CHECK_FALSE(ctx.pipelines().cache_loaded());
    build_some(ctx);
  }
  {  // a truncated file too
    fs::resize_file(path, 10);
    Context ctx(vulkan);
    CHECK_FALSE(ctx.pipelines().cache_loaded());
  }
  fs::remove_all(dir);
}

TEST_CASE("a sequence replays without re-recording and profiles per op", "[runtime]") {
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const Floats a = random_floats(1000, 1);
  Tensor at = upload(arena, a, {1000});
  Tensor y = arena.alloc(DType::F32, {1000});
  Sequence seq(ctx);
  seq.profiling_set(ctx.info().timestamps);
  scale(seq, at, 2.0f, y);
  add(seq, y, at, at);  // a <- 3a every run: each replay reads the previous one's result
  for (int run = 1; run <= 3; ++run) seq.run();
  Floats want(a.size());
  for (size_t i = 0; i < a.size(); ++i) want[i] = a[i] * 27.0f;
  CHECK(nmse(download(at), want) < 1e-12);
  CHECK(seq.dispatch_count() == 2);
  if (ctx.info().timestamps) {
    const auto prof = seq.profile();
    REQUIRE(prof.size() == 2);
    CHECK(prof[0].label == "scale 1000");
    CHECK(prof[1].label == "add 1000");
    CHECK(seq.profile_total_ms() > 0);
  }
  CHECK_THROWS_WITH(scale(seq, at, 1.0f, y), Catch::Contains("after the sequence has run"));
}

TEST_CASE("sequences record and run concurrently on one context", "[runtime]") {
  // The embedding library runs many sessions on one model: each thread has its own arena and
  // sequences; the context (queue, pipelines, staging, shared weights) is shared.
  Context ctx;
  Allocator shared(ctx, MemoryKind::Device, "weights");
  const int64_t k = 96, n = 80, m = 12;
  const Floats w = random_floats(size_t(n * k), 1);
  LinearWeight wt = linear_weight_upload(ctx, shared, w.data(), HostType::F32, n, k, WeightLayout::OutIn, DType::F16);
  const Floats w16 = round_to_half(w);
  std::atomic<int> failures{0};
  auto worker = [&](uint32_t id) {
    try {
      Allocator arena(ctx, MemoryKind::Device, "session");
      for (int round = 0; round < 15; ++round) {
        const Floats x = random_floats(size_t(m * k), id * 100 + uint32_t(round));
        Tensor xt = arena.alloc(DType::F32, {m, k}), y = arena.alloc(DType::F32, {m, n});
        tensor_upload(ctx, xt, x.data(), x.size() * 4);
        Sequence seq(ctx);
        linear(seq, xt, wt, y, {nullptr, Activation::GeluTanh});
        softmax(seq, y, y);
        seq.run();
        Floats got(size_t(m * n));
        tensor_download(ctx, y, got.data(), got.size() * 4);
        const Floats want = ref::softmax(
            ref::linear(gemm_input(ctx, wt.dtype, m, x), m, k, w16, n, nullptr, Activation::GeluTanh, nullptr), m, n, 1);
        if (nmse(got, want) > 1e-10) ++failures;
        arena.reset();
      }
    } catch (...) {
      ++failures;
    }
  };
  std::vector<std::thread> threads;
  for (uint32_t t = 0; t < 4; ++t) threads.emplace_back(worker, t);
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
}

TEST_CASE("GLIMPSE_DUMP writes named intermediates as .npy after every run", "[runtime]") {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("glimpse-dump-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  ScopedEnv dump("GLIMPSE_DUMP", dir.c_str());
  Context& ctx = context();
  Allocator arena(ctx, MemoryKind::Device, "test");
  const Floats a = random_floats(6, 3);
  Tensor at = upload(arena, a, {2, 3}), y = arena.alloc(DType::F32, {2, 3});
  Sequence seq(ctx);
  scale(seq, at, 2.0f, y);
  seq.dump("layer0.scaled", y);
  seq.run();
  seq.run();
  auto read = [](const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  };
  const std::string first = read(dir / "layer0.scaled.npy");
  REQUIRE(first.size() > 10);
  CHECK(first.substr(0, 6) == "\x93NUMPY");
  const size_t data_at = 10 + size_t(uint8_t(first[8])) + 256 * size_t(uint8_t(first[9]));
  CHECK(data_at % 64 == 0);  // the format aligns the data
  REQUIRE(first.size() == data_at + 6 * 4);
  CHECK(first.find("'descr': '<f4', 'fortran_order': False, 'shape': (2,3), }") != std::string::npos);
  Floats got(6);
  std::memcpy(got.data(), first.data() + data_at, 24);
  for (size_t i = 0; i < 6; ++i) CHECK(got[i] == 2 * a[i]);
  CHECK(fs::exists(dir / "layer0.scaled.1.npy"));  // the replay
  CHECK_THROWS_WITH(seq.dump("../escape", y), Catch::Contains("plain file name"));
  fs::remove_all(dir);
}

TEST_CASE("bindings past maxStorageBufferRange are refused, not clipped", "[runtime]") {
  ContextOptions vulkan;  // a shader binding's limit
  vulkan.backend = BackendChoice::Vulkan;
  Context ctx(vulkan);
  const uint64_t limit = ctx.info().max_storage_buffer_range;
  if (limit > (uint64_t(1) << 30)) SUCCEED("device range too large to exceed cheaply");
  else {
    Allocator arena(ctx, MemoryKind::Device, "test");
    const int64_t n = int64_t(limit / 4) + 16;
    Tensor big = arena.alloc(DType::F32, {n});
    Sequence seq(ctx);
    CHECK_THROWS_WITH(scale(seq, big, 1.0f, big), Catch::Contains("maxStorageBufferRange"));
  }
}

TEST_CASE("fp16 conversions round to nearest even and keep specials", "[runtime]") {
  CHECK(float_to_half(0.0f) == 0x0000);
  CHECK(float_to_half(-0.0f) == 0x8000);
  CHECK(float_to_half(1.0f) == 0x3c00);
  CHECK(float_to_half(65504.0f) == 0x7bff);
  CHECK(float_to_half(65520.0f) == 0x7c00);  // rounds up to inf
  CHECK(float_to_half(1.0f + 1.0f / 2048) == 0x3c00);  // tie -> even
  CHECK(float_to_half(1.0f + 3.0f / 2048) == 0x3c02);  // tie -> even (up)
  CHECK(float_to_half(std::ldexp(1.0f, -24)) == 0x0001);  // smallest subnormal
  CHECK(float_to_half(std::ldexp(1.0f, -25)) == 0x0000);  // tie -> even (zero)
  CHECK(float_to_half(INFINITY) == 0x7c00);
  CHECK((float_to_half(NAN) & 0x7c00) == 0x7c00);
  for (uint32_t h = 0; h < 0x7c00; ++h) REQUIRE(float_to_half(half_to_float(uint16_t(h))) == h);
  CHECK(bf16_to_float(0x3f80) == 1.0f);
}

TEST_CASE("Vulkan errors name the call, the result, file and line", "[runtime]") {
  auto failing = [] { VK_CHECK(VK_ERROR_DEVICE_LOST); };
  CHECK_THROWS_WITH(failing(), Catch::StartsWith("VK_ERROR_DEVICE_LOST failed: VK_ERROR_DEVICE_LOST (-4) at ") &&
                                   Catch::Contains("test-runtime.cpp:"));
}
