// GP TEE Internal Core API property access (1.3.1, 4.4) with OP-TEE's sets, names and values:
//   TEE_PROPSET_CURRENT_TA: the TA's ta_props[] (user_ta_header.c emits the gpd.ta.* ones and
//     TA_CURRENT_TA_EXT_PROPERTIES), then gpd.ta.appID;
//   TEE_PROPSET_CURRENT_CLIENT: gpd.client.identity (login and UUID of the session's client: a
//     TA calling through TEE_OpenTASession is TEE_LOGIN_TRUSTED_APP with its UUID),
//     gpd.client.endian;
//   TEE_PROPSET_TEE_IMPLEMENTATION: the gpd.tee.* set (docs/internal-api.md lists values).
// Results follow OP-TEE's libutee: a property of another type is TEE_ERROR_BAD_FORMAT, an
// unknown name or an enumerator not on a property TEE_ERROR_ITEM_NOT_FOUND, a buffer too small
// TEE_ERROR_SHORT_BUFFER with the length needed; bad handles and null pointers panic the TA.
//
// Everything the TA hands over (names, its property table, output buffers) is touched with
// fault-checked copies, and a panic is raised only after every C++ object of the call is gone.
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include <dlfcn.h>
#include <openssl/sha.h>

#include "base/fault.h"
#include "ta_runtime/entry.h"
#include "ta_runtime/gp_types.h"
#include "tee/session.h"
#include "tee/thread.h"

#define TA_API extern "C" __attribute__((visibility("default")))

extern "C" void TEE_Panic(uint32_t code);

namespace teemu::ta_runtime {

namespace {

using gp::TeeIdentity;
using gp::TeeUuid;

constexpr uintptr_t kPropsetTee = 0xFFFFFFFD;
constexpr uintptr_t kPropsetClient = 0xFFFFFFFE;
constexpr uintptr_t kPropsetTa = 0xFFFFFFFF;
// Longest property name or TA string value read from a TA; the bound stops a TA from making the
// runtime scan without end.
constexpr size_t kMaxString = 4096;
// Most properties a TA's table may list (the same bound, for the table's length).
constexpr size_t kMaxTaProps = 1024;

enum class Set { kTa, kClient, kTee };

struct Prop {
  std::string name;
  uint32_t type = gp::kPropU32;
  std::vector<uint8_t> value;  // the raw value; strings without NUL, binary blocks decoded
};

// The outcome of one API call: a result, or a panic code to raise once the call's state is gone.
struct Outcome {
  uint32_t code = abi::TEE_SUCCESS;
  bool panic = false;
  static Outcome ok() { return {}; }
  static Outcome error(uint32_t c) { return {c, false}; }
  static Outcome fatal(uint32_t c) { return {c, true}; }
};

template <class F>
uint32_t run(F&& f) {
  Outcome o;
  try {
    o = f();
  } catch (const std::bad_alloc&) {
    o = Outcome::fatal(abi::TEE_ERROR_OUT_OF_MEMORY);
  }
  if (o.panic) TEE_Panic(o.code);
  return o.code;
}

template <class T>
std::vector<uint8_t> bytes_of(const T& v) {
  std::vector<uint8_t> b(sizeof(T));
  std::memcpy(b.data(), &v, sizeof(T));
  return b;
}
std::vector<uint8_t> bytes_of_string(const std::string& s) { return {s.begin(), s.end()}; }

Prop make(const char* name, uint32_t type, std::vector<uint8_t> value) {
  return Prop{name, type, std::move(value)};
}

// A NUL-terminated string from TA memory; false if it faults or is longer than kMaxString.
bool read_string(const char* p, std::string* out) {
  out->clear();
  if (p == nullptr) return false;
  for (size_t i = 0; i < kMaxString; ++i) {
    char c;
    if (!base::copy_checked(&c, p + i, 1)) return false;
    if (c == '\0') return true;
    out->push_back(c);
  }
  return false;
}

// --- base64 (binary block properties; OP-TEE's alphabet with '=' padding) ----------------------

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string base64_encode(const std::vector<uint8_t>& in) {
  std::string out;
  for (size_t i = 0; i < in.size(); i += 3) {
    const uint32_t n = (uint32_t{in[i]} << 16) | (i + 1 < in.size() ? uint32_t{in[i + 1]} << 8 : 0) |
                       (i + 2 < in.size() ? in[i + 2] : 0);
    out.push_back(kB64[(n >> 18) & 63]);
    out.push_back(kB64[(n >> 12) & 63]);
    out.push_back(i + 1 < in.size() ? kB64[(n >> 6) & 63] : '=');
    out.push_back(i + 2 < in.size() ? kB64[n & 63] : '=');
  }
  return out;
}

// Decodes base64, ignoring whitespace; false for anything else that is not base64.
bool base64_decode(const std::string& in, std::vector<uint8_t>* out) {
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    if (c == ' ' || c == '\n' || c == '\r' || c == '\t') continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    const char* pos = std::strchr(kB64, c);
    if (padding || c == '\0' || pos == nullptr) return false;
    acc = (acc << 6) | static_cast<uint32_t>(pos - kB64);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<uint8_t>(acc >> bits));
    }
  }
  return true;
}

// --- the three sets -----------------------------------------------------------------------------

TeeUuid device_id() {
  // OP-TEE: SHA-256 of "OPTEE" and the die id, made a version-5 UUID. teemu's die id is the host's
  // machine id, as the platform's hardware unique key uses it.
  static const TeeUuid id = [] {
    std::string die;
    for (const char* path : {"/etc/machine-id", "/var/lib/dbus/machine-id"}) {
      std::ifstream f(path);
      if (f && std::getline(f, die) && !die.empty()) break;
    }
    std::string data = "OPTEE" + die;
    uint8_t digest[SHA256_DIGEST_LENGTH];
    SHA256(reinterpret_cast<const uint8_t*>(data.data()), data.size(), digest);
    TeeUuid u;
    std::memcpy(&u, digest, sizeof(u));
    u.timeHiAndVersion = static_cast<uint16_t>((u.timeHiAndVersion & 0x0fff) | (5 << 12));
    u.clockSeqAndNode[0] = static_cast<uint8_t>((u.clockSeqAndNode[0] & 0x3f) | 0x80);
    return u;
  }();
  return id;
}

std::vector<Prop> tee_set() {
  const uint32_t max_bigint = 2048;  // CFG_TA_BIGNUM_MAX_BITS
  const uint32_t core_version = (1u << 24) | (3u << 16) | (1u << 8);  // TEE_CORE_API_VERSION
  // teemu's system time is the host's monotonic clock: REE-controlled timers (100). Persistent
  // time is an REE clock plus trusted storage (100). Storage detects rollback only within a boot
  // (docs/storage.md): no anti-rollback level, as OP-TEE's REE FS.
  const uint32_t system_time_level = 100, persistent_time_level = 100, antirollback_level = 0;
  const bool ecc = true;
  const uint32_t zero = 0;
  std::vector<Prop> v;
  v.push_back(make("gpd.tee.arith.maxBigIntSize", gp::kPropU32, bytes_of(max_bigint)));
  v.push_back(make("gpd.tee.internalCore.version", gp::kPropU32, bytes_of(core_version)));
  v.push_back(make("gpd.tee.apiversion", gp::kPropString, bytes_of_string("GPD-1.1-dev")));
  v.push_back(make("gpd.tee.description", gp::kPropString, bytes_of_string("OPTEE")));
  v.push_back(make("gpd.tee.deviceID", gp::kPropUuid, bytes_of(device_id())));
  v.push_back(
      make("gpd.tee.systemTime.protectionLevel", gp::kPropU32, bytes_of(system_time_level)));
  v.push_back(make("gpd.tee.TAPersistentTime.protectionLevel", gp::kPropU32,
                   bytes_of(persistent_time_level)));
  v.push_back(make("gpd.tee.cryptography.ecc", gp::kPropBool, bytes_of(ecc)));
  v.push_back(make("gpd.tee.trustedStorage.antiRollback.protectionLevel", gp::kPropU32,
                   bytes_of(antirollback_level)));
  v.push_back(make("gpd.tee.trustedos.implementation.version", gp::kPropString,
                   bytes_of_string("4.0.0-teemu")));
  v.push_back(
      make("gpd.tee.trustedos.implementation.binaryversion", gp::kPropU32, bytes_of(zero)));
  v.push_back(make("gpd.tee.trustedos.manufacturer", gp::kPropString, bytes_of_string("LINARO")));
  v.push_back(make("gpd.tee.firmware.implementation.version", gp::kPropString,
                   bytes_of_string("FW_IMPL_UNDEF")));
  v.push_back(
      make("gpd.tee.firmware.implementation.binaryversion", gp::kPropU32, bytes_of(zero)));
  v.push_back(
      make("gpd.tee.firmware.manufacturer", gp::kPropString, bytes_of_string("FW_MAN_UNDEF")));
  return v;
}

std::vector<Prop> client_set() {
  std::vector<Prop> v;
  tee::SecureThread* t = tee::current_thread();
  // Create and destroy entry points run outside of any session: no client to describe.
  if (t != nullptr && t->session != nullptr) {
    TeeIdentity id{};
    id.login = t->session->login;
    id.uuid = gp::from_octets(t->session->client_uuid);
    v.push_back(make("gpd.client.identity", gp::kPropIdentity, bytes_of(id)));
  }
  const uint32_t endian = 0;  // little endian
  v.push_back(make("gpd.client.endian", gp::kPropU32, bytes_of(endian)));
  return v;
}

// One entry of the TA's table; false if it cannot be read or makes no sense.
bool read_ta_prop(const gp::UserTaProperty& e, Prop* out) {
  if (!read_string(e.name, &out->name)) return false;
  out->type = e.type;
  size_t n = 0;
  switch (e.type) {
    case gp::kPropBool: n = sizeof(bool); break;
    case gp::kPropU32: n = sizeof(uint32_t); break;
    case gp::kPropU64: n = sizeof(uint64_t); break;
    case gp::kPropUuid: n = sizeof(TeeUuid); break;
    case gp::kPropIdentity: n = sizeof(TeeIdentity); break;
    case gp::kPropString: {
      std::string s;
      if (!read_string(static_cast<const char*>(e.value), &s)) return false;
      out->value = bytes_of_string(s);
      return true;
    }
    case gp::kPropBinaryBlock: {
      std::string s;
      return read_string(static_cast<const char*>(e.value), &s) && base64_decode(s, &out->value);
    }
    default: return false;
  }
  out->value.resize(n);
  if (e.value == nullptr || !base::copy_checked(out->value.data(), e.value, n)) return false;
  if (e.type == gp::kPropBool) out->value[0] = out->value[0] != 0;
  return true;
}

bool ta_set(std::vector<Prop>* v) {
  DlTaInstance* inst = current_instance();
  if (inst == nullptr) return false;
  const auto& props = inst->properties();
  void* handle = inst->dl_handle();
  const auto* table = static_cast<const gp::UserTaProperty*>(dlsym(handle, "ta_props"));
  const auto* count = static_cast<const size_t*>(dlsym(handle, "ta_num_props"));
  if (table != nullptr && count != nullptr) {
    size_t n = 0;
    if (!base::copy_checked(&n, count, sizeof(n)) || n > kMaxTaProps) return false;
    for (size_t i = 0; i < n; ++i) {
      gp::UserTaProperty e;
      Prop p;
      if (!base::copy_checked(&e, table + i, sizeof(e)) || !read_ta_prop(e, &p)) return false;
      v->push_back(std::move(p));
    }
  } else {
    // A TA built without the table: what its header says.
    const bool single = props.flags & tee::TA_FLAG_SINGLE_INSTANCE;
    const bool multi = props.flags & tee::TA_FLAG_MULTI_SESSION;
    const bool keep = props.flags & tee::TA_FLAG_INSTANCE_KEEP_ALIVE;
    const uint32_t endian = 0;
    v->push_back(make("gpd.ta.singleInstance", gp::kPropBool, bytes_of(single)));
    v->push_back(make("gpd.ta.multiSession", gp::kPropBool, bytes_of(multi)));
    v->push_back(make("gpd.ta.instanceKeepAlive", gp::kPropBool, bytes_of(keep)));
    v->push_back(make("gpd.ta.dataSize", gp::kPropU32, bytes_of(props.data_size)));
    v->push_back(make("gpd.ta.endian", gp::kPropU32, bytes_of(endian)));
  }
  v->push_back(make("gpd.ta.appID", gp::kPropUuid, bytes_of(gp::from_octets(props.uuid))));
  return true;
}

// The properties of a set; a fatal outcome if the TA's own table is broken.
Outcome build_set(Set s, std::vector<Prop>* out) {
  out->clear();
  switch (s) {
    case Set::kTee: *out = tee_set(); return Outcome::ok();
    case Set::kClient: *out = client_set(); return Outcome::ok();
    case Set::kTa:
      if (!ta_set(out)) return Outcome::fatal(abi::TEE_ERROR_BAD_FORMAT);
      return Outcome::ok();
  }
  return Outcome::fatal(abi::TEE_ERROR_BAD_PARAMETERS);
}

bool pseudo_set(uintptr_t h, Set* s) {
  switch (h) {
    case kPropsetTa: *s = Set::kTa; return true;
    case kPropsetClient: *s = Set::kClient; return true;
    case kPropsetTee: *s = Set::kTee; return true;
    default: return false;
  }
}

// --- enumerators --------------------------------------------------------------------------------

class PropEnumerator : public RuntimeObject {
 public:
  bool started = false;
  Set set = Set::kTa;
  size_t index = 0;
};

PropEnumerator* find_enumerator(const void* h) {
  DlTaInstance* inst = current_instance();
  return inst == nullptr ? nullptr : inst->state().get<PropEnumerator>(h);
}

// The property a (propset or enumerator, name) pair selects.
Outcome select(const void* handle, const char* name, Prop* out) {
  Set set;
  std::vector<Prop> props;
  if (pseudo_set(reinterpret_cast<uintptr_t>(handle), &set)) {
    std::string wanted;
    if (!read_string(name, &wanted)) return Outcome::fatal(abi::TEE_ERROR_BAD_PARAMETERS);
    if (Outcome o = build_set(set, &props); o.panic) return o;
    for (auto& p : props) {
      if (p.name == wanted) {
        *out = std::move(p);
        return Outcome::ok();
      }
    }
    return Outcome::error(abi::TEE_ERROR_ITEM_NOT_FOUND);
  }
  // An enumerator: the name is ignored.
  PropEnumerator* e = find_enumerator(handle);
  if (e == nullptr) return Outcome::fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  if (!e->started) return Outcome::error(abi::TEE_ERROR_ITEM_NOT_FOUND);
  if (Outcome o = build_set(e->set, &props); o.panic) return o;
  if (e->index >= props.size()) return Outcome::error(abi::TEE_ERROR_ITEM_NOT_FOUND);
  *out = std::move(props[e->index]);
  return Outcome::ok();
}

// --- value conversions --------------------------------------------------------------------------

std::string uuid_string(const TeeUuid& u) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08" PRIx32 "-%04" PRIx16 "-%04" PRIx16 "-%02x%02x-%02x%02x%02x%02x%02x%02x",
                u.timeLow, u.timeMid, u.timeHiAndVersion, u.clockSeqAndNode[0],
                u.clockSeqAndNode[1], u.clockSeqAndNode[2], u.clockSeqAndNode[3],
                u.clockSeqAndNode[4], u.clockSeqAndNode[5], u.clockSeqAndNode[6],
                u.clockSeqAndNode[7]);
  return buf;
}

template <class T>
T value_as(const Prop& p) {
  T v{};
  if (p.value.size() == sizeof(T)) std::memcpy(&v, p.value.data(), sizeof(T));
  return v;
}

std::string as_string(const Prop& p) {
  switch (p.type) {
    case gp::kPropBool: return value_as<bool>(p) ? "true" : "false";
    case gp::kPropU32: return std::to_string(value_as<uint32_t>(p));
    case gp::kPropU64: return std::to_string(value_as<uint64_t>(p));
    case gp::kPropUuid: return uuid_string(value_as<TeeUuid>(p));
    case gp::kPropIdentity: {
      const auto id = value_as<TeeIdentity>(p);
      return std::to_string(id.login) + ":" + uuid_string(id.uuid);
    }
    case gp::kPropBinaryBlock: return base64_encode(p.value);
    default: return std::string(p.value.begin(), p.value.end());
  }
}

// Reads a TA's in/out length; writes the outcome's length back. Lengths go through fault-checked
// copies: the TA may pass any pointer.
template <class Len>
bool load_len(const Len* len, size_t* out) {
  Len v;
  if (len == nullptr || !base::copy_checked(&v, len, sizeof(v))) return false;
  *out = v;
  return true;
}
template <class Len>
bool store_len(Len* len, size_t v) {
  const Len l = static_cast<Len>(v);
  return base::copy_checked(len, &l, sizeof(l));
}

// Delivers `data` into a TA buffer of *len bytes: SHORT_BUFFER with the needed length, else the
// bytes and their length.
template <class Len>
Outcome deliver(const void* data, size_t n, void* buffer, Len* len) {
  size_t room = 0;
  if (!load_len(len, &room)) return Outcome::fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  if (buffer == nullptr && room != 0) return Outcome::fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  // A GP 1.1 length cannot express more than 4 GiB; no property comes near it.
  if (!store_len(len, n)) return Outcome::fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  if (room < n) return Outcome::error(abi::TEE_ERROR_SHORT_BUFFER);
  if (n != 0 && !base::copy_checked(buffer, data, n))
    return Outcome::fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  return Outcome::ok();
}

template <class Len>
Outcome get_string(const void* h, const char* name, char* buffer, Len* len) {
  if (buffer == nullptr) return Outcome::fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  Prop p;
  if (Outcome o = select(h, name, &p); o.code != abi::TEE_SUCCESS) return o;
  const std::string s = as_string(p);
  return deliver(s.c_str(), s.size() + 1, buffer, len);
}

template <class Len>
Outcome get_binary(const void* h, const char* name, void* buffer, Len* len) {
  Prop p;
  if (Outcome o = select(h, name, &p); o.code != abi::TEE_SUCCESS) return o;
  if (p.type != gp::kPropBinaryBlock) return Outcome::error(abi::TEE_ERROR_BAD_FORMAT);
  return deliver(p.value.data(), p.value.size(), buffer, len);
}

// The typed getters: the property must have exactly that type.
template <class T>
Outcome get_typed(const void* h, const char* name, uint32_t type, T* value) {
  if (value == nullptr) return Outcome::fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  Prop p;
  if (Outcome o = select(h, name, &p); o.code != abi::TEE_SUCCESS) return o;
  if (p.type != type || p.value.size() != sizeof(T))
    return Outcome::error(abi::TEE_ERROR_BAD_FORMAT);
  if (!base::copy_checked(value, p.value.data(), sizeof(T)))
    return Outcome::fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  return Outcome::ok();
}

template <class Len>
Outcome property_name(const void* h, void* buffer, Len* len) {
  PropEnumerator* e = find_enumerator(h);
  if (e == nullptr) return Outcome::fatal(abi::TEE_ERROR_BAD_PARAMETERS);
  if (!e->started) return Outcome::error(abi::TEE_ERROR_ITEM_NOT_FOUND);
  std::vector<Prop> props;
  if (Outcome o = build_set(e->set, &props); o.panic) return o;
  if (e->index >= props.size()) return Outcome::error(abi::TEE_ERROR_ITEM_NOT_FOUND);
  const std::string& n = props[e->index].name;
  return deliver(n.c_str(), n.size() + 1, buffer, len);
}

}  // namespace
}  // namespace teemu::ta_runtime

using namespace teemu::ta_runtime;
using teemu::abi::TEE_ERROR_BAD_PARAMETERS;

// --- GP 1.3.1 ---------------------------------------------------------------------------------

TA_API uint32_t TEE_GetPropertyAsString(void* propsetOrEnumerator, const char* name,
                                        char* valueBuffer, size_t* valueBufferLen) {
  return run([&] { return get_string(propsetOrEnumerator, name, valueBuffer, valueBufferLen); });
}

TA_API uint32_t TEE_GetPropertyAsBool(void* propsetOrEnumerator, const char* name, bool* value) {
  return run([&] { return get_typed(propsetOrEnumerator, name, gp::kPropBool, value); });
}

TA_API uint32_t TEE_GetPropertyAsU32(void* propsetOrEnumerator, const char* name,
                                     uint32_t* value) {
  return run([&] { return get_typed(propsetOrEnumerator, name, gp::kPropU32, value); });
}

TA_API uint32_t TEE_GetPropertyAsU64(void* propsetOrEnumerator, const char* name,
                                     uint64_t* value) {
  return run([&] { return get_typed(propsetOrEnumerator, name, gp::kPropU64, value); });
}

TA_API uint32_t TEE_GetPropertyAsBinaryBlock(void* propsetOrEnumerator, const char* name,
                                             void* valueBuffer, size_t* valueBufferLen) {
  return run([&] { return get_binary(propsetOrEnumerator, name, valueBuffer, valueBufferLen); });
}

TA_API uint32_t TEE_GetPropertyAsUUID(void* propsetOrEnumerator, const char* name,
                                      gp::TeeUuid* value) {
  return run([&] { return get_typed(propsetOrEnumerator, name, gp::kPropUuid, value); });
}

TA_API uint32_t TEE_GetPropertyAsIdentity(void* propsetOrEnumerator, const char* name,
                                          gp::TeeIdentity* value) {
  return run([&] { return get_typed(propsetOrEnumerator, name, gp::kPropIdentity, value); });
}

TA_API uint32_t TEE_AllocatePropertyEnumerator(void** enumerator) {
  return run([&] {
    DlTaInstance* inst = current_instance();
    if (inst == nullptr || enumerator == nullptr) return Outcome::fatal(TEE_ERROR_BAD_PARAMETERS);
    std::unique_ptr<PropEnumerator> e(new (std::nothrow) PropEnumerator());
    if (!e) return Outcome::error(teemu::abi::TEE_ERROR_OUT_OF_MEMORY);
    void* h = inst->state().add(std::move(e));
    if (!teemu::base::copy_checked(enumerator, &h, sizeof(h))) {
      inst->state().remove(h);
      return Outcome::fatal(TEE_ERROR_BAD_PARAMETERS);
    }
    return Outcome::ok();
  });
}

TA_API void TEE_FreePropertyEnumerator(void* enumerator) {
  run([&] {
    if (enumerator == nullptr) return Outcome::ok();  // TEE_HANDLE_NULL: nothing to free
    if (find_enumerator(enumerator) == nullptr) return Outcome::fatal(TEE_ERROR_BAD_PARAMETERS);
    current_instance()->state().remove(enumerator);
    return Outcome::ok();
  });
}

TA_API void TEE_StartPropertyEnumerator(void* enumerator, void* propSet) {
  run([&] {
    PropEnumerator* e = find_enumerator(enumerator);
    Set set;
    if (e == nullptr || !pseudo_set(reinterpret_cast<uintptr_t>(propSet), &set))
      return Outcome::fatal(TEE_ERROR_BAD_PARAMETERS);
    e->started = true;
    e->set = set;
    e->index = 0;
    return Outcome::ok();
  });
}

TA_API void TEE_ResetPropertyEnumerator(void* enumerator) {
  run([&] {
    PropEnumerator* e = find_enumerator(enumerator);
    if (e == nullptr) return Outcome::fatal(TEE_ERROR_BAD_PARAMETERS);
    e->started = false;
    e->index = 0;
    return Outcome::ok();
  });
}

TA_API uint32_t TEE_GetPropertyName(void* enumerator, void* nameBuffer, size_t* nameBufferLen) {
  return run([&] { return property_name(enumerator, nameBuffer, nameBufferLen); });
}

TA_API uint32_t TEE_GetNextProperty(void* enumerator) {
  return run([&] {
    PropEnumerator* e = find_enumerator(enumerator);
    if (e == nullptr) return Outcome::fatal(TEE_ERROR_BAD_PARAMETERS);
    if (!e->started) return Outcome::error(teemu::abi::TEE_ERROR_ITEM_NOT_FOUND);
    std::vector<Prop> props;
    if (Outcome o = build_set(e->set, &props); o.panic) return o;
    if (e->index < props.size()) ++e->index;
    return e->index < props.size() ? Outcome::ok()
                                   : Outcome::error(teemu::abi::TEE_ERROR_ITEM_NOT_FOUND);
  });
}

// --- GP 1.1: 32-bit lengths -------------------------------------------------------------------

TA_API uint32_t __GP11_TEE_GetPropertyAsString(void* propsetOrEnumerator, const char* name,
                                               char* valueBuffer, uint32_t* valueBufferLen) {
  return run([&] { return get_string(propsetOrEnumerator, name, valueBuffer, valueBufferLen); });
}

TA_API uint32_t __GP11_TEE_GetPropertyAsBinaryBlock(void* propsetOrEnumerator, const char* name,
                                                    void* valueBuffer, uint32_t* valueBufferLen) {
  return run([&] { return get_binary(propsetOrEnumerator, name, valueBuffer, valueBufferLen); });
}

TA_API uint32_t __GP11_TEE_GetPropertyName(void* enumerator, void* nameBuffer,
                                           uint32_t* nameBufferLen) {
  return run([&] { return property_name(enumerator, nameBuffer, nameBufferLen); });
}
