// Vulkan instance and device choice, queried capabilities and the kill switches that force
// the portable path. A Context is one chosen device with its queue; everything else hangs off it.
#pragma once

#include "runtime/memory.hpp"
#include "runtime/tensor.hpp"
#include "runtime/vk-handle.hpp"

#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace glimpse {

class Backend;

class Allocator;
class PipelineStore;

// What glimpse knows about one physical device (all queried, never assumed).
struct DeviceInfo {
  uint32_t index = 0;
  std::string name;
  VkPhysicalDeviceType type = VK_PHYSICAL_DEVICE_TYPE_OTHER;
  std::string driver_name;  // e.g. "llvmpipe"
  std::string driver_info;  // e.g. "Mesa 22.3.6 (LLVM 15.0.6)"
  uint32_t api_version = 0;
  uint32_t driver_version = 0;
  uint32_t vendor_id = 0;
  uint32_t device_id = 0;
  uint8_t pipeline_cache_uuid[VK_UUID_SIZE] = {};
  uint64_t device_local_bytes = 0;  // largest DEVICE_LOCAL heap
  bool unified_memory = false;      // a DEVICE_LOCAL memory type is also HOST_VISIBLE
  uint32_t subgroup_size = 0;
  uint32_t min_subgroup_size = 0;  // the smallest a shader may run at (subgroup size control)
  bool subgroup_shuffle = false;  // subgroupShuffleXor in compute shaders
  uint32_t max_shared_memory = 0;
  uint32_t max_storage_buffer_range = 0;
  uint32_t max_texel_buffer_elements = 0;
  uint32_t max_push_constants = 0;
  uint32_t max_workgroup_count[3] = {};
  uint32_t max_workgroup_invocations = 0;
  VkDeviceSize min_storage_offset_alignment = 0;
  VkDeviceSize min_texel_offset_alignment = 0;
  VkDeviceSize non_coherent_atom_size = 0;
  float timestamp_period_ns = 0;
  bool timestamps = false;  // the compute queue supports timestamp queries
  bool storage_16bit = false;
  bool float16_arithmetic = false;
  bool rgba32_texel_formats = false;  // R32G32B32A32_{SFLOAT,UINT} usable as uniform texel buffers
  bool coop_matrix_f16 = false;       // tensor cores: VK_NV_cooperative_matrix 16x16x16 f16 -> f32

  const char* type_name() const;
};

// The optional paths glimpse may take on this device. Each has a kill switch.
struct Caps {
  bool texel_weights = false;  // weights read through uniform texel buffers; GLIMPSE_DISABLE_TEXEL=1
  bool f16_weights = false;    // fp16 weight storage (packed 8 per 16 bytes); GLIMPSE_DISABLE_F16=1
  bool gpu_tuning = false;     // kernel shapes for GPUs, not CPUs (lavapipe); GLIMPSE_TUNING=gpu|cpu
  bool split_k_gemv = false;   // decode GEMV splits K over a workgroup (GPUs); GLIMPSE_GEMV=blocked|split
  // fp16-weight GEMMs on tensor cores (VK_NV_cooperative_matrix); GLIMPSE_DISABLE_COOPMAT=1
  bool coop_matrix = false;
  // Many-query attention with several subgroup lanes per query (GPUs with subgroup shuffles);
  // GLIMPSE_ATTENTION=coop|lanes|query
  bool attention_lanes = false;
  // Many-query attention on tensor cores, for models run in fp16 (AttentionArgs::fp16): needs
  // coop_matrix and subgroup shuffles; GLIMPSE_ATTENTION=coop|lanes|query
  bool attention_coop = false;
  uint32_t attention_coop_subgroups = 4;  // its workgroup: 1, 2 or 4 subgroups; GLIMPSE_ATTENTION_SUBGROUPS
  bool host_mapped = false;    // unified memory written directly, no staging; GLIMPSE_DISABLE_UMA=1
  // The CPU backend (runtime/cpu/): ops run as CPU code (OpenBLAS for GEMMs) over the mapped
  // memory, not as shaders. Chosen on CPU devices (lavapipe) with unified memory when OpenBLAS
  // loads; GLIMPSE_BACKEND=vulkan|cpu forces a side. Read by runtime/backend.cpp alone: other code
  // asks the Backend (Context::backend()).
  bool cpu_backend = false;
  VkDeviceSize max_binding_bytes = 0;  // per-binding byte limit used for splitting big GEMMs
};

enum class BackendChoice {
  Auto,    // $GLIMPSE_BACKEND, else the CPU backend on CPU devices when it can run, else Vulkan
  Vulkan,  // the shaders, always
  Cpu,     // CPU code over mapped memory (Caps::cpu_backend); an Error where it cannot run
};

struct ContextOptions {
  std::string device;                // index or name substring; empty = $GLIMPSE_DEVICE, else the preferred
  BackendChoice backend = BackendChoice::Auto;
  uint64_t memory_limit_bytes = 0;   // 0 = $GLIMPSE_MEMORY_LIMIT_MB or unlimited; allocations past it fail
  // Tests: recycled blocks (Context::spare_take) come back with every bit set, NaN as floats, so
  // that reading memory no op wrote shows; also $GLIMPSE_POISON_SPARES=1.
  bool poison_spares = false;
  VkDeviceSize max_binding_bytes = 0;  // 0 = the device's limit; smaller values force GEMM splitting (tests)
};

// The capabilities a Context on `info` gets with `options` (and the GLIMPSE_* switches).
Caps caps_choose(const DeviceInfo& info, const ContextOptions& options = {});

// Lists every Vulkan device. Throws Error when the loader or any device is missing.
std::vector<DeviceInfo> devices_list();

// Index into `devices` of the device `selector` names (index or case-insensitive name substring),
// or of the preferred one (discrete > integrated > virtual > CPU) when `selector` is empty.
uint32_t device_choose(const std::vector<DeviceInfo>& devices, const std::string& selector);

class Context {
 public:
  explicit Context(const ContextOptions& options = {});
  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  VkDevice device() const { return device_; }
  VkPhysicalDevice physical() const { return physical_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  const DeviceInfo& info() const { return info_; }
  const Caps& caps() const { return caps_; }
  // The backend its ops record for (runtime/backend.hpp).
  const Backend& backend() const;
  PipelineStore& pipelines() { return *pipelines_; }
  // vkQueueSubmit on the one queue, serialised: sequences on many threads may submit at once.
  void queue_submit(const VkSubmitInfo& submit, VkFence fence);
  // Before each pass runs (Sequence::run, either backend): throws ErrorCode::DeviceLost once the
  // device is lost, then for every later pass on this context, so that every request in flight
  // ends and the owner can recreate the context. Lost means a submit answered
  // VK_ERROR_DEVICE_LOST, or the test switch GLIMPSE_TEST_DEVICE_LOST_AT=N: the Nth pass run in
  // the process while the variable is set reports a lost device (tests only).
  void submission_check();
  bool lost() const { return lost_; }
  // Waits for a submitted fence; VK_ERROR_DEVICE_LOST marks the context lost (then throws).
  void fence_wait(VkFence fence);
  uint64_t memory_limit() const { return memory_limit_; }
  // A small zero-filled host-visible tensor: the step buffer of ops recorded without one, and
  // the binding behind optional inputs that are switched off. Thread-safe.
  const Tensor& zeros();

  // Device-memory accounting against the optional limit; throws Error when exceeded.
  void memory_reserve(uint64_t bytes, const char* what);
  void memory_release(uint64_t bytes);
  uint64_t memory_used() const { return memory_used_; }
  uint64_t memory_peak() const { return memory_peak_; }

  // Blocks that per-call arenas (BlockReuse::Recycle) gave back, kept for the next arena asking
  // for the same kind and size, newest first. On CPU devices a fresh block costs a page fault and
  // a zeroed page per 4 KiB first touched (~30 ms per BLIP-base caption, 5% of it); on GPUs a
  // vkAllocateMemory. At most kSpareBytes are kept, which are counted as used; they are freed
  // when an allocation would pass the memory limit, and with the Context. Thread-safe.
  static constexpr VkDeviceSize kSpareBytes = VkDeviceSize(192) << 20;
  std::optional<MemoryBlock> spare_take(MemoryKind kind, VkDeviceSize size);
  void spare_give(MemoryKind kind, MemoryBlock&& block);
  void spare_drop();
  VkDeviceSize spare_bytes() const;

  // Picks a memory type for `type_bits` with `required` flags, preferring `preferred` ones.
  uint32_t memory_type(uint32_t type_bits, VkMemoryPropertyFlags required, VkMemoryPropertyFlags preferred) const;

  // The host-visible staging buffer for transfers to and from device-local memory (created on
  // first use, reused after) and the lock that serialises its users.
  const Tensor& staging();
  std::mutex& staging_mutex() { return staging_mutex_; }
  static constexpr VkDeviceSize kStagingBytes = VkDeviceSize(16) << 20;

  // Records `record` into a one-shot command buffer, submits it and waits. Thread-safe.
  template <typename F>
  void submit_now(F&& record) {
    std::lock_guard lock(one_shot_mutex_);
    VkCommandBuffer cmd = one_shot_begin();
    record(cmd);
    one_shot_end(cmd);
  }

 private:
  VkCommandBuffer one_shot_begin();
  void one_shot_end(VkCommandBuffer cmd);

  VkInstance instance_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  DeviceInfo info_;
  Caps caps_;
  VkPhysicalDeviceMemoryProperties memory_props_{};
  uint64_t memory_limit_ = 0;
  std::atomic<uint64_t> memory_used_{0};
  std::atomic<uint64_t> memory_peak_{0};
  struct Spare {
    MemoryKind kind;
    MemoryBlock block;
  };
  bool poison_spares_ = false;
  mutable std::mutex spare_mutex_;
  std::vector<Spare> spares_;  // oldest first
  CommandPoolHandle command_pool_;  // one-shot command buffers, under one_shot_mutex_
  std::mutex one_shot_mutex_;
  std::mutex queue_mutex_;
  std::atomic<bool> lost_{false};
  std::unique_ptr<PipelineStore> pipelines_;
  std::once_flag zeros_once_;
  std::unique_ptr<Allocator> small_;
  Tensor zeros_;
  std::unique_ptr<Allocator> staging_arena_;
  Tensor staging_;
  std::mutex staging_mutex_;
};

// True when environment variable `name` is set to something other than "", "0".
bool env_flag(const char* name);

}  // namespace glimpse
