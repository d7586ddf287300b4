// The supplicant queue of the OP-TEE driver (drivers/tee/optee/supp.c, asynchronous protocol):
// RPC requests that the kernel cannot serve wait here for tee-supplicant, which takes them with
// SUPPL_RECV and answers with SUPPL_SEND.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <vector>

#include "base/result.h"
#include "base/thread_annotations.h"
#include "ree/tee_types.h"

namespace teemu::ree::optee {

class Supplicant {
 public:
  // Called by the RPC path: queues a request and waits for the answer. Without an attached
  // supplicant the request fails at once with TEEC_ERROR_COMMUNICATION (nothing would answer).
  uint32_t request(uint32_t func, std::vector<TeeParam>& params) EXCLUDES(lock_);

  // SUPPL_RECV from the supplicant's context. `params` holds the supplicant's buffer (each NONE
  // or META; a leading META announces the asynchronous protocol); on return it holds the
  // request, preceded by the request-id META param when asynchronous.
  KResult<void> recv(TeeContext& ctx, uint32_t& func, uint32_t& num_params,
                     std::vector<TeeParam>& params) EXCLUDES(lock_);
  KResult<void> send(TeeContext& ctx, uint32_t ret, std::vector<TeeParam>& params)
      EXCLUDES(lock_);

  // The supplicant opened / closed its device. Closing fails every pending request with
  // TEEC_ERROR_COMMUNICATION.
  KResult<void> attach(TeeContext* ctx) EXCLUDES(lock_);
  void detach(TeeContext* ctx) EXCLUDES(lock_);
  bool attached() const EXCLUDES(lock_);
  // Machine shutdown: a supplicant blocked in recv returns -EINTR.
  void interrupt() EXCLUDES(lock_);
  size_t pending() const EXCLUDES(lock_);
  // A new reference to shm `id` of the attached supplicant's context, or null.
  TeeShm* shm_get(TeeDevice& dev, int id) EXCLUDES(lock_);

 private:
  // A request, shared by its waiting caller and the queue so that whoever answers it can wake the
  // caller after dropping lock_: the woken caller then takes lock_ at once instead of blocking on
  // it (a second wake-up), and may return and let go of the request while the waker still holds
  // its reference to notify.
  struct Request {
    uint32_t func = 0;
    uint32_t ret = 0;
    std::vector<TeeParam>* params = nullptr;
    int caller_cpu = -1;  // where the caller queued it
    // Set under lock_ once ret and the outputs are written; read without it by a polling caller.
    std::atomic<bool> done{false};
    bool sleeping = false;  // under lock_: the caller waits on cv and must be notified
    base::CondVar cv;
  };
  using RequestRef = std::shared_ptr<Request>;
  // Marks `r` answered with `ret`; the caller notifies r.cv once lock_ is dropped.
  void complete_locked(Request& r, uint32_t ret) REQUIRES(lock_);
  // send() under lock_: the answered request, to be notified once lock_ is dropped.
  KResult<RequestRef> send_locked(TeeContext& ctx, uint32_t ret, std::vector<TeeParam>& params)
      EXCLUDES(lock_);

  mutable base::Mutex lock_;
  base::CondVar reqs_cv_;
  TeeContext* ctx_ GUARDED_BY(lock_) = nullptr;
  std::deque<RequestRef> queue_ GUARDED_BY(lock_);
  // Handoffs without sleeping (see supp.cc): queue_.size() for a supplicant polling without lock_;
  // supplicant threads asleep on reqs_cv_ (only they need a notification); the CPU of the
  // supplicant thread awake in or after recv (-1 when it sleeps); the CPU the last request came
  // from; set when recv must stop polling (interrupt, detach).
  std::atomic<size_t> queued_{0};
  uint32_t recv_sleepers_ GUARDED_BY(lock_) = 0;
  std::atomic<int> supp_cpu_{-1};
  std::atomic<int> last_caller_cpu_{-1};
  std::atomic<bool> stop_polling_{false};
  std::map<int, RequestRef> idr_ GUARDED_BY(lock_);  // handed to the supplicant, not yet answered
  int sync_req_id_ GUARDED_BY(lock_) = -1;
  bool interrupted_ GUARDED_BY(lock_) = false;
};

}  // namespace teemu::ree::optee
