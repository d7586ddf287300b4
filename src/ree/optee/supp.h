// The supplicant queue of the OP-TEE driver (drivers/tee/optee/supp.c, asynchronous protocol):
// RPC requests that the kernel cannot serve wait here for tee-supplicant, which takes them with
// SUPPL_RECV and answers with SUPPL_SEND.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
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
  struct Request {
    uint32_t func = 0;
    uint32_t ret = 0;
    std::vector<TeeParam>* params = nullptr;
    bool done = false;
    base::CondVar cv;
  };
  void complete_locked(Request* r, uint32_t ret) REQUIRES(lock_);

  mutable base::Mutex lock_;
  base::CondVar reqs_cv_;
  TeeContext* ctx_ GUARDED_BY(lock_) = nullptr;
  std::deque<Request*> queue_ GUARDED_BY(lock_);
  std::map<int, Request*> idr_ GUARDED_BY(lock_);  // handed to the supplicant, not yet answered
  int sync_req_id_ GUARDED_BY(lock_) = -1;
  bool interrupted_ GUARDED_BY(lock_) = false;
};

}  // namespace teemu::ree::optee
