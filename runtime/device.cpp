#include "runtime/device.hpp"

#include "runtime/blas.hpp"
#include "runtime/error.hpp"
#include "runtime/memory.hpp"
#include "runtime/pipeline.hpp"

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>

namespace glimpse {

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && v[0] != '\0' && std::strcmp(v, "0") != 0;
}

const char* DeviceInfo::type_name() const {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU";
    default: return "other";
  }
}

namespace {

const char* const kNoDeviceHelp =
    "install a Vulkan driver: the Debian package mesa-vulkan-drivers (lavapipe, runs on the CPU) "
    "or your GPU vendor's driver";

VkInstance instance_create() {
  uint32_t version = VK_API_VERSION_1_0;
  auto enumerate_version = reinterpret_cast<PFN_vkEnumerateInstanceVersion>(
      vkGetInstanceProcAddr(nullptr, "vkEnumerateInstanceVersion"));
  if (enumerate_version) enumerate_version(&version);
  if (version < VK_API_VERSION_1_1)
    fail(ErrorCode::Device, "the Vulkan loader supports only Vulkan ", VK_VERSION_MAJOR(version), ".", VK_VERSION_MINOR(version),
         "; glimpse needs 1.1 or newer (Debian package libvulkan1)");

  VkApplicationInfo app{VK_STRUCTURE_TYPE_APPLICATION_INFO};
  app.pApplicationName = "glimpse";
  app.pEngineName = "glimpse";
  app.apiVersion = VK_API_VERSION_1_1;
  VkInstanceCreateInfo create{VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO};
  create.pApplicationInfo = &app;
  VkInstance instance = VK_NULL_HANDLE;
  VkResult r = vkCreateInstance(&create, nullptr, &instance);
  if (r == VK_ERROR_INCOMPATIBLE_DRIVER)
    fail(ErrorCode::Device, "no Vulkan driver found (vkCreateInstance: VK_ERROR_INCOMPATIBLE_DRIVER): ", kNoDeviceHelp);
  VK_CHECK(r);
  return instance;
}

// Owns an instance for the duration of devices_list().
struct InstanceGuard {
  VkInstance instance = instance_create();
  ~InstanceGuard() { vkDestroyInstance(instance, nullptr); }
};

std::vector<VkPhysicalDevice> physical_devices(VkInstance instance) {
  uint32_t count = 0;
  VK_CHECK(vkEnumeratePhysicalDevices(instance, &count, nullptr));
  std::vector<VkPhysicalDevice> devices(count);
  if (count) VK_CHECK(vkEnumeratePhysicalDevices(instance, &count, devices.data()));
  devices.resize(count);
  if (devices.empty()) fail(ErrorCode::Device, "no Vulkan device found: ", kNoDeviceHelp);
  return devices;
}

bool device_has_extension(VkPhysicalDevice physical, const char* name) {
  uint32_t count = 0;
  VK_CHECK(vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, nullptr));
  std::vector<VkExtensionProperties> extensions(count);
  VK_CHECK(vkEnumerateDeviceExtensionProperties(physical, nullptr, &count, extensions.data()));
  for (const auto& e : extensions)
    if (std::strcmp(e.extensionName, name) == 0) return true;
  return false;
}

uint32_t compute_queue_family(VkPhysicalDevice physical, uint32_t* timestamp_bits) {
  uint32_t count = 0;
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &count, nullptr);
  std::vector<VkQueueFamilyProperties> families(count);
  vkGetPhysicalDeviceQueueFamilyProperties(physical, &count, families.data());
  for (uint32_t i = 0; i < count; ++i) {
    if (families[i].queueFlags & VK_QUEUE_COMPUTE_BIT) {
      *timestamp_bits = families[i].timestampValidBits;
      return i;
    }
  }
  return UINT32_MAX;
}

// Tensor-core GEMMs (shaders/linear_coop.comp): VK_NV_cooperative_matrix with 16x16x16 fp16 x fp16
// -> fp32 at subgroup scope, the features its SPIR-V needs, and subgroups of exactly 32 lanes.
bool coop_matrix_f16_supported(VkInstance instance, VkPhysicalDevice physical, const DeviceInfo& info) {
  if (!device_has_extension(physical, VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME) ||
      !device_has_extension(physical, VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME) ||
      !device_has_extension(physical, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME))
    return false;
  if (!info.float16_arithmetic || info.subgroup_size != 32 || info.min_subgroup_size != 32) return false;
  VkPhysicalDeviceCooperativeMatrixFeaturesNV coop{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
  VkPhysicalDeviceVulkanMemoryModelFeaturesKHR model{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES_KHR};
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  features.pNext = &coop;
  coop.pNext = &model;
  vkGetPhysicalDeviceFeatures2(physical, &features);
  if (!coop.cooperativeMatrix || !model.vulkanMemoryModel) return false;
  const auto get = reinterpret_cast<PFN_vkGetPhysicalDeviceCooperativeMatrixPropertiesNV>(
      vkGetInstanceProcAddr(instance, "vkGetPhysicalDeviceCooperativeMatrixPropertiesNV"));
  if (!get) return false;
  uint32_t count = 0;
  if (get(physical, &count, nullptr) != VK_SUCCESS || count == 0) return false;
  std::vector<VkCooperativeMatrixPropertiesNV> props(count, {VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV});
  if (get(physical, &count, props.data()) != VK_SUCCESS) return false;
  for (const auto& p : props)
    if (p.MSize == 16 && p.NSize == 16 && p.KSize == 16 && p.AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
        p.BType == VK_COMPONENT_TYPE_FLOAT16_NV && p.CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
        p.DType == VK_COMPONENT_TYPE_FLOAT32_NV && p.scope == VK_SCOPE_SUBGROUP_NV)
      return true;
  return false;
}

DeviceInfo device_query(VkInstance instance, VkPhysicalDevice physical, uint32_t index) {
  DeviceInfo info;
  info.index = index;

  VkPhysicalDeviceProperties base{};
  vkGetPhysicalDeviceProperties(physical, &base);
  const bool has_driver_props =
      base.apiVersion >= VK_API_VERSION_1_2 || device_has_extension(physical, VK_KHR_DRIVER_PROPERTIES_EXTENSION_NAME);
  const bool has_f16_features = base.apiVersion >= VK_API_VERSION_1_2 ||
                                device_has_extension(physical, VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME);

  const bool has_size_control = base.apiVersion >= VK_API_VERSION_1_3 ||
                                device_has_extension(physical, VK_EXT_SUBGROUP_SIZE_CONTROL_EXTENSION_NAME);

  VkPhysicalDeviceSubgroupProperties subgroup{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
  VkPhysicalDeviceDriverProperties driver{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
  VkPhysicalDeviceSubgroupSizeControlPropertiesEXT size_control{
      VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_SIZE_CONTROL_PROPERTIES_EXT};
  VkPhysicalDeviceProperties2 props{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2};
  props.pNext = &subgroup;
  if (has_driver_props) subgroup.pNext = &driver;
  if (has_size_control) size_control.pNext = subgroup.pNext, subgroup.pNext = &size_control;
  vkGetPhysicalDeviceProperties2(physical, &props);
  const VkPhysicalDeviceLimits& limits = props.properties.limits;

  VkPhysicalDevice16BitStorageFeatures storage16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_16BIT_STORAGE_FEATURES};
  VkPhysicalDeviceShaderFloat16Int8Features float16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES};
  VkPhysicalDeviceFeatures2 features{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2};
  features.pNext = &storage16;
  if (has_f16_features) storage16.pNext = &float16;
  vkGetPhysicalDeviceFeatures2(physical, &features);

  info.name = props.properties.deviceName;
  info.type = props.properties.deviceType;
  info.driver_name = has_driver_props ? driver.driverName : "";
  info.driver_info = has_driver_props ? driver.driverInfo : "";
  info.api_version = props.properties.apiVersion;
  info.driver_version = props.properties.driverVersion;
  info.vendor_id = props.properties.vendorID;
  info.device_id = props.properties.deviceID;
  std::memcpy(info.pipeline_cache_uuid, props.properties.pipelineCacheUUID, VK_UUID_SIZE);
  info.subgroup_size = subgroup.subgroupSize;
  // Drivers may run a compute shader at any size down to the minimum (Intel: 8 of 32), so code
  // that shuffles within a subgroup plans for the minimum.
  info.min_subgroup_size = has_size_control && size_control.minSubgroupSize ? size_control.minSubgroupSize
                                                                            : subgroup.subgroupSize;
  info.subgroup_shuffle = (subgroup.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT) &&
                          (subgroup.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT);
  info.max_shared_memory = limits.maxComputeSharedMemorySize;
  info.max_storage_buffer_range = limits.maxStorageBufferRange;
  info.max_texel_buffer_elements = limits.maxTexelBufferElements;
  info.max_push_constants = limits.maxPushConstantsSize;
  for (int i = 0; i < 3; ++i) info.max_workgroup_count[i] = limits.maxComputeWorkGroupCount[i];
  info.max_workgroup_invocations = limits.maxComputeWorkGroupInvocations;
  info.min_storage_offset_alignment = limits.minStorageBufferOffsetAlignment;
  info.min_texel_offset_alignment = limits.minTexelBufferOffsetAlignment;
  info.non_coherent_atom_size = limits.nonCoherentAtomSize;
  info.timestamp_period_ns = limits.timestampPeriod;
  info.storage_16bit = storage16.storageBuffer16BitAccess == VK_TRUE;
  info.float16_arithmetic = has_f16_features && float16.shaderFloat16 == VK_TRUE;

  info.coop_matrix_f16 = coop_matrix_f16_supported(instance, physical, info);

  uint32_t timestamp_bits = 0;
  compute_queue_family(physical, &timestamp_bits);
  info.timestamps = timestamp_bits > 0 && limits.timestampPeriod > 0;

  VkPhysicalDeviceMemoryProperties memory{};
  vkGetPhysicalDeviceMemoryProperties(physical, &memory);
  for (uint32_t i = 0; i < memory.memoryHeapCount; ++i)
    if (memory.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT)
      info.device_local_bytes = std::max<uint64_t>(info.device_local_bytes, memory.memoryHeaps[i].size);
  for (uint32_t i = 0; i < memory.memoryTypeCount; ++i) {
    const auto flags = memory.memoryTypes[i].propertyFlags;
    // A host-visible device-local type on a discrete GPU is usually a small BAR window: not UMA.
    if ((flags & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT) && (flags & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) &&
        (flags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) && info.type != VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU)
      info.unified_memory = true;
  }

  bool texel_formats = true;
  for (VkFormat format : {VK_FORMAT_R32G32B32A32_SFLOAT, VK_FORMAT_R32G32B32A32_UINT}) {
    VkFormatProperties fp{};
    vkGetPhysicalDeviceFormatProperties(physical, format, &fp);
    texel_formats = texel_formats && (fp.bufferFeatures & VK_FORMAT_FEATURE_UNIFORM_TEXEL_BUFFER_BIT);
  }
  info.rgba32_texel_formats = texel_formats;
  return info;
}

int type_rank(VkPhysicalDeviceType type) {
  switch (type) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
  }
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

Caps caps_choose(const DeviceInfo& info, const ContextOptions& options) {
  Caps caps;
  // Texel-buffer weight reads are 2-2.5x faster than storage-buffer loads on lavapipe
  // (lavapipe-bench.md); they need the RGBA32 buffer formats and a usable texel count.
  caps.texel_weights = info.rgba32_texel_formats && info.max_texel_buffer_elements >= (1u << 20) &&
                       !env_flag("GLIMPSE_DISABLE_TEXEL");
  // fp16 weights are stored packed (8 halves per 16 bytes) and unpacked with unpackHalf2x16,
  // which is core GLSL: no device feature needed, but the switch forces fp32 storage.
  caps.f16_weights = !env_flag("GLIMPSE_DISABLE_F16");
  // On CPUs (lavapipe) per-lane loads are loops, so one lane per 8 outputs with uniform x reads
  // wins; GPUs need the K dimension spread over a workgroup to fill their lanes.
  caps.gpu_tuning = info.type != VK_PHYSICAL_DEVICE_TYPE_CPU;
  if (const char* tuning = std::getenv("GLIMPSE_TUNING")) {
    if (std::strcmp(tuning, "gpu") == 0) caps.gpu_tuning = true;
    else if (std::strcmp(tuning, "cpu") == 0) caps.gpu_tuning = false;
    else fail(ErrorCode::InvalidArgument, "GLIMPSE_TUNING must be 'gpu' or 'cpu', found '", tuning, "'");
  }
  caps.split_k_gemv = caps.gpu_tuning;
  caps.coop_matrix = info.coop_matrix_f16 && caps.gpu_tuning && !env_flag("GLIMPSE_DISABLE_COOPMAT");
  // One lane per query leaves a GPU mostly idle at a ViT's few hundred queries per head.
  caps.attention_lanes = caps.gpu_tuning && info.subgroup_shuffle && info.subgroup_size >= 2;
  caps.attention_coop = caps.coop_matrix && info.subgroup_shuffle;
  if (const char* attn = std::getenv("GLIMPSE_ATTENTION")) {
    if (std::strcmp(attn, "coop") == 0) {
      if (!caps.coop_matrix || !info.subgroup_shuffle)
        fail(ErrorCode::InvalidArgument, "GLIMPSE_ATTENTION=coop needs tensor cores (VK_NV_cooperative_matrix) and subgroup shuffles, which ",
             info.name, " lacks");
    } else if (std::strcmp(attn, "lanes") == 0) {
      if (!info.subgroup_shuffle || info.subgroup_size < 2)
        fail(ErrorCode::InvalidArgument, "GLIMPSE_ATTENTION=lanes needs subgroup shuffles, which ", info.name, " lacks");
      caps.attention_lanes = true;
      caps.attention_coop = false;
    } else if (std::strcmp(attn, "query") == 0) {
      caps.attention_lanes = false;
      caps.attention_coop = false;
    } else {
      fail(ErrorCode::InvalidArgument, "GLIMPSE_ATTENTION must be 'coop', 'lanes' or 'query', found '", attn, "'");
    }
  }
  if (const char* n = std::getenv("GLIMPSE_ATTENTION_SUBGROUPS")) {
    if (std::strcmp(n, "1") && std::strcmp(n, "2") && std::strcmp(n, "4"))
      fail(ErrorCode::InvalidArgument, "GLIMPSE_ATTENTION_SUBGROUPS must be 1, 2 or 4, found '", n, "'");
    caps.attention_coop_subgroups = uint32_t(n[0] - '0');
  }
  // On CPU/UMA devices the device-local memory is host-visible: upload by memcpy. The switch
  // forces the discrete-GPU path (device-local only, staging copies), e.g. to test it on lavapipe.
  caps.host_mapped = info.unified_memory && !env_flag("GLIMPSE_DISABLE_UMA");
  if (const char* gemv = std::getenv("GLIMPSE_GEMV")) {
    if (std::strcmp(gemv, "split") == 0) caps.split_k_gemv = true;
    else if (std::strcmp(gemv, "blocked") == 0) caps.split_k_gemv = false;
    else fail(ErrorCode::InvalidArgument, "GLIMPSE_GEMV must be 'split' or 'blocked', found '", gemv, "'");
  }
  // Measured on lavapipe (2 cores, BLIP-base): OpenBLAS and fused CPU loops beat the best
  // lavapipe shaders 2-5x on the GEMMs, and a CPU step costs nothing like a dispatch's ~30 us.
  std::string want = options.backend == BackendChoice::Vulkan ? "vulkan" : options.backend == BackendChoice::Cpu ? "cpu" : "auto";
  if (const char* env = std::getenv("GLIMPSE_BACKEND"); env && *env && options.backend == BackendChoice::Auto) want = env;
  if (want != "auto" && want != "cpu" && want != "vulkan") fail(ErrorCode::InvalidArgument, "GLIMPSE_BACKEND must be 'auto', 'cpu' or 'vulkan', found '", want, "'");
  const bool can_cpu = caps.host_mapped && blas_get() != nullptr;
  if (want == "cpu" && !can_cpu)
    fail(ErrorCode::InvalidArgument, "GLIMPSE_BACKEND=cpu needs unified, host-mapped memory (", info.name, caps.host_mapped ? " has it" : " lacks it",
         ") and OpenBLAS (", blas_get() ? "found" : "not found: apt-get install libopenblas0-pthread", ")");
  caps.cpu_backend = want == "cpu" || (want == "auto" && can_cpu && info.type == VK_PHYSICAL_DEVICE_TYPE_CPU);
  if (caps.cpu_backend) caps.texel_weights = false;
  VkDeviceSize limit = info.max_storage_buffer_range;
  if (caps.texel_weights) limit = std::min<VkDeviceSize>(limit, VkDeviceSize(info.max_texel_buffer_elements) * 16);
  if (options.max_binding_bytes) limit = std::min(limit, options.max_binding_bytes);
  caps.max_binding_bytes = limit;
  return caps;
}

std::vector<DeviceInfo> devices_list() {
  InstanceGuard guard;
  std::vector<DeviceInfo> infos;
  auto physicals = physical_devices(guard.instance);
  for (uint32_t i = 0; i < physicals.size(); ++i) infos.push_back(device_query(guard.instance, physicals[i], i));
  return infos;
}

uint32_t device_choose(const std::vector<DeviceInfo>& devices, const std::string& selector) {
  if (devices.empty()) fail(ErrorCode::Device, "no Vulkan device found: ", kNoDeviceHelp);
  if (!selector.empty()) {
    if (std::all_of(selector.begin(), selector.end(), [](unsigned char c) { return std::isdigit(c); })) {
      unsigned long index = std::strtoul(selector.c_str(), nullptr, 10);
      if (index >= devices.size())
        fail(ErrorCode::InvalidArgument, "device index ", selector, " out of range: ", devices.size(), " device(s) found (see 'glimpse devices')");
      return static_cast<uint32_t>(index);
    }
    for (const auto& d : devices)
      if (lower(d.name).find(lower(selector)) != std::string::npos) return d.index;
    fail(ErrorCode::InvalidArgument, "no Vulkan device matches '", selector, "' (see 'glimpse devices')");
  }
  uint32_t best = 0;
  for (const auto& d : devices)
    if (type_rank(d.type) < type_rank(devices[best].type)) best = d.index;
  return best;
}

Context::Context(const ContextOptions& options) {
  instance_ = instance_create();
  try {
    auto physicals = physical_devices(instance_);
    std::vector<DeviceInfo> infos;
    for (uint32_t i = 0; i < physicals.size(); ++i) infos.push_back(device_query(instance_, physicals[i], i));
    std::string selector = options.device;
    if (selector.empty())
      if (const char* env = std::getenv("GLIMPSE_DEVICE")) selector = env;
    const uint32_t chosen = device_choose(infos, selector);
    physical_ = physicals[chosen];
    info_ = infos[chosen];
    caps_ = caps_choose(info_, options);
    vkGetPhysicalDeviceMemoryProperties(physical_, &memory_props_);

    uint32_t timestamp_bits = 0;
    queue_family_ = compute_queue_family(physical_, &timestamp_bits);
    if (queue_family_ == UINT32_MAX) fail(ErrorCode::Device, "Vulkan device '", info_.name, "' has no compute queue");

    const float priority = 1.0f;
    VkDeviceQueueCreateInfo queue_info{VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO};
    queue_info.queueFamilyIndex = queue_family_;
    queue_info.queueCount = 1;
    queue_info.pQueuePriorities = &priority;
    VkDeviceCreateInfo device_info{VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO};
    device_info.queueCreateInfoCount = 1;
    device_info.pQueueCreateInfos = &queue_info;
    // Tensor-core GEMMs: the extension and the features their SPIR-V declares.
    const char* coop_extensions[] = {VK_NV_COOPERATIVE_MATRIX_EXTENSION_NAME, VK_KHR_VULKAN_MEMORY_MODEL_EXTENSION_NAME,
                                     VK_KHR_SHADER_FLOAT16_INT8_EXTENSION_NAME};
    VkPhysicalDeviceCooperativeMatrixFeaturesNV coop{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_COOPERATIVE_MATRIX_FEATURES_NV};
    VkPhysicalDeviceVulkanMemoryModelFeaturesKHR model{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_MEMORY_MODEL_FEATURES_KHR};
    VkPhysicalDeviceShaderFloat16Int8FeaturesKHR float16{VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SHADER_FLOAT16_INT8_FEATURES_KHR};
    if (caps_.coop_matrix) {
      coop.cooperativeMatrix = VK_TRUE;
      model.vulkanMemoryModel = VK_TRUE;
      float16.shaderFloat16 = VK_TRUE;
      coop.pNext = &model;
      model.pNext = &float16;
      device_info.pNext = &coop;
      device_info.enabledExtensionCount = 3;
      device_info.ppEnabledExtensionNames = coop_extensions;
    }
    VK_CHECK(vkCreateDevice(physical_, &device_info, nullptr, &device_));
    vkGetDeviceQueue(device_, queue_family_, 0, &queue_);

    VkCommandPoolCreateInfo pool_info{VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO};
    pool_info.flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT;
    pool_info.queueFamilyIndex = queue_family_;
    VkCommandPool pool = VK_NULL_HANDLE;
    VK_CHECK(vkCreateCommandPool(device_, &pool_info, nullptr, &pool));
    command_pool_ = CommandPoolHandle(device_, pool);

    memory_limit_ = options.memory_limit_bytes;
    if (!memory_limit_)
      if (const char* env = std::getenv("GLIMPSE_MEMORY_LIMIT_MB")) memory_limit_ = std::strtoull(env, nullptr, 10) << 20;
    poison_spares_ = options.poison_spares || env_flag("GLIMPSE_POISON_SPARES");

    pipelines_ = std::make_unique<PipelineStore>(*this);
  } catch (...) {
    pipelines_.reset();
    command_pool_.reset();
    if (device_) vkDestroyDevice(device_, nullptr);
    vkDestroyInstance(instance_, nullptr);
    throw;
  }
}

Context::~Context() {
  if (device_) vkDeviceWaitIdle(device_);
  spare_drop();
  small_.reset();
  staging_arena_.reset();
  pipelines_.reset();
  command_pool_.reset();
  if (device_) vkDestroyDevice(device_, nullptr);
  if (instance_) vkDestroyInstance(instance_, nullptr);
}

const Tensor& Context::zeros() {
  std::call_once(zeros_once_, [this] {
    small_ = std::make_unique<Allocator>(*this, MemoryKind::Host, "zeros", 4096);
    zeros_ = small_->alloc(DType::U32, {64});
    std::memset(zeros_.mapped, 0, zeros_.bytes);
  });
  return zeros_;
}

const Tensor& Context::staging() {
  if (!staging_arena_) {
    staging_arena_ = std::make_unique<Allocator>(*this, MemoryKind::Host, "staging", kStagingBytes);
    staging_ = staging_arena_->alloc(DType::F32, {int64_t(kStagingBytes / 4)});
  }
  return staging_;
}

void Context::memory_reserve(uint64_t bytes, const char* what) {
  if (memory_limit_ && memory_used_ + bytes > memory_limit_) spare_drop();
  const uint64_t used = memory_used_.fetch_add(bytes) + bytes;
  if (memory_limit_ && used > memory_limit_) {
    memory_used_.fetch_sub(bytes);
    fail(ErrorCode::OutOfMemory, "out of device memory: allocating ", bytes >> 10, " KiB for ", what, " would use ", used >> 20,
         " MiB, over the limit of ", memory_limit_ >> 20, " MiB");
  }
  for (uint64_t peak = memory_peak_; used > peak && !memory_peak_.compare_exchange_weak(peak, used);) {
  }
}

void Context::memory_release(uint64_t bytes) { memory_used_.fetch_sub(bytes); }

std::optional<MemoryBlock> Context::spare_take(MemoryKind kind, VkDeviceSize size) {
  std::optional<MemoryBlock> block;
  {
    std::lock_guard<std::mutex> lock(spare_mutex_);
    for (size_t i = spares_.size(); i-- > 0 && !block;)
      if (spares_[i].kind == kind && spares_[i].block.size == size) {
        block = std::move(spares_[i].block);
        spares_.erase(spares_.begin() + std::ptrdiff_t(i));
      }
  }
  if (block && poison_spares_) {  // every bit set: NaN as floats, 0xFFFFFFFF as ids
    if (block->mapped) std::memset(block->mapped, 0xFF, block->size);
    else submit_now([&](VkCommandBuffer cmd) { vkCmdFillBuffer(cmd, block->buffer.get(), 0, VK_WHOLE_SIZE, 0xFFFFFFFFu); });
  }
  return block;
}

void Context::spare_give(MemoryKind kind, MemoryBlock&& block) {
  std::vector<Spare> freed;  // destroyed after the lock is let go
  {
    std::lock_guard<std::mutex> lock(spare_mutex_);
    spares_.push_back({kind, std::move(block)});
    VkDeviceSize kept = 0;
    for (const Spare& s : spares_) kept += s.block.size;
    while (kept > kSpareBytes) {  // the oldest go first
      kept -= spares_.front().block.size;
      freed.push_back(std::move(spares_.front()));
      spares_.erase(spares_.begin());
    }
  }
  for (const Spare& s : freed) memory_release(s.block.size);
}

void Context::spare_drop() {
  std::vector<Spare> dropped;
  {
    std::lock_guard<std::mutex> lock(spare_mutex_);
    dropped.swap(spares_);
  }
  for (const Spare& s : dropped) memory_release(s.block.size);
}

VkDeviceSize Context::spare_bytes() const {
  std::lock_guard<std::mutex> lock(spare_mutex_);
  VkDeviceSize kept = 0;
  for (const Spare& s : spares_) kept += s.block.size;
  return kept;
}

uint32_t Context::memory_type(uint32_t type_bits, VkMemoryPropertyFlags required,
                              VkMemoryPropertyFlags preferred) const {
  uint32_t fallback = UINT32_MAX;
  for (uint32_t i = 0; i < memory_props_.memoryTypeCount; ++i) {
    if (!(type_bits & (1u << i))) continue;
    const auto flags = memory_props_.memoryTypes[i].propertyFlags;
    if ((flags & required) != required) continue;
    if ((flags & preferred) == preferred) return i;
    if (fallback == UINT32_MAX) fallback = i;
  }
  if (fallback == UINT32_MAX) fail(ErrorCode::Device, "Vulkan device '", info_.name, "' has no memory type with flags 0x", std::hex, required);
  return fallback;
}

VkCommandBuffer Context::one_shot_begin() {
  VkCommandBufferAllocateInfo alloc{VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO};
  alloc.commandPool = command_pool_;
  alloc.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  alloc.commandBufferCount = 1;
  VkCommandBuffer cmd = VK_NULL_HANDLE;
  VK_CHECK(vkAllocateCommandBuffers(device_, &alloc, &cmd));
  VkCommandBufferBeginInfo begin{VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
  begin.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VK_CHECK(vkBeginCommandBuffer(cmd, &begin));
  return cmd;
}

void Context::one_shot_end(VkCommandBuffer cmd) {
  struct Free {
    VkDevice device; VkCommandPool pool; VkCommandBuffer cmd;
    ~Free() { vkFreeCommandBuffers(device, pool, 1, &cmd); }
  } free_cmd{device_, command_pool_, cmd};
  VK_CHECK(vkEndCommandBuffer(cmd));
  VkFenceCreateInfo fence_info{VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
  VkFence raw_fence = VK_NULL_HANDLE;
  VK_CHECK(vkCreateFence(device_, &fence_info, nullptr, &raw_fence));
  FenceHandle fence(device_, raw_fence);
  VkSubmitInfo submit{VK_STRUCTURE_TYPE_SUBMIT_INFO};
  submit.commandBufferCount = 1;
  submit.pCommandBuffers = &cmd;
  queue_submit(submit, fence);
  fence_wait(raw_fence);
}

void Context::fence_wait(VkFence fence) {
  const VkResult result = vkWaitForFences(device_, 1, &fence, VK_TRUE, UINT64_MAX);
  if (result == VK_ERROR_DEVICE_LOST) lost_ = true;
  if (result != VK_SUCCESS) vk_fail("vkWaitForFences", result, __FILE__, __LINE__);
}

void Context::queue_submit(const VkSubmitInfo& submit, VkFence fence) {
  std::lock_guard lock(queue_mutex_);
  if (lost_) vk_fail("vkQueueSubmit", VK_ERROR_DEVICE_LOST, __FILE__, __LINE__);
  const VkResult result = vkQueueSubmit(queue_, 1, &submit, fence);
  if (result == VK_ERROR_DEVICE_LOST) lost_ = true;
  if (result != VK_SUCCESS) vk_fail("vkQueueSubmit", result, __FILE__, __LINE__);
}

void Context::submission_check() {
  static std::atomic<int64_t> counted{0};
  if (const char* at = std::getenv("GLIMPSE_TEST_DEVICE_LOST_AT"); at && *at && ++counted == std::atoll(at)) lost_ = true;
  if (lost_) fail(ErrorCode::DeviceLost, "the Vulkan device was lost (VK_ERROR_DEVICE_LOST) on '", info_.name, "'");
}

}  // namespace glimpse
