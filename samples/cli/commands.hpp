// The glimpse CLI's subcommands. caption, vqa and devices use the public C API alone; the bench
// commands (bench-*.cpp, the glimpse_cli_bench library) measure the runtime's internals and so
// include internal headers.
#pragma once

#include <string>
#include <vector>

namespace glimpse::cli {

struct Common {
  std::string device;  // --device
};

int devices_main(const Common& common, const std::vector<std::string>& args);
int bench_main(const Common& common, const std::vector<std::string>& args);
int caption_main(const Common& common, const std::vector<std::string>& args);
int vqa_main(const Common& common, const std::vector<std::string>& args);
int bench_caption_main(const Common& common, const std::vector<std::string>& args);

}  // namespace glimpse::cli
