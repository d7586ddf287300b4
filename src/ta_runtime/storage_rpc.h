// The secure side of the REE file system: files in the normal world reached only through
// tee-supplicant with OPTEE_RPC_CMD_FS (the protocol of optee_os core/tee/tee_fs_rpc.c), and the
// storage lock that serializes storage transactions across secure threads.
//
// Everything runs on the calling secure thread: each request suspends it in an RPC. Nothing the
// normal world answers is trusted: sizes are bounded by what was asked, data is copied out of the
// shared buffer once and only then looked at (and it is authenticated by the caller anyway).
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <span>
#include <string>
#include <vector>

#include "base/thread_annotations.h"
#include "tee/mobj.h"
#include "tee/rpc.h"

namespace teemu::hw {
class PhysMem;
}
namespace teemu::tee {
class SecureThread;
}  // namespace teemu::tee

namespace teemu::ta_runtime::storage {

// A mutex for secure threads, which may not hold a host mutex across an RPC: a waiter sleeps in
// the normal world (RPC NOTIFICATION WAIT on its thread's wait key) and the owner wakes the
// waiters when it unlocks, as OP-TEE's mutexes do. Spurious wake-ups only cause a recheck.
class SecureMutex {
 public:
  // True once the lock is held. False, without the lock, for a thread whose partition is being
  // torn down (it can no longer sleep in the normal world): the caller must not go on.
  [[nodiscard]] bool lock(tee::SecureThread& t) EXCLUDES(m_);
  // Wakes every waiter: one registered by a thread that gave up would otherwise take the only
  // wake-up with it.
  void unlock(tee::SecureThread& t) EXCLUDES(m_);

 private:
  base::Mutex m_;
  bool held_ GUARDED_BY(m_) = false;
  std::deque<uint32_t> waiters_ GUARDED_BY(m_);
};

// File operations through RPC. One client serves one storage transaction: it allocates its
// bounce buffer (RPC SHM_ALLOC of application memory) on first use and frees it on destruction.
//
// Results (GP codes): TEE_SUCCESS; TEE_ERROR_ITEM_NOT_FOUND when the file does not exist;
// TEE_ERROR_ACCESS_CONFLICT when a rename without overwrite finds its target;
// TEE_ERROR_EXCESS_DATA when a file is larger than the caller allows; anything else the normal
// world could not do is TEE_ERROR_STORAGE_NOT_AVAILABLE (GP: storage "currently inaccessible"),
// including a tee-supplicant that is gone (TEEC_ERROR_COMMUNICATION from the driver).
class ReeFsClient {
 public:
  explicit ReeFsClient(tee::SecureThread& t);
  ~ReeFsClient();
  ReeFsClient(const ReeFsClient&) = delete;
  ReeFsClient& operator=(const ReeFsClient&) = delete;

  // The whole file, at most `max` bytes.
  uint32_t read_file(const std::string& name, size_t max, std::vector<uint8_t>* out);
  // Creates (or truncates) the file and writes `data` into it.
  uint32_t write_file(const std::string& name, std::span<const uint8_t> data);
  uint32_t rename(const std::string& from, const std::string& to, bool overwrite);
  uint32_t remove(const std::string& name);
  // The names in directory `name` (none if it is missing or empty), at most `max` of them.
  uint32_t list_dir(const std::string& name, size_t max, std::vector<std::string>* out);

  // Bytes moved through one RPC at most.
  static constexpr size_t kChunk = 64 * 1024;

 private:
  static constexpr size_t kNameMax = 256;  // two name slots precede the data area
  static constexpr size_t kDataAt = 2 * kNameMax;

  bool ensure_buffer();
  bool put_name(size_t slot, const std::string& name);
  void copy_in(uint64_t off, const uint8_t* src, size_t n);
  void copy_out(uint64_t off, uint8_t* dst, size_t n);
  uint32_t fs(std::span<tee::RpcParam> params);
  uint32_t open(const std::string& name, bool create, uint64_t* fd);
  void close(uint64_t fd);

  tee::SecureThread& t_;
  tee::RpcClient& rpc_;
  hw::PhysMem& mem_;
  tee::MobjRef shm_;
};

// The GP result for an RPC outcome that is not one of the defined ones.
uint32_t storage_error(uint32_t rpc_result);

}  // namespace teemu::ta_runtime::storage
