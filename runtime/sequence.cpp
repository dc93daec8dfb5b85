#include "runtime/sequence.hpp"

#include "runtime/device.hpp"
#include "runtime/error.hpp"
#include "runtime/cpu/kernels.hpp"
#include "runtime/cpu/pool.hpp"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <chrono>
#include <map>
#include <sstream>

namespace glimpse {

namespace {
constexpr uint32_t kSetsPerPool = 128;
constexpr uint32_t kMaxBindings = 8;  // per set; pools are sized from it
constexpr uint32_t kMaxTimedDispatches = 4096;
}  // namespace

Sequence::Sequence(Context& ctx) : ctx_(ctx) {
  VkCommandPoolCreateInfo pool_info{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
  pool_info.queueFamilyIndex = ctx.queue_family();
  VkCommandPool pool = VK_NULL_HANDLE;
  VK_CHECK(vkCreateCommandPool(ctx.device(), &pool_info, nullptr, &pool));
  pool_ = CommandPoolHandle(ctx.device(), pool);
  VkCommandBufferAllocateInfo alloc{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  alloc.commandPool = pool_;
  alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  alloc.commandBufferCount = 1;
  VK_CHECK(vkAllocateCommandBuffers(ctx.device(), &alloc, &cmd_));
  VkFenceCreateInfo fence_info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence fence = VK_NULL_HANDLE;
  VK_CHECK(vkCreateFence(ctx.device(), &fence_info, nullptr, &fence));
  fence_ = FenceHandle(ctx.device(), fence);
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  VK_CHECK(vkBeginCommandBuffer(cmd_, &begin));
  if (const char* dir = std::getenv("GLIMPSE_DUMP"); dir && *dir) dump_dir_ = dir;
  if (env_flag("GLIMPSE_PROFILE")) {
    profiling_set(true);
    print_profile_ = true;
  }
}

Sequence::~Sequence() = default;  // the pool frees the command buffer

void Sequence::profiling_set(bool on) {
  if (!labels_.empty()) fail("Sequence::profiling_set must be called before the first dispatch");
  if (on && !ctx_.info().timestamps) {
    std::fprintf(stderr, "glimpse: profiling unavailable: device '%s' has no compute timestamps\n",
                 ctx_.info().name.c_str());
    on = false;
  }
  profiling_ = on;
  if (on && !queries_.get()) {
    VkQueryPoolCreateInfo info{VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO};
    info.queryType = VK_QUERY_TYPE_TIMESTAMP;
    info.queryCount = kMaxTimedDispatches + 1;
    VkQueryPool pool = VK_NULL_HANDLE;
    VK_CHECK(vkCreateQueryPool(ctx_.device(), &info, nullptr, &pool));
    queries_ = QueryPoolHandle(ctx_.device(), pool);
    query_capacity_ = info.queryCount;
    vkCmdResetQueryPool(cmd_, queries_, 0, query_capacity_);
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_, 0);
  }
}

VkBufferView Sequence::texel_view(const Tensor& t, VkFormat format) {
  const DeviceInfo& info = ctx_.info();
  if (t.offset % info.min_texel_offset_alignment)
    fail("texel view of ", t.describe(), ": offset ", t.offset, " is not aligned to ", info.min_texel_offset_alignment);
  const VkDeviceSize range = std::max<VkDeviceSize>(t.bytes / 16 * 16, 16);
  if (range / 16 > info.max_texel_buffer_elements)
    fail("texel view of ", t.describe(), ": ", range / 16, " texels exceed the device limit of ",
         info.max_texel_buffer_elements);
  VkBufferViewCreateInfo create{VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO};
  create.buffer = t.buffer;
  create.format = format;
  create.offset = t.offset;
  create.range = range;
  VkBufferView view = VK_NULL_HANDLE;
  VK_CHECK(vkCreateBufferView(ctx_.device(), &create, nullptr, &view));
  views_.emplace_back(ctx_.device(), view);
  return view;
}

void Sequence::dump(const std::string& name, const Tensor& t) {
  if (dump_dir_.empty()) return;
  if (name.empty() || name.find('/') != std::string::npos) fail("dump name '", name, "' must be a plain file name");
  dumps_.emplace_back(name, t);
}

namespace {

// NumPy .npy, format version 1.0: magic, header length, a Python-dict header padded to 64 bytes.
void npy_write(const std::string& path, const Tensor& t, const std::vector<std::byte>& data) {
  std::ostringstream dims;  // (2,3) or (5,) as Python writes tuples
  for (size_t i = 0; i < t.shape.size(); ++i) dims << (i ? "," : "") << t.shape[i];
  const std::string shape = str("(", dims.str(), t.shape.size() == 1 ? ",)" : ")");
  const char* descr = t.dtype == DType::F32 ? "<f4" : t.dtype == DType::F16 ? "<f2" : "<u4";
  std::string header = str("{'descr': '", descr, "', 'fortran_order': False, 'shape': ", shape, ", }");
  const size_t unpadded = 10 + header.size() + 1;
  header.append((64 - unpadded % 64) % 64, ' ');
  header += '\n';
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) fail("GLIMPSE_DUMP: cannot write ", path);
  const unsigned char magic[8] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0};
  const uint16_t len = static_cast<uint16_t>(header.size());
  const unsigned char len_le[2] = {static_cast<unsigned char>(len & 0xff), static_cast<unsigned char>(len >> 8)};
  bool ok = std::fwrite(magic, 1, 8, f) == 8 && std::fwrite(len_le, 1, 2, f) == 2 &&
            std::fwrite(header.data(), 1, header.size(), f) == header.size() &&
            std::fwrite(data.data(), 1, data.size(), f) == data.size();
  ok = std::fclose(f) == 0 && ok;
  if (!ok) fail("GLIMPSE_DUMP: short write to ", path);
}

}  // namespace

void Sequence::dumps_write() {
  for (const auto& [name, t] : dumps_) {
    std::vector<std::byte> data(t.bytes);
    tensor_download(ctx_, t, data.data(), data.size());
    const std::string run = runs_ ? str(".", runs_) : std::string();
    npy_write(str(dump_dir_, "/", name, run, ".npy"), t, data);
  }
  ++runs_;
}

VkDescriptorSet Sequence::descriptor_set_alloc(VkDescriptorSetLayout layout) {
  if (pool_sets_left_ == 0) {
    VkDescriptorPoolSize sizes[] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, kSetsPerPool * kMaxBindings},
                                    {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, kSetsPerPool * kMaxBindings}};
    VkDescriptorPoolCreateInfo info{VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO};
    info.maxSets = kSetsPerPool;
    info.poolSizeCount = 2;
    info.pPoolSizes = sizes;
    VkDescriptorPool pool = VK_NULL_HANDLE;
    VK_CHECK(vkCreateDescriptorPool(ctx_.device(), &info, nullptr, &pool));
    pools_.emplace_back(ctx_.device(), pool);
    pool_sets_left_ = kSetsPerPool;
  }
  VkDescriptorSetAllocateInfo alloc{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO};
  alloc.descriptorPool = pools_.back();
  alloc.descriptorSetCount = 1;
  alloc.pSetLayouts = &layout;
  VkDescriptorSet set = VK_NULL_HANDLE;
  VK_CHECK(vkAllocateDescriptorSets(ctx_.device(), &alloc, &set));
  --pool_sets_left_;
  return set;
}

void Sequence::dispatch(const Pipeline& pipeline, std::span<const Bind> binds, const void* push, uint32_t groups_x,
                        uint32_t groups_y, uint32_t groups_z, std::string label) {
  if (ended_) fail("Sequence: cannot record '", label, "' after the sequence has run");
  if (!cpu_steps_.empty()) fail("Sequence: CPU steps and dispatches cannot share a sequence");
  if (binds.size() != pipeline.bindings.size() || binds.size() > kMaxBindings)
    fail("internal error: ", pipeline.name, " takes ", pipeline.bindings.size(), " bindings, ", binds.size(), " given");
  const DeviceInfo& info = ctx_.info();
  for (uint32_t axis = 0; axis < 3; ++axis) {
    const uint32_t g = axis == 0 ? groups_x : axis == 1 ? groups_y : groups_z;
    if (g > info.max_workgroup_count[axis])
      fail(label, ": ", g, " workgroups along axis ", axis, " exceed the device limit ", info.max_workgroup_count[axis]);
  }
  if (groups_x == 0 || groups_y == 0 || groups_z == 0) return;  // empty op: nothing to do

  VkDescriptorSet set = descriptor_set_alloc(pipeline.set_layout);
  std::vector<VkWriteDescriptorSet> writes(binds.size());
  std::vector<VkDescriptorBufferInfo> buffer_infos(binds.size());
  for (uint32_t i = 0; i < binds.size(); ++i) {
    const Bind& b = binds[i];
    VkWriteDescriptorSet& w = writes[i];
    w = {VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET};
    w.dstSet = set;
    w.dstBinding = i;
    w.descriptorCount = 1;
    if (pipeline.bindings[i] == BindingKind::Texel) {
      if (!b.view) fail("internal error: ", label, " binding ", i, " needs a texel-buffer view");
      w.descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
      w.pTexelBufferView = &b.view;
    } else {
      if (!b.buffer) fail("internal error: ", label, " binding ", i, " needs a buffer");
      const VkDeviceSize range = std::max<VkDeviceSize>(b.range, 4);
      if (range > info.max_storage_buffer_range)
        fail(label, ": binding ", i, " spans ", range, " bytes, over the device's maxStorageBufferRange of ",
             info.max_storage_buffer_range);
      buffer_infos[i] = {b.buffer, b.offset, range};
      w.descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
      w.pBufferInfo = &buffer_infos[i];
    }
  }
  vkUpdateDescriptorSets(ctx_.device(), static_cast<uint32_t>(writes.size()), writes.data(), 0, nullptr);

  vkCmdBindPipeline(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.pipeline);
  vkCmdBindDescriptorSets(cmd_, VK_PIPELINE_BIND_POINT_COMPUTE, pipeline.layout, 0, 1, &set, 0, nullptr);
  if (pipeline.push_bytes) vkCmdPushConstants(cmd_, pipeline.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, pipeline.push_bytes, push);
  vkCmdDispatch(cmd_, groups_x, groups_y, groups_z);

  // Every dispatch may read what the previous one wrote (and write what it read).
  VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
  barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT;
  barrier.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT;
  vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, 0, 1, &barrier,
                       0, nullptr, 0, nullptr);

  labels_.push_back(std::move(label));
  if (profiling_ && labels_.size() < query_capacity_)
    vkCmdWriteTimestamp(cmd_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_, static_cast<uint32_t>(labels_.size()));
}

void Sequence::cpu_step(std::string label, std::function<void()> step) {
  if (runs_ > 0) fail("Sequence: cannot record '", label, "' after the sequence has run");
  if (cpu_steps_.size() != labels_.size()) fail("Sequence: CPU steps and dispatches cannot share a sequence");
  cpu_steps_.push_back(std::move(step));
  labels_.push_back(std::move(label));
}

void Sequence::run() {
  ctx_.submission_check();
  if (!cpu_steps_.empty()) {
    // The CPU backend: the steps in order on this thread (each may use both cores), timed
    // like dispatches when profiling.
    using Clock = std::chrono::steady_clock;
    std::lock_guard<std::mutex> one_at_a_time(cpu::run_mutex());
    if (profiling_) timestamps_.assign(cpu_steps_.size() + 1, 0);
    const Clock::time_point t0 = Clock::now();
    for (size_t i = 0; i < cpu_steps_.size(); ++i) {
      cpu_steps_[i]();
      if (profiling_) timestamps_[i + 1] = uint64_t(std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - t0).count());
    }
    cpu::release_scratch(size_t(256) << 10);  // an image pass's ~8 MB is not kept through decoding
    timestamp_period_ns_ = 1;
    dumps_write();
    if (profiling_ && print_profile_) profile_print(stderr);
    return;
  }
  if (!ended_) {
    VkMemoryBarrier barrier{VK_STRUCTURE_TYPE_MEMORY_BARRIER};
    barrier.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT;
    barrier.dstAccessMask = VK_ACCESS_HOST_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT;
    vkCmdPipelineBarrier(cmd_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT, 0, 1, &barrier, 0, nullptr, 0,
                         nullptr);
    VK_CHECK(vkEndCommandBuffer(cmd_));
    ended_ = true;
  }
  VkFence fence = fence_;
  VK_CHECK(vkResetFences(ctx_.device(), 1, &fence));
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &cmd_;
  ctx_.queue_submit(submit, fence);
  ctx_.fence_wait(fence);

  timestamp_period_ns_ = ctx_.info().timestamp_period_ns;
  dumps_write();

  if (profiling_) {
    const uint32_t n = static_cast<uint32_t>(std::min<size_t>(labels_.size() + 1, query_capacity_));
    timestamps_.assign(n, 0);
    VK_CHECK(vkGetQueryPoolResults(ctx_.device(), queries_, 0, n, n * sizeof(uint64_t), timestamps_.data(),
                                   sizeof(uint64_t), VK_QUERY_RESULT_64_BIT | VK_QUERY_RESULT_WAIT_BIT));
    if (print_profile_) profile_print(stderr);
  }
}

std::vector<OpTime> Sequence::profile() const {
  std::vector<OpTime> out;
  std::map<std::string, size_t> index;
  const double period = timestamp_period_ns_;
  for (size_t i = 0; i + 1 < timestamps_.size(); ++i) {
    auto [it, fresh] = index.try_emplace(labels_[i], out.size());
    if (fresh) out.push_back({labels_[i], 0, 0});
    OpTime& t = out[it->second];
    t.count += 1;
    t.ms += double(timestamps_[i + 1] - timestamps_[i]) * period * 1e-6;
  }
  return out;
}

double Sequence::profile_total_ms() const {
  if (timestamps_.size() < 2) return 0;
  return double(timestamps_.back() - timestamps_.front()) * timestamp_period_ns_ * 1e-6;
}

void Sequence::profile_print(std::FILE* out) const {
  std::fprintf(out, "glimpse profile: %zu dispatches, %.3f ms GPU\n", labels_.size(), profile_total_ms());
  for (const OpTime& t : profile())
    std::fprintf(out, "  %10.3f ms  %4d x  %s\n", t.ms, t.count, t.label.c_str());
}

}  // namespace glimpse
