#include "runtime/pipeline.hpp"

#include "runtime/device.hpp"
#include "runtime/error.hpp"
#include "runtime/shader-library.hpp"

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace glimpse {

const ShaderBlob* shader_find(std::string_view name) {
  for (const ShaderBlob& blob : shader_library())
    if (name == blob.name) return &blob;
  return nullptr;
}

namespace {

uint64_t fnv1a(const void* data, size_t size, uint64_t h = 1469598103934665603ull) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < size; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h;
}

// Our header in front of the driver's cache blob. The driver's own header already carries
// vendor/device/pipelineCacheUUID; we check those too, plus the driver version and the exact
// shaders the cache was built from, so a driver or glimpse upgrade never reuses stale data.
struct CacheHeader {
  char magic[8];
  uint32_t version;
  uint32_t vendor_id;
  uint32_t device_id;
  uint32_t driver_version;
  uint8_t uuid[VK_UUID_SIZE];
  uint64_t shader_hash;
  uint64_t data_size;
  uint64_t data_hash;
};
constexpr char kMagic[8] = {'G', 'L', 'I', 'M', 'P', 'S', 'E', 'P'};
constexpr uint32_t kCacheVersion = 1;

CacheHeader header_expected(const DeviceInfo& info) {
  CacheHeader h{};
  std::memcpy(h.magic, kMagic, sizeof kMagic);
  h.version = kCacheVersion;
  h.vendor_id = info.vendor_id;
  h.device_id = info.device_id;
  h.driver_version = info.driver_version;
  std::memcpy(h.uuid, info.pipeline_cache_uuid, VK_UUID_SIZE);
  h.shader_hash = shader_library_hash();
  return h;
}

std::string cache_dir() {
  if (const char* dir = std::getenv("GLIMPSE_CACHE_DIR"); dir && *dir) return dir;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg && *xdg) return std::string(xdg) + "/glimpse";
  if (const char* home = std::getenv("HOME"); home && *home) return std::string(home) + "/.cache/glimpse";
  return "";
}

// Reads and validates the cache file; returns the driver blob or nothing.
std::vector<char> cache_read(const std::string& path, const DeviceInfo& info) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  std::vector<char> file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CacheHeader want = header_expected(info), got{};
  if (file.size() < sizeof got) return {};
  std::memcpy(&got, file.data(), sizeof got);
  const size_t data_size = file.size() - sizeof got;
  const char* data = file.data() + sizeof got;
  if (std::memcmp(got.magic, want.magic, sizeof kMagic) != 0 || got.version != want.version ||
      got.vendor_id != want.vendor_id || got.device_id != want.device_id ||
      got.driver_version != want.driver_version || std::memcmp(got.uuid, want.uuid, VK_UUID_SIZE) != 0 ||
      got.shader_hash != want.shader_hash || got.data_size != data_size || got.data_hash != fnv1a(data, data_size))
    return {};
  return std::vector<char>(data, data + data_size);
}

}  // namespace

uint64_t shader_library_hash() {
  uint64_t h = 1469598103934665603ull;
  for (const ShaderBlob& blob : shader_library()) {
    h = fnv1a(blob.name, std::strlen(blob.name), h);
    h = fnv1a(blob.data, blob.size, h);
  }
  return h;
}

PipelineStore::PipelineStore(Context& ctx) : ctx_(ctx) {
  const DeviceInfo& info = ctx.info();
  std::vector<char> initial;
  if (const char* off = std::getenv("GLIMPSE_PIPELINE_CACHE"); !(off && std::strcmp(off, "0") == 0)) {
    if (std::string dir = cache_dir(); !dir.empty())
      path_ = str(dir, "/pipelines-", std::hex, info.vendor_id, "-", info.device_id, ".bin");
  }
  if (!path_.empty()) initial = cache_read(path_, info);
  loaded_ = !initial.empty();
  VkPipelineCacheCreateInfo create{VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO};
  create.initialDataSize = initial.size();
  create.pInitialData = initial.empty() ? nullptr : initial.data();
  VkPipelineCache cache = VK_NULL_HANDLE;
  VK_CHECK(vkCreatePipelineCache(ctx.device(), &create, nullptr, &cache));
  cache_ = PipelineCacheHandle(ctx.device(), cache);
}

PipelineStore::~PipelineStore() { save(); }

size_t PipelineStore::count() const {
  std::lock_guard lock(mutex_);
  return pipelines_.size();
}

void PipelineStore::save() {
  std::lock_guard lock(mutex_);
  if (path_.empty() || !dirty_) return;
  size_t size = 0;
  if (vkGetPipelineCacheData(ctx_.device(), cache_, &size, nullptr) != VK_SUCCESS || size == 0) return;
  std::vector<char> data(size);
  if (vkGetPipelineCacheData(ctx_.device(), cache_, &size, data.data()) != VK_SUCCESS) return;
  data.resize(size);
  CacheHeader h = header_expected(ctx_.info());
  h.data_size = size;
  h.data_hash = fnv1a(data.data(), size);
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(path_).parent_path(), ec);
  const std::string tmp = path_ + ".tmp" + std::to_string(reinterpret_cast<uintptr_t>(this));
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(&h), sizeof h);
    out.write(data.data(), static_cast<std::streamsize>(size));
    if (!out) {
      std::fprintf(stderr, "glimpse: warning: could not write pipeline cache %s\n", tmp.c_str());
      std::filesystem::remove(tmp, ec);
      return;
    }
  }
  std::filesystem::rename(tmp, path_, ec);
  if (!ec) dirty_ = false;
  if (ec) std::fprintf(stderr, "glimpse: warning: could not write pipeline cache %s: %s\n", path_.c_str(), ec.message().c_str());
}

const Pipeline& PipelineStore::get(const PipelineDesc& desc) {
  std::string key = desc.shader;
  for (uint32_t v : desc.spec) {
    key += ',';
    key += std::to_string(v);
  }
  std::lock_guard lock(mutex_);
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return *it->second;

  const ShaderBlob* blob = shader_find(desc.shader);
  if (!blob) fail("internal error: shader '", desc.shader, "' is not in the embedded shader library");
  if (desc.push_bytes > ctx_.info().max_push_constants)
    fail("shader ", desc.shader, " needs ", desc.push_bytes, " bytes of push constants, device offers ",
         ctx_.info().max_push_constants);
  VkDevice device = ctx_.device();
  auto p = std::make_unique<Pipeline>();
  p->name = key;
  p->bindings = desc.bindings;
  p->push_bytes = desc.push_bytes;
  p->local_size = desc.spec.empty() ? 1 : desc.spec[0];

  std::vector<VkDescriptorSetLayoutBinding> bindings;
  for (uint32_t i = 0; i < desc.bindings.size(); ++i) {
    VkDescriptorSetLayoutBinding b{};
    b.binding = i;
    b.descriptorType = desc.bindings[i] == BindingKind::Texel ? VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER
                                                              : VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
    b.descriptorCount = 1;
    b.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
    bindings.push_back(b);
  }
  VkDescriptorSetLayoutCreateInfo set_info{VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO};
  set_info.bindingCount = static_cast<uint32_t>(bindings.size());
  set_info.pBindings = bindings.data();
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
  VK_CHECK(vkCreateDescriptorSetLayout(device, &set_info, nullptr, &set_layout));
  p->set_layout = SetLayoutHandle(device, set_layout);

  VkPushConstantRange push{VK_SHADER_STAGE_COMPUTE_BIT, 0, desc.push_bytes};
  VkPipelineLayoutCreateInfo layout_info{VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO};
  layout_info.setLayoutCount = 1;
  layout_info.pSetLayouts = &set_layout;
  layout_info.pushConstantRangeCount = desc.push_bytes ? 1 : 0;
  layout_info.pPushConstantRanges = &push;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VK_CHECK(vkCreatePipelineLayout(device, &layout_info, nullptr, &layout));
  p->layout = PipelineLayoutHandle(device, layout);

  VkShaderModuleCreateInfo module_info{VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO};
  module_info.codeSize = blob->size;
  module_info.pCode = reinterpret_cast<const uint32_t*>(blob->data);
  VkShaderModule raw_module = VK_NULL_HANDLE;
  VK_CHECK(vkCreateShaderModule(device, &module_info, nullptr, &raw_module));
  ShaderModuleHandle module(device, raw_module);

  std::vector<VkSpecializationMapEntry> entries;
  for (uint32_t i = 0; i < desc.spec.size(); ++i) entries.push_back({i, i * 4, 4});
  VkSpecializationInfo spec{static_cast<uint32_t>(entries.size()), entries.data(), desc.spec.size() * 4,
                            desc.spec.data()};
  VkComputePipelineCreateInfo info{VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO};
  info.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  info.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  info.stage.module = module;
  info.stage.pName = "main";
  info.stage.pSpecializationInfo = &spec;
  info.layout = layout;
  VkPipeline pipeline = VK_NULL_HANDLE;
  VK_CHECK(vkCreateComputePipelines(device, cache_, 1, &info, nullptr, &pipeline));
  p->pipeline = PipelineHandle(device, pipeline);
  dirty_ = true;

  return *pipelines_.emplace(key, std::move(p)).first->second;
}

}  // namespace glimpse
