// Command recording: a Sequence is a list of dispatches recorded once into one command buffer
// (with the barriers between them) and replayed as often as needed with run(). Per-step values
// a replay needs (decode position, KV length) live in host-visible buffers the shaders read,
// not in the recording. With profiling on (GLIMPSE_PROFILE=1) each run times every dispatch.
// One Sequence is used by one thread at a time; different sequences may record and run
// concurrently on one Context.
#pragma once

#include "runtime/pipeline.hpp"
#include "runtime/tensor.hpp"
#include "runtime/vk-handle.hpp"

#include <cstdio>
#include <functional>
#include <span>
#include <string>
#include <vector>

namespace glimpse {

class Context;

// What one binding of a dispatch points at: a buffer range or a texel-buffer view.
struct Bind {
  VkBuffer buffer = VK_NULL_HANDLE;
  VkDeviceSize offset = 0;
  VkDeviceSize range = 0;
  VkBufferView view = VK_NULL_HANDLE;

  static Bind of(const Tensor& t) { return {t.buffer, t.offset, t.bytes, VK_NULL_HANDLE}; }
  static Bind range_of(const Tensor& t, VkDeviceSize offset, VkDeviceSize bytes) {
    return {t.buffer, t.offset + offset, bytes, VK_NULL_HANDLE};
  }
  static Bind texel(VkBufferView v) { return {VK_NULL_HANDLE, 0, 0, v}; }
};

struct OpTime {
  std::string label;
  int count = 0;
  double ms = 0;
};

class Sequence {
 public:
  explicit Sequence(Context& ctx);
  ~Sequence();
  Sequence(const Sequence&) = delete;
  Sequence& operator=(const Sequence&) = delete;

  Context& context() { return ctx_; }

  // A uniform-texel-buffer view (RGBA32F / RGBA32UI) of `t`, owned by this sequence.
  VkBufferView texel_view(const Tensor& t, VkFormat format);

  // Records one CPU step (the CPU backend, runtime/cpu/: ops run as CPU code over the mapped
  // memory of the tensors). A sequence holds dispatches or CPU steps, never both.
  void cpu_step(std::string label, std::function<void()> step);

  // Records one dispatch. `push` must hold pipeline.push_bytes bytes. Throws Error when a
  // binding is missing, of the wrong kind, or larger than the device allows.
  void dispatch(const Pipeline& pipeline, std::span<const Bind> binds, const void* push, uint32_t groups_x,
                uint32_t groups_y, uint32_t groups_z, std::string label);

  // Names an intermediate for debugging: with GLIMPSE_DUMP=DIR set, every run() writes `t` as
  // DIR/<name>.npy (replays after the first as DIR/<name>.<run>.npy), to diff against the
  // PyTorch reference layer by layer. A no-op otherwise.
  void dump(const std::string& name, const Tensor& t);

  // Finishes recording on first use; submits and waits. Call again to replay.
  void run();

  size_t dispatch_count() const { return labels_.size(); }  // dispatches or CPU steps
  bool profiling() const { return profiling_; }
  void profiling_set(bool on);  // before the first dispatch only
  // Per-label GPU time of the last run, in recording order of first appearance.
  std::vector<OpTime> profile() const;
  double profile_total_ms() const;
  void profile_print(std::FILE* out) const;

 private:
  VkDescriptorSet descriptor_set_alloc(VkDescriptorSetLayout layout);
  void dumps_write();

  Context& ctx_;
  CommandPoolHandle pool_;  // its own pool: sequences are recorded on many threads at once
  VkCommandBuffer cmd_ = VK_NULL_HANDLE;
  bool ended_ = false;
  bool profiling_ = false;
  bool print_profile_ = false;
  std::vector<DescriptorPoolHandle> pools_;
  uint32_t pool_sets_left_ = 0;
  QueryPoolHandle queries_;
  uint32_t query_capacity_ = 0;
  std::vector<BufferViewHandle> views_;
  std::vector<std::string> labels_;
  std::vector<std::function<void()>> cpu_steps_;
  std::vector<uint64_t> timestamps_;
  double timestamp_period_ns_ = 1;
  std::string dump_dir_;  // $GLIMPSE_DUMP
  std::vector<std::pair<std::string, Tensor>> dumps_;
  int runs_ = 0;
  FenceHandle fence_;
};

}  // namespace glimpse
