// Clang thread-safety annotations (no-ops elsewhere) and an annotated mutex. A CI step builds with
// clang -Wthread-safety so that a field marked GUARDED_BY is never touched without its lock.
#pragma once

#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define TEEMU_TSA(x) __attribute__((x))
#else
#define TEEMU_TSA(x)
#endif

#define CAPABILITY(x) TEEMU_TSA(capability(x))
#define SCOPED_CAPABILITY TEEMU_TSA(scoped_lockable)
#define GUARDED_BY(x) TEEMU_TSA(guarded_by(x))
#define PT_GUARDED_BY(x) TEEMU_TSA(pt_guarded_by(x))
#define REQUIRES(...) TEEMU_TSA(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) TEEMU_TSA(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) TEEMU_TSA(acquire_capability(__VA_ARGS__))
#define ACQUIRE_SHARED(...) TEEMU_TSA(acquire_shared_capability(__VA_ARGS__))
#define RELEASE(...) TEEMU_TSA(release_capability(__VA_ARGS__))
#define TRY_ACQUIRE(...) TEEMU_TSA(try_acquire_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS TEEMU_TSA(no_thread_safety_analysis)

namespace teemu::base {

class CAPABILITY("mutex") Mutex {
 public:
  void lock() ACQUIRE() { m_.lock(); }
  void unlock() RELEASE() { m_.unlock(); }
  bool try_lock() TRY_ACQUIRE(true) { return m_.try_lock(); }
  std::mutex& native() { return m_; }

 private:
  std::mutex m_;
};

class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex& m) ACQUIRE(m) : m_(m) { m_.lock(); }
  ~MutexLock() RELEASE() { m_.unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex& m_;
};

// Condition variable usable with Mutex while the caller holds it (the analysis sees the lock held
// across the wait, which is the contract the caller relies on).
class CondVar {
 public:
  void wait(Mutex& m) REQUIRES(m) {
    std::unique_lock<std::mutex> lk(m.native(), std::adopt_lock);
    cv_.wait(lk);
    lk.release();
  }
  template <class Pred>
  void wait(Mutex& m, Pred pred) REQUIRES(m) {
    std::unique_lock<std::mutex> lk(m.native(), std::adopt_lock);
    cv_.wait(lk, pred);
    lk.release();
  }
  template <class Clock, class Dur>
  std::cv_status wait_until(Mutex& m, const std::chrono::time_point<Clock, Dur>& t) REQUIRES(m) {
    std::unique_lock<std::mutex> lk(m.native(), std::adopt_lock);
    auto r = cv_.wait_until(lk, t);
    lk.release();
    return r;
  }
  void notify_one() { cv_.notify_one(); }
  void notify_all() { cv_.notify_all(); }

 private:
  std::condition_variable cv_;
};

}  // namespace teemu::base
