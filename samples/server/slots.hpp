// --parallel sessions on one model and a bounded wait for them (--queue): a request either gets
// a session, waits in line (up to the queue's length and its deadline), or is turned away.
#pragma once

#include "glimpse.hpp"

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <vector>

namespace glimpse::server {

class SlotPool {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Wait { Granted, QueueFull, TimedOut };

  // Borrowed session, returned to the pool when the lease ends.
  class Lease {
   public:
    Lease(SlotPool* pool, embed::Session* s) : pool_(pool), session_(s) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_->release(session_); }
    embed::Session& session() { return *session_; }

   private:
    SlotPool* pool_;
    embed::Session* session_;
  };

  SlotPool(const embed::Model& model, int parallel, int queue) : queue_(queue) {
    for (int i = 0; i < parallel; ++i) sessions_.push_back(std::make_unique<embed::Session>(model));
    for (auto& s : sessions_) idle_.push_back(s.get());
  }

  Wait acquire(Clock::time_point deadline, std::unique_ptr<Lease>& lease) {
    std::unique_lock<std::mutex> lock(mutex_);
    if (idle_.empty() && waiting_ >= queue_) return Wait::QueueFull;
    ++waiting_;
    const bool got = cv_.wait_until(lock, deadline, [&] { return !idle_.empty(); });
    --waiting_;
    if (!got) return Wait::TimedOut;
    lease = std::make_unique<Lease>(this, idle_.back());
    idle_.pop_back();
    return Wait::Granted;
  }

  struct Load {
    int busy, idle, queued;
  };
  Load load() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {int(sessions_.size() - idle_.size()), int(idle_.size()), waiting_};
  }

 private:
  void release(embed::Session* s) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      idle_.push_back(s);
    }
    cv_.notify_one();
  }

  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<embed::Session>> sessions_;
  std::vector<embed::Session*> idle_;
  int waiting_ = 0;
  const int queue_;
};

}  // namespace glimpse::server
