/* Arithmetic-test TA: runs one TEE Arithmetical API function per invoke on numbers the client
 * sends (see arith_test_ta.h). Built as a GP 1.3.1 TA and, with __OPTEE_CORE_API_COMPAT_1_1, as a
 * GP 1.1 TA, whose calls tee_api_compat.h renames to the __GP11_ functions. */
#include <string.h>

#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>

#include <arith_test_ta.h>

#if __OPTEE_CORE_API_COMPAT_1_1
typedef uint32_t len_t;
#else
typedef size_t len_t;
#endif

#define GUARD 0xA5C3E1F0u
#define MAX_OPERANDS 4
#define MAX_RESULTS 3
#define MAX_BIGINTS 12

TEE_Result TA_CreateEntryPoint(void) { return TEE_SUCCESS; }
void TA_DestroyEntryPoint(void) {}

TEE_Result TA_OpenSessionEntryPoint(uint32_t types __unused,
                                    TEE_Param params[TEE_NUM_PARAMS] __unused,
                                    void **session_ctx __unused) {
  return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void *session_ctx __unused) {}

/* The big ints of one invoke, each followed by a guard word. */
struct pool {
  uint32_t *mem[MAX_BIGINTS];
  size_t words[MAX_BIGINTS];
  int n;
};

static uint32_t *pool_alloc(struct pool *p, size_t words) {
  uint32_t *m;
  if (p->n == MAX_BIGINTS) TEE_Panic(TEE_ERROR_OUT_OF_MEMORY);
  m = TEE_Malloc((words + 1) * sizeof(uint32_t), TEE_MALLOC_FILL_ZERO);
  if (!m) TEE_Panic(TEE_ERROR_OUT_OF_MEMORY);
  m[words] = GUARD;
  p->mem[p->n] = m;
  p->words[p->n] = words;
  p->n++;
  return m;
}

static TEE_BigInt *new_bigint(struct pool *p, size_t words) {
  TEE_BigInt *b = pool_alloc(p, words);
  TEE_BigIntInit(b, words);
  return b;
}

/* Whether every guard word is intact; frees the pool. */
static bool pool_release(struct pool *p) {
  bool ok = true;
  int i;
  for (i = 0; i < p->n; i++) {
    if (p->mem[i][p->words[i]] != GUARD) ok = false;
    TEE_Free(p->mem[i]);
  }
  p->n = 0;
  return ok;
}

/* Reads the operands of p1 into big ints just large enough for them. */
static int read_operands(struct pool *p, const TEE_Param *param, TEE_BigInt *ops[MAX_OPERANDS]) {
  const uint8_t *in = param->memref.buffer;
  size_t left = param->memref.size;
  int n = 0;
  while (left > 0) {
    int32_t sign;
    uint32_t len;
    if (n == MAX_OPERANDS || left < 8) return -1;
    memcpy(&sign, in, 4);
    memcpy(&len, in + 4, 4);
    in += 8;
    left -= 8;
    if (len > left) return -1;
    ops[n] = new_bigint(p, TEE_BigIntSizeInU32((size_t)len * 8));
    if (TEE_BigIntConvertFromOctetString(ops[n], in, len, sign) != TEE_SUCCESS) return -1;
    in += len;
    left -= len;
    n++;
  }
  return n;
}

/* Appends a big int (NULL: sign 0, no bytes) to the output; false if it does not fit. */
static bool put(uint8_t *out, size_t cap, size_t *used, const TEE_BigInt *b) {
  int32_t sign = 0;
  uint32_t len32 = 0;
  len_t len = 0;
  if (cap - *used < 8) return false;
  if (b) {
    len = cap - *used - 8;
    if (TEE_BigIntConvertToOctetString(out + *used + 8, &len, b) != TEE_SUCCESS) return false;
    sign = TEE_BigIntCmpS32(b, 0) < 0 ? -1 : 1;
  }
  len32 = len;
  memcpy(out + *used, &sign, 4);
  memcpy(out + *used + 4, &len32, 4);
  *used += 8 + len;
  return true;
}

static TEE_Result fmm(struct pool *p, TEE_BigInt *ops[], TEE_BigInt *res[]) {
  uint32_t bits = TEE_BigIntGetBitCount(ops[2]);
  len_t fmm_words = TEE_BigIntFMMSizeInU32(bits);
  len_t ctx_words = TEE_BigIntFMMContextSizeInU32(bits);
  TEE_BigIntFMMContext *ctx = pool_alloc(p, ctx_words);
  TEE_BigIntFMM *x = pool_alloc(p, fmm_words);
  TEE_BigIntFMM *y = pool_alloc(p, fmm_words);
  TEE_BigIntFMM *z = pool_alloc(p, fmm_words);
  TEE_Result r = TEE_SUCCESS;

#if __OPTEE_CORE_API_COMPAT_1_1
  TEE_BigIntInitFMMContext(ctx, ctx_words, ops[2]);
#else
  r = TEE_BigIntInitFMMContext1(ctx, ctx_words, ops[2]);
  TEE_BigIntInitFMMContext(ctx, ctx_words, ops[2]); /* the deprecated one too */
#endif
  TEE_BigIntInitFMM(x, fmm_words);
  TEE_BigIntInitFMM(y, fmm_words);
  TEE_BigIntInitFMM(z, fmm_words);
  TEE_BigIntConvertToFMM(x, ops[0], ops[2], ctx);
  TEE_BigIntConvertToFMM(y, ops[1], ops[2], ctx);
  TEE_BigIntComputeFMM(z, x, y, ops[2], ctx);
  TEE_BigIntConvertFromFMM(res[0], z, ops[2], ctx);
  TEE_BigIntFMMConvertToBigInt(res[1], x, ops[2], ctx);
  return r;
}

#define NEED(k)                                \
  do {                                         \
    if (nops < (k)) return TEE_ERROR_BAD_PARAMETERS; \
  } while (0)

/* Runs the op; sets *nres results in res[], the call's result in *ret and a scalar in *scalar. */
static TEE_Result run(struct pool *p, uint32_t which, TEE_BigInt *ops[], int nops,
                      TEE_BigInt *res[], int *nres, uint32_t arg, uint32_t arg2, uint32_t *ret,
                      uint32_t *scalar, uint8_t *raw, size_t *raw_len) {
  *nres = 1;
  switch (which) {
    case ARITH_OP_TO_OCTETS: {
      len_t len = arg;
      NEED(1);
      if (arg > *raw_len) return TEE_ERROR_BAD_PARAMETERS;
      *ret = TEE_BigIntConvertToOctetString(raw, &len, ops[0]);
      *scalar = len;
      *raw_len = *ret == TEE_SUCCESS ? len : 0;
      *nres = 0;
      return TEE_SUCCESS;
    }
    case ARITH_OP_FROM_S32: TEE_BigIntConvertFromS32(res[0], (int32_t)arg); return TEE_SUCCESS;
    case ARITH_OP_TO_S32: {
      int32_t v = 0;
      NEED(1);
      *ret = TEE_BigIntConvertToS32(&v, ops[0]);
      *scalar = (uint32_t)v;
      *nres = 0;
      return TEE_SUCCESS;
    }
    case ARITH_OP_CMP: NEED(2); *scalar = (uint32_t)TEE_BigIntCmp(ops[0], ops[1]); *nres = 0; return TEE_SUCCESS;
    case ARITH_OP_CMP_S32: NEED(1); *scalar = (uint32_t)TEE_BigIntCmpS32(ops[0], (int32_t)arg); *nres = 0; return TEE_SUCCESS;
    case ARITH_OP_SHIFT_RIGHT: NEED(1); TEE_BigIntShiftRight(res[0], ops[0], arg); return TEE_SUCCESS;
    case ARITH_OP_GET_BIT: NEED(1); *scalar = TEE_BigIntGetBit(ops[0], arg); *nres = 0; return TEE_SUCCESS;
    case ARITH_OP_BIT_COUNT: NEED(1); *scalar = TEE_BigIntGetBitCount(ops[0]); *nres = 0; return TEE_SUCCESS;
    case ARITH_OP_SET_BIT:
      NEED(1);
      if (ops[0] != res[0] && TEE_BigIntAssign(res[0], ops[0]) != TEE_SUCCESS) return TEE_ERROR_OVERFLOW;
      *ret = TEE_BigIntSetBit(res[0], arg, arg2 != 0);
      return TEE_SUCCESS;
    case ARITH_OP_ASSIGN: NEED(1); *ret = TEE_BigIntAssign(res[0], ops[0]); return TEE_SUCCESS;
    case ARITH_OP_ABS: NEED(1); *ret = TEE_BigIntAbs(res[0], ops[0]); return TEE_SUCCESS;
    case ARITH_OP_ADD: NEED(2); TEE_BigIntAdd(res[0], ops[0], ops[1]); return TEE_SUCCESS;
    case ARITH_OP_SUB: NEED(2); TEE_BigIntSub(res[0], ops[0], ops[1]); return TEE_SUCCESS;
    case ARITH_OP_NEG: NEED(1); TEE_BigIntNeg(res[0], ops[0]); return TEE_SUCCESS;
    case ARITH_OP_MUL: NEED(2); TEE_BigIntMul(res[0], ops[0], ops[1]); return TEE_SUCCESS;
    case ARITH_OP_SQUARE: NEED(1); TEE_BigIntSquare(res[0], ops[0]); return TEE_SUCCESS;
    case ARITH_OP_DIV:
      NEED(2);
      TEE_BigIntDiv(arg & 1 ? NULL : res[0], arg & 2 ? NULL : res[1], ops[0], ops[1]);
      if (arg & 1) res[0] = NULL;
      if (arg & 2) res[1] = NULL;
      *nres = 2;
      return TEE_SUCCESS;
    case ARITH_OP_MOD: NEED(2); TEE_BigIntMod(res[0], ops[0], ops[1]); return TEE_SUCCESS;
    case ARITH_OP_ADD_MOD: NEED(3); TEE_BigIntAddMod(res[0], ops[0], ops[1], ops[2]); return TEE_SUCCESS;
    case ARITH_OP_SUB_MOD: NEED(3); TEE_BigIntSubMod(res[0], ops[0], ops[1], ops[2]); return TEE_SUCCESS;
    case ARITH_OP_MUL_MOD: NEED(3); TEE_BigIntMulMod(res[0], ops[0], ops[1], ops[2]); return TEE_SUCCESS;
    case ARITH_OP_SQUARE_MOD: NEED(2); TEE_BigIntSquareMod(res[0], ops[0], ops[1]); return TEE_SUCCESS;
    case ARITH_OP_INV_MOD: NEED(2); TEE_BigIntInvMod(res[0], ops[0], ops[1]); return TEE_SUCCESS;
    case ARITH_OP_EXP_MOD:
      NEED(3);
      *ret = TEE_BigIntExpMod(res[0], ops[0], ops[1], ops[2], NULL);
      return TEE_SUCCESS;
    case ARITH_OP_REL_PRIME: NEED(2); *scalar = TEE_BigIntRelativePrime(ops[0], ops[1]); *nres = 0; return TEE_SUCCESS;
    case ARITH_OP_EGCD:
      NEED(2);
      if (arg & 1) {
        TEE_BigIntComputeExtendedGcd(res[0], NULL, NULL, ops[0], ops[1]);
        *nres = 1;
      } else {
        TEE_BigIntComputeExtendedGcd(res[0], res[1], res[2], ops[0], ops[1]);
        *nres = 3;
      }
      return TEE_SUCCESS;
    case ARITH_OP_IS_PRIME: NEED(1); *scalar = (uint32_t)TEE_BigIntIsProbablePrime(ops[0], arg); *nres = 0; return TEE_SUCCESS;
    case ARITH_OP_FMM:
      NEED(3);
      *ret = fmm(p, ops, res);
      *nres = 2;
      return TEE_SUCCESS;
    case ARITH_OP_INIT: new_bigint(p, arg); *nres = 0; return TEE_SUCCESS;
    case ARITH_OP_LAYOUT: {
      size_t words = TEE_BigIntSizeInU32(64);
      TEE_BigInt *b = new_bigint(p, words);
      TEE_BigIntConvertFromS32(b, (int32_t)arg);
      if (*raw_len < words * 4) return TEE_ERROR_SHORT_BUFFER;
      memcpy(raw, b, words * 4);
      *raw_len = words * 4;
      *nres = 0;
      return TEE_SUCCESS;
    }
    case ARITH_OP_SIZES:
      *ret = TEE_BigIntFMMSizeInU32(arg);
      *scalar = TEE_BigIntFMMContextSizeInU32(arg);
      *nres = 0;
      return TEE_SUCCESS;
    case ARITH_OP_OCTETS_NULL_LEN: {
      uint8_t buf[8];
      NEED(1);
      *ret = TEE_BigIntConvertToOctetString(buf, NULL, ops[0]);
      *nres = 0;
      return TEE_SUCCESS;
    }
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}

static TEE_Result op(uint32_t types, TEE_Param params[TEE_NUM_PARAMS]) {
  struct pool p = {0};
  TEE_BigInt *ops[MAX_OPERANDS] = {0};
  TEE_BigInt *res[MAX_RESULTS] = {0};
  uint32_t which, ret = 0, scalar = 0;
  uint8_t *out;
  size_t cap, used = 0, dest_words, raw_len;
  int nops, nres = 0, i;
  TEE_Result r = TEE_SUCCESS;

  if (types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INPUT, TEE_PARAM_TYPE_MEMREF_INPUT,
                               TEE_PARAM_TYPE_MEMREF_OUTPUT, TEE_PARAM_TYPE_VALUE_INOUT))
    return TEE_ERROR_BAD_PARAMETERS;
  which = params[0].value.a & ~ARITH_ALIAS;
  dest_words = TEE_BigIntSizeInU32((size_t)params[0].value.b);
  out = params[2].memref.buffer;
  cap = params[2].memref.size;

  nops = read_operands(&p, &params[1], ops);
  if (nops < 0) {
    pool_release(&p);
    return TEE_ERROR_BAD_FORMAT;
  }
  for (i = 0; i < MAX_RESULTS; i++) res[i] = new_bigint(&p, dest_words);
  if ((params[0].value.a & ARITH_ALIAS) && nops > 0) {
    if (TEE_BigIntAssign(res[0], ops[0]) != TEE_SUCCESS) r = TEE_ERROR_OVERFLOW;
    ops[0] = res[0];
  }

  if (r != TEE_SUCCESS) {
  } else if (which == ARITH_OP_FROM_OCTETS) {
    /* The operand's own bytes, converted again into the destination of the requested size. */
    const uint8_t *in = params[1].memref.buffer;
    int32_t sign;
    uint32_t len;
    if (params[1].memref.size < 8) {
      r = TEE_ERROR_BAD_PARAMETERS;
    } else {
      memcpy(&sign, in, 4);
      memcpy(&len, in + 4, 4);
      ret = TEE_BigIntConvertFromOctetString(res[0], in + 8, len, sign);
      nres = 1;
    }
  } else {
    /* Raw byte results (TO_OCTETS, LAYOUT) go after a zero-length marker as result 0. */
    raw_len = cap > 8 ? cap - 8 : 0;
    r = run(&p, which, ops, nops, res, &nres, params[3].value.a, params[3].value.b, &ret, &scalar,
            cap > 8 ? out + 8 : NULL, &raw_len);
    if (r == TEE_SUCCESS && nres == 0 && (which == ARITH_OP_TO_OCTETS || which == ARITH_OP_LAYOUT)) {
      int32_t sign = 1;
      uint32_t len32 = raw_len;
      memcpy(out, &sign, 4);
      memcpy(out + 4, &len32, 4);
      used = 8 + raw_len;
    }
  }
  for (i = 0; r == TEE_SUCCESS && ret == TEE_SUCCESS && i < nres; i++)
    if (!put(out, cap, &used, res[i])) r = TEE_ERROR_SHORT_BUFFER;
  if (!pool_release(&p)) return TEE_ERROR_SECURITY;
  if (r != TEE_SUCCESS) return r;
  params[2].memref.size = used;
  params[3].value.a = ret;
  params[3].value.b = scalar;
  return TEE_SUCCESS;
}

TEE_Result TA_InvokeCommandEntryPoint(void *session_ctx __unused, uint32_t cmd, uint32_t types,
                                      TEE_Param params[TEE_NUM_PARAMS]) {
  switch (cmd) {
    case ARITH_CMD_OP: return op(types, params);
    default: return TEE_ERROR_NOT_SUPPORTED;
  }
}
