// glimpse devices: every Vulkan device with what glimpse does with it, from the C API.
#include "commands.hpp"
#include "options.hpp"

#include <cstdio>
#include <cstdlib>
#include <vector>

namespace glimpse::cli {

int devices_main(const Common& common, const std::vector<std::string>& args) {
  if (!args.empty()) throw sample::UsageError("glimpse devices: takes no arguments");
  if (!common.device.empty()) setenv("GLIMPSE_DEVICE", common.device.c_str(), 1);  // which one is chosen
  uint32_t count = 0;
  if (glimpse_devices(nullptr, &count) != GLIMPSE_OK) throw embed::Error(GLIMPSE_ERROR_DEVICE, glimpse_last_error());
  std::vector<glimpse_device_info> devices(count);
  for (glimpse_device_info& d : devices) d.struct_size = sizeof d;
  if (const glimpse_status s = glimpse_devices(devices.data(), &count); s != GLIMPSE_OK)
    throw embed::Error(s, glimpse_last_error());
  const glimpse_device_info* chosen = nullptr;
  for (const glimpse_device_info& d : devices) {
    if (d.preferred) chosen = &d;
    std::printf("%s device %u: %s\n", d.preferred ? "*" : " ", d.index, d.name);
    std::printf("    type              %s\n", d.type);
    std::printf("    driver            %s, Vulkan %u.%u.%u\n", d.driver, (d.api_version >> 22) & 0x7f,
                (d.api_version >> 12) & 0x3ff, d.api_version & 0xfff);
    std::printf("    memory            %.1f GiB device-local%s\n", double(d.memory_bytes) / (1u << 30),
                d.unified_memory ? ", unified with the host" : "");
    std::printf("    subgroup size     %u\n", d.subgroup_size);
    std::printf("    shared memory     %u KiB\n", d.shared_memory_bytes >> 10);
    std::printf("    max storage range %llu MiB\n", static_cast<unsigned long long>(d.max_storage_range_bytes >> 20));
    std::printf("    fp16              storage %s, arithmetic %s\n", d.fp16_storage ? "yes" : "no",
                d.fp16_arithmetic ? "yes" : "no");
    std::printf("    tensor cores      %s\n", d.tensor_cores ? "yes (VK_NV_cooperative_matrix, fp16 GEMMs)" : "no");
    std::printf("    backend           %s\n", d.backend);
  }
  if (!chosen) throw embed::Error(GLIMPSE_ERROR_DEVICE, "no device is usable");
  std::printf("glimpse uses device %u (%s)%s\n", chosen->index, chosen->name,
              common.device.empty() ? "; choose another with --device or GLIMPSE_DEVICE" : "");
  if (std::string(chosen->backend) == "cpu")
    std::printf("its ops run on the CPU backend (CPU code with OpenBLAS); GLIMPSE_BACKEND=vulkan runs the shaders\n");
  else
    std::printf("its ops run as Vulkan compute shaders%s\n",
                std::string(chosen->type) == "CPU" ? " (GLIMPSE_BACKEND=cpu: the CPU backend, with OpenBLAS)" : "");
  return 0;
}

}  // namespace glimpse::cli
