// GlobalPlatform result codes and origins shared by the client API (TEEC_*) and the TEE internal
// API (TEE_*): the numeric values are identical (reference/gp-api.md section 2.3).
#pragma once

#include <cstdint>

namespace teemu::abi {

constexpr uint32_t TEE_SUCCESS = 0x00000000;
constexpr uint32_t TEE_ERROR_GENERIC = 0xFFFF0000;
constexpr uint32_t TEE_ERROR_ACCESS_DENIED = 0xFFFF0001;
constexpr uint32_t TEE_ERROR_CANCEL = 0xFFFF0002;
constexpr uint32_t TEE_ERROR_ACCESS_CONFLICT = 0xFFFF0003;
constexpr uint32_t TEE_ERROR_EXCESS_DATA = 0xFFFF0004;
constexpr uint32_t TEE_ERROR_BAD_FORMAT = 0xFFFF0005;
constexpr uint32_t TEE_ERROR_BAD_PARAMETERS = 0xFFFF0006;
constexpr uint32_t TEE_ERROR_BAD_STATE = 0xFFFF0007;
constexpr uint32_t TEE_ERROR_ITEM_NOT_FOUND = 0xFFFF0008;
constexpr uint32_t TEE_ERROR_NOT_IMPLEMENTED = 0xFFFF0009;
constexpr uint32_t TEE_ERROR_NOT_SUPPORTED = 0xFFFF000A;
constexpr uint32_t TEE_ERROR_NO_DATA = 0xFFFF000B;
constexpr uint32_t TEE_ERROR_OUT_OF_MEMORY = 0xFFFF000C;
constexpr uint32_t TEE_ERROR_BUSY = 0xFFFF000D;
constexpr uint32_t TEE_ERROR_COMMUNICATION = 0xFFFF000E;
constexpr uint32_t TEE_ERROR_SECURITY = 0xFFFF000F;
constexpr uint32_t TEE_ERROR_SHORT_BUFFER = 0xFFFF0010;
constexpr uint32_t TEE_ERROR_EXTERNAL_CANCEL = 0xFFFF0011;
constexpr uint32_t TEE_ERROR_TIMEOUT = 0xFFFF3001;
constexpr uint32_t TEE_ERROR_OVERFLOW = 0xFFFF300F;
constexpr uint32_t TEE_ERROR_TARGET_DEAD = 0xFFFF3024;
constexpr uint32_t TEE_ERROR_STORAGE_NO_SPACE = 0xFFFF3041;
constexpr uint32_t TEE_ERROR_CORRUPT_OBJECT = 0xF0100001;
constexpr uint32_t TEE_ERROR_STORAGE_NOT_AVAILABLE = 0xF0100003;

constexpr uint32_t TEE_ORIGIN_API = 0x1;
constexpr uint32_t TEE_ORIGIN_COMMS = 0x2;
constexpr uint32_t TEE_ORIGIN_TEE = 0x3;
constexpr uint32_t TEE_ORIGIN_TRUSTED_APP = 0x4;

constexpr uint32_t TEE_NUM_PARAMS = 4;

// TA-side parameter types (tee_api_defines.h).
constexpr uint32_t TEE_PARAM_TYPE_NONE = 0;
constexpr uint32_t TEE_PARAM_TYPE_VALUE_INPUT = 1;
constexpr uint32_t TEE_PARAM_TYPE_VALUE_OUTPUT = 2;
constexpr uint32_t TEE_PARAM_TYPE_VALUE_INOUT = 3;
constexpr uint32_t TEE_PARAM_TYPE_MEMREF_INPUT = 5;
constexpr uint32_t TEE_PARAM_TYPE_MEMREF_OUTPUT = 6;
constexpr uint32_t TEE_PARAM_TYPE_MEMREF_INOUT = 7;

// 16-octet UUID as it crosses the wire (big-endian time fields, then clock_seq_and_node).
struct Uuid {
  uint8_t octets[16];
  friend bool operator==(const Uuid&, const Uuid&) = default;
};

}  // namespace teemu::abi
