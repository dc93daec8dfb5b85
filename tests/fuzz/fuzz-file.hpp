// Shared by the libFuzzer targets (tests/fuzz/README.md): the loaders under test read files, so
// each input is written to a file in a private directory first. Only glimpse::Error counts as a
// clean refusal; any other exception escapes and libFuzzer reports it as a crash, like a signal.
#pragma once

#include "runtime/error.hpp"

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>

namespace glimpse::fuzz {

inline const std::filesystem::path& scratch_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() / ("glimpse-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  return dir;
}

// Writes `size` bytes to scratch_dir()/name and returns the path.
inline std::string write_file(const std::string& name, const uint8_t* data, size_t size) {
  const auto path = scratch_dir() / name;
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data),
                                                                std::streamsize(size));
  return path.string();
}

inline std::string write_file(const std::string& name, std::string_view text) {
  return write_file(name, reinterpret_cast<const uint8_t*>(text.data()), text.size());
}

// Runs `f`, accepting a glimpse::Error (a clean, named refusal) and nothing else.
template <typename F>
void refused_cleanly(F&& f) {
  try {
    f();
  } catch (const glimpse::Error&) {
  }
}

}  // namespace glimpse::fuzz
