// The layouts of the GP TEE Internal Core API types the core API functions exchange with TAs
// (TEE_UUID, TEE_Identity, TEE_Time, TEE_Param and its GP 1.1 twin, OP-TEE's user_ta_property),
// for runtime files that work with the secure OS's headers and so cannot include the TA dev
// kit's (its GP constants are macros). The static_asserts pin them to the dev kit's layout.
#pragma once

#include <cstddef>
#include <cstdint>

#include "abi/gp.h"

namespace teemu::ta_runtime::gp {

struct TeeUuid {
  uint32_t timeLow;
  uint16_t timeMid;
  uint16_t timeHiAndVersion;
  uint8_t clockSeqAndNode[8];
};
static_assert(sizeof(TeeUuid) == 16);

struct TeeIdentity {
  uint32_t login;
  TeeUuid uuid;
};
static_assert(sizeof(TeeIdentity) == 20 && offsetof(TeeIdentity, uuid) == 4);

struct TeeTime {
  uint32_t seconds;
  uint32_t millis;
};

// TEE_Param of GP 1.2+ (size_t sizes) and of GP 1.1 (uint32_t sizes).
union TeeParam {
  struct {
    void* buffer;
    size_t size;
  } memref;
  struct {
    uint32_t a;
    uint32_t b;
  } value;
};
union TeeParamGp11 {
  struct {
    void* buffer;
    uint32_t size;
  } memref;
  struct {
    uint32_t a;
    uint32_t b;
  } value;
};
static_assert(sizeof(TeeParam) == 16 && sizeof(TeeParamGp11) == 16);

// user_ta_header.h: enum user_ta_prop_type and struct user_ta_property.
enum PropType : uint32_t {
  kPropBool = 0,
  kPropU32 = 1,
  kPropUuid = 2,
  kPropIdentity = 3,
  kPropString = 4,
  kPropBinaryBlock = 5,
  kPropU64 = 6,
};
struct UserTaProperty {
  const char* name;
  uint32_t type;  // an enum in C: int-sized
  const void* value;
};
static_assert(sizeof(UserTaProperty) == 3 * sizeof(void*));

// TEE_LOGIN_* and TEE_MEMORY_ACCESS_* (tee_api_defines.h), TEE_MEMORY_ACCESS_NONSECURE/SECURE
// (tee_api_defines_extensions.h).
inline constexpr uint32_t kLoginTrustedApp = 0xF0000000;
inline constexpr uint32_t kAccessRead = 0x1;
inline constexpr uint32_t kAccessWrite = 0x2;
inline constexpr uint32_t kAccessAnyOwner = 0x4;
inline constexpr uint32_t kAccessNonSecure = 0x10000000;
inline constexpr uint32_t kAccessSecure = 0x20000000;

// The result codes the dev kit has and abi/gp.h does not.
inline constexpr uint32_t kErrorTimeNotSet = 0xFFFF5000;
inline constexpr uint32_t kErrorTimeNeedsReset = 0xFFFF5001;

// GP UUID fields <-> the 16 octets of abi::Uuid (big-endian fields, as OP-TEE's tee_uuid_to_octets).
inline abi::Uuid to_octets(const TeeUuid& u) {
  abi::Uuid o{};
  for (int i = 0; i < 4; ++i) o.octets[i] = static_cast<uint8_t>(u.timeLow >> (24 - 8 * i));
  o.octets[4] = static_cast<uint8_t>(u.timeMid >> 8);
  o.octets[5] = static_cast<uint8_t>(u.timeMid);
  o.octets[6] = static_cast<uint8_t>(u.timeHiAndVersion >> 8);
  o.octets[7] = static_cast<uint8_t>(u.timeHiAndVersion);
  for (int i = 0; i < 8; ++i) o.octets[8 + i] = u.clockSeqAndNode[i];
  return o;
}
inline TeeUuid from_octets(const abi::Uuid& o) {
  TeeUuid u{};
  u.timeLow = (uint32_t{o.octets[0]} << 24) | (uint32_t{o.octets[1]} << 16) |
              (uint32_t{o.octets[2]} << 8) | o.octets[3];
  u.timeMid = static_cast<uint16_t>((o.octets[4] << 8) | o.octets[5]);
  u.timeHiAndVersion = static_cast<uint16_t>((o.octets[6] << 8) | o.octets[7]);
  for (int i = 0; i < 8; ++i) u.clockSeqAndNode[i] = o.octets[8 + i];
  return u;
}

}  // namespace teemu::ta_runtime::gp
