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

/* TEE_SeekObjectData's origin: TEE_DATA_SEEK_* (tee_api_defines.h). A plain 32-bit type as in
 * OP-TEE, so that any value a TA passes is a valid one to check. */
typedef uint32_t TEE_Whence;

/* --- Objects and cryptographic operations (GP 1.3.1; layouts as OP-TEE's) ------------------- */

typedef uint32_t TEE_ObjectType;

typedef struct {
  uint32_t objectType;
  uint32_t objectSize;
  uint32_t maxObjectSize;
  uint32_t objectUsage;
  size_t dataSize;
  size_t dataPosition;
  uint32_t handleFlags;
} TEE_ObjectInfo;

/* GP 1.1: key sizes under their old names, 32-bit data size and position. */
typedef struct {
  uint32_t objectType;
  __extension__ union {
    uint32_t keySize;
    uint32_t objectSize;
  };
  __extension__ union {
    uint32_t maxKeySize;
    uint32_t maxObjectSize;
  };
  uint32_t objectUsage;
  uint32_t dataSize;
  uint32_t dataPosition;
  uint32_t handleFlags;
} __GP11_TEE_ObjectInfo;

/* A buffer attribute (ref) or, when TEE_ATTR_FLAG_VALUE is set in attributeID, a value (a, b). */
typedef struct {
  uint32_t attributeID;
  union {
    struct {
      void *buffer;
      size_t length;
    } ref;
    struct {
      uint32_t a, b;
    } value;
  } content;
} TEE_Attribute;

typedef struct {
  uint32_t attributeID;
  union {
    struct {
      void *buffer;
      uint32_t length;
    } ref;
    struct {
      uint32_t a, b;
    } value;
  } content;
} __GP11_TEE_Attribute;

/* Arithmetical API (GP 1.3.1 section 8): arrays of uint32_t the TA allocates, sized with
 * TEE_BigIntSizeInU32, TEE_BigIntFMMSizeInU32 and TEE_BigIntFMMContextSizeInU32. The layout
 * inside is the runtime's (OP-TEE's: a two-word header, then 32-bit limbs). */
typedef uint32_t TEE_BigInt;
typedef uint32_t TEE_BigIntFMM;
typedef uint32_t TEE_BigIntFMMContext;

typedef uint32_t TEE_OperationMode;

typedef struct {
  uint32_t algorithm;
  uint32_t operationClass;
  uint32_t mode;
  uint32_t digestLength;
  uint32_t maxKeySize;
  uint32_t keySize;
  uint32_t requiredKeyUsage;
  uint32_t handleState;
} TEE_OperationInfo;

typedef struct {
  uint32_t keySize;
  uint32_t requiredKeyUsage;
} TEE_OperationInfoKey;

typedef struct {
  uint32_t algorithm;
  uint32_t operationClass;
  uint32_t mode;
  uint32_t digestLength;
  uint32_t maxKeySize;
  uint32_t handleState;
  uint32_t operationState;
  uint32_t numberOfKeys;
  TEE_OperationInfoKey keyInformation[];
} TEE_OperationInfoMultiple;

#endif /* TEE_API_TYPES_H */
