#ifndef TA_AES_H
#define TA_AES_H

#define TA_AES_UUID \
  { 0x6b1f2c94, 0x0d5e, 0x4a7b, { 0x9c, 0x38, 0xe1, 0xf4, 0xa2, 0xb6, 0xd5, 0x07 } }

#define TA_AES_ALGO_ECB 0
#define TA_AES_ALGO_CBC 1
#define TA_AES_ALGO_CTR 2

#define TA_AES_SIZE_128BIT (128 / 8)
#define TA_AES_SIZE_256BIT (256 / 8)

#define TA_AES_MODE_ENCODE 1
#define TA_AES_MODE_DECODE 0

/* Sets up a cipher operation with the session's key: generated in the TA (never leaving it) the
 * first time, of the size asked for; later PREPAREs of the session must ask for the same size.
 * p0 VALUE_INPUT: a = TA_AES_ALGO_*; p1 VALUE_INPUT: a = key size in bytes;
 * p2 VALUE_INPUT: a = TA_AES_MODE_*. */
#define TA_AES_CMD_PREPARE 0
/* (optee_examples' SET_KEY, command 1, is not offered: the key never leaves the TA.) */
/* p0 MEMREF_INPUT: the initial vector (16 bytes). */
#define TA_AES_CMD_SET_IV 2
/* p0 MEMREF_INPUT: input; p1 MEMREF_OUTPUT: output, at least as long. */
#define TA_AES_CMD_CIPHER 3

#endif
