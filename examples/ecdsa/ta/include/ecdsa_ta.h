#ifndef TA_ECDSA_H
#define TA_ECDSA_H

#define TA_ECDSA_UUID \
  { 0xa47c3e10, 0x5b2d, 0x4f69, { 0x8e, 0x1a, 0x9d, 0x0c, 0x7b, 0x3f, 0x6e, 0x25 } }

/* Each session has its own ECDSA key pair on NIST P-256, generated in the TA when the session
 * opens; the private key never leaves the TA. */

/* p0 MEMREF_OUTPUT: public X (32 bytes); p1 MEMREF_OUTPUT: public Y (32 bytes). */
#define TA_ECDSA_CMD_GET_PUBLIC_KEY 0
/* p0 MEMREF_INPUT: the message (hashed with SHA-256 in the TA); p1 MEMREF_OUTPUT: the
 * signature r || s (64 bytes; TEE_ERROR_SHORT_BUFFER and the size needed if smaller). */
#define TA_ECDSA_CMD_SIGN 1
/* p0 MEMREF_INPUT: the message; p1 MEMREF_INPUT: the signature. TEE_SUCCESS, or
 * TEE_ERROR_SIGNATURE_INVALID. */
#define TA_ECDSA_CMD_VERIFY 2

#define TA_ECDSA_SIGNATURE_SIZE 64

#endif
