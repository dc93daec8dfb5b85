// libFuzzer: the safetensors reader on arbitrary bytes as model.safetensors (header length, JSON
// header, dtypes, shapes, offsets), then every float tensor read back in full.
#include "runtime/safetensors.hpp"
#include "tests/fuzz/fuzz-file.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = glimpse::fuzz::write_file("model.safetensors", data, size);
  glimpse::fuzz::refused_cleanly([&] {
    const glimpse::SafeTensors st = glimpse::SafeTensors::open(path);
    for (const std::string& name : st.names()) {
      const glimpse::StTensor* t = st.find(name);
      if (t && t->is_float()) (void)glimpse::SafeTensors::to_f32(*t);
    }
  });
  return 0;
}
