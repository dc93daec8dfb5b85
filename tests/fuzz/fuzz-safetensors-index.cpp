// libFuzzer: model.safetensors.index.json (sharded checkpoints) on arbitrary bytes, beside two
// small valid shards, so a well-formed index reaches the cross-checks between index and shards.
#include "runtime/safetensors.hpp"
#include "tests/fuzz/fuzz-file.hpp"

#include <cstring>

namespace {

// A valid shard holding one F32 tensor `name` of 2 values.
std::string shard(const std::string& name) {
  std::string header = "{\"" + name + "\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
  while (header.size() % 8) header += ' ';
  std::string out(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(out.data(), &n, 8);  // little-endian hosts only, like the reader's targets
  return out + header + std::string(8, '\x01');
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool shards = [] {
    glimpse::fuzz::write_file("model-00001-of-00002.safetensors", shard("a.weight"));
    glimpse::fuzz::write_file("model-00002-of-00002.safetensors", shard("b.weight"));
    return true;
  }();
  (void)shards;
  const std::string path = glimpse::fuzz::write_file("model.safetensors.index.json", data, size);
  glimpse::fuzz::refused_cleanly([&] {
    const glimpse::SafeTensors st = glimpse::SafeTensors::open(path);
    for (const std::string& name : st.names())
      if (const glimpse::StTensor* t = st.find(name); t && t->is_float()) (void)glimpse::SafeTensors::to_f32(*t);
  });
  return 0;
}
