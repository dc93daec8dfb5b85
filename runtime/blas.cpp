#include "runtime/blas.hpp"

#include <dlfcn.h>

#include <cstdlib>

namespace glimpse {

const Blas* blas_get() {
  static const Blas* blas = []() -> const Blas* {
    // OpenBLAS's DYNAMIC_ARCH build picks its Haswell kernels on some AVX-512 CPUs (Zen 4/5);
    // its SkylakeX kernels are the fast ones there (lavapipe-bench.md: ~350 vs ~200 GFLOP/s
    // sgemm on 2 cores). It reads the choice once, at load: a user's own setting stays.
#if defined(__x86_64__)
    if (!std::getenv("OPENBLAS_CORETYPE") && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl"))
      setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
#endif
    void* lib = nullptr;
    for (const char* name : {"libopenblas.so.0", "libopenblas.so"})
      if ((lib = dlopen(name, RTLD_NOW | RTLD_LOCAL))) break;
    if (!lib) return nullptr;
    static Blas b;  // the library stays loaded for the process
    b.sgemm = reinterpret_cast<Blas::Sgemm>(dlsym(lib, "cblas_sgemm"));
    b.sgemv = reinterpret_cast<Blas::Sgemv>(dlsym(lib, "cblas_sgemv"));
    b.set_threads = reinterpret_cast<void (*)(int)>(dlsym(lib, "openblas_set_num_threads"));
    b.get_threads = reinterpret_cast<int (*)()>(dlsym(lib, "openblas_get_num_threads"));
    if (!b.sgemm || !b.sgemv || !b.set_threads || !b.get_threads) return nullptr;
    b.threads = b.get_threads();
    if (auto cfg = reinterpret_cast<char* (*)()>(dlsym(lib, "openblas_get_config"))) b.config = cfg();
    if (auto core = reinterpret_cast<char* (*)()>(dlsym(lib, "openblas_get_corename"))) b.config += std::string(", core ") + core();
    return &b;
  }();
  return blas;
}

}  // namespace glimpse
