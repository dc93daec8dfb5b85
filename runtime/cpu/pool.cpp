#include "runtime/cpu/pool.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#ifdef __GLIBC__
#include <malloc.h>  // malloc_trim
#endif
#include <sys/mman.h>
#if defined(__x86_64__)
#include <immintrin.h>  // _mm_pause
#endif

namespace glimpse::cpu {

namespace {

// ---- threads ------------------------------------------------------------------------------------

// Spins until done() or for about `budget_us` (then false): a pool thread woken through the
// kernel takes 10-50 us here, as long as many decode ops take.
template <typename F>
bool spin_until(F&& done, int64_t budget_us) {
  const auto t0 = std::chrono::steady_clock::now();
  for (uint32_t i = 1;; ++i) {
    if (done()) return true;
    if (i % 64 == 0 && std::chrono::steady_clock::now() - t0 > std::chrono::microseconds(budget_us)) return false;
#if defined(__x86_64__)
    _mm_pause();
#endif
  }
}

// A pool of (cores - 1) threads. Between jobs they spin for a while (the next op's loop usually
// comes within microseconds), then sleep. OpenBLAS runs single-threaded inside the pool's jobs
// (blas()), so no other threads want the cores.
class Pool {
 public:
  static Pool& get() {
    static Pool pool;
    return pool;
  }
  size_t threads() const { return workers_.size() + 1; }

  // The caller works too; threads that wake after it has finished its share do not join (on a
  // busy machine a wake-up can take a time slice), so it waits only for those already working.
  void run(int64_t n, int64_t chunk, const std::function<void(int64_t, int64_t)>& fn) {
    std::lock_guard<std::mutex> job_lock(job_mutex_);  // one job at a time; other callers wait
    {
      std::lock_guard<std::mutex> lock(mutex_);
      fn_ = &fn, n_ = n, chunk_ = chunk, next_ = 0, open_ = true;
      generation_.fetch_add(1, std::memory_order_release);
    }
    wake_.notify_all();
    work();
    spin_until([&] { return active_.load(std::memory_order_acquire) == 0; }, kSpinUs);
    std::unique_lock<std::mutex> lock(mutex_);
    open_ = false;
    done_.wait(lock, [&] { return active_ == 0; });
    fn_ = nullptr;
  }

 private:
  static constexpr int64_t kSpinUs = 200;
  // GLIMPSE_THREADS=N: N threads in all (the caller and N - 1 workers), else one per core.
  Pool() {
    unsigned n = std::max(1u, std::thread::hardware_concurrency());
    if (const char* env = std::getenv("GLIMPSE_THREADS"); env && std::atoi(env) > 0) n = unsigned(std::min(std::atoi(env), 256));
    for (unsigned i = 1; i < n; ++i) workers_.emplace_back([this] { loop(); });
  }
  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  void work() {
    for (;;) {
      const int64_t begin = next_.fetch_add(chunk_);
      if (begin >= n_) return;
      (*fn_)(begin, std::min(n_, begin + chunk_));
    }
  }
  void loop() {
    uint64_t seen = 0;
    for (;;) {
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; }, kSpinUs);
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stop_ || (open_ && generation_ != seen); });
        if (stop_) return;
        seen = generation_;
        ++active_;
      }
      work();
      std::lock_guard<std::mutex> lock(mutex_);
      if (--active_ == 0) done_.notify_all();
    }
  }

  std::vector<std::thread> workers_;
  std::mutex job_mutex_, mutex_;
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, chunk_ = 1;
  std::atomic<int64_t> next_{0};
  std::atomic<int> active_{0};            // changed under mutex_, also read spinning
  std::atomic<uint64_t> generation_{0};  // likewise
  bool open_ = false, stop_ = false;
};

// The registry of every thread's scratch, never destroyed: threads may exit after static
// destruction.
std::mutex& scratch_mutex() {
  static auto* m = new std::mutex;
  return *m;
}
std::vector<Scratch*>& scratch_all() {
  static auto* v = new std::vector<Scratch*>;
  return *v;
}

}  // namespace

int64_t pool_threads() { return int64_t(Pool::get().threads()); }

void parallel_for(int64_t n, int64_t cost, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  Pool& pool = Pool::get();
  if (pool.threads() == 1 || n < 2 || n * std::max<int64_t>(cost, 1) < (int64_t(1) << 16)) return fn(0, n);
  const int64_t chunk = std::max<int64_t>(1, n / int64_t(pool.threads() * 4));
  pool.run(n, chunk, fn);
}

float* PageBuffer::get(size_t floats) {
  if (floats > floats_) {
    reset();
    void* p = ::mmap(nullptr, floats * 4, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    ptr_ = static_cast<float*>(p), floats_ = floats;
  }
  return ptr_;
}

void PageBuffer::reset() {
  if (ptr_) ::munmap(ptr_, floats_ * 4);
  ptr_ = nullptr, floats_ = 0;
}

Scratch::Scratch() {
  std::lock_guard<std::mutex> lock(scratch_mutex());
  scratch_all().push_back(this);
}

Scratch::~Scratch() {
  std::lock_guard<std::mutex> lock(scratch_mutex());
  scratch_all().erase(std::find(scratch_all().begin(), scratch_all().end(), this));
}

Scratch& scratch() {
  static thread_local Scratch s;
  return s;
}

void release_scratch(size_t keep_bytes) {
  bool freed = false;
  {
    std::lock_guard<std::mutex> lock(scratch_mutex());  // no op runs now (run_mutex): no one uses them
    for (Scratch* s : scratch_all())
      for (PageBuffer* b : {&s->widened, &s->product, &s->scores})
        if (b->bytes() > keep_bytes) b->reset(), freed = true;
  }
#ifdef __GLIBC__
  // After an image pass glibc keeps the freed heap pages of its other buffers. Give them back;
  // not after decode steps, which free no scratch (malloc_trim walks every arena).
  if (freed) malloc_trim(0);
#endif
}

}  // namespace glimpse::cpu
