// OpenBLAS, loaded at run time (dlopen) so that glimpse never needs it to build or start: the
// CPU backend (runtime/cpu/) runs linear layers and attention through it, and the op
// benchmark uses it as its yardstick. Debian: libopenblas0-pthread.
#pragma once

#include <string>

namespace glimpse {

struct Blas {
  // cblas_sgemm / cblas_sgemv with CBLAS's enum values as ints.
  using Sgemm = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
  using Sgemv = void (*)(int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
  static constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

  Sgemm sgemm = nullptr;
  Sgemv sgemv = nullptr;
  // openblas_set/get_num_threads: process-wide. The CPU backend sets 1 (it splits work over its
  // own threads); peers timed beside it set `threads` for their calls and put the old value back.
  void (*set_threads)(int) = nullptr;
  int (*get_threads)() = nullptr;
  int threads = 1;  // the count when loaded: OPENBLAS_NUM_THREADS, else the cores
  std::string config;  // "OpenBLAS 0.3.21 ..., core SkylakeX"
};

// The process's OpenBLAS, or nullptr when it cannot be loaded. Thread-safe.
const Blas* blas_get();

}  // namespace glimpse
