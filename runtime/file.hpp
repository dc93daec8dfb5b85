// Reading the files a model folder or a request names. None of them may block or run without end:
// a FIFO blocks open() until a writer comes, /dev/zero never ends, a directory reads as an odd
// stream error. So only regular files are opened (checked before opening, and opened so that a
// FIFO swapped in meanwhile cannot block), each kind with a size cap.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace glimpse {

// Caps per kind of file: JSON (config.json, tokenizer.json, safetensors indexes), vocabulary and
// merges text, encoded images. Real files are far below them (GPT-2's tokenizer.json: 1.4 MB).
inline constexpr uint64_t kMaxJsonFileBytes = uint64_t(256) << 20;
inline constexpr uint64_t kMaxTextFileBytes = uint64_t(64) << 20;
inline constexpr uint64_t kMaxImageFileBytes = uint64_t(256) << 20;

// The size of the regular file `path`. ErrorCode::Io naming the path when it cannot be read, is a
// directory, a FIFO, device or socket, or holds more than `max_bytes` (`what` names the kind).
uint64_t regular_file_size(const std::string& path, uint64_t max_bytes, const char* what);

// The contents of the regular file `path`, under the same checks.
std::string file_read(const std::string& path, uint64_t max_bytes, const char* what);

// A read-only memory map of the regular file `path` (checkpoints). ErrorCode::Io naming the path
// when it cannot be opened or is not a regular file.
class MappedFile {
 public:
  explicit MappedFile(const std::string& path);
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();
  const std::byte* bytes() const { return static_cast<const std::byte*>(addr); }

  void* addr = nullptr;
  size_t size = 0;
};

// Lets the OS drop the whole pages inside [data, data + bytes) of a mapping (a later read faults
// them back in from the file); the neighbours' pages stay. Advice: failure is harmless.
void memory_release(const std::byte* data, size_t bytes);

}  // namespace glimpse
