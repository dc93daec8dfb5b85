// glimpse: the command-line front end.
#include "commands.hpp"
#include "options.hpp"

#include <cstdio>
#include <cstring>
#include <exception>

namespace {

const char* const kUsage =
    "usage: glimpse [--device INDEX|NAME] COMMAND [ARGS]\n"
    "\n"
    "commands:\n"
    "  devices               list Vulkan devices and which one glimpse would use\n"
    "  caption [--model DIR] [--prompt TEXT] [--max-new-tokens N] [--json] IMAGE|FOLDER...\n"
    "                        caption images with a model folder (Hugging Face layout; default: the\n"
    "                        bundled synthetic-scenes model)\n"
    "  vqa [--model DIR] --question TEXT [--beams N] [--json] IMAGE|FOLDER...\n"
    "                        answer a question about images with a BLIP VQA model folder (default:\n"
    "                        the bundled synthetic-scenes model)\n"
    "  bench ops [--quick] [--reps N] [--no-blas] [--only linear|gemv|attn|rows]\n"
    "                        time every op on BLIP-base shapes (GFLOP/s, GB/s), beside OpenBLAS\n"
    "  bench startup         time device + pipeline creation and first dispatches (cold vs warm cache)\n"
    "  bench caption [--config blip-base|blip-large] [--f16] [--tokens N] [--batch N] [--reps N] [--json]\n"
    "                        BLIP captioning speed and memory with random weights in the real configs\n"
    "\n"
    "environment:\n"
    "  GLIMPSE_DEVICE        device index or name substring (like --device)\n"
    "  GLIMPSE_PROFILE=1     print per-op GPU time after every submitted sequence\n"
    "  GLIMPSE_DISABLE_F16=1, GLIMPSE_DISABLE_TEXEL=1, GLIMPSE_DISABLE_UMA=1\n"
    "                        force the portable paths (fp32 weights, storage buffers, staging)\n"
    "  GLIMPSE_GEMV=split|blocked, GLIMPSE_TUNING=gpu|cpu\n"
    "                        force a GEMV kernel / the GPU or CPU kernel shapes\n"
    "  GLIMPSE_CACHE_DIR     where the pipeline cache lives (default ~/.cache/glimpse)\n"
    "  GLIMPSE_MEMORY_LIMIT_MB  refuse device allocations past this many MiB\n"
    "  GLIMPSE_DUMP=DIR      write named intermediates as DIR/<name>.npy after each run\n";

}  // namespace

int main(int argc, char** argv) {
  glimpse::cli::Common common;
  std::vector<std::string> args;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--device") == 0) {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "glimpse: --device needs a value\n");
        return 2;
      }
      common.device = argv[++i];
    } else if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) {
      std::fputs(kUsage, stdout);
      return 0;
    } else {
      args.emplace_back(argv[i]);
    }
  }
  if (args.empty()) {
    std::fputs(kUsage, stderr);
    return 2;
  }
  const std::string command = args.front();
  args.erase(args.begin());
  try {
    if (command == "devices") return glimpse::cli::devices_main(common, args);
    if (command == "bench") return glimpse::cli::bench_main(common, args);
    if (command == "caption") return glimpse::cli::caption_main(common, args);
    if (command == "vqa") return glimpse::cli::vqa_main(common, args);
    std::fprintf(stderr, "glimpse: unknown command '%s'\n\n%s", command.c_str(), kUsage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "glimpse: error: %s\n", e.what());
    return glimpse::sample::exit_status(e);  // 2: the caller's mistake
  }
}
