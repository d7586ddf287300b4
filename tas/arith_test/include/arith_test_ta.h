/* The arithmetic-test TAs: the GP TEE Arithmetical API (TEE_BigInt*, GP 1.3.1 section 8) in a
 * GP 1.3.1 and a GP 1.1 build of one source. One command runs one function on numbers the client
 * sends and sends back what it made, so the client can check each result against OpenSSL or a
 * known answer. Every TEE_BigInt is sized with TEE_BigIntSizeInU32 and followed by a guard word
 * that the call must leave alone. */
#ifndef ARITH_TEST_TA_H
#define ARITH_TEST_TA_H

#define TA_ARITH_TEST_UUID \
  { 0x4b7d2a90, 0x6c1e, 0x4f38, { 0xa5, 0x0d, 0x9e, 0x21, 0x7c, 0x43, 0xb8, 0x61 } }
#define TA_ARITH_TEST_GP11_UUID \
  { 0x4b7d2a90, 0x6c1e, 0x4f38, { 0xa5, 0x0d, 0x9e, 0x21, 0x7c, 0x43, 0xb8, 0x62 } }

/* ARITH_CMD_OP: p0 VALUE_INPUT: a = ARITH_OP_* (| ARITH_ALIAS), b = destination size in bits;
 * p1 MEMREF_INPUT: the operands, each a 32-bit sign (< 0: negative), a 32-bit length and that
 * many bytes of big-endian magnitude (host byte order for the two words);
 * p2 MEMREF_OUTPUT: the results, encoded the same way (size: the bytes written);
 * p3 VALUE_INOUT: in a = the op's integer argument, b = a second one; out a = the TEE_Result the
 * function returned (0 for void ones), b = its scalar result.
 * The invoke returns TEE_ERROR_SECURITY if a call wrote past a TEE_BigInt (the guard word). */
#define ARITH_CMD_OP 0
/* With ARITH_ALIAS, operand 0 is loaded into the first destination, which is then passed as both
 * the destination and the first operand (dest == op1). */
#define ARITH_ALIAS 0x80000000u

#define ARITH_OP_FROM_OCTETS 1   /* dest <- operand 0's bytes and sign; out a = result */
#define ARITH_OP_TO_OCTETS 2     /* ConvertToOctetString(op0) into a buffer of arg bytes;
                                    out a = result, b = length; result 0 = the bytes */
#define ARITH_OP_FROM_S32 3      /* dest <- (int32_t)arg */
#define ARITH_OP_TO_S32 4        /* out a = result, b = the int32_t */
#define ARITH_OP_CMP 5           /* b = Cmp(op0, op1) */
#define ARITH_OP_CMP_S32 6       /* b = CmpS32(op0, (int32_t)arg) */
#define ARITH_OP_SHIFT_RIGHT 7   /* dest = op0 >> arg */
#define ARITH_OP_GET_BIT 8       /* b = GetBit(op0, arg) */
#define ARITH_OP_BIT_COUNT 9     /* b = GetBitCount(op0) */
#define ARITH_OP_SET_BIT 10      /* dest <- op0, SetBit(dest, arg, arg2); a = result */
#define ARITH_OP_ASSIGN 11       /* a = Assign(dest, op0) */
#define ARITH_OP_ABS 12          /* a = Abs(dest, op0) */
#define ARITH_OP_ADD 13          /* dest = op0 + op1 */
#define ARITH_OP_SUB 14
#define ARITH_OP_NEG 15          /* dest = -op0 */
#define ARITH_OP_MUL 16
#define ARITH_OP_SQUARE 17       /* dest = op0^2 */
#define ARITH_OP_DIV 18          /* q, r = op0 / op1; arg bit 0: q NULL, bit 1: r NULL */
#define ARITH_OP_MOD 19          /* dest = op0 mod op1 */
#define ARITH_OP_ADD_MOD 20      /* dest = op0 + op1 mod op2 */
#define ARITH_OP_SUB_MOD 21
#define ARITH_OP_MUL_MOD 22
#define ARITH_OP_SQUARE_MOD 23   /* dest = op0^2 mod op1 */
#define ARITH_OP_INV_MOD 24      /* dest = op0^-1 mod op1 */
#define ARITH_OP_EXP_MOD 25      /* dest = op0^op1 mod op2; a = result */
#define ARITH_OP_REL_PRIME 26    /* b = RelativePrime(op0, op1) */
#define ARITH_OP_EGCD 27         /* gcd, u, v of op0, op1; arg 1: u and v NULL */
#define ARITH_OP_IS_PRIME 28     /* b = IsProbablePrime(op0, arg) */
#define ARITH_OP_FMM 29          /* with n = op2: ComputeFMM of op0 and op1 -> result 0 (through
                                    ConvertFromFMM), op0 as FMM -> result 1 (FMMConvertToBigInt) */
#define ARITH_OP_INIT 30         /* TEE_BigIntInit on arg words */
#define ARITH_OP_LAYOUT 31       /* a TEE_BigIntSizeInU32(64) big int set to (int32_t)arg: result 0
                                    is its raw words (host order) */
#define ARITH_OP_SIZES 32        /* a = FMMSizeInU32(arg), b = FMMContextSizeInU32(arg) */
#define ARITH_OP_OCTETS_NULL_LEN 33 /* ConvertToOctetString with a NULL length: panics */

#endif
