/* The crypto-test TA: drives the GP cryptographic API for tests/ta_crypto_test.cc.
 * UUID 5e2b7c1d-8a4f-4c93-b1e6-0d9f3a7c5b28. A failed check inside the TA returns
 * TA_CRYPTO_TEST_FAILED | line (origin TRUSTED_APP). */
#ifndef CRYPTO_TEST_TA_H
#define CRYPTO_TEST_TA_H

#define TA_CRYPTO_TEST_UUID                            \
  {                                                    \
    0x5e2b7c1d, 0x8a4f, 0x4c93, {                      \
      0xb1, 0xe6, 0x0d, 0x9f, 0x3a, 0x7c, 0x5b, 0x28   \
    }                                                  \
  }

#define TA_CRYPTO_TEST_FAILED 0x7E570000u /* | the line of the failed check */

/* p0 value in: a = algorithm, b = chunk size (0: everything in TEE_DigestDoFinal);
 * p1 memref in: message; p2 memref out: digest (the needed size on TEE_ERROR_SHORT_BUFFER). */
#define TA_CRYPTO_CMD_DIGEST 0
/* p0 value in: a = algorithm, b = chunk size; p1 memref in: key; p2 memref in: message;
 * p3 memref out: MAC. */
#define TA_CRYPTO_CMD_MAC 1
/* As TA_CRYPTO_CMD_MAC, but p3 memref in: the MAC to compare (TEE_MACCompareFinal). */
#define TA_CRYPTO_CMD_MAC_COMPARE 2
/* p0 value in: a = algorithm, b = mode | chunk size << 8; p1 memref in: key (XTS: key1 || key2);
 * p2 memref in: IV (16 bytes, none for ECB) || data; p3 memref out: output. */
#define TA_CRYPTO_CMD_CIPHER 3
/* p0 value in: a = algorithm, b = mode | chunk size << 8 | tag bits << 16; p1 memref in: blobs
 * (u32 length + bytes each): key, nonce, AAD, payload, and the tag to check when decrypting;
 * p2 memref out: output payload, then the tag when encrypting. */
#define TA_CRYPTO_CMD_AE 4
/* p0 value in: a = key bits, b = algorithm. Generates an RSA key pair and checks sign/verify or
 * encrypt/decrypt round trips, a public key rebuilt from the extracted modulus and exponent,
 * SIGNATURE_INVALID on tampering and SHORT_BUFFER with the needed size. */
#define TA_CRYPTO_CMD_RSA 5
/* p0 value in: a = TEE_ECC_CURVE_*, b = algorithm. The same for ECDSA. */
#define TA_CRYPTO_CMD_ECDSA 6
/* p0 value in: a = TEE_ECC_CURVE_* (0: X25519); p1 value out: a = shared secret bytes.
 * Two key pairs derive the same secret from each other's public value. */
#define TA_CRYPTO_CMD_ECDH 7
/* p0 memref in: private key (32) || public key (32) || message; p1 memref out: signature.
 * Ed25519 sign, then verify with the key pair and with a public-key object. */
#define TA_CRYPTO_CMD_ED25519 8
/* Object and operation rules that end in an error, not a panic. */
#define TA_CRYPTO_CMD_ERRORS 9
/* p0 value in: a = which rule to break (TA_CRYPTO_PANIC_*); the TA must be panicked. */
#define TA_CRYPTO_CMD_PANIC 10
/* Leaves objects and operations allocated; p0 value out: a = how many. */
#define TA_CRYPTO_CMD_LEAK 11
/* Key generation for every supported type, object info and attribute extraction. */
#define TA_CRYPTO_CMD_GENERATE 12
/* Allocates a digest operation and leaves it; p0 value out: a/b = low/high bits of its handle. */
#define TA_CRYPTO_CMD_MAKE_HANDLE 13
/* p0 value in: a/b = low/high bits of an operation handle, which TEE_FreeOperation frees (or
 * panics on, if it is not one of this instance's handles). */
#define TA_CRYPTO_CMD_FREE_HANDLE 14
/* Raw RSA (TEE_ALG_RSA_NOPAD). p0 value in: a = TEE_MODE_ENCRYPT or TEE_MODE_DECRYPT; p1 memref
 * in: blobs (u32 length + bytes each) modulus, public exponent, private exponent; p2 memref in:
 * the input; p3 memref out: the output (the needed size on TEE_ERROR_SHORT_BUFFER). Encryption
 * uses a public-key object, decryption a key pair. */
#define TA_CRYPTO_CMD_RSA_NOPAD 15
/* Finite-field DH (TEE_ALG_DH_DERIVE_SHARED_SECRET). p0 value in: a = x_bits (0: none);
 * p1 memref in: blobs prime, base, subprime, private value, public value, peer public value (an
 * empty subprime is left out; an empty private value means TEE_GenerateKey, otherwise the key
 * pair is populated with the private and public values); p2 memref out: the key pair's public
 * value; p3 memref out: the shared secret derived with the peer's public value. */
#define TA_CRYPTO_CMD_DH 16
/* Size rules and error results of the SHA3, HMAC-SHA3, RSA_NOPAD and DH additions. */
#define TA_CRYPTO_CMD_NEW_ALG_ERRORS 17
/* HKDF (TEE_ALG_HKDF). p0 value in: a = TEE_ATTR_HKDF_HASH_ALGORITHM (0: left out), b = output
 * bytes (TEE_ATTR_KDF_KEY_SIZE); p1 memref in: blobs IKM, salt, info (an empty salt is left out,
 * an empty info is passed as a zero-length attribute); p2 memref out: the derived secret, read
 * from a generic-secret object of exactly that many bits. */
#define TA_CRYPTO_CMD_HKDF 18
/* Size rules and error results of the HKDF, CBC-MAC, CTS and triple-DES additions. */
#define TA_CRYPTO_CMD_KDF_MAC_ERRORS 19

#define TA_CRYPTO_PANIC_UPDATE_WITHOUT_KEY 0  /* TEE_CipherUpdate on an operation with no key */
#define TA_CRYPTO_PANIC_BOGUS_HANDLE 1        /* TEE_FreeOperation on a pointer to the stack */
#define TA_CRYPTO_PANIC_FREED_OBJECT 2        /* TEE_PopulateTransientObject after the free */
#define TA_CRYPTO_PANIC_WRONG_CLASS 3         /* TEE_MACCompareFinal on a digest operation */
#define TA_CRYPTO_PANIC_AAD_AFTER_PAYLOAD 4   /* TEE_AEUpdateAAD after TEE_AEUpdate */
#define TA_CRYPTO_PANIC_WRONG_KEY_TYPE 5      /* an AES key for HMAC */
#define TA_CRYPTO_PANIC_PARTIAL_BLOCK 6       /* TEE_CipherDoFinal on half a block, no padding */
#define TA_CRYPTO_PANIC_NOT_EXTRACTABLE 7     /* reading a secret after dropping EXTRACTABLE */
#define TA_CRYPTO_PANIC_KEY_TOO_BIG 8         /* a 256-bit key for a 128-bit operation */
#define TA_CRYPTO_PANIC_MISSING_ATTRIBUTE 9   /* an RSA key pair without its private exponent */
#define TA_CRYPTO_PANIC_WRONG_MODE 10         /* TEE_AsymmetricSignDigest in verify mode */
#define TA_CRYPTO_PANIC_KEY_USAGE 11          /* a key without TEE_USAGE_ENCRYPT for encryption */
#define TA_CRYPTO_PANIC_DH_WRONG_PARAM 12    /* TEE_DeriveKey (DH) with ECC coordinates */
#define TA_CRYPTO_PANIC_NOPAD_WRONG_MODE 13   /* TEE_AsymmetricDecrypt on an RSA_NOPAD encryption */
#define TA_CRYPTO_PANIC_HKDF_NO_SIZE 14      /* TEE_DeriveKey (HKDF) without TEE_ATTR_KDF_KEY_SIZE */
#define TA_CRYPTO_PANIC_HKDF_TOO_BIG 15      /* HKDF output larger than the derived object */
#define TA_CRYPTO_PANIC_HKDF_WRONG_KEY 16    /* a generic secret as the HKDF key */
#define TA_CRYPTO_PANIC_CBC_MAC_PARTIAL 17   /* TEE_MACComputeFinal (CBC-MAC, no pad), 15 bytes */
#define TA_CRYPTO_PANIC_CTS_SHORT 18         /* TEE_CipherDoFinal (CTS) on one block */
#define TA_CRYPTO_PANIC_CBC_MAC_EMPTY 19     /* TEE_MACCompareFinal (CBC-MAC, no pad), no data */
#define TA_CRYPTO_PANIC_COUNT 20

#endif
