#include "runtime/file.hpp"

#include "runtime/error.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace glimpse {

namespace {

void check_stat(const std::string& path, const struct stat& st, uint64_t max_bytes, const char* what) {
  if (S_ISDIR(st.st_mode)) fail(ErrorCode::Io, path, ": is a directory, not ", what);
  if (!S_ISREG(st.st_mode)) fail(ErrorCode::Io, path, ": is not a regular file (a FIFO, device or socket), not ", what);
  if (uint64_t(st.st_size) > max_bytes)
    fail(ErrorCode::Io, path, ": ", st.st_size, " bytes is more than ", what, " may hold (", max_bytes, ")");
}

}  // namespace

uint64_t regular_file_size(const std::string& path, uint64_t max_bytes, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) fail(ErrorCode::Io, path, ": cannot open: ", std::strerror(errno));
  check_stat(path, st, max_bytes, what);
  return uint64_t(st.st_size);
}

std::string file_read(const std::string& path, uint64_t max_bytes, const char* what) {
  regular_file_size(path, max_bytes, what);
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(ErrorCode::Io, path, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail(ErrorCode::Io, path, ": cannot open: ", std::strerror(errno));
  }
  try {
    check_stat(path, st, max_bytes, what);  // the file opened, not only the one looked at
  } catch (...) {
    ::close(fd);
    throw;
  }
  std::string data(size_t(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    const ssize_t n = ::read(fd, data.data() + got, data.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;  // shrank meanwhile: what was read
    got += size_t(n);
  }
  ::close(fd);
  data.resize(got);
  return data;
}

MappedFile::MappedFile(const std::string& path) {
  // O_NONBLOCK: a FIFO named as a checkpoint would block open() until a writer came; this way it
  // opens at once and is refused below as not a regular file (no effect on regular files).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) fail(ErrorCode::Io, path, ": cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    fail(ErrorCode::Io, path, ": cannot open: ", std::strerror(errno));
  }
  try {
    check_stat(path, st, UINT64_MAX, "a checkpoint");
  } catch (...) {
    ::close(fd);
    throw;
  }
  size = static_cast<size_t>(st.st_size);
  if (size > 0) {
    addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (addr == MAP_FAILED) {
      addr = nullptr;
      ::close(fd);
      fail(path, ": mmap failed: ", std::strerror(errno));
    }
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (addr) ::munmap(addr, size);
}

void memory_release(const std::byte* data, size_t bytes) {
  const uintptr_t page = uintptr_t(::sysconf(_SC_PAGESIZE));
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(data) + page - 1) / page * page;
  const uintptr_t end = (reinterpret_cast<uintptr_t>(data) + bytes) / page * page;
  if (end > begin) ::madvise(reinterpret_cast<void*>(begin), end - begin, MADV_DONTNEED);
}

}  // namespace glimpse
