// GP TEE Internal Core API 1.3.1 trusted storage functions (sections 5.5.5, 5.7-5.9) and their
// GP 1.1 (__GP11_) twins. Results and panics follow the spec and OP-TEE's libutee: a function
// panics on every result it may not return (bad handles, a handle of the wrong kind, flags or
// access rights the call needs, lengths beyond their limits). The work is done by the machine's
// StorageService; this layer checks handles and parameters, copies the TA's buffers and keeps
// each handle's own state (its access flags and data position).
#include <cstring>
#include <limits>

#include "ta_runtime/crypto_api.h"
#include "ta_runtime/storage_service.h"

#include <tee_api_defines_extensions.h>

namespace teemu::ta_runtime::storage {

using crypto::CryptoObject;
using crypto::Status;

static_assert(kAccessRead == TEE_DATA_FLAG_ACCESS_READ && kOverwrite == TEE_DATA_FLAG_OVERWRITE);
static_assert(kShareWrite == TEE_DATA_FLAG_SHARE_WRITE && kDataMaxPosition == TEE_DATA_MAX_POSITION);
static_assert(kMaxIdLen == TEE_OBJECT_ID_MAX_LEN);

namespace {

constexpr uint32_t kDontCloseOnCorrupt = 1u << 11;  // TA_FLAG_DONT_CLOSE_HANDLE_ON_CORRUPT_OBJECT

// A handle on a persistent object: a CryptoObject (type, attributes, usage) plus the shared open
// object and this handle's own access flags and data position.
class PersistentObject : public CryptoObject {
 public:
  PersistentObject(uint32_t type, uint32_t max_size, StorageService& svc, ObjectRef ref,
                   uint32_t flags)
      : CryptoObject(type, max_size), svc_(svc), ref_(std::move(ref)), flags_(flags) {}
  ~PersistentObject() override { svc_.release(ref_); }

  bool persistent() const override { return true; }
  // OP-TEE reports the flags the handle was opened with next to PERSISTENT and INITIALIZED.
  uint32_t handle_flags() const override {
    return crypto::kHandleFlagPersistent | crypto::kHandleFlagInitialized | flags_;
  }
  uint64_t data_size() const override { return ref_->data_size(); }
  uint64_t data_position() const override { return pos_; }

  StorageService& svc() { return svc_; }
  const ObjectRef& ref() const { return ref_; }
  uint32_t flags() const { return flags_; }
  uint64_t pos_ = 0;

 private:
  StorageService& svc_;
  ObjectRef ref_;
  uint32_t flags_;
};

class Enumerator : public RuntimeObject {
 public:
  bool started = false;
  std::vector<EnumEntry> entries;
  size_t next = 0;
  void reset() {
    started = false;
    entries.clear();
    next = 0;
  }
};

// A result the function may return as is; any other one panics the TA, as libutee does.
Status allow(uint32_t r, std::initializer_list<uint32_t> allowed) {
  if (r == TEE_SUCCESS) return Status::ok();
  for (uint32_t a : allowed)
    if (r == a) return Status::error(r);
  return Status::fatal(r);
}

// The running TA; panics outside of an entry point.
Status caller(CallerContext* c) {
  if (!current_caller(c)) return Status::fatal(TEE_ERROR_BAD_STATE);
  return Status::ok();
}

// TEE_STORAGE_PRIVATE and OP-TEE's TEE_STORAGE_PRIVATE_REE are the same REE file system; there
// is no RPMB (OP-TEE without CFG_RPMB_FS answers ITEM_NOT_FOUND for it, as for unknown ids).
bool known_storage(uint32_t id) {
  return id == TEE_STORAGE_PRIVATE || id == TEE_STORAGE_PRIVATE_REE;
}

Bytes copy_id(const void* id, size_t len) {
  const auto* p = static_cast<const uint8_t*>(id);
  return len == 0 ? Bytes{} : Bytes(p, p + len);
}

PersistentObject* find_persistent(TEE_ObjectHandle h) {
  return h == TEE_HANDLE_NULL ? nullptr : crypto::instance().get<PersistentObject>(h);
}

Enumerator* find_enum(TEE_ObjectEnumHandle h) {
  return h == TEE_HANDLE_NULL ? nullptr : crypto::instance().get<Enumerator>(h);
}

// GP: after TEE_ERROR_CORRUPT_OBJECT the handle is closed, unless the TA asked to keep it.
void close_if_corrupt(const Status& s, PersistentObject* o) {
  if (s.code != TEE_ERROR_CORRUPT_OBJECT || s.panic) return;
  CallerContext c;
  if (current_caller(&c) && (c.ta_flags & kDontCloseOnCorrupt)) return;
  crypto::instance().remove(o);
}

// --- implementations shared by the 1.3.1 and 1.1 entry points ----------------------------------

Status open_object(uint32_t storage_id, const void* id, size_t id_len, uint32_t flags,
                   TEE_ObjectHandle* object) {
  if (object == nullptr) return Status::fatal();
  *object = TEE_HANDLE_NULL;
  if ((flags & ~kOpenFlags) != 0 || id_len > kMaxIdLen || (id == nullptr && id_len != 0))
    return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  CallerContext c;
  if (Status s = caller(&c); !s.is_ok()) return s;
  if (!known_storage(storage_id)) return Status::error(TEE_ERROR_ITEM_NOT_FOUND);
  if (c.storage == nullptr) return Status::error(TEE_ERROR_STORAGE_NOT_AVAILABLE);
  const Bytes oid = copy_id(id, id_len);
  ObjectRef ref;
  ObjectContent meta;
  uint32_t r = c.storage->open(c.ta, oid, flags, &ref, &meta);
  if (Status s = allow(r, {TEE_ERROR_ITEM_NOT_FOUND, TEE_ERROR_ACCESS_CONFLICT,
                           TEE_ERROR_OUT_OF_MEMORY, TEE_ERROR_CORRUPT_OBJECT,
                           TEE_ERROR_STORAGE_NOT_AVAILABLE});
      !s.is_ok())
    return s;
  auto o = std::make_unique<PersistentObject>(meta.type, meta.max_object_size, *c.storage,
                                              std::move(ref), flags);
  // The description was authenticated when it was stored; one that does not fit its type is a
  // corrupt object all the same.
  if (!o->restore(meta.object_size, meta.usage, meta.attributes).is_ok())
    return Status::error(TEE_ERROR_CORRUPT_OBJECT);
  *object = reinterpret_cast<TEE_ObjectHandle>(crypto::instance().add(std::move(o)));
  return Status::ok();
}

Status create_object(uint32_t storage_id, const void* id, size_t id_len, uint32_t flags,
                     TEE_ObjectHandle attributes, const void* data, size_t data_len,
                     TEE_ObjectHandle* object) {
  if (object != nullptr) *object = TEE_HANDLE_NULL;
  if ((flags & ~(kOpenFlags | kOverwrite)) != 0 || id_len > kMaxIdLen ||
      (id == nullptr && id_len != 0) || (data == nullptr && data_len != 0))
    return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  // The attributes come from an initialized object of this instance, transient or persistent.
  const CryptoObject* src = nullptr;
  if (attributes != TEE_HANDLE_NULL) {
    src = crypto::find_object(attributes);
    if (src == nullptr || !src->initialized()) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  }
  CallerContext c;
  if (Status s = caller(&c); !s.is_ok()) return s;
  if (!known_storage(storage_id)) return Status::error(TEE_ERROR_ITEM_NOT_FOUND);
  if (c.storage == nullptr) return Status::error(TEE_ERROR_STORAGE_NOT_AVAILABLE);
  if (data_len > kDataMaxPosition) return Status::error(TEE_ERROR_STORAGE_NO_SPACE);

  ObjectContent content;
  if (src != nullptr) {
    CryptoObject copy(src->type(), src->max_object_size());
    if (Status s = copy.copy_from(*src); !s.is_ok()) return s;
    content.type = copy.type();
    content.object_size = copy.object_size();
    content.max_object_size = copy.max_object_size();
    content.usage = copy.usage();
    content.attributes = copy.serialize_attributes();
  } else {
    content.type = TEE_TYPE_DATA;
    content.usage = crypto::kUsageAll;
  }
  content.data = crypto::secret_copy(data, data_len);
  const Bytes oid = copy_id(id, id_len);
  const uint32_t type = content.type, max_size = content.max_object_size;
  const uint32_t object_size = content.object_size, usage = content.usage;
  const SecretBytes attrs = content.attributes;

  ObjectRef ref;
  uint32_t r = c.storage->create(c.ta, oid, flags, std::move(content), &ref);
  if (Status s = allow(r, {TEE_ERROR_ITEM_NOT_FOUND, TEE_ERROR_ACCESS_CONFLICT,
                           TEE_ERROR_OUT_OF_MEMORY, TEE_ERROR_STORAGE_NO_SPACE,
                           TEE_ERROR_CORRUPT_OBJECT, TEE_ERROR_STORAGE_NOT_AVAILABLE});
      !s.is_ok())
    return s;
  auto o = std::make_unique<PersistentObject>(type, max_size, *c.storage, std::move(ref),
                                              flags);
  if (!o->restore(object_size, usage, attrs).is_ok()) return Status::fatal(TEE_ERROR_GENERIC);
  // Without a place for the handle the object is created and closed (GP 1.3.1, 5.7.2).
  if (object != nullptr)
    *object = reinterpret_cast<TEE_ObjectHandle>(crypto::instance().add(std::move(o)));
  return Status::ok();
}

Status rename_object(TEE_ObjectHandle object, const void* id, size_t id_len) {
  PersistentObject* o = find_persistent(object);
  if (o == nullptr || !(o->flags() & kAccessWriteMeta) || id_len > kMaxIdLen ||
      (id == nullptr && id_len != 0))
    return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  const Bytes oid = copy_id(id, id_len);
  return allow(o->svc().rename(o->ref(), oid),
               {TEE_ERROR_ACCESS_CONFLICT, TEE_ERROR_CORRUPT_OBJECT,
                TEE_ERROR_STORAGE_NOT_AVAILABLE});
}

Status read_data(TEE_ObjectHandle object, void* buffer, size_t size, size_t* count) {
  PersistentObject* o = find_persistent(object);
  if (o == nullptr || count == nullptr || (buffer == nullptr && size != 0))
    return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  if (!(o->flags() & kAccessRead)) return Status::fatal(TEE_ERROR_ACCESS_CONFLICT);
  SecretBytes got;
  Status s = allow(o->svc().read(o->ref(), o->pos_, size, &got),
                   {TEE_ERROR_CORRUPT_OBJECT, TEE_ERROR_STORAGE_NOT_AVAILABLE});
  if (!s.is_ok()) {
    close_if_corrupt(s, o);
    return s;
  }
  if (!got.empty()) std::memcpy(buffer, got.data(), got.size());
  o->pos_ += got.size();
  *count = got.size();
  return Status::ok();
}

Status write_data(TEE_ObjectHandle object, const void* buffer, size_t size) {
  PersistentObject* o = find_persistent(object);
  if (o == nullptr || (buffer == nullptr && size != 0))
    return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  if (!(o->flags() & kAccessWrite)) return Status::fatal(TEE_ERROR_ACCESS_CONFLICT);
  // GP: the position may not pass TEE_DATA_MAX_POSITION.
  if (o->pos_ > kDataMaxPosition || size > kDataMaxPosition - o->pos_)
    return Status::error(TEE_ERROR_OVERFLOW);
  const SecretBytes data = crypto::secret_copy(buffer, size);
  Status s = allow(o->svc().write(o->ref(), o->pos_, data),
                   {TEE_ERROR_STORAGE_NO_SPACE, TEE_ERROR_OVERFLOW, TEE_ERROR_CORRUPT_OBJECT,
                    TEE_ERROR_STORAGE_NOT_AVAILABLE});
  if (!s.is_ok()) {
    close_if_corrupt(s, o);
    return s;
  }
  o->pos_ += size;
  return Status::ok();
}

Status truncate_data(TEE_ObjectHandle object, size_t size) {
  PersistentObject* o = find_persistent(object);
  if (o == nullptr) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  if (!(o->flags() & kAccessWrite)) return Status::fatal(TEE_ERROR_ACCESS_CONFLICT);
  Status s = allow(o->svc().truncate(o->ref(), size),
                   {TEE_ERROR_STORAGE_NO_SPACE, TEE_ERROR_CORRUPT_OBJECT,
                    TEE_ERROR_STORAGE_NOT_AVAILABLE});
  close_if_corrupt(s, o);
  return s;
}

Status seek_data(TEE_ObjectHandle object, intmax_t offset, uint32_t whence) {
  PersistentObject* o = find_persistent(object);
  if (o == nullptr) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  __int128 base;
  switch (whence) {
    case TEE_DATA_SEEK_SET: base = 0; break;
    case TEE_DATA_SEEK_CUR: base = o->pos_; break;
    case TEE_DATA_SEEK_END: base = o->data_size(); break;
    default: return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  }
  __int128 pos = base + offset;
  // A position before the start is the start (OP-TEE); past TEE_DATA_MAX_POSITION is an error
  // that leaves the position where it was.
  if (pos < 0) pos = 0;
  if (pos > static_cast<__int128>(kDataMaxPosition)) return Status::error(TEE_ERROR_OVERFLOW);
  o->pos_ = static_cast<uint64_t>(pos);
  return Status::ok();
}

template <class Info>
void fill_enum_info(const EnumEntry& e, Info* info) {
  info->objectType = e.type;
  info->objectSize = e.object_size;
  info->maxObjectSize = e.max_object_size;
  info->objectUsage = e.usage;
  info->dataSize = static_cast<decltype(info->dataSize)>(e.data_size);
  info->dataPosition = 0;
  info->handleFlags = crypto::kHandleFlagPersistent | crypto::kHandleFlagInitialized |
                      e.handle_flags;
}

template <class Info, class Len>
Status next_object(TEE_ObjectEnumHandle handle, Info* info, void* id, Len* id_len) {
  Enumerator* e = find_enum(handle);
  if (e == nullptr || id == nullptr || id_len == nullptr)
    return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
  if (!e->started || e->next >= e->entries.size()) return Status::error(TEE_ERROR_ITEM_NOT_FOUND);
  const EnumEntry& x = e->entries[e->next++];
  if (info != nullptr) fill_enum_info(x, info);
  // GP: objectID points to a buffer of TEE_OBJECT_ID_MAX_LEN bytes.
  if (!x.id.empty()) std::memcpy(id, x.id.data(), x.id.size());
  *id_len = static_cast<Len>(x.id.size());
  return Status::ok();
}

}  // namespace
}  // namespace teemu::ta_runtime::storage

using namespace teemu::ta_runtime::storage;  // NOLINT
using teemu::ta_runtime::crypto::run_api;

// --- generic ------------------------------------------------------------------------------------

TA_API void TEE_CloseObject(TEE_ObjectHandle object) {
  run_api([&] {
    if (object == TEE_HANDLE_NULL) return Status::ok();
    auto* o = teemu::ta_runtime::crypto::find_object(object);
    if (o == nullptr) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
    teemu::ta_runtime::crypto::instance().remove(o);
    return Status::ok();
  });
}

// --- persistent objects ---------------------------------------------------------------------------

TA_API TEE_Result TEE_OpenPersistentObject(uint32_t storageID, const void* objectID,
                                           size_t objectIDLen, uint32_t flags,
                                           TEE_ObjectHandle* object) {
  return run_api([&] { return open_object(storageID, objectID, objectIDLen, flags, object); });
}

TA_API TEE_Result __GP11_TEE_OpenPersistentObject(uint32_t storageID, const void* objectID,
                                                  uint32_t objectIDLen, uint32_t flags,
                                                  TEE_ObjectHandle* object) {
  return run_api([&] { return open_object(storageID, objectID, objectIDLen, flags, object); });
}

TA_API TEE_Result TEE_CreatePersistentObject(uint32_t storageID, const void* objectID,
                                             size_t objectIDLen, uint32_t flags,
                                             TEE_ObjectHandle attributes, const void* initialData,
                                             size_t initialDataLen, TEE_ObjectHandle* object) {
  return run_api([&] {
    return create_object(storageID, objectID, objectIDLen, flags, attributes, initialData,
                         initialDataLen, object);
  });
}

TA_API TEE_Result __GP11_TEE_CreatePersistentObject(uint32_t storageID, const void* objectID,
                                                    uint32_t objectIDLen, uint32_t flags,
                                                    TEE_ObjectHandle attributes,
                                                    const void* initialData,
                                                    uint32_t initialDataLen,
                                                    TEE_ObjectHandle* object) {
  return run_api([&] {
    return create_object(storageID, objectID, objectIDLen, flags, attributes, initialData,
                         initialDataLen, object);
  });
}

TA_API TEE_Result TEE_CloseAndDeletePersistentObject1(TEE_ObjectHandle object) {
  return run_api([&] {
    if (object == TEE_HANDLE_NULL) return Status::ok();
    PersistentObject* o = find_persistent(object);
    if (o == nullptr) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
    // Deleting needs the exclusive WRITE_META right (GP 1.3.1, 5.7.4).
    if (!(o->flags() & kAccessWriteMeta)) return Status::fatal(TEE_ERROR_ACCESS_CONFLICT);
    const uint32_t r = o->svc().remove(o->ref());
    teemu::ta_runtime::crypto::instance().remove(o);  // closed whatever the outcome
    return allow(r, {TEE_ERROR_STORAGE_NOT_AVAILABLE});
  });
}

TA_API void TEE_CloseAndDeletePersistentObject(TEE_ObjectHandle object) {
  if (object == TEE_HANDLE_NULL) return;
  if (TEE_CloseAndDeletePersistentObject1(object) != TEE_SUCCESS) TEE_Panic(0);
}

TA_API TEE_Result TEE_RenamePersistentObject(TEE_ObjectHandle object, const void* newObjectID,
                                             size_t newObjectIDLen) {
  return run_api([&] { return rename_object(object, newObjectID, newObjectIDLen); });
}

TA_API TEE_Result __GP11_TEE_RenamePersistentObject(TEE_ObjectHandle object,
                                                    const void* newObjectID,
                                                    uint32_t newObjectIDLen) {
  return run_api([&] { return rename_object(object, newObjectID, newObjectIDLen); });
}

// --- enumerators ----------------------------------------------------------------------------------

TA_API TEE_Result TEE_AllocatePersistentObjectEnumerator(TEE_ObjectEnumHandle* objectEnumerator) {
  return run_api([&] {
    if (objectEnumerator == nullptr) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
    *objectEnumerator = reinterpret_cast<TEE_ObjectEnumHandle>(
        teemu::ta_runtime::crypto::instance().add(std::make_unique<Enumerator>()));
    return Status::ok();
  });
}

TA_API void TEE_FreePersistentObjectEnumerator(TEE_ObjectEnumHandle objectEnumerator) {
  run_api([&] {
    if (objectEnumerator == TEE_HANDLE_NULL) return Status::ok();
    Enumerator* e = find_enum(objectEnumerator);
    if (e == nullptr) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
    teemu::ta_runtime::crypto::instance().remove(e);
    return Status::ok();
  });
}

TA_API void TEE_ResetPersistentObjectEnumerator(TEE_ObjectEnumHandle objectEnumerator) {
  run_api([&] {
    if (objectEnumerator == TEE_HANDLE_NULL) return Status::ok();
    Enumerator* e = find_enum(objectEnumerator);
    if (e == nullptr) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
    e->reset();
    return Status::ok();
  });
}

TA_API TEE_Result TEE_StartPersistentObjectEnumerator(TEE_ObjectEnumHandle objectEnumerator,
                                                      uint32_t storageID) {
  return run_api([&] {
    Enumerator* e = find_enum(objectEnumerator);
    if (e == nullptr) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
    e->reset();
    CallerContext c;
    if (Status s = caller(&c); !s.is_ok()) return s;
    if (!known_storage(storageID)) return Status::error(TEE_ERROR_ITEM_NOT_FOUND);
    if (c.storage == nullptr) return Status::error(TEE_ERROR_STORAGE_NOT_AVAILABLE);
    std::vector<EnumEntry> entries;
    if (Status s = allow(c.storage->list(c.ta, &entries),
                         {TEE_ERROR_ITEM_NOT_FOUND, TEE_ERROR_CORRUPT_OBJECT,
                          TEE_ERROR_STORAGE_NOT_AVAILABLE});
        !s.is_ok())
      return s;
    // GP: no object in the storage is ITEM_NOT_FOUND.
    if (entries.empty()) return Status::error(TEE_ERROR_ITEM_NOT_FOUND);
    e->entries = std::move(entries);
    e->started = true;
    return Status::ok();
  });
}

TA_API TEE_Result TEE_GetNextPersistentObject(TEE_ObjectEnumHandle objectEnumerator,
                                              TEE_ObjectInfo* objectInfo, void* objectID,
                                              size_t* objectIDLen) {
  return run_api([&] { return next_object(objectEnumerator, objectInfo, objectID, objectIDLen); });
}

TA_API TEE_Result __GP11_TEE_GetNextPersistentObject(TEE_ObjectEnumHandle objectEnumerator,
                                                     __GP11_TEE_ObjectInfo* objectInfo,
                                                     void* objectID, uint32_t* objectIDLen) {
  return run_api([&] { return next_object(objectEnumerator, objectInfo, objectID, objectIDLen); });
}

// --- data streams ---------------------------------------------------------------------------------

TA_API TEE_Result TEE_ReadObjectData(TEE_ObjectHandle object, void* buffer, size_t size,
                                     size_t* count) {
  return run_api([&] { return read_data(object, buffer, size, count); });
}

TA_API TEE_Result __GP11_TEE_ReadObjectData(TEE_ObjectHandle object, void* buffer, uint32_t size,
                                            uint32_t* count) {
  return run_api([&] {
    if (count == nullptr) return Status::fatal(TEE_ERROR_BAD_PARAMETERS);
    size_t n = 0;
    Status s = read_data(object, buffer, size, &n);
    if (s.is_ok()) *count = static_cast<uint32_t>(n);
    return s;
  });
}

TA_API TEE_Result TEE_WriteObjectData(TEE_ObjectHandle object, const void* buffer, size_t size) {
  return run_api([&] { return write_data(object, buffer, size); });
}

TA_API TEE_Result __GP11_TEE_WriteObjectData(TEE_ObjectHandle object, const void* buffer,
                                             uint32_t size) {
  return run_api([&] { return write_data(object, buffer, size); });
}

TA_API TEE_Result TEE_TruncateObjectData(TEE_ObjectHandle object, size_t size) {
  return run_api([&] { return truncate_data(object, size); });
}

TA_API TEE_Result __GP11_TEE_TruncateObjectData(TEE_ObjectHandle object, uint32_t size) {
  return run_api([&] { return truncate_data(object, size); });
}

TA_API TEE_Result TEE_SeekObjectData(TEE_ObjectHandle object, intmax_t offset, TEE_Whence whence) {
  return run_api([&] { return seek_data(object, offset, static_cast<uint32_t>(whence)); });
}

TA_API TEE_Result __GP11_TEE_SeekObjectData(TEE_ObjectHandle object, int32_t offset,
                                            TEE_Whence whence) {
  return run_api([&] { return seek_data(object, offset, static_cast<uint32_t>(whence)); });
}
