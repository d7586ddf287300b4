// GP TEE Internal Core API time functions (1.3.1, 7.2) beyond TEE_GetSystemTime and TEE_Wait:
// TEE_GetREETime through RPC GET_TIME (served by the normal world's kernel driver, as in OP-TEE)
// and the TA persistent time.
//
// TA persistent time is protection level 100 (gpd.tee.TAPersistentTime.protectionLevel): an
// REE-controlled real-time clock plus trusted storage for the origin. Setting it stores, per TA,
// the offset from REE time and the REE time of the setting; reading adds the offset to the REE
// time now. The record lives in trusted storage under a namespace of its own (kTimeNamespace,
// object id = the TA's UUID), so it survives instances, sessions and restarts, and no TA can
// reach it through the storage API (no instance of a TA claiming that UUID is ever made).
// TEE_ERROR_TIME_NEEDS_RESET: the record is corrupt, or REE time now is before the moment the
// time was set (the REE clock went back: the origin can no longer be trusted).
#include <cstring>

#include "abi/optee_msg.h"
#include "base/assert.h"
#include "ta_runtime/entry.h"
#include "ta_runtime/gp_types.h"
#include "ta_runtime/storage_service.h"
#include "ta_runtime/ta_time.h"
#include "tee/rpc.h"
#include "tee/secure_os.h"
#include "tee/thread.h"

#define TA_API extern "C" __attribute__((visibility("default")))

extern "C" void TEE_Panic(uint32_t code);

namespace teemu::ta_runtime {

namespace {

using gp::TeeTime;

constexpr uint32_t kTypeData = 0xA00000BF;  // TEE_TYPE_DATA
constexpr uint32_t kRecordMagic = 0x54504154;  // "TAPT"
constexpr size_t kRecordSize = 4 + 8 + 8;

// The REE's wall clock in milliseconds, through RPC GET_TIME.
uint32_t ree_time_ms(uint64_t* ms) {
  tee::SecureThread* t = tee::current_thread();
  if (t == nullptr || t->partition == nullptr) return abi::TEE_ERROR_BAD_STATE;
  tee::RpcParam p[1] = {tee::RpcParam::value_out()};
  const uint32_t r = t->partition->os().rpc().cmd(*t, abi::OPTEE_RPC_CMD_GET_TIME, p);
  if (t->aborting()) return abi::TEE_ERROR_COMMUNICATION;
  if (r != abi::TEE_SUCCESS) return r;
  // Untrusted: seconds and nanoseconds as the normal world says; only the nanoseconds are bounded.
  if (p[0].b >= 1000000000ull || p[0].a > UINT64_MAX / 1000 - 1) return abi::TEE_ERROR_BAD_FORMAT;
  *ms = p[0].a * 1000 + p[0].b / 1000000;
  return abi::TEE_SUCCESS;
}

struct Caller {
  storage::StorageService* storage = nullptr;
  storage::Uuid16 ta{};
};

bool caller(Caller* c) {
  DlTaInstance* inst = current_instance();
  if (inst == nullptr) return false;
  c->storage = inst->storage();
  std::memcpy(c->ta.data(), inst->properties().uuid.octets, 16);
  return true;
}

storage::Uuid16 time_namespace() {
  storage::Uuid16 ns{};
  std::memcpy(ns.data(), kTimeNamespace.octets, 16);
  return ns;
}

void put64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t get64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

struct Record {
  int64_t offset_ms = 0;   // persistent time - REE time
  uint64_t set_at_ms = 0;  // REE time when it was set
};

// ITEM_NOT_FOUND when never set, CORRUPT_OBJECT for a record that does not parse.
uint32_t load_record(const Caller& c, Record* rec) {
  if (c.storage == nullptr) return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
  storage::ObjectRef ref;
  storage::ObjectContent meta;
  uint32_t r = c.storage->open(time_namespace(), c.ta, storage::kAccessRead | storage::kShareRead,
                               &ref, &meta);
  if (r != abi::TEE_SUCCESS) return r;
  storage::SecretBytes data;
  r = c.storage->read(ref, 0, kRecordSize + 1, &data);
  c.storage->release(ref);
  if (r != abi::TEE_SUCCESS) return r;
  uint32_t magic = 0;
  if (data.size() == kRecordSize) std::memcpy(&magic, data.data(), 4);
  if (data.size() != kRecordSize || magic != kRecordMagic) return abi::TEE_ERROR_CORRUPT_OBJECT;
  rec->offset_ms = static_cast<int64_t>(get64(data.data() + 4));
  rec->set_at_ms = get64(data.data() + 12);
  return abi::TEE_SUCCESS;
}

uint32_t store_record(const Caller& c, const Record& rec) {
  if (c.storage == nullptr) return abi::TEE_ERROR_STORAGE_NOT_AVAILABLE;
  storage::ObjectContent content;
  content.type = kTypeData;
  content.data.resize(kRecordSize);
  std::memcpy(content.data.data(), &kRecordMagic, 4);
  put64(content.data.data() + 4, static_cast<uint64_t>(rec.offset_ms));
  put64(content.data.data() + 12, rec.set_at_ms);
  storage::ObjectRef ref;
  const uint32_t r = c.storage->create(
      time_namespace(), c.ta,
      storage::kAccessWrite | storage::kShareRead | storage::kShareWrite | storage::kOverwrite,
      std::move(content), &ref);
  if (r == abi::TEE_SUCCESS) c.storage->release(ref);
  return r;
}

// TEE_GetTAPersistentTime; *panic set for results GP does not allow.
uint32_t get_persistent(TeeTime* out, bool* panic) {
  *out = {};
  Caller c;
  if (!caller(&c)) {
    *panic = true;
    return abi::TEE_ERROR_BAD_STATE;
  }
  Record rec;
  uint32_t r = load_record(c, &rec);
  if (r == abi::TEE_ERROR_CORRUPT_OBJECT) return gp::kErrorTimeNeedsReset;
  if (r == abi::TEE_ERROR_OUT_OF_MEMORY) return r;
  // Never set, or no storage to tell: GP has nothing closer than "not set" for the latter.
  if (r != abi::TEE_SUCCESS) return gp::kErrorTimeNotSet;
  uint64_t now = 0;
  r = ree_time_ms(&now);
  if (r != abi::TEE_SUCCESS) {
    *panic = true;
    return r;
  }
  if (now < rec.set_at_ms) return gp::kErrorTimeNeedsReset;
  const int64_t value = static_cast<int64_t>(now) + rec.offset_ms;
  if (value < 0) return gp::kErrorTimeNeedsReset;
  const uint64_t seconds = static_cast<uint64_t>(value) / 1000;
  out->seconds = static_cast<uint32_t>(seconds);  // modulo 2^32 on overflow, as GP says
  out->millis = static_cast<uint32_t>(static_cast<uint64_t>(value) % 1000);
  return seconds > UINT32_MAX ? abi::TEE_ERROR_OVERFLOW : abi::TEE_SUCCESS;
}

uint32_t set_persistent(const TeeTime& time, bool* panic) {
  Caller c;
  if (!caller(&c)) {
    *panic = true;
    return abi::TEE_ERROR_BAD_STATE;
  }
  uint64_t now = 0;
  uint32_t r = ree_time_ms(&now);
  if (r != abi::TEE_SUCCESS) {
    *panic = true;
    return r;
  }
  // seconds < 2^32 and REE time < 2^64 / 1000: the difference fits an int64_t.
  const int64_t wanted = static_cast<int64_t>(time.seconds) * 1000 + time.millis;
  Record rec{wanted - static_cast<int64_t>(now), now};
  r = store_record(c, rec);
  if (r == abi::TEE_SUCCESS || r == abi::TEE_ERROR_OUT_OF_MEMORY) return r;
  // GP allows only these two failures: a storage that cannot take the record is out of space.
  return abi::TEE_ERROR_STORAGE_NO_SPACE;
}

}  // namespace

}  // namespace teemu::ta_runtime

using teemu::ta_runtime::gp::TeeTime;

TA_API void TEE_GetREETime(TeeTime* time) {
  if (time == nullptr) TEE_Panic(teemu::abi::TEE_ERROR_BAD_PARAMETERS);
  uint64_t ms = 0;
  // OP-TEE's libutee panics when the REE time cannot be had.
  const uint32_t r = teemu::ta_runtime::ree_time_ms(&ms);
  if (r != teemu::abi::TEE_SUCCESS) TEE_Panic(r);
  time->seconds = static_cast<uint32_t>(ms / 1000);
  time->millis = static_cast<uint32_t>(ms % 1000);
}

TA_API uint32_t TEE_GetTAPersistentTime(TeeTime* time) {
  if (time == nullptr) TEE_Panic(teemu::abi::TEE_ERROR_BAD_PARAMETERS);
  bool panic = false;
  TeeTime t{};
  const uint32_t r = teemu::ta_runtime::get_persistent(&t, &panic);
  if (panic) TEE_Panic(r);
  *time = t;
  return r;
}

TA_API uint32_t TEE_SetTAPersistentTime(const TeeTime* time) {
  if (time == nullptr) TEE_Panic(teemu::abi::TEE_ERROR_BAD_PARAMETERS);
  bool panic = false;
  const uint32_t r = teemu::ta_runtime::set_persistent(*time, &panic);
  if (panic) TEE_Panic(r);
  return r;
}
