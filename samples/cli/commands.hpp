// The glimpse CLI's subcommands.
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
