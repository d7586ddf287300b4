// Trusted storage of one machine (GP TEE Internal Core API 1.3.1 chapter 5.7-5.9, OP-TEE's REE
// FS): the key hierarchy, the per-TA manifests with their rollback check, and the table of open
// persistent objects that enforces GP's sharing rules across every instance of a TA.
//
// The TA runtime owns one service per machine (the TA loader holds it; every instance it makes
// points to it). All operations run on the secure thread of the calling TA entry point and reach
// files only through tee-supplicant (storage_rpc.h). With virtualization every guest (secure
// partition) has its own tee-supplicant and file system, so everything here is per guest: the
// device key, the rollback floor, the open objects and the storage lock that serializes a
// guest's transactions, as OP-TEE's REE FS mutex does. Results are GP codes; an operation that fails changes nothing a TA
// can observe (the previous version of every file stays until a manifest naming the new one is
// committed). docs/storage.md has the formats, the keys and the threat model.
//
// This header is included by the GP API layer, which sees the TA dev kit's macros: it must not
// pull in abi/ or tee/ headers.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "base/thread_annotations.h"
#include "ta_runtime/crypto_util.h"
#include "ta_runtime/storage_format.h"

namespace teemu::ta_runtime::storage {

class Txn;
struct GuestStore;

// TEE_DATA_FLAG_* and limits (tee_api_defines.h).
inline constexpr uint32_t kAccessRead = 0x00000001;
inline constexpr uint32_t kAccessWrite = 0x00000002;
inline constexpr uint32_t kAccessWriteMeta = 0x00000004;
inline constexpr uint32_t kShareRead = 0x00000010;
inline constexpr uint32_t kShareWrite = 0x00000020;
inline constexpr uint32_t kOverwrite = 0x00000400;
inline constexpr uint32_t kOpenFlags =
    kAccessRead | kAccessWrite | kAccessWriteMeta | kShareRead | kShareWrite;
inline constexpr uint64_t kDataMaxPosition = 0xFFFFFFFF;  // TEE_DATA_MAX_POSITION
// An open object's data is held in secure memory and re-encrypted whole by every write: the cap
// stops a TA from making the secure side allocate (and move through RPC) without bound.
// Beyond it a write or truncate answers TEE_ERROR_STORAGE_NO_SPACE.
inline constexpr uint64_t kMaxObjectData = 32ull << 20;

// A persistent object open somewhere in the machine (OP-TEE's tee_pobj): shared by every handle
// on it, in any instance of its TA. Handles keep it alive with a reference from acquire().
class OpenObject {
 public:
  uint16_t guest() const { return guest_; }
  const Uuid16& ta() const { return ta_; }
  // Size of the data stream (any thread; exact under the storage lock).
  uint64_t data_size() const { return data_size_.load(std::memory_order_acquire); }

 private:
  friend class StorageService;
  uint16_t guest_ = 0;
  Uuid16 ta_{};
  // Registry state, guarded by the service's registry lock.
  Bytes id_;
  uint32_t flags_ = 0;  // the first opener's flags: what later openers must be compatible with
  uint32_t refs_ = 0;
  bool creating_ = false;
  // Content, guarded by the guest's storage lock.
  bool loaded_ = false;
  ObjectContent content_;
  uint32_t file_no_ = 0;
  uint64_t version_ = 0;
  std::atomic<uint64_t> data_size_{0};
};
using ObjectRef = std::shared_ptr<OpenObject>;

// An object as an enumerator reports it.
struct EnumEntry {
  Bytes id;
  uint32_t type = 0, object_size = 0, max_object_size = 0, usage = 0, handle_flags = 0;
  uint64_t data_size = 0;
};

class StorageService {
 public:
  // `huk`: the platform's hardware unique key (32 bytes), which seals the device key.
  explicit StorageService(SecretBytes huk);
  ~StorageService();
  StorageService(const StorageService&) = delete;
  StorageService& operator=(const StorageService&) = delete;

  // Every operation works in the storage of the calling thread's guest (partition).
  // TEE_OpenPersistentObject: a reference to object `id` of `ta`, opened with `flags`.
  // `meta` receives its description and attributes (not its data). ITEM_NOT_FOUND,
  // ACCESS_CONFLICT (sharing rules), CORRUPT_OBJECT (the object is then deleted, as OP-TEE
  // does), STORAGE_NOT_AVAILABLE.
  uint32_t open(const Uuid16& ta, std::span<const uint8_t> id, uint32_t flags, ObjectRef* out,
                ObjectContent* meta);
  // TEE_CreatePersistentObject: `content` becomes object `id` (replacing an existing one only
  // with kOverwrite in `flags`, else ACCESS_CONFLICT). On success *out references it.
  uint32_t create(const Uuid16& ta, std::span<const uint8_t> id, uint32_t flags,
                  ObjectContent content, ObjectRef* out);
  // Drops a reference taken by open() or create() (no I/O; callable from any thread).
  void release(ObjectRef& o);

  // The data stream. Positions and sizes are checked by the caller against kDataMaxPosition;
  // here writes beyond kMaxObjectData fail with STORAGE_NO_SPACE. A write past the end fills
  // the gap with zeros; a truncate to a larger size extends with zeros.
  uint32_t read(const ObjectRef& o, uint64_t pos, size_t n, SecretBytes* out);
  uint32_t write(const ObjectRef& o, uint64_t pos, std::span<const uint8_t> data);
  uint32_t truncate(const ObjectRef& o, uint64_t size);
  // TEE_RenamePersistentObject: ACCESS_CONFLICT if `new_id` exists or is open.
  uint32_t rename(const ObjectRef& o, std::span<const uint8_t> new_id);
  // TEE_CloseAndDeletePersistentObject1 (the caller releases its reference afterwards).
  uint32_t remove(const ObjectRef& o);

  // The objects of `ta` (for TEE_StartPersistentObjectEnumerator).
  uint32_t list(const Uuid16& ta, std::vector<EnumEntry>* out);

  // Objects currently open in the machine (audits and tests).
  size_t open_objects() const EXCLUDES(reg_lock_);

 private:
  enum class Usage { kOpen, kCreate, kRename };
  uint32_t acquire(uint16_t guest, const Uuid16& ta, std::span<const uint8_t> id, uint32_t flags,
                   Usage usage, ObjectRef* out) EXCLUDES(reg_lock_);
  // The state of `guest`, made on first use and kept for the machine's life (a guest created
  // again with the same id has the same storage directory, and its rollback floor stays).
  GuestStore& guest_store(uint16_t guest) EXCLUDES(guests_lock_);
  Bytes id_of(const OpenObject& o) const EXCLUDES(reg_lock_);

  // --- under the guest's storage lock (a Txn holds it) ---
  uint32_t device_key(Txn& tx);
  uint32_t load_manifest(Txn& tx, const Uuid16& ta, std::span<const uint8_t> key, Manifest* m);
  // Removes what a crash or a tampering normal world left in a TA's directory: object files the
  // manifest does not name and a stale temporary manifest. Once per TA and boot.
  void collect_garbage(Txn& tx, const Uuid16& ta, const Manifest& m);
  uint32_t commit_manifest(Txn& tx, const Uuid16& ta, std::span<const uint8_t> key, Manifest& m);
  uint32_t write_object(Txn& tx, const Uuid16& ta, std::span<const uint8_t> key, uint32_t file_no,
                        uint64_t version, const ObjectContent& c, Hash* hash);
  uint32_t read_object(Txn& tx, const Uuid16& ta, std::span<const uint8_t> key,
                       const ManifestEntry& e, ObjectContent* c);
  // Manifest and key for an operation on an open object; CORRUPT_OBJECT if the manifest no
  // longer names the version this machine last wrote.
  uint32_t begin_update(Txn& tx, const OpenObject& o, SecretBytes* key, Manifest* m,
                        ManifestEntry** e);
  // Commits `c` as the next version of `o` (object file, manifest, old file removed).
  uint32_t commit_object(Txn& tx, OpenObject& o, std::span<const uint8_t> key, Manifest& m,
                         ManifestEntry& e, ObjectContent c);

  friend class Txn;
  SecretBytes huk_;
  mutable base::Mutex guests_lock_;
  std::vector<std::pair<uint16_t, std::unique_ptr<GuestStore>>> guests_ GUARDED_BY(guests_lock_);

  mutable base::Mutex reg_lock_;
  std::vector<ObjectRef> open_ GUARDED_BY(reg_lock_);
};

// The TA instance running on the calling thread, as storage needs it.
struct CallerContext {
  StorageService* storage = nullptr;  // null: this machine has no trusted storage
  Uuid16 ta{};
  uint32_t ta_flags = 0;
};
// False outside of a TA entry point.
bool current_caller(CallerContext* out);

}  // namespace teemu::ta_runtime::storage
