// The TEE Arithmetical API (GP TEE Internal Core API 1.3.1 section 8, TEE_BigInt*) end to end,
// through the arithmetic-test TAs (tas/arith_test: a GP 1.3.1 build and a GP 1.1 build that calls
// the __GP11_ variants). Each command runs one function inside a real TA instance; results are
// held against known answers and against OpenSSL computing the same thing on the host. The TA
// guards every TEE_BigInt with a word after it, so a write past a destination fails the invoke.
#include <openssl/bn.h>
#include <openssl/crypto.h>

#include <climits>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "arith_test_ta.h"
#include "support/gp_util.h"  // last: the GP header's macros

namespace teemu::test {
namespace {

// GP values (tee_api_defines.h).
constexpr uint32_t kOverflow = 0xFFFF300F;
constexpr uint32_t kShortBuffer = 0xFFFF0010;

using Bytes = std::vector<uint8_t>;

struct BnFree {
  void operator()(BIGNUM* b) const { BN_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnFree>;

Bn bn(const std::string& hex) {
  BIGNUM* b = nullptr;
  EXPECT_GT(BN_hex2bn(&b, hex.c_str()), 0) << hex;
  return Bn(b);
}

// "-1F", "0": upper case, no leading zeros.
std::string hex(const BIGNUM* b) {
  if (BN_is_zero(b)) return "0";
  char* s = BN_bn2hex(b);
  std::string r(s);
  OPENSSL_free(s);
  size_t sign = r[0] == '-' ? 1 : 0;
  size_t first = r.find_first_not_of('0', sign);
  return r.substr(0, sign) + r.substr(first);
}
std::string canon(const std::string& h) { return hex(bn(h).get()); }

Bn random_bn(int bits, bool allow_negative) {
  Bn b(BN_new());
  EXPECT_EQ(BN_rand(b.get(), bits, BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY), 1);
  if (allow_negative && (BN_is_bit_set(b.get(), 1) != 0)) BN_set_negative(b.get(), 1);
  return b;
}

// An operand as the TA takes it: a sign and big-endian magnitude bytes.
struct Operand {
  int32_t sign;
  Bytes magnitude;
};
Operand operand(const BIGNUM* b) {
  Bytes m(static_cast<size_t>(BN_num_bytes(b)));
  BN_bn2bin(b, m.data());
  return {BN_is_negative(b) ? -1 : 1, m};
}
Operand operand(const std::string& h) { return operand(bn(h).get()); }

struct Reply {
  TEEC_Result rc = TEEC_ERROR_GENERIC;
  uint32_t origin = 0;
  uint32_t ret = 0;     // what the function returned
  uint32_t scalar = 0;  // its scalar result
  std::vector<std::string> values;  // its big-int results; "null" for a NULL destination
  Bytes raw;            // result 0's bytes (octet strings, raw words)
};

struct Build {
  const char* name;
  TEEC_UUID uuid;
};
void PrintTo(const Build& b, std::ostream* os) { *os << b.name; }
const Build kBuilds[] = {{"gp13", TA_ARITH_TEST_UUID}, {"gp11", TA_ARITH_TEST_GP11_UUID}};

class Arith : public ::testing::TestWithParam<Build> {
 protected:
  void SetUp() override {
    ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx_), TEEC_SUCCESS);
    ASSERT_EQ(open(&sess_), TEEC_SUCCESS);
  }
  void TearDown() override {
    TEEC_CloseSession(&sess_);
    TEEC_FinalizeContext(&ctx_);
    auto a = machine().audit();
    EXPECT_EQ(a.ta_instances, 0u) << a.describe();
    EXPECT_TRUE(a.quiescent()) << a.describe();
  }
  TEEC_Result open(TEEC_Session* s) {
    uint32_t origin = 0;
    return TEEC_OpenSession(&ctx_, s, &GetParam().uuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr,
                            &origin);
  }

  static Reply invoke(TEEC_Session* s, uint32_t op, uint32_t dest_bits,
                      const std::vector<Operand>& ops, uint32_t arg, uint32_t arg2) {
    Bytes in;
    for (const Operand& o : ops) {
      auto len = static_cast<uint32_t>(o.magnitude.size());
      in.resize(in.size() + 8);
      std::memcpy(in.data() + in.size() - 8, &o.sign, 4);
      std::memcpy(in.data() + in.size() - 4, &len, 4);
      in.insert(in.end(), o.magnitude.begin(), o.magnitude.end());
    }
    Bytes out(4 * 2048);
    TEEC_Operation top{};
    top.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT,
                                      TEEC_MEMREF_TEMP_OUTPUT, TEEC_VALUE_INOUT);
    top.params[0].value = {op, dest_bits};
    top.params[1].tmpref = {in.empty() ? nullptr : in.data(), in.size()};
    top.params[2].tmpref = {out.data(), out.size()};
    top.params[3].value = {arg, arg2};
    Reply r;
    r.rc = TEEC_InvokeCommand(s, ARITH_CMD_OP, &top, &r.origin);
    if (r.rc != TEEC_SUCCESS) return r;
    r.ret = top.params[3].value.a;
    r.scalar = top.params[3].value.b;
    size_t at = 0, used = top.params[2].tmpref.size;
    while (at + 8 <= used) {
      int32_t sign = 0;
      uint32_t len = 0;
      std::memcpy(&sign, out.data() + at, 4);
      std::memcpy(&len, out.data() + at + 4, 4);
      at += 8;
      if (len > used - at) break;
      if (r.values.empty()) r.raw.assign(out.data() + at, out.data() + at + len);
      Bn v(BN_bin2bn(out.data() + at, static_cast<int>(len), nullptr));
      BN_set_negative(v.get(), sign < 0 ? 1 : 0);
      r.values.push_back(sign == 0 ? "null" : hex(v.get()));
      at += len;
    }
    return r;
  }

  // One op on the fixture's session; the invoke itself must succeed.
  Reply call(uint32_t op, uint32_t dest_bits, const std::vector<Operand>& ops, uint32_t arg = 0,
             uint32_t arg2 = 0) {
    Reply r = invoke(&sess_, op, dest_bits, ops, arg, arg2);
    EXPECT_EQ(r.rc, TEEC_SUCCESS) << "op " << op << std::hex << " rc 0x" << r.rc;
    return r;
  }
  // The single big-int result of a void function.
  std::string value(uint32_t op, uint32_t dest_bits, const std::vector<Operand>& ops,
                    uint32_t arg = 0) {
    Reply r = call(op, dest_bits, ops, arg);
    EXPECT_EQ(r.ret, TEEC_SUCCESS);
    return r.values.empty() ? "none" : r.values[0];
  }
  // GP: the call panics the TA; the client sees TARGET_DEAD from the TEE. Other sessions (the
  // fixture's, another instance) live on.
  void expect_panic(uint32_t op, uint32_t dest_bits, const std::vector<Operand>& ops,
                    uint32_t arg = 0, const char* what = "") {
    TEEC_Session s{};
    ASSERT_EQ(open(&s), TEEC_SUCCESS);
    Reply r = invoke(&s, op, dest_bits, ops, arg, 0);
    EXPECT_EQ(r.rc, TEEC_ERROR_TARGET_DEAD) << what;
    EXPECT_EQ(r.origin, TEEC_ORIGIN_TEE) << what;
    TEEC_CloseSession(&s);
    EXPECT_EQ(value(ARITH_OP_ADD, 64, {operand("1"), operand("2")}), "3") << what;
  }

  TEEC_Context ctx_{};
  TEEC_Session sess_{};
};

INSTANTIATE_TEST_SUITE_P(Builds, Arith, ::testing::ValuesIn(kBuilds),
                         [](const auto& info) { return std::string(info.param.name); });

// OP-TEE's layout, which TEE_BigIntSizeInU32 sizes: {int32 sign, uint16 alloc_size, uint16
// nblimbs}, then 32-bit limbs, least significant first.
TEST_P(Arith, LayoutIsOpteesHeaderThenLimbs) {
  Reply r = call(ARITH_OP_LAYOUT, 0, {}, static_cast<uint32_t>(-5));
  ASSERT_EQ(r.raw.size(), 4u * 4);  // TEE_BigIntSizeInU32(64) = 4
  uint32_t w[4];
  std::memcpy(w, r.raw.data(), sizeof(w));
  EXPECT_EQ(static_cast<int32_t>(w[0]), -1);
  EXPECT_EQ(w[1], 2u | (1u << 16));  // alloc_size 2, nblimbs 1
  EXPECT_EQ(w[2], 5u);
  r = call(ARITH_OP_LAYOUT, 0, {}, 0x12345678);
  std::memcpy(w, r.raw.data(), sizeof(w));
  EXPECT_EQ(w[0], 1u);
  EXPECT_EQ(w[2], 0x12345678u);
  r = call(ARITH_OP_SIZES, 0, {}, 2048);
  EXPECT_EQ(r.ret, 66u);  // FMM values are TEE_BigInts of the modulus size
  EXPECT_GE(r.scalar, 1u);
}

// GP 8.4.1: big-endian magnitude and a sign; TEE_ERROR_OVERFLOW when it does not fit.
TEST_P(Arith, ConvertFromOctetString) {
  EXPECT_EQ(value(ARITH_OP_FROM_OCTETS, 64, {operand("-102030405")}), "-102030405");
  EXPECT_EQ(value(ARITH_OP_FROM_OCTETS, 64, {operand("FFFFFFFFFFFFFFFF")}), "FFFFFFFFFFFFFFFF");
  EXPECT_EQ(call(ARITH_OP_FROM_OCTETS, 32, {operand("102030405")}).ret, kOverflow);
  EXPECT_EQ(call(ARITH_OP_FROM_OCTETS, 0, {operand("1")}).ret, kOverflow);
  // Leading zero bytes do not count.
  EXPECT_EQ(value(ARITH_OP_FROM_OCTETS, 32, {{1, {0, 0, 0, 0, 0, 0xDE, 0xAD, 0xBE, 0xEF}}}),
            "DEADBEEF");
  EXPECT_EQ(value(ARITH_OP_FROM_OCTETS, 32, {{-1, {}}}), "0");
}

// GP 8.4.2: the magnitude in as few bytes as needed; TEE_ERROR_SHORT_BUFFER with the size.
TEST_P(Arith, ConvertToOctetString) {
  Reply r = call(ARITH_OP_TO_OCTETS, 0, {operand("-102030405")}, 16);
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  EXPECT_EQ(r.scalar, 5u);
  EXPECT_EQ(r.raw, (Bytes{1, 2, 3, 4, 5}));
  r = call(ARITH_OP_TO_OCTETS, 0, {operand("102030405")}, 5);
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  EXPECT_EQ(r.raw, (Bytes{1, 2, 3, 4, 5}));
  r = call(ARITH_OP_TO_OCTETS, 0, {operand("102030405")}, 4);
  EXPECT_EQ(r.ret, kShortBuffer);
  EXPECT_EQ(r.scalar, 5u);
  r = call(ARITH_OP_TO_OCTETS, 0, {operand("0")}, 0);
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  EXPECT_EQ(r.scalar, 0u);
}

TEST_P(Arith, S32Conversions) {
  EXPECT_EQ(value(ARITH_OP_FROM_S32, 32, {}, 0x80000000u), "-80000000");
  EXPECT_EQ(value(ARITH_OP_FROM_S32, 32, {}, static_cast<uint32_t>(-1)), "-1");
  EXPECT_EQ(value(ARITH_OP_FROM_S32, 32, {}, 0), "0");
  EXPECT_EQ(value(ARITH_OP_FROM_S32, 32, {}, 0x7FFFFFFF), "7FFFFFFF");
  struct {
    const char* v;
    uint32_t ret;
    int32_t x;
  } const cases[] = {{"7FFFFFFF", TEEC_SUCCESS, INT32_MAX}, {"-80000000", TEEC_SUCCESS, INT32_MIN},
                     {"-5", TEEC_SUCCESS, -5},             {"0", TEEC_SUCCESS, 0},
                     {"80000000", kOverflow, 0},           {"-80000001", kOverflow, 0},
                     {"100000000", kOverflow, 0},          {"-10000000000000000", kOverflow, 0}};
  for (const auto& c : cases) {
    Reply r = call(ARITH_OP_TO_S32, 0, {operand(c.v)});
    EXPECT_EQ(r.ret, c.ret) << c.v;
    if (c.ret == TEEC_SUCCESS) {
      EXPECT_EQ(static_cast<int32_t>(r.scalar), c.x) << c.v;
    }
  }
}

TEST_P(Arith, Compare) {
  auto cmp = [&](const char* a, const char* b) {
    return static_cast<int32_t>(call(ARITH_OP_CMP, 0, {operand(a), operand(b)}).scalar);
  };
  EXPECT_EQ(cmp("-5", "3"), -1);
  EXPECT_EQ(cmp("3", "-5"), 1);
  EXPECT_EQ(cmp("-5", "-3"), -1);
  EXPECT_EQ(cmp("123456789ABCDEF0123", "123456789ABCDEF0123"), 0);
  EXPECT_EQ(cmp("123456789ABCDEF0124", "123456789ABCDEF0123"), 1);
  EXPECT_EQ(cmp("0", "-0"), 0);
  auto cmp32 = [&](const char* a, int32_t b) {
    return static_cast<int32_t>(
        call(ARITH_OP_CMP_S32, 0, {operand(a)}, static_cast<uint32_t>(b)).scalar);
  };
  EXPECT_EQ(cmp32("-5", -5), 0);
  EXPECT_EQ(cmp32("-5", -6), 1);
  EXPECT_EQ(cmp32("-80000000", INT32_MIN), 0);
  EXPECT_EQ(cmp32("100000000", INT32_MAX), 1);
  EXPECT_EQ(cmp32("-100000000", INT32_MIN), -1);
}

TEST_P(Arith, ShiftAndBits) {
  EXPECT_EQ(value(ARITH_OP_SHIFT_RIGHT, 64, {operand("123456789ABCDEF0")}, 4), "123456789ABCDEF");
  EXPECT_EQ(value(ARITH_OP_SHIFT_RIGHT, 64, {operand("123456789ABCDEF0")}, 64), "0");
  EXPECT_EQ(value(ARITH_OP_SHIFT_RIGHT, 64, {operand("123456789ABCDEF0")}, 100000), "0");
  EXPECT_EQ(value(ARITH_OP_SHIFT_RIGHT, 32, {operand("-5")}, 1), "-2");
  // A result that fits the destination although the operand does not.
  EXPECT_EQ(value(ARITH_OP_SHIFT_RIGHT, 32, {operand("ABCDEF0123456789")}, 40), "ABCDEF");
  Bn p = bn("1");
  BN_lshift(p.get(), p.get(), 2047);
  EXPECT_EQ(value(ARITH_OP_SHIFT_RIGHT | ARITH_ALIAS, 2048, {operand(p.get())}, 2047), "1");

  auto bit = [&](const char* v, uint32_t i) {
    return call(ARITH_OP_GET_BIT, 0, {operand(v)}, i).scalar;
  };
  EXPECT_EQ(bit("-5", 0), 1u);
  EXPECT_EQ(bit("-5", 1), 0u);
  EXPECT_EQ(bit("-5", 2), 1u);
  EXPECT_EQ(bit("8000000000000000", 63), 1u);
  EXPECT_EQ(bit("8000000000000000", 64), 0u);
  EXPECT_EQ(bit("1", 0xFFFFFFFF), 0u);
  EXPECT_EQ(call(ARITH_OP_BIT_COUNT, 0, {operand("0")}).scalar, 0u);
  EXPECT_EQ(call(ARITH_OP_BIT_COUNT, 0, {operand("-FF")}).scalar, 8u);
  EXPECT_EQ(call(ARITH_OP_BIT_COUNT, 0, {operand(p.get())}).scalar, 2048u);

  // SetBit: TEE_ERROR_OVERFLOW beyond the destination's limbs.
  Reply r = call(ARITH_OP_SET_BIT, 64, {operand("0")}, 63, 1);
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  EXPECT_EQ(r.values.at(0), "8000000000000000");
  EXPECT_EQ(call(ARITH_OP_SET_BIT, 64, {operand("0")}, 64, 1).ret, kOverflow);
  r = call(ARITH_OP_SET_BIT, 64, {operand("-1")}, 0, 0);
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  EXPECT_EQ(r.values.at(0), "0");
  r = call(ARITH_OP_SET_BIT, 64, {operand("-F0")}, 1, 1);
  EXPECT_EQ(r.values.at(0), "-F2");
  r = call(ARITH_OP_SET_BIT, 64, {operand("F0")}, 1000, 0);  // clearing far out is a no-op
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  EXPECT_EQ(r.values.at(0), "F0");
}

TEST_P(Arith, AssignAndAbs) {
  Reply r = call(ARITH_OP_ASSIGN, 32, {operand("-FFFFFFFF")});
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  EXPECT_EQ(r.values.at(0), "-FFFFFFFF");
  EXPECT_EQ(call(ARITH_OP_ASSIGN, 32, {operand("1FFFFFFFF")}).ret, kOverflow);
  r = call(ARITH_OP_ABS, 32, {operand("-FFFFFFFF")});
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  EXPECT_EQ(r.values.at(0), "FFFFFFFF");
  EXPECT_EQ(call(ARITH_OP_ABS, 32, {operand("-1FFFFFFFF")}).ret, kOverflow);
}

TEST_P(Arith, BasicArithmeticWithSigns) {
  EXPECT_EQ(value(ARITH_OP_ADD, 32, {operand("-5"), operand("3")}), "-2");
  EXPECT_EQ(value(ARITH_OP_ADD, 64, {operand("FFFFFFFF"), operand("1")}), "100000000");
  EXPECT_EQ(value(ARITH_OP_SUB, 32, {operand("3"), operand("5")}), "-2");
  EXPECT_EQ(value(ARITH_OP_SUB, 32, {operand("-3"), operand("-5")}), "2");
  EXPECT_EQ(value(ARITH_OP_SUB, 32, {operand("5"), operand("5")}), "0");
  EXPECT_EQ(value(ARITH_OP_NEG, 32, {operand("-7")}), "7");
  EXPECT_EQ(value(ARITH_OP_NEG, 32, {operand("0")}), "0");
  EXPECT_EQ(value(ARITH_OP_MUL, 32, {operand("-3"), operand("4")}), "-C");
  EXPECT_EQ(value(ARITH_OP_MUL, 32, {operand("-3"), operand("-4")}), "C");
  EXPECT_EQ(value(ARITH_OP_MUL, 32, {operand("0"), operand("-4")}), "0");
  EXPECT_EQ(value(ARITH_OP_SQUARE, 32, {operand("-3")}), "9");
  EXPECT_EQ(value(ARITH_OP_MUL, 128, {operand("FFFFFFFFFFFFFFFF"), operand("FFFFFFFFFFFFFFFF")}),
            "FFFFFFFFFFFFFFFE0000000000000001");
  // dest == op1
  EXPECT_EQ(value(ARITH_OP_ADD | ARITH_ALIAS, 64, {operand("FFFFFFFF"), operand("1")}),
            "100000000");
  EXPECT_EQ(value(ARITH_OP_MUL | ARITH_ALIAS, 64, {operand("-10000"), operand("10000")}),
            "-100000000");
}

// 2048-bit operands with random signs against OpenSSL on the host.
TEST_P(Arith, LargeOperandsMatchOpenSsl) {
  Bn r(BN_new());
  BN_CTX* ctx = BN_CTX_new();
  for (int i = 0; i < 8; ++i) {
    Bn a = random_bn(2048, true), b = random_bn(1000 + 100 * i, true);
    std::vector<Operand> ops = {operand(a.get()), operand(b.get())};
    ASSERT_EQ(BN_add(r.get(), a.get(), b.get()), 1);
    EXPECT_EQ(value(ARITH_OP_ADD, 2080, ops), hex(r.get()));
    ASSERT_EQ(BN_sub(r.get(), a.get(), b.get()), 1);
    EXPECT_EQ(value(ARITH_OP_SUB, 2080, ops), hex(r.get()));
    ASSERT_EQ(BN_mul(r.get(), a.get(), b.get(), ctx), 1);
    EXPECT_EQ(value(ARITH_OP_MUL, 4096, ops), hex(r.get()));
    ASSERT_EQ(BN_sqr(r.get(), a.get(), ctx), 1);
    EXPECT_EQ(value(ARITH_OP_SQUARE, 4096, {ops[0]}), hex(r.get()));
    Bn q(BN_new()), rem(BN_new());
    ASSERT_EQ(BN_div(q.get(), rem.get(), a.get(), b.get(), ctx), 1);
    Reply d = call(ARITH_OP_DIV, 2048, ops);
    ASSERT_EQ(d.values.size(), 2u);
    EXPECT_EQ(d.values[0], hex(q.get()));
    EXPECT_EQ(d.values[1], hex(rem.get()));
    BN_set_negative(b.get(), 0);
    ASSERT_EQ(BN_nnmod(r.get(), a.get(), b.get(), ctx), 1);
    EXPECT_EQ(value(ARITH_OP_MOD, 2048, {ops[0], operand(b.get())}), hex(r.get()));
  }
  BN_CTX_free(ctx);
}

// GP 8.6.6: the quotient rounds towards zero, the remainder takes op1's sign; either destination
// may be NULL.
TEST_P(Arith, DivisionSigns) {
  struct {
    const char *a, *b, *q, *r;
  } const cases[] = {{"7", "2", "3", "1"},
                     {"-7", "2", "-3", "-1"},
                     {"7", "-2", "-3", "1"},
                     {"-7", "-2", "3", "-1"},
                     {"1", "7", "0", "1"},
                     {"-6", "3", "-2", "0"}};
  for (const auto& c : cases) {
    Reply r = call(ARITH_OP_DIV, 32, {operand(c.a), operand(c.b)});
    ASSERT_EQ(r.values.size(), 2u);
    EXPECT_EQ(r.values[0], c.q) << c.a << "/" << c.b;
    EXPECT_EQ(r.values[1], c.r) << c.a << "%" << c.b;
  }
  Reply r = call(ARITH_OP_DIV, 32, {operand("-7"), operand("2")}, 1);
  EXPECT_EQ(r.values, (std::vector<std::string>{"null", "-1"}));
  r = call(ARITH_OP_DIV, 32, {operand("-7"), operand("2")}, 2);
  EXPECT_EQ(r.values, (std::vector<std::string>{"-3", "null"}));
  r = call(ARITH_OP_DIV | ARITH_ALIAS, 32, {operand("64"), operand("8")});
  EXPECT_EQ(r.values, (std::vector<std::string>{"C", "4"}));
}

TEST_P(Arith, ModularArithmetic) {
  EXPECT_EQ(value(ARITH_OP_MOD, 32, {operand("-7"), operand("5")}), "3");
  EXPECT_EQ(value(ARITH_OP_MOD, 32, {operand("7"), operand("5")}), "2");
  EXPECT_EQ(value(ARITH_OP_MOD, 32, {operand("5"), operand("5")}), "0");
  EXPECT_EQ(value(ARITH_OP_ADD_MOD, 32, {operand("3"), operand("4"), operand("5")}), "2");
  EXPECT_EQ(value(ARITH_OP_SUB_MOD, 32, {operand("1"), operand("3"), operand("5")}), "3");
  EXPECT_EQ(value(ARITH_OP_MUL_MOD, 32, {operand("3"), operand("4"), operand("5")}), "2");
  EXPECT_EQ(value(ARITH_OP_SQUARE_MOD, 32, {operand("4"), operand("7")}), "2");
  EXPECT_EQ(value(ARITH_OP_INV_MOD, 32, {operand("3"), operand("7")}), "5");
  EXPECT_EQ(value(ARITH_OP_INV_MOD, 32, {operand("-3"), operand("7")}), "2");
  EXPECT_EQ(value(ARITH_OP_MUL_MOD | ARITH_ALIAS, 32, {operand("6"), operand("6"), operand("7")}),
            "1");
  // Modular results of 2048-bit values.
  BN_CTX* ctx = BN_CTX_new();
  Bn n = random_bn(2048, false), a = random_bn(2040, false), b = random_bn(2047, false);
  Bn r(BN_new());
  std::vector<Operand> ops = {operand(a.get()), operand(b.get()), operand(n.get())};
  ASSERT_EQ(BN_mod_add(r.get(), a.get(), b.get(), n.get(), ctx), 1);
  EXPECT_EQ(value(ARITH_OP_ADD_MOD, 2048, ops), hex(r.get()));
  ASSERT_EQ(BN_mod_sub(r.get(), a.get(), b.get(), n.get(), ctx), 1);
  EXPECT_EQ(value(ARITH_OP_SUB_MOD, 2048, ops), hex(r.get()));
  ASSERT_EQ(BN_mod_mul(r.get(), a.get(), b.get(), n.get(), ctx), 1);
  EXPECT_EQ(value(ARITH_OP_MUL_MOD, 2048, ops), hex(r.get()));
  BN_CTX_free(ctx);
}

// RSA with p = 61, q = 53: n = 3233, e = 17, d = 2753; 65^e = 2790 and 2790^d = 65 (mod n).
TEST_P(Arith, ExpModSmallRsa) {
  Reply r = call(ARITH_OP_EXP_MOD, 32, {operand("41"), operand("11"), operand("CA1")});
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  EXPECT_EQ(r.values.at(0), canon("AE6"));  // 2790
  r = call(ARITH_OP_EXP_MOD, 32, {operand("AE6"), operand("AC1"), operand("CA1")});
  EXPECT_EQ(r.values.at(0), canon("41"));
  EXPECT_EQ(value(ARITH_OP_INV_MOD, 32, {operand("11"), operand("C30")}), canon("AC1"));  // e^-1 mod phi
  r = call(ARITH_OP_EXP_MOD, 32, {operand("5"), operand("0"), operand("CA1")});
  EXPECT_EQ(r.values.at(0), "1");
  r = call(ARITH_OP_EXP_MOD, 32, {operand("3"), operand("5"), operand("64")});  // even n: 243 mod 100
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  EXPECT_EQ(r.values.at(0), canon("2B"));
}

// A 2048-bit modular exponentiation (maxBigIntSize) against OpenSSL.
TEST_P(Arith, ExpMod2048MatchesOpenSsl) {
  BN_CTX* ctx = BN_CTX_new();
  Bn n = random_bn(2048, false), base = random_bn(2048, false), e = random_bn(2048, false);
  BN_set_bit(n.get(), 0);  // odd, as an RSA modulus
  Bn want(BN_new());
  ASSERT_EQ(BN_mod_exp(want.get(), base.get(), e.get(), n.get(), ctx), 1);
  Reply r = call(ARITH_OP_EXP_MOD, 2048, {operand(base.get()), operand(e.get()), operand(n.get())});
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  EXPECT_EQ(r.values.at(0), hex(want.get()));
  BN_CTX_free(ctx);
}

TEST_P(Arith, GcdAndPrimality) {
  EXPECT_EQ(call(ARITH_OP_REL_PRIME, 0, {operand("F"), operand("1C")}).scalar, 1u);
  EXPECT_EQ(call(ARITH_OP_REL_PRIME, 0, {operand("F"), operand("19")}).scalar, 0u);
  EXPECT_EQ(call(ARITH_OP_REL_PRIME, 0, {operand("-F"), operand("1C")}).scalar, 1u);

  // u * op1 + v * op2 = gcd, whatever the signs.
  BN_CTX* ctx = BN_CTX_new();
  const char* pairs[][2] = {{"F0", "2E"},  {"-F0", "2E"}, {"F0", "-2E"}, {"-F0", "-2E"},
                            {"2E", "F0"},  {"0", "5"},    {"5", "0"},    {"7", "7"},
                            {"1", "1"},    {"123456789ABCDEF123456789", "FEDCBA987654321"}};
  for (const auto& p : pairs) {
    Reply r = call(ARITH_OP_EGCD, 128, {operand(p[0]), operand(p[1])});
    ASSERT_EQ(r.values.size(), 3u) << p[0] << "," << p[1];
    Bn a = bn(p[0]), b = bn(p[1]), g(BN_new()), t1(BN_new()), t2(BN_new());
    ASSERT_EQ(BN_gcd(g.get(), a.get(), b.get(), ctx), 1);
    EXPECT_EQ(r.values[0], hex(g.get())) << p[0] << "," << p[1];
    BN_mul(t1.get(), bn(r.values[1]).get(), a.get(), ctx);
    BN_mul(t2.get(), bn(r.values[2]).get(), b.get(), ctx);
    BN_add(t1.get(), t1.get(), t2.get());
    EXPECT_EQ(hex(t1.get()), hex(g.get())) << p[0] << "," << p[1];
  }
  Reply r = call(ARITH_OP_EGCD, 32, {operand("F0"), operand("2E")}, 1);  // u, v NULL
  EXPECT_EQ(r.values, (std::vector<std::string>{"2"}));
  BN_CTX_free(ctx);

  auto prime = [&](const BIGNUM* v, uint32_t confidence = 80) {
    return static_cast<int32_t>(call(ARITH_OP_IS_PRIME, 0, {operand(v)}, confidence).scalar);
  };
  Bn m521(BN_new());  // 2^521 - 1, a Mersenne prime; 2^521 + 1 is divisible by 3
  BN_set_bit(m521.get(), 521);
  BN_sub_word(m521.get(), 1);
  EXPECT_EQ(prime(m521.get()), 1);
  EXPECT_EQ(prime(m521.get(), 300), 1);
  BN_add_word(m521.get(), 2);
  EXPECT_EQ(prime(m521.get()), 0);
  EXPECT_EQ(prime(bn("2").get()), 1);
  EXPECT_EQ(prime(bn("231").get()), 0);  // 561, a Carmichael number
  EXPECT_EQ(prime(bn("1").get()), 0);
  EXPECT_EQ(prime(bn("0").get()), 0);
}

// Fast modular multiplication: into the FMM form, multiply, and back.
TEST_P(Arith, FmmRoundTrip) {
  BN_CTX* ctx = BN_CTX_new();
  Bn n = random_bn(2048, false), a = random_bn(2047, false), b = random_bn(2000, false);
  Bn want(BN_new());
  ASSERT_EQ(BN_mod_mul(want.get(), a.get(), b.get(), n.get(), ctx), 1);
  Reply r = call(ARITH_OP_FMM, 2048, {operand(a.get()), operand(b.get()), operand(n.get())});
  EXPECT_EQ(r.ret, TEEC_SUCCESS);
  ASSERT_EQ(r.values.size(), 2u);
  EXPECT_EQ(r.values[0], hex(want.get()));
  EXPECT_EQ(r.values[1], hex(a.get()));
  r = call(ARITH_OP_FMM, 32, {operand("3"), operand("4"), operand("5")});
  EXPECT_EQ(r.values, (std::vector<std::string>{"2", "3"}));
  BN_CTX_free(ctx);
}

// GP 8.3.1: TEE_BigIntInit takes up to OP-TEE's limit (maxBigIntSize / 4 words); less than the
// header or more than that panics.
TEST_P(Arith, InitLimits) {
  EXPECT_EQ(call(ARITH_OP_INIT, 0, {}, 2).rc, TEEC_SUCCESS);
  EXPECT_EQ(call(ARITH_OP_INIT, 0, {}, 512).rc, TEEC_SUCCESS);
  expect_panic(ARITH_OP_INIT, 0, {}, 513, "init 513 words");
  expect_panic(ARITH_OP_INIT, 0, {}, 1, "init 1 word");
}

// The calls GP (and OP-TEE) make panic: only that TA instance dies.
TEST_P(Arith, PanicReasons) {
  expect_panic(ARITH_OP_DIV, 32, {operand("7"), operand("0")}, 0, "division by zero");
  expect_panic(ARITH_OP_MOD, 32, {operand("7"), operand("1")}, 0, "mod 1");
  expect_panic(ARITH_OP_MOD, 32, {operand("7"), operand("-5")}, 0, "negative modulus");
  expect_panic(ARITH_OP_ADD_MOD, 32, {operand("1"), operand("1"), operand("0")}, 0, "addmod 0");
  expect_panic(ARITH_OP_MUL_MOD, 32, {operand("1"), operand("1"), operand("1")}, 0, "mulmod 1");
  expect_panic(ARITH_OP_INV_MOD, 32, {operand("0"), operand("7")}, 0, "inverse of 0");
  expect_panic(ARITH_OP_INV_MOD, 32, {operand("6"), operand("9")}, 0, "no inverse");
  expect_panic(ARITH_OP_EXP_MOD, 32, {operand("2"), operand("3"), operand("1")}, 0, "expmod 1");
  expect_panic(ARITH_OP_EXP_MOD, 32, {operand("2"), operand("-3"), operand("7")}, 0,
               "negative exponent");
  expect_panic(ARITH_OP_ADD, 32, {operand("FFFFFFFF"), operand("1")}, 0, "sum too large");
  expect_panic(ARITH_OP_MUL, 64, {operand("100000000"), operand("100000000")}, 0,
               "product too large");
  expect_panic(ARITH_OP_FROM_S32, 0, {}, 5, "no limb for a S32");
  expect_panic(ARITH_OP_SHIFT_RIGHT, 32, {operand("10000000000000000")}, 1, "shift too large");
  expect_panic(ARITH_OP_OCTETS_NULL_LEN, 0, {operand("5")}, 0, "NULL length");
}

}  // namespace
}  // namespace teemu::test
