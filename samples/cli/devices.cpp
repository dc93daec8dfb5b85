// glimpse devices: every Vulkan device with the capabilities glimpse cares about.
#include "runtime/blas.hpp"
#include "runtime/device.hpp"
#include "commands.hpp"

#include <cstdio>
#include <cstdlib>

namespace glimpse::cli {

int devices_main(const Common& common, const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fprintf(stderr, "glimpse devices: takes no arguments\n");
    return 2;
  }
  const std::vector<DeviceInfo> devices = devices_list();
  std::string selector = common.device;
  if (selector.empty())
    if (const char* env = std::getenv("GLIMPSE_DEVICE")) selector = env;
  const uint32_t chosen = device_choose(devices, selector);
  for (const DeviceInfo& d : devices) {
    std::printf("%s device %u: %s\n", d.index == chosen ? "*" : " ", d.index, d.name.c_str());
    std::printf("    type              %s\n", d.type_name());
    std::printf("    driver            %s %s (version 0x%x), Vulkan %u.%u.%u\n", d.driver_name.c_str(),
                d.driver_info.c_str(), d.driver_version, VK_VERSION_MAJOR(d.api_version),
                VK_VERSION_MINOR(d.api_version), VK_VERSION_PATCH(d.api_version));
    std::printf("    memory            %.1f GiB device-local%s\n", double(d.device_local_bytes) / (1u << 30),
                d.unified_memory ? ", unified with the host" : "");
    std::printf("    subgroup size     %u\n", d.subgroup_size);
    std::printf("    shared memory     %u KiB\n", d.max_shared_memory >> 10);
    std::printf("    max storage range %u MiB (%u bytes)\n", d.max_storage_buffer_range >> 20, d.max_storage_buffer_range);
    std::printf("    max texel buffer  %u elements\n", d.max_texel_buffer_elements);
    std::printf("    fp16              storage %s, arithmetic %s\n", d.storage_16bit ? "yes" : "no",
                d.float16_arithmetic ? "yes" : "no");
    std::printf("    tensor cores      %s\n", d.coop_matrix_f16 ? "yes (VK_NV_cooperative_matrix, fp16 GEMMs)" : "no");
    std::printf("    timestamps        %s\n", d.timestamps ? "yes" : "no");
  }
  std::printf("glimpse uses device %u (%s)%s\n", chosen, devices[chosen].name.c_str(),
              selector.empty() ? "; choose another with --device or GLIMPSE_DEVICE" : "");
  ContextOptions opt;
  opt.device = std::to_string(chosen);
  const Context ctx(opt);
  if (std::string(ctx.caps().backend_name()) == "host")
    std::printf("its ops run on the host backend (%s); GLIMPSE_BACKEND=vulkan runs the shaders\n",
                blas_get()->config.c_str());
  else
    std::printf("its ops run as Vulkan compute shaders%s\n",
                devices[chosen].type == VK_PHYSICAL_DEVICE_TYPE_CPU ? " (GLIMPSE_BACKEND=cpu: the host backend, with OpenBLAS)" : "");
  return 0;
}

}  // namespace glimpse::cli
