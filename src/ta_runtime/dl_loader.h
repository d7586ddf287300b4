// Loads TAs built with the TA dev kit: an ELF shared object exporting `ta_head` and the GP entry
// points. Each live instance runs in a separate loaded copy of the image (the bytes are written to
// a fresh memfd and dlopen'd from it), so every instance has its own copy of the TA's globals, as
// OP-TEE gives every instance its own address space.
//
// Checking and loading an image is most of what a new instance costs, so the loader remembers the
// images it has checked and loaded, by UUID and exact bytes, and keeps the copies whose instances
// are gone (ImagePool). When the same bytes come again (the secure OS still fetches them from
// tee-supplicant for every instance, as OP-TEE does), an idle copy is restored to the snapshot
// taken right after its dlopen and serves the new instance: its .data, .bss and writable GOT as
// a fresh load leaves them, a new heap, TA_CreateEntryPoint run again by the secure OS. A copy
// serves one live instance at a time; a copy whose instance panicked or crashed is unloaded.
// Bytes that differ in anything are another image: checked and loaded anew.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <vector>

#include "base/thread_annotations.h"
#include "ta_runtime/loaded_image.h"
#include "tee/ta.h"

namespace teemu::ta_runtime {

namespace storage {
class StorageService;
}

// The loaded copies of one image (UUID + bytes) that no instance uses. Shared by the loader's
// cache and by the instances running in copies of it, so a copy can come back after the image
// was dropped from the cache (it is then unloaded).
class ImagePool {
 public:
  ImagePool(const abi::Uuid& uuid, std::vector<uint8_t> bytes, size_t max_idle)
      : uuid_(uuid), bytes_(std::move(bytes)), max_idle_(max_idle) {}
  const abi::Uuid& uuid() const { return uuid_; }
  const std::vector<uint8_t>& bytes() const { return bytes_; }

  // An idle copy, restored to its snapshot and owned by the caller alone; null if none is idle.
  std::unique_ptr<LoadedImage> take() EXCLUDES(lock_);
  // A copy whose instance is gone, every entry point of it returned without a panic: kept for a
  // later instance, or unloaded if max_idle copies are idle already or the pool is retired.
  void give_back(std::unique_ptr<LoadedImage> copy) EXCLUDES(lock_);
  // Dropped from the cache: the idle copies are unloaded now, copies given back later then.
  void retire() EXCLUDES(lock_);
  size_t idle() const EXCLUDES(lock_);

 private:
  const abi::Uuid uuid_;
  const std::vector<uint8_t> bytes_;
  const size_t max_idle_;
  mutable base::Mutex lock_;
  std::vector<std::unique_ptr<LoadedImage>> idle_ GUARDED_BY(lock_);
  bool retired_ GUARDED_BY(lock_) = false;
};

// Bounds on what the loader keeps between instances (secure memory the cache may hold: the
// remembered bytes, and the idle copies' mappings).
struct ImageCacheLimits {
  size_t max_images = 16;            // distinct images remembered (least recently used go)
  uint64_t max_bytes = 64ull << 20;  // their bytes together; a larger image is not kept
  size_t max_idle_copies = 4;        // idle loaded copies per image
};

struct ImageCacheStats {
  uint64_t loads = 0;      // copies made by dlopen (memfd, relocation, constructors)
  uint64_t checks = 0;     // images put through image_problem (first sight of the bytes)
  uint64_t reuses = 0;     // instances served by a restored idle copy
  size_t images = 0;       // images remembered now
  size_t idle_copies = 0;  // loaded copies idle now
};

class DlTaLoader : public tee::TaLoader {
 public:
  // `storage` is the machine's trusted storage, shared by every instance this loader makes (it
  // must outlive them: the machine destroys the secure OS, and with it the instances, first).
  // Without it TAs get TEE_ERROR_STORAGE_NOT_AVAILABLE from the storage API.
  explicit DlTaLoader(std::unique_ptr<storage::StorageService> storage);
  DlTaLoader();
  ~DlTaLoader() override;

  Result<std::unique_ptr<tee::TaInstance>> instantiate(const abi::Uuid& uuid,
                                                       const std::vector<uint8_t>& image) override;
  storage::StorageService* storage() const { return storage_.get(); }

  // The checks an image passes before it is handed to the dynamic loader (instantiate makes
  // them; tests and the fuzzer call them alone): null if the image may be loaded, else what is
  // wrong with it.
  static const char* image_problem(const std::vector<uint8_t>& image);
  // Why copies of an image that passes image_problem are not reused (each instance then gets a
  // fresh dlopen), null if they are: the image registers exit handlers (they would run once per
  // copy instead of once per instance) or has constructors of its own beyond the compiler's one
  // init/fini entry (their effects outside the image would happen once per copy).
  static const char* reuse_problem(const std::vector<uint8_t>& image);

  // Replaces the limits; the cache is emptied (instances running keep their copies, which are
  // unloaded when they go). max_images = 0 turns caching off.
  void set_cache_limits(const ImageCacheLimits& limits) EXCLUDES(cache_lock_);
  ImageCacheStats cache_stats() const EXCLUDES(cache_lock_);

 private:
  // The pool remembered for exactly these bytes of `uuid` (now the most recently used), or null.
  std::shared_ptr<ImagePool> find_pool(const abi::Uuid& uuid, const std::vector<uint8_t>& image)
      EXCLUDES(cache_lock_);
  // Remembers checked and loaded bytes; returns the pool (an existing one if another thread got
  // there first), or null if the limits keep nothing of this size.
  std::shared_ptr<ImagePool> remember(const abi::Uuid& uuid, const std::vector<uint8_t>& image)
      EXCLUDES(cache_lock_);
  // memfd + dlopen + the header checks: a new copy (no snapshot taken yet).
  Result<std::unique_ptr<LoadedImage>> load(const abi::Uuid& uuid,
                                            const std::vector<uint8_t>& image);

  std::unique_ptr<storage::StorageService> storage_;
  mutable base::Mutex cache_lock_;
  ImageCacheLimits limits_ GUARDED_BY(cache_lock_);
  std::list<std::shared_ptr<ImagePool>> pools_ GUARDED_BY(cache_lock_);  // most recent first
  uint64_t pooled_bytes_ GUARDED_BY(cache_lock_) = 0;
  std::atomic<uint64_t> loads_{0}, checks_{0}, reuses_{0};
};

}  // namespace teemu::ta_runtime
