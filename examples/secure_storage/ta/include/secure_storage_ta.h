#ifndef TA_SECURE_STORAGE_H
#define TA_SECURE_STORAGE_H

#define TA_SECURE_STORAGE_UUID \
  { 0x3e9d0b52, 0x7a41, 0x4c1e, { 0xb5, 0xf0, 0x2d, 0x6c, 0x8a, 0x9e, 0x4f, 0x13 } }

/* p0 MEMREF_INPUT: object id; p1 MEMREF_OUTPUT: the object's data. A buffer too small gives
 * TEE_ERROR_SHORT_BUFFER with p1's size set to the object's size. */
#define TA_SECURE_STORAGE_CMD_READ_RAW 0
/* p0 MEMREF_INPUT: object id; p1 MEMREF_INPUT: the data (replaces an existing object). */
#define TA_SECURE_STORAGE_CMD_WRITE_RAW 1
/* p0 MEMREF_INPUT: object id. */
#define TA_SECURE_STORAGE_CMD_DELETE 2

#endif
