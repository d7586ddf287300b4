/* GP TEE Internal Core API types, as OP-TEE's TA dev kit defines them. */
#ifndef TEE_API_TYPES_H
#define TEE_API_TYPES_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tee_api_defines.h>

typedef uint32_t TEE_Result;

typedef struct {
  uint32_t timeLow;
  uint16_t timeMid;
  uint16_t timeHiAndVersion;
  uint8_t clockSeqAndNode[8];
} TEE_UUID;

typedef struct {
  uint32_t login;
  TEE_UUID uuid;
} TEE_Identity;

/* GP 1.2+ parameter: size_t sizes. */
typedef union {
  struct {
    void *buffer;
    size_t size;
  } memref;
  struct {
    uint32_t a;
    uint32_t b;
  } value;
} TEE_Param;

/* GP 1.1 parameter: 32-bit sizes. */
typedef union {
  struct {
    void *buffer;
    uint32_t size;
  } memref;
  struct {
    uint32_t a;
    uint32_t b;
  } value;
} __GP11_TEE_Param;

typedef struct {
  uint32_t seconds;
  uint32_t millis;
} TEE_Time;

typedef struct __TEE_TASessionHandle *TEE_TASessionHandle;
typedef struct __TEE_PropSetHandle *TEE_PropSetHandle;
typedef struct __TEE_ObjectHandle *TEE_ObjectHandle;
typedef struct __TEE_ObjectEnumHandle *TEE_ObjectEnumHandle;
typedef struct __TEE_OperationHandle *TEE_OperationHandle;

#endif /* TEE_API_TYPES_H */
