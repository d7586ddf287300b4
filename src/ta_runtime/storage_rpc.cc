#include "ta_runtime/storage_rpc.h"

#include <algorithm>
#include <cstring>

#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "base/assert.h"
#include "base/checked.h"
#include "hw/phys_mem.h"
#include "tee/secure_os.h"
#include "tee/thread.h"

namespace teemu::ta_runtime::storage {

using tee::RpcParam;

// --- SecureMutex ---------------------------------------------------------------------------------

bool SecureMutex::lock(tee::SecureThread& t) {
  const uint32_t key = t.wait_key();
  for (;;) {
    {
      base::MutexLock l(m_);
      // A registration left from an earlier (spurious) wake-up is stale now.
      auto pos = std::find(waiters_.begin(), waiters_.end(), key);
      if (pos != waiters_.end()) waiters_.erase(pos);
      if (!held_) {
        held_ = true;
        return true;
      }
      if (t.aborting()) return false;
      waiters_.push_back(key);
    }
    t.partition->os().rpc().wait(t, key, 0);
  }
}

void SecureMutex::unlock(tee::SecureThread& t) {
  std::deque<uint32_t> keys;
  {
    base::MutexLock l(m_);
    TEEMU_ASSERT(held_);
    held_ = false;
    keys.swap(waiters_);
  }
  for (uint32_t key : keys) t.partition->os().rpc().wake(t, key);
}

// --- ReeFsClient ---------------------------------------------------------------------------------

uint32_t storage_error(uint32_t r) {
  switch (r) {
    case abi::TEE_SUCCESS:
    case abi::TEE_ERROR_ITEM_NOT_FOUND:
    case abi::TEE_ERROR_ACCESS_CONFLICT: return r;
    default: return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
  }
}

ReeFsClient::ReeFsClient(tee::SecureThread& t)
    : t_(t), rpc_(t.partition->os().rpc()), mem_(t.partition->os().mem()) {}

ReeFsClient::~ReeFsClient() {
  if (shm_) rpc_.shm_free(t_, abi::OPTEE_RPC_SHM_TYPE_APPL, std::move(shm_));
}

bool ReeFsClient::ensure_buffer() {
  if (shm_) return true;
  auto r = rpc_.shm_alloc(t_, abi::OPTEE_RPC_SHM_TYPE_APPL, kDataAt + kChunk);
  if (!r) return false;
  shm_ = std::move(*r);
  return true;
}

// Copies into / out of the shared buffer, page by page when its pages are not host-contiguous.
// Offsets are ours (below kDataAt + kChunk, inside the buffer the allocation checked).
void ReeFsClient::copy_in(uint64_t off, const uint8_t* src, size_t n) {
  TEEMU_ASSERT(base::range_within<uint64_t>(off, n, shm_->size()));
  if (shm_->host_base() != nullptr) {
    std::memcpy(shm_->host_base() + off, src, n);
    return;
  }
  for (size_t done = 0; done < n;) {
    const uint64_t pos = off + done + shm_->page_offset();
    const size_t chunk = std::min<size_t>(n - done, base::kPageSize - (pos & base::kPageMask));
    std::byte* host = mem_.host_of(shm_->pages()[pos >> base::kPageShift]);
    if (host != nullptr) std::memcpy(host + (pos & base::kPageMask), src + done, chunk);
    done += chunk;
  }
}

void ReeFsClient::copy_out(uint64_t off, uint8_t* dst, size_t n) {
  TEEMU_ASSERT(base::range_within<uint64_t>(off, n, shm_->size()));
  if (shm_->host_base() != nullptr) {
    std::memcpy(dst, shm_->host_base() + off, n);
    return;
  }
  for (size_t done = 0; done < n;) {
    const uint64_t pos = off + done + shm_->page_offset();
    const size_t chunk = std::min<size_t>(n - done, base::kPageSize - (pos & base::kPageMask));
    std::byte* host = mem_.host_of(shm_->pages()[pos >> base::kPageShift]);
    if (host != nullptr)
      std::memcpy(dst + done, host + (pos & base::kPageMask), chunk);
    else
      std::memset(dst + done, 0, chunk);
    done += chunk;
  }
}

bool ReeFsClient::put_name(size_t slot, const std::string& name) {
  if (name.size() >= kNameMax) return false;
  copy_in(slot * kNameMax, reinterpret_cast<const uint8_t*>(name.c_str()), name.size() + 1);
  return true;
}

uint32_t ReeFsClient::fs(std::span<RpcParam> params) {
  return rpc_.cmd(t_, abi::OPTEE_RPC_CMD_FS, params);
}

uint32_t ReeFsClient::open(const std::string& name, bool create, uint64_t* fd) {
  if (!ensure_buffer() || !put_name(0, name)) return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
  RpcParam p[3] = {
      RpcParam::value_in(create ? abi::OPTEE_RPC_FS_CREATE : abi::OPTEE_RPC_FS_OPEN),
      RpcParam::mem(RpcParam::Kind::kMemIn, shm_.get(), 0, name.size() + 1),
      RpcParam::value_out()};
  uint32_t r = fs(p);
  if (r != abi::TEE_SUCCESS)
    return create ? abi::TEE_ERROR_STORAGE_NOT_AVAILABLE : storage_error(r);
  *fd = p[2].a;
  return abi::TEE_SUCCESS;
}

void ReeFsClient::close(uint64_t fd) {
  RpcParam p[1] = {RpcParam::value_in(abi::OPTEE_RPC_FS_CLOSE, fd)};
  (void)fs(p);
}

uint32_t ReeFsClient::read_file(const std::string& name, size_t max, std::vector<uint8_t>* out) {
  out->clear();
  uint64_t fd = 0;
  if (uint32_t r = open(name, false, &fd); r != abi::TEE_SUCCESS) return r;
  uint32_t result = abi::TEE_SUCCESS;
  for (uint64_t off = 0;;) {
    RpcParam p[2] = {RpcParam::value_in(abi::OPTEE_RPC_FS_READ, fd, off),
                     RpcParam::mem(RpcParam::Kind::kMemOut, shm_.get(), kDataAt, kChunk)};
    uint32_t r = fs(p);
    // The size comes from the normal world: never more than was asked for.
    if (r != abi::TEE_SUCCESS || p[1].size > kChunk) {
      result = abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
      break;
    }
    const size_t got = static_cast<size_t>(p[1].size);
    if (got > max - out->size()) {
      result = abi::TEE_ERROR_EXCESS_DATA;
      break;
    }
    const size_t at = out->size();
    out->resize(at + got);
    copy_out(kDataAt, out->data() + at, got);
    off += got;
    if (got < kChunk) break;
  }
  close(fd);
  if (result != abi::TEE_SUCCESS) out->clear();
  return result;
}

uint32_t ReeFsClient::write_file(const std::string& name, std::span<const uint8_t> data) {
  uint64_t fd = 0;
  if (uint32_t r = open(name, true, &fd); r != abi::TEE_SUCCESS) return r;
  uint32_t result = abi::TEE_SUCCESS;
  for (size_t off = 0; off < data.size();) {
    const size_t n = std::min(kChunk, data.size() - off);
    copy_in(kDataAt, data.data() + off, n);
    RpcParam p[2] = {RpcParam::value_in(abi::OPTEE_RPC_FS_WRITE, fd, off),
                     RpcParam::mem(RpcParam::Kind::kMemIn, shm_.get(), kDataAt, n)};
    if (fs(p) != abi::TEE_SUCCESS) {
      result = abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
      break;
    }
    off += n;
  }
  close(fd);
  return result;
}

uint32_t ReeFsClient::rename(const std::string& from, const std::string& to, bool overwrite) {
  if (!ensure_buffer() || !put_name(0, from) || !put_name(1, to))
    return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
  RpcParam p[3] = {RpcParam::value_in(abi::OPTEE_RPC_FS_RENAME, overwrite ? 1 : 0),
                   RpcParam::mem(RpcParam::Kind::kMemIn, shm_.get(), 0, from.size() + 1),
                   RpcParam::mem(RpcParam::Kind::kMemIn, shm_.get(), kNameMax, to.size() + 1)};
  return storage_error(fs(p));
}

uint32_t ReeFsClient::remove(const std::string& name) {
  if (!ensure_buffer() || !put_name(0, name)) return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
  RpcParam p[2] = {RpcParam::value_in(abi::OPTEE_RPC_FS_REMOVE),
                   RpcParam::mem(RpcParam::Kind::kMemIn, shm_.get(), 0, name.size() + 1)};
  return storage_error(fs(p));
}

uint32_t ReeFsClient::list_dir(const std::string& name, size_t max,
                               std::vector<std::string>* out) {
  out->clear();
  if (!ensure_buffer() || !put_name(0, name)) return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
  RpcParam o[3] = {RpcParam::value_in(abi::OPTEE_RPC_FS_OPENDIR),
                   RpcParam::mem(RpcParam::Kind::kMemIn, shm_.get(), 0, name.size() + 1),
                   RpcParam::value_out()};
  uint32_t r = fs(o);
  if (r == abi::TEE_ERROR_ITEM_NOT_FOUND) return abi::TEE_SUCCESS;  // missing or empty
  if (r != abi::TEE_SUCCESS) return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
  const uint64_t dir = o[2].a;
  uint32_t result = abi::TEE_SUCCESS;
  // Bounded: a normal world that never ends the listing cannot keep us here.
  while (out->size() < max) {
    RpcParam p[2] = {RpcParam::value_in(abi::OPTEE_RPC_FS_READDIR, dir),
                     RpcParam::mem(RpcParam::Kind::kMemOut, shm_.get(), kDataAt, kNameMax)};
    r = fs(p);
    if (r == abi::TEE_ERROR_ITEM_NOT_FOUND) break;
    if (r != abi::TEE_SUCCESS || p[1].size == 0 || p[1].size > kNameMax) {
      result = abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
      break;
    }
    char entry[kNameMax];
    copy_out(kDataAt, reinterpret_cast<uint8_t*>(entry), static_cast<size_t>(p[1].size));
    entry[p[1].size - 1] = '\0';
    out->emplace_back(entry);
  }
  RpcParam c[1] = {RpcParam::value_in(abi::OPTEE_RPC_FS_CLOSEDIR, dir)};
  (void)fs(c);
  return result;
}

}  // namespace teemu::ta_runtime::storage
