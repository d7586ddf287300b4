#ifndef TA_RANDOM_H
#define TA_RANDOM_H

#define TA_RANDOM_UUID \
  { 0x9c1e3a1d, 0x2c5e, 0x4d6b, { 0x8f, 0x41, 0x7b, 0x2f, 0x3c, 0x4d, 0x5e, 0x60 } }

/* p0 MEMREF_OUTPUT: filled with random bytes. */
#define TA_RANDOM_CMD_GENERATE 0

#endif
