#ifndef TA_HOTP_H
#define TA_HOTP_H

#define TA_HOTP_UUID \
  { 0xc2d8f4a6, 0x1e3b, 0x4d7c, { 0xa9, 0x05, 0x6f, 0x8e, 0x2b, 0x1d, 0x3c, 0x49 } }

/* p0 MEMREF_INPUT: the shared key K (RFC 4226; at most 64 bytes). Resets the counter to 0. */
#define TA_HOTP_CMD_REGISTER_SHARED_KEY 0
/* p0 VALUE_OUTPUT: a = HOTP(K, C) with 6 digits; the counter C then moves on. */
#define TA_HOTP_CMD_GET_HOTP 1

#endif
