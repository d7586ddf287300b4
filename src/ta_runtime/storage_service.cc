#include "ta_runtime/storage_service.h"

#include <algorithm>
#include <cstring>

#include "abi/gp.h"
#include "base/assert.h"
#include "base/log.h"
#include "ta_runtime/entry.h"
#include "ta_runtime/storage_rpc.h"
#include "tee/secure_os.h"
#include "tee/thread.h"

namespace teemu::ta_runtime::storage {

namespace {

// Upper bounds on what is read back from the normal world (a bigger file is corrupt).
constexpr size_t kMaxDeviceKeyFile = 1024;
constexpr size_t kMaxManifestFile = 4u << 20;
constexpr size_t kMaxObjectFile = kMaxObjectData + (1u << 20);  // data, attributes, framing

bool same_id(std::span<const uint8_t> a, std::span<const uint8_t> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

// GP's sharing rules (GP TEE Internal Core API 1.3.1, 5.7.3; OP-TEE tee_pobj_check_access):
// WRITE_META is exclusive; a READ or WRITE access on either side needs both sides to share it;
// and every handle must agree on what it shares.
bool compatible(uint32_t held, uint32_t want) {
  if ((held | want) & kAccessWriteMeta) return false;
  if (((held | want) & kAccessRead) && !(held & want & kShareRead)) return false;
  if ((held ^ want) & kShareRead) return false;
  if (((held | want) & kAccessWrite) && !(held & want & kShareWrite)) return false;
  if ((held ^ want) & kShareWrite) return false;
  return true;
}

ObjectContent without_data(const ObjectContent& c) {
  ObjectContent m;
  m.type = c.type;
  m.object_size = c.object_size;
  m.max_object_size = c.max_object_size;
  m.usage = c.usage;
  m.attributes = c.attributes;
  return m;
}

void describe(ManifestEntry& e, const ObjectContent& c) {
  e.type = c.type;
  e.object_size = c.object_size;
  e.max_object_size = c.max_object_size;
  e.usage = c.usage;
  e.data_size = c.data.size();
}

tee::SecureThread& this_thread() {
  tee::SecureThread* t = tee::current_thread();
  TEEMU_ASSERT(t != nullptr && t->partition != nullptr);
  return *t;
}

uint16_t current_guest() { return this_thread().partition->guest_id(); }

}  // namespace

// What storage keeps per guest. Its fields are guarded by `lock`.
struct GuestStore {
  SecureMutex lock;
  SecretBytes device_key;                                      // once unsealed
  std::vector<std::pair<Uuid16, uint64_t>> known_generation;  // per TA: the rollback floor
};

// One storage transaction of the calling thread's guest: its storage lock and an FS client
// (whose RPC buffer goes back to the normal world when the transaction ends). A thread whose
// partition is being torn down cannot wait for the lock: the transaction then fails
// (locked() is false) and touches nothing.
class Txn {
 public:
  explicit Txn(StorageService& s)
      : t_(this_thread()), store_(s.guest_store(t_.partition->guest_id())), fs_(t_) {
    locked_ = store_.lock.lock(t_);
  }
  ~Txn() {
    if (locked_) store_.lock.unlock(t_);
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  bool locked() const { return locked_; }
  ReeFsClient& fs() { return fs_; }
  GuestStore& store() { return store_; }

 private:
  tee::SecureThread& t_;
  GuestStore& store_;
  ReeFsClient fs_;
  bool locked_ = false;
};

StorageService::StorageService(SecretBytes huk) : huk_(std::move(huk)) {
  TEEMU_ASSERT(huk_.size() == kKeySize);
}

GuestStore& StorageService::guest_store(uint16_t guest) {
  base::MutexLock l(guests_lock_);
  for (auto& [id, store] : guests_)
    if (id == guest) return *store;
  guests_.emplace_back(guest, std::make_unique<GuestStore>());
  return *guests_.back().second;
}

StorageService::~StorageService() {
  base::MutexLock l(reg_lock_);
  // Every handle belongs to a TA instance, and instances go before the TA runtime that owns us.
  TEEMU_ASSERT(open_.empty());
}

// --- the table of open objects -------------------------------------------------------------------

uint32_t StorageService::acquire(uint16_t guest, const Uuid16& ta, std::span<const uint8_t> id,
                                 uint32_t flags, Usage usage, ObjectRef* out) {
  base::MutexLock l(reg_lock_);
  for (const ObjectRef& o : open_) {
    if (o->guest_ != guest || o->ta_ != ta || !same_id(o->id_, id)) continue;
    // An object being created is nobody else's yet; creating over an open object needs
    // OVERWRITE, and then the same sharing rules as an open.
    if (o->creating_ || usage == Usage::kRename ||
        (usage == Usage::kCreate && !(flags & kOverwrite)) || !compatible(o->flags_, flags))
      return abi::TEE_ERROR_ACCESS_CONFLICT;
    ++o->refs_;
    *out = o;
    return abi::TEE_SUCCESS;
  }
  auto o = std::make_shared<OpenObject>();
  o->guest_ = guest;
  o->ta_ = ta;
  o->id_.assign(id.begin(), id.end());
  o->flags_ = flags;
  o->refs_ = 1;
  o->creating_ = usage != Usage::kOpen;
  open_.push_back(o);
  *out = std::move(o);
  return abi::TEE_SUCCESS;
}

void StorageService::release(ObjectRef& o) {
  if (!o) return;
  {
    base::MutexLock l(reg_lock_);
    TEEMU_ASSERT(o->refs_ > 0);
    if (--o->refs_ == 0) {
      auto it = std::find(open_.begin(), open_.end(), o);
      TEEMU_ASSERT(it != open_.end());
      open_.erase(it);
    }
  }
  o.reset();
}

Bytes StorageService::id_of(const OpenObject& o) const {
  base::MutexLock l(reg_lock_);
  return o.id_;
}

size_t StorageService::open_objects() const {
  base::MutexLock l(reg_lock_);
  return open_.size();
}

// --- keys and files ------------------------------------------------------------------------------

uint32_t StorageService::device_key(Txn& tx) {
  // Every transaction starts here: one that could not take the lock does nothing.
  if (!tx.locked()) return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
  SecretBytes& device_key = tx.store().device_key;
  if (!device_key.empty()) return abi::TEE_SUCCESS;
  const FileHeader want{FileKind::kDeviceKey, {}, 0, 0};
  for (int attempt = 0; attempt < 2; ++attempt) {
    Bytes file;
    uint32_t r = tx.fs().read_file(kDeviceKeyName, kMaxDeviceKeyFile, &file);
    if (r == abi::TEE_SUCCESS) {
      FileHeader h;
      SecretBytes key;
      if (!unseal(huk_, FileKind::kDeviceKey, file, &h, &key) || h.ta != want.ta ||
          h.file_no != 0 || h.version != 0 || key.size() != kKeySize) {
        TEEMU_LOG_ERROR("storage", "the device key does not unseal: all storage is unreadable");
        return abi::TEE_ERROR_CORRUPT_OBJECT;
      }
      device_key = std::move(key);
      return abi::TEE_SUCCESS;
    }
    if (r == abi::TEE_ERROR_EXCESS_DATA) return abi::TEE_ERROR_CORRUPT_OBJECT;
    if (r != abi::TEE_ERROR_ITEM_NOT_FOUND) return r;
    // First use of this storage directory: a fresh random device key, written under a temporary
    // name and renamed into place without overwriting (a key that appeared meanwhile wins).
    SecretBytes key(kKeySize);
    if (!random_bytes(key.data(), key.size())) return abi::TEE_ERROR_GENERIC;
    Bytes sealed = seal(huk_, want, key);
    if (sealed.empty()) return abi::TEE_ERROR_GENERIC;
    r = tx.fs().write_file(kDeviceKeyTmpName, sealed);
    if (r == abi::TEE_SUCCESS) r = tx.fs().rename(kDeviceKeyTmpName, kDeviceKeyName, false);
    if (r == abi::TEE_SUCCESS) {
      device_key = std::move(key);
      return abi::TEE_SUCCESS;
    }
    (void)tx.fs().remove(kDeviceKeyTmpName);
    if (r != abi::TEE_ERROR_ACCESS_CONFLICT) return storage_error(r);
  }
  return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
}

uint32_t StorageService::load_manifest(Txn& tx, const Uuid16& ta, std::span<const uint8_t> key,
                                       Manifest* m) {
  auto& generations = tx.store().known_generation;
  auto known = std::find_if(generations.begin(), generations.end(),
                            [&](const auto& p) { return p.first == ta; });
  const uint64_t floor = known == generations.end() ? 0 : known->second;
  Bytes file;
  uint32_t r = tx.fs().read_file(manifest_name(ta), kMaxManifestFile, &file);
  if (r == abi::TEE_ERROR_ITEM_NOT_FOUND) {
    if (floor != 0) {
      // This boot committed (or saw) a manifest: its disappearance is a rollback to nothing.
      TEEMU_LOG_ERROR("storage", "manifest of TA {} vanished (generation {} known)", ta_dir(ta),
                      floor);
      return abi::TEE_ERROR_CORRUPT_OBJECT;
    }
    *m = Manifest{};
    return abi::TEE_SUCCESS;
  }
  if (r == abi::TEE_ERROR_EXCESS_DATA) return abi::TEE_ERROR_CORRUPT_OBJECT;
  if (r != abi::TEE_SUCCESS) return r;
  FileHeader h;
  SecretBytes payload;
  Manifest got;
  if (!unseal(key, FileKind::kManifest, file, &h, &payload) || h.ta != ta || h.file_no != 0 ||
      !decode_manifest(payload, &got) || got.generation != h.version) {
    TEEMU_LOG_ERROR("storage", "manifest of TA {} is corrupt", ta_dir(ta));
    return abi::TEE_ERROR_CORRUPT_OBJECT;
  }
  if (got.generation < floor) {
    TEEMU_LOG_ERROR("storage", "manifest of TA {} rolled back from generation {} to {}",
                    ta_dir(ta), floor, got.generation);
    return abi::TEE_ERROR_CORRUPT_OBJECT;
  }
  const bool first_load = known == generations.end();
  if (first_load)
    generations.emplace_back(ta, got.generation);
  else
    known->second = got.generation;
  *m = std::move(got);
  if (first_load) collect_garbage(tx, ta, *m);
  return abi::TEE_SUCCESS;
}

void StorageService::collect_garbage(Txn& tx, const Uuid16& ta, const Manifest& m) {
  std::vector<std::string> names;
  if (tx.fs().list_dir(ta_dir(ta), 2 * kMaxObjectsPerTa + 16, &names) != abi::TEE_SUCCESS) return;
  const std::string dir = ta_dir(ta) + "/";
  const std::string tmp = manifest_tmp_name(ta);
  for (const std::string& name : names) {
    const std::string path = dir + name;
    bool ours = path == tmp || (name.size() == 26 && name[0] == 'o' && name[9] == '.');
    for (const ManifestEntry& e : m.entries)
      if (path == object_name(ta, e.file_no, e.version)) ours = false;  // current: keep
    if (ours) (void)tx.fs().remove(path);
  }
}

uint32_t StorageService::commit_manifest(Txn& tx, const Uuid16& ta, std::span<const uint8_t> key,
                                         Manifest& m) {
  // The generation is bumped in place (pointers into m.entries stay valid) and put back if the
  // commit fails.
  ++m.generation;
  Bytes sealed = seal(key, FileHeader{FileKind::kManifest, ta, 0, m.generation},
                      encode_manifest(m));
  if (sealed.empty()) {
    --m.generation;
    return abi::TEE_ERROR_GENERIC;
  }
  // The rename is the commit point: before it the old manifest (and every file it names) is
  // intact, after it the new one is.
  uint32_t r = tx.fs().write_file(manifest_tmp_name(ta), sealed);
  if (r == abi::TEE_SUCCESS) r = tx.fs().rename(manifest_tmp_name(ta), manifest_name(ta), true);
  if (r != abi::TEE_SUCCESS) {
    --m.generation;
    // Even a conflict (impossible for a rename with overwrite) means the storage failed us.
    return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
  }
  auto& generations = tx.store().known_generation;
  auto known = std::find_if(generations.begin(), generations.end(),
                            [&](const auto& p) { return p.first == ta; });
  if (known == generations.end())
    generations.emplace_back(ta, m.generation);
  else
    known->second = m.generation;
  return abi::TEE_SUCCESS;
}

uint32_t StorageService::write_object(Txn& tx, const Uuid16& ta, std::span<const uint8_t> key,
                                      uint32_t file_no, uint64_t version, const ObjectContent& c,
                                      Hash* hash) {
  Bytes sealed = seal(key, FileHeader{FileKind::kObject, ta, file_no, version}, encode_object(c));
  if (sealed.empty()) return abi::TEE_ERROR_OUT_OF_MEMORY;
  *hash = sha256(sealed);
  uint32_t r = tx.fs().write_file(object_name(ta, file_no, version), sealed);
  if (r != abi::TEE_SUCCESS) (void)tx.fs().remove(object_name(ta, file_no, version));
  return r == abi::TEE_SUCCESS ? r : abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
}

uint32_t StorageService::read_object(Txn& tx, const Uuid16& ta, std::span<const uint8_t> key,
                                     const ManifestEntry& e, ObjectContent* c) {
  Bytes file;
  uint32_t r = tx.fs().read_file(object_name(ta, e.file_no, e.version), kMaxObjectFile, &file);
  // The manifest names this file: missing or oversized, it was tampered with.
  if (r == abi::TEE_ERROR_ITEM_NOT_FOUND || r == abi::TEE_ERROR_EXCESS_DATA)
    return abi::TEE_ERROR_CORRUPT_OBJECT;
  if (r != abi::TEE_SUCCESS) return r;
  const Hash h = sha256(file);
  FileHeader hdr;
  SecretBytes payload;
  ObjectContent got;
  if (!crypto::equal_ct(h.data(), e.hash.data(), kHashSize) ||
      !unseal(key, FileKind::kObject, file, &hdr, &payload) || hdr.ta != ta ||
      hdr.file_no != e.file_no || hdr.version != e.version || !decode_object(payload, &got) ||
      got.type != e.type || got.object_size != e.object_size ||
      got.max_object_size != e.max_object_size || got.usage != e.usage ||
      got.data.size() != e.data_size)
    return abi::TEE_ERROR_CORRUPT_OBJECT;
  *c = std::move(got);
  return abi::TEE_SUCCESS;
}

uint32_t StorageService::begin_update(Txn& tx, const OpenObject& o, SecretBytes* key, Manifest* m,
                                      ManifestEntry** e) {
  if (uint32_t r = device_key(tx); r != abi::TEE_SUCCESS) return r;
  *key = derive_ta_key(tx.store().device_key, o.ta_);
  if (uint32_t r = load_manifest(tx, o.ta_, *key, m); r != abi::TEE_SUCCESS) return r;
  *e = m->find(id_of(o));
  if (*e == nullptr || (*e)->file_no != o.file_no_ || (*e)->version != o.version_ || !o.loaded_)
    return abi::TEE_ERROR_CORRUPT_OBJECT;
  return abi::TEE_SUCCESS;
}

uint32_t StorageService::commit_object(Txn& tx, OpenObject& o, std::span<const uint8_t> key,
                                       Manifest& m, ManifestEntry& e, ObjectContent c) {
  const uint32_t file_no = e.file_no;
  const uint64_t old_version = e.version;
  const uint64_t version = old_version + 1;
  Hash hash{};
  if (uint32_t r = write_object(tx, o.ta_, key, e.file_no, version, c, &hash);
      r != abi::TEE_SUCCESS)
    return r;
  e.version = version;
  e.hash = hash;
  describe(e, c);
  if (uint32_t r = commit_manifest(tx, o.ta_, key, m); r != abi::TEE_SUCCESS) {
    (void)tx.fs().remove(object_name(o.ta_, file_no, version));
    return r;
  }
  (void)tx.fs().remove(object_name(o.ta_, file_no, old_version));
  o.version_ = version;
  o.data_size_.store(c.data.size(), std::memory_order_release);
  o.content_ = std::move(c);
  return abi::TEE_SUCCESS;
}

// --- operations ----------------------------------------------------------------------------------

uint32_t StorageService::open(const Uuid16& ta, std::span<const uint8_t> id, uint32_t flags,
                              ObjectRef* out, ObjectContent* meta) {
  ObjectRef o;
  if (uint32_t r = acquire(current_guest(), ta, id, flags, Usage::kOpen, &o); r != abi::TEE_SUCCESS) return r;
  uint32_t r;
  {
    Txn tx(*this);
    r = device_key(tx);
    SecretBytes key;
    Manifest m;
    if (r == abi::TEE_SUCCESS) {
      key = derive_ta_key(tx.store().device_key, ta);
      r = load_manifest(tx, ta, key, &m);
    }
    ManifestEntry* e = r == abi::TEE_SUCCESS ? m.find(id) : nullptr;
    if (r == abi::TEE_SUCCESS && e == nullptr) r = abi::TEE_ERROR_ITEM_NOT_FOUND;
    if (r == abi::TEE_SUCCESS && o->loaded_) {
      // Already open elsewhere in the machine: its content in secure memory is current, as long
      // as the manifest still names the version written last.
      if (e->file_no != o->file_no_ || e->version != o->version_) r = abi::TEE_ERROR_CORRUPT_OBJECT;
    } else if (r == abi::TEE_SUCCESS) {
      ObjectContent c;
      r = read_object(tx, ta, key, *e, &c);
      if (r == abi::TEE_SUCCESS) {
        o->file_no_ = e->file_no;
        o->version_ = e->version;
        o->data_size_.store(c.data.size(), std::memory_order_release);
        o->content_ = std::move(c);
        o->loaded_ = true;
      } else if (r == abi::TEE_ERROR_CORRUPT_OBJECT) {
        // OP-TEE deletes an object found corrupt on open: the next open answers ITEM_NOT_FOUND.
        TEEMU_LOG_WARN("storage", "object of TA {} is corrupt and is deleted", ta_dir(ta));
        const ManifestEntry gone = *e;
        m.remove(id);
        if (commit_manifest(tx, ta, key, m) == abi::TEE_SUCCESS)
          (void)tx.fs().remove(object_name(ta, gone.file_no, gone.version));
      }
    }
    if (r == abi::TEE_SUCCESS) *meta = without_data(o->content_);
  }
  if (r != abi::TEE_SUCCESS) {
    release(o);
    return r;
  }
  *out = std::move(o);
  return abi::TEE_SUCCESS;
}

uint32_t StorageService::create(const Uuid16& ta, std::span<const uint8_t> id, uint32_t flags,
                                ObjectContent content, ObjectRef* out) {
  if (content.data.size() > kMaxObjectData) return abi::TEE_ERROR_STORAGE_NO_SPACE;
  ObjectRef o;
  if (uint32_t r = acquire(current_guest(), ta, id, flags, Usage::kCreate, &o); r != abi::TEE_SUCCESS) return r;
  uint32_t r;
  {
    Txn tx(*this);
    r = device_key(tx);
    SecretBytes key;
    Manifest m;
    if (r == abi::TEE_SUCCESS) {
      key = derive_ta_key(tx.store().device_key, ta);
      r = load_manifest(tx, ta, key, &m);
    }
    ManifestEntry* existing = r == abi::TEE_SUCCESS ? m.find(id) : nullptr;
    if (r == abi::TEE_SUCCESS) {
      if (existing != nullptr && !(flags & kOverwrite))
        r = abi::TEE_ERROR_ACCESS_CONFLICT;
      else if (existing == nullptr && m.entries.size() >= kMaxObjectsPerTa)
        r = abi::TEE_ERROR_STORAGE_NO_SPACE;
      else if (existing == nullptr && m.next_file_no == UINT32_MAX)
        r = abi::TEE_ERROR_STORAGE_NO_SPACE;
    }
    if (r == abi::TEE_SUCCESS) {
      ManifestEntry e;
      e.id.assign(id.begin(), id.end());
      if (existing != nullptr) {
        e.file_no = existing->file_no;
        e.version = existing->version + 1;
      } else {
        e.file_no = m.next_file_no++;
        e.version = 1;
      }
      r = write_object(tx, ta, key, e.file_no, e.version, content, &e.hash);
      if (r == abi::TEE_SUCCESS) {
        describe(e, content);
        const uint64_t old_version = existing != nullptr ? existing->version : 0;
        if (existing != nullptr)
          *existing = e;
        else
          m.entries.push_back(e);
        r = commit_manifest(tx, ta, key, m);
        if (r != abi::TEE_SUCCESS) {
          (void)tx.fs().remove(object_name(ta, e.file_no, e.version));
        } else {
          if (old_version != 0) (void)tx.fs().remove(object_name(ta, e.file_no, old_version));
          o->file_no_ = e.file_no;
          o->version_ = e.version;
          o->data_size_.store(content.data.size(), std::memory_order_release);
          o->content_ = std::move(content);
          o->loaded_ = true;
        }
      }
    }
  }
  if (r != abi::TEE_SUCCESS) {
    release(o);
    return r;
  }
  {
    base::MutexLock l(reg_lock_);
    if (o->creating_) {
      o->creating_ = false;
      o->flags_ = flags;
    }
  }
  *out = std::move(o);
  return abi::TEE_SUCCESS;
}

uint32_t StorageService::read(const ObjectRef& o, uint64_t pos, size_t n, SecretBytes* out) {
  Txn tx(*this);
  out->clear();
  if (!tx.locked()) return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
  const SecretBytes& d = o->content_.data;
  if (pos >= d.size()) return abi::TEE_SUCCESS;
  const size_t count = static_cast<size_t>(std::min<uint64_t>(n, d.size() - pos));
  out->assign(d.begin() + static_cast<ptrdiff_t>(pos),
              d.begin() + static_cast<ptrdiff_t>(pos + count));
  return abi::TEE_SUCCESS;
}

uint32_t StorageService::write(const ObjectRef& o, uint64_t pos, std::span<const uint8_t> data) {
  if (pos > kMaxObjectData || data.size() > kMaxObjectData - pos)
    return abi::TEE_ERROR_STORAGE_NO_SPACE;
  Txn tx(*this);
  SecretBytes key;
  Manifest m;
  ManifestEntry* e = nullptr;
  if (uint32_t r = begin_update(tx, *o, &key, &m, &e); r != abi::TEE_SUCCESS) return r;
  ObjectContent c = o->content_;
  const uint64_t end = pos + data.size();
  if (c.data.size() < end) c.data.resize(static_cast<size_t>(end), 0);  // zero-filled gap
  std::copy(data.begin(), data.end(), c.data.begin() + static_cast<ptrdiff_t>(pos));
  return commit_object(tx, *o, key, m, *e, std::move(c));
}

uint32_t StorageService::truncate(const ObjectRef& o, uint64_t size) {
  if (size > kMaxObjectData) return abi::TEE_ERROR_STORAGE_NO_SPACE;
  Txn tx(*this);
  SecretBytes key;
  Manifest m;
  ManifestEntry* e = nullptr;
  if (uint32_t r = begin_update(tx, *o, &key, &m, &e); r != abi::TEE_SUCCESS) return r;
  ObjectContent c = o->content_;
  c.data.resize(static_cast<size_t>(size), 0);
  return commit_object(tx, *o, key, m, *e, std::move(c));
}

uint32_t StorageService::rename(const ObjectRef& o, std::span<const uint8_t> new_id) {
  // Reserve the new name first, as OP-TEE does: nothing can open or create it meanwhile, and an
  // object open under it (this one included) is a conflict.
  ObjectRef target;
  if (uint32_t r = acquire(o->guest_, o->ta_, new_id, kAccessWriteMeta, Usage::kRename, &target);
      r != abi::TEE_SUCCESS)
    return r;
  uint32_t r;
  {
    Txn tx(*this);
    SecretBytes key;
    Manifest m;
    ManifestEntry* e = nullptr;
    r = begin_update(tx, *o, &key, &m, &e);
    if (r == abi::TEE_SUCCESS && m.find(new_id) != nullptr) r = abi::TEE_ERROR_ACCESS_CONFLICT;
    if (r == abi::TEE_SUCCESS) {
      // The object file does not name its id; the authenticated manifest binds id to file.
      e->id.assign(new_id.begin(), new_id.end());
      r = commit_manifest(tx, o->ta_, key, m);
    }
  }
  if (r == abi::TEE_SUCCESS) {
    base::MutexLock l(reg_lock_);
    o->id_.assign(new_id.begin(), new_id.end());
  }
  release(target);
  return r;
}

uint32_t StorageService::remove(const ObjectRef& o) {
  Txn tx(*this);
  SecretBytes key;
  Manifest m;
  ManifestEntry* e = nullptr;
  uint32_t r = begin_update(tx, *o, &key, &m, &e);
  if (r != abi::TEE_SUCCESS) return r;
  const ManifestEntry gone = *e;
  m.remove(gone.id);
  r = commit_manifest(tx, o->ta_, key, m);
  if (r != abi::TEE_SUCCESS) return r;
  (void)tx.fs().remove(object_name(o->ta_, gone.file_no, gone.version));
  o->loaded_ = false;
  o->content_ = ObjectContent{};
  o->data_size_.store(0, std::memory_order_release);
  return abi::TEE_SUCCESS;
}

uint32_t StorageService::list(const Uuid16& ta, std::vector<EnumEntry>* out) {
  out->clear();
  const uint16_t guest = current_guest();
  Manifest m;
  {
    Txn tx(*this);
    if (uint32_t r = device_key(tx); r != abi::TEE_SUCCESS) return r;
    if (uint32_t r = load_manifest(tx, ta, derive_ta_key(tx.store().device_key, ta), &m);
        r != abi::TEE_SUCCESS)
      return r;
  }
  base::MutexLock l(reg_lock_);
  for (const ManifestEntry& e : m.entries) {
    EnumEntry x;
    x.id = e.id;
    x.type = e.type;
    x.object_size = e.object_size;
    x.max_object_size = e.max_object_size;
    x.usage = e.usage;
    x.data_size = e.data_size;
    for (const ObjectRef& o : open_)
      if (o->guest_ == guest && o->ta_ == ta && same_id(o->id_, e.id) && !o->creating_)
        x.handle_flags = o->flags_;
    out->push_back(std::move(x));
  }
  return abi::TEE_SUCCESS;
}

// --- the caller ----------------------------------------------------------------------------------

bool current_caller(CallerContext* out) {
  DlTaInstance* inst = current_instance();
  if (inst == nullptr) return false;
  out->storage = inst->storage();
  std::memcpy(out->ta.data(), inst->properties().uuid.octets, 16);
  out->ta_flags = inst->properties().flags;
  return true;
}

}  // namespace teemu::ta_runtime::storage
