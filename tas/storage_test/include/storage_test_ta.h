/* The storage-test TA: drives the GP trusted storage API for tests/ta_storage_test.cc. One source,
 * three builds: the GP 1.3.1 TA, a second 1.3.1 TA with another UUID (isolation between TAs) and
 * a GP 1.1 build (__OPTEE_CORE_API_COMPAT_1_1, the __GP11_ functions). Handles live in numbered
 * slots of the session, so the client can drive any sequence of calls. Results of the GP calls are
 * returned as they are; a failed check inside the TA returns TA_STORAGE_TEST_FAILED | line. */
#ifndef STORAGE_TEST_TA_H
#define STORAGE_TEST_TA_H

#include <stdint.h>

#define TA_STORAGE_TEST_UUID                         \
  {                                                  \
    0x2a4c6e80, 0x1b3d, 0x4f5a, {                    \
      0x8c, 0x7e, 0x9d, 0x0b, 0x1f, 0x2a, 0x3c, 0x4d \
    }                                                \
  }
#define TA_STORAGE_TEST2_UUID                        \
  {                                                  \
    0x2a4c6e80, 0x1b3d, 0x4f5a, {                    \
      0x8c, 0x7e, 0x9d, 0x0b, 0x1f, 0x2a, 0x3c, 0x4e \
    }                                                \
  }
#define TA_STORAGE_GP11_UUID                         \
  {                                                  \
    0x2a4c6e80, 0x1b3d, 0x4f5a, {                    \
      0x8c, 0x7e, 0x9d, 0x0b, 0x1f, 0x2a, 0x3c, 0x4f \
    }                                                \
  }

#define TA_STORAGE_TEST_FAILED 0x7E570000u /* | the line of the failed check */
#define TA_STORAGE_SLOTS 16

/* p0 value in: a = storage id, b = flags; p1 memref in: object id; p2 memref in: initial data or
 * NONE (no data); p3 value inout: in a = TA_STORAGE_ATTR_*, in b = TA_STORAGE_CREATE_* bits and
 * (TA_STORAGE_ATTR_SLOT) the slot << 8; out a = the slot of the new handle. */
#define TA_STORAGE_CMD_CREATE 0
#define TA_STORAGE_ATTR_NONE 0     /* a data object */
#define TA_STORAGE_ATTR_AES 1      /* an AES-128 key holding TA_STORAGE_AES_KEY */
#define TA_STORAGE_ATTR_RSA 2      /* a generated RSA-1024 key pair */
#define TA_STORAGE_ATTR_SLOT 3     /* the object in slot b >> 8 */
#define TA_STORAGE_ATTR_RAW 4      /* an uninitialized transient AES object: a panic */
#define TA_STORAGE_CREATE_NULL_HANDLE 0x1 /* pass object = NULL: created and closed */
/* p0 value in: a = storage id, b = flags; p1 memref in: object id; p2 value out: a = slot. */
#define TA_STORAGE_CMD_OPEN 1
/* p0 value in: a = slot. TEE_CloseObject. */
#define TA_STORAGE_CMD_CLOSE 2
/* p0 value in: a = slot; p1 memref out: the bytes read (its size becomes the count). */
#define TA_STORAGE_CMD_READ 3
/* p0 value in: a = slot; p1 memref in: the bytes to write. */
#define TA_STORAGE_CMD_WRITE 4
/* p0 value in: a = slot, b = whence; p1 value in: a/b = low/high 32 bits of the offset. */
#define TA_STORAGE_CMD_SEEK 5
/* p0 value in: a = slot, b = size. */
#define TA_STORAGE_CMD_TRUNCATE 6
/* p0 value in: a = slot; p1 memref in: new object id. */
#define TA_STORAGE_CMD_RENAME 7
/* p0 value in: a = slot, b = 1 for the deprecated TEE_CloseAndDeletePersistentObject. */
#define TA_STORAGE_CMD_DELETE 8
/* p0 value in: a = slot; p1 memref out: struct ta_storage_info. */
#define TA_STORAGE_CMD_INFO 9
/* p0 value in: a = slot, b = attribute id; p1 memref out (or NONE: a NULL buffer): the attribute;
 * on TEE_ERROR_SHORT_BUFFER its size is the size needed. */
#define TA_STORAGE_CMD_GET_ATTR 10
/* p0 value in: a = storage id; p1 memref out: for each object its id length (1 byte) and id;
 * p2 value out: a = number of objects. The result of TEE_StartPersistentObjectEnumerator (or a
 * failure of TEE_GetNextPersistentObject) is returned. */
#define TA_STORAGE_CMD_ENUM 11
/* Enumerator rules checked inside the TA (needs at least one object in the storage). */
#define TA_STORAGE_CMD_ENUM_CHECKS 12
/* p0 value in: a = TA_STORAGE_PANIC_*: breaks that rule; the TA must be panicked. */
#define TA_STORAGE_CMD_PANIC 13
/* p0 value in: a = slot of an AES key object; p1 memref in: plaintext (whole blocks);
 * p2 memref out: AES-ECB ciphertext under that key. */
#define TA_STORAGE_CMD_CIPHER 14
/* Deletes every object of this TA. p0 value out: a = how many were deleted. */
#define TA_STORAGE_CMD_WIPE 15
/* p0 value in: a = slot: TEE_GetObjectInfo1 on it; p1 value out: a = its result. The handle
 * may be a stale one (for a handle closed after TEE_ERROR_CORRUPT_OBJECT): then the TA panics. */
#define TA_STORAGE_CMD_PROBE 16

#define TA_STORAGE_PANIC_READ_BAD_HANDLE 0     /* TEE_ReadObjectData on a pointer to the stack */
#define TA_STORAGE_PANIC_CLOSE_BAD_HANDLE 1    /* TEE_CloseObject on a pointer to the stack */
#define TA_STORAGE_PANIC_READ_TRANSIENT 2      /* TEE_ReadObjectData on a transient object */
#define TA_STORAGE_PANIC_READ_NO_ACCESS 3      /* reading a handle opened without ACCESS_READ */
#define TA_STORAGE_PANIC_WRITE_NO_ACCESS 4     /* writing a handle opened without ACCESS_WRITE */
#define TA_STORAGE_PANIC_DELETE_NO_META 5      /* deleting without ACCESS_WRITE_META */
#define TA_STORAGE_PANIC_RENAME_NO_META 6      /* renaming without ACCESS_WRITE_META */
#define TA_STORAGE_PANIC_ID_TOO_LONG 7         /* a 65-byte object id */
#define TA_STORAGE_PANIC_BAD_FLAGS 8           /* an unknown data flag */
#define TA_STORAGE_PANIC_SEEK_BAD_WHENCE 9     /* TEE_SeekObjectData with whence 7 */
#define TA_STORAGE_PANIC_ENUM_BAD_HANDLE 10    /* TEE_GetNextPersistentObject on a stack pointer */
#define TA_STORAGE_PANIC_ENUM_NULL_ID 11       /* TEE_GetNextPersistentObject, objectID NULL */
#define TA_STORAGE_PANIC_FREE_PERSISTENT 12    /* TEE_FreeTransientObject on a persistent handle */
#define TA_STORAGE_PANIC_USE_AFTER_CLOSE 13    /* TEE_ReadObjectData after TEE_CloseObject */
#define TA_STORAGE_PANIC_TRUNCATE_NO_ACCESS 14 /* truncating without ACCESS_WRITE */
#define TA_STORAGE_PANIC_RENAME_NULL 15        /* TEE_RenamePersistentObject(TEE_HANDLE_NULL) */
#define TA_STORAGE_PANIC_POPULATE_PERSISTENT 16 /* TEE_PopulateTransientObject on a persistent one */
#define TA_STORAGE_PANIC_DELETE_TRANSIENT 17   /* TEE_CloseAndDeletePersistentObject1, transient */
#define TA_STORAGE_PANIC_CREATE_UNINITIALIZED 18 /* attributes from an uninitialized object */
#define TA_STORAGE_PANIC_COUNT 19

/* The key of TA_STORAGE_ATTR_AES. */
#define TA_STORAGE_AES_KEY                                                                  \
  {                                                                                         \
    0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6, 0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, \
        0x3c                                                                                \
  }

/* TEE_ObjectInfo as TA_STORAGE_CMD_INFO returns it (fixed layout for both API versions). */
struct ta_storage_info {
  uint32_t type;
  uint32_t object_size;
  uint32_t max_object_size;
  uint32_t usage;
  uint32_t handle_flags;
  uint32_t result; /* of TEE_GetObjectInfo1 */
  uint64_t data_size;
  uint64_t data_position;
};

#endif
