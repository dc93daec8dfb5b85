// The CPU backend's threads and per-thread scratch memory (runtime/cpu/*.cpp's ops run on
// them): a pool of one thread per core (GLIMPSE_THREADS), parallel_for over it, and scratch
// buffers that release_scratch gives back to the system between runs.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>

namespace glimpse::cpu {

// The pool's threads, the calling thread's included.
int64_t pool_threads();

// fn(begin, end) over [0, n) items of about `cost` operations each: on one thread when the whole
// is too small to repay waking another (decode steps), else split over the pool.
void parallel_for(int64_t n, int64_t cost, const std::function<void(int64_t, int64_t)>& fn);

// Scratch memory straight from mmap, so that releasing it gives it back to the system whatever
// glibc's thresholds: freed large vectors raise its mmap threshold, after which later buffers
// come from a thread's heap, and a pool thread's heap kept ~5 MB through decoding. Contents are
// not kept when it grows.
class PageBuffer {
 public:
  PageBuffer() = default;
  PageBuffer(const PageBuffer&) = delete;
  PageBuffer& operator=(const PageBuffer&) = delete;
  ~PageBuffer() { reset(); }
  float* get(size_t floats);  // at least `floats`, contents undefined
  size_t bytes() const { return floats_ * 4; }
  void reset();

 private:
  float* ptr_ = nullptr;
  size_t floats_ = 0;
};

// Scratch kept per thread between ops (each encoder layer asks for the same sizes): fp16 weights
// widened for a GEMM, a GEMM's product before its epilogue, attention scores. Every thread's is
// listed, so that release_scratch (between runs) frees the pool's threads' too.
struct Scratch {
  PageBuffer widened, product, scores;
  Scratch();
  ~Scratch();
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
};
// The calling thread's.
Scratch& scratch();

// Frees every thread's scratch buffers bigger than `keep_bytes` (~8 MB after a BLIP-base encoder
// pass on 2 cores) and, when it freed some, glibc's free heap pages. Sequence::run calls it after
// each sequence of CPU steps (no op runs then), so an image pass's scratch and decoding's memory are never
// held at once while a decode step's small buffers stay.
void release_scratch(size_t keep_bytes);

}  // namespace glimpse::cpu
