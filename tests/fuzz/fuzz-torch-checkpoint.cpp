// libFuzzer: PyTorch checkpoints (pytorch_model.bin: a zip archive holding a pickle) on arbitrary
// bytes. The restricted unpickler either refuses with a glimpse::Error or returns tensors that lie
// inside the input (every byte of each is read, so ASan catches one that does not).
#include "runtime/torch-checkpoint.hpp"
#include "tests/fuzz/fuzz-file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace glimpse;
  fuzz::refused_cleanly([&] {
    const TorchCheckpoint c = TorchCheckpoint::parse(std::string(reinterpret_cast<const char*>(data), size), "fuzz.bin");
    unsigned sum = 0;
    for (const std::string& name : c.names()) {
      const StTensor* t = c.find(name);
      for (size_t i = 0; i < t->bytes; ++i) sum += unsigned(t->data[i]);
    }
    volatile unsigned sink = sum;
    (void)sink;
  });
  return 0;
}
