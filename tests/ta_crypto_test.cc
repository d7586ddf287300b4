// The GP TEE Internal Core API cryptographic operations, driven through the GP Client API on the
// embedded machine via the crypto-test TA (tas/crypto_test) and its GP 1.1 twin
// (tas/crypto_gp11_test). Known answers come from the standards: FIPS 180 / NIST examples (SHA),
// RFC 4231 (HMAC), RFC 4493 (AES-CMAC), SP 800-38A (AES ECB/CBC/CTR), the GCM specification's test
// cases (McGrew-Viega), SP 800-38C and RFC 3610 (CCM), IEEE 1619 (XTS), RFC 8032 (Ed25519),
// FIPS 202 and the NIST HMAC examples (SHA3, HMAC-SHA3), RFC 5869 (HKDF), RFC 3962 (AES-CTS),
// SP 800-67 (TDEA).
// Raw RSA is checked against the host's OpenSSL, DH (RFC 3526 and RFC 7919 groups) against the
// host's BIGNUM arithmetic, CBC-MAC against the host's AES-CBC and 3DES-CBC.
// Random inputs split in many ways are cross-checked against the host's OpenSSL. Asymmetric keys
// are made inside the TA, which checks the round trips itself. Every test ends with the
// quiescence audit.
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "crypto_test_ta.h"
#include "support/gp_util.h"
#include "ta_runtime/crypto_object.h"

namespace teemu::test {
namespace {

using Bytes = std::vector<uint8_t>;

const TEEC_UUID kCryptoUuid = {0x5e2b7c1d, 0x8a4f, 0x4c93,
                               {0xb1, 0xe6, 0x0d, 0x9f, 0x3a, 0x7c, 0x5b, 0x28}};
const TEEC_UUID kGp11Uuid = {0x6a4e9d13, 0x2c7b, 0x4f05,
                             {0x9e, 0x81, 0xb3, 0xc5, 0xd7, 0xa1, 0xf0, 0x46}};

// GP algorithm identifiers and constants the tests use (values of tee_api_defines.h).
constexpr uint32_t kMd5 = 0x50000001, kSha1 = 0x50000002, kSha224 = 0x50000003,
                   kSha256 = 0x50000004, kSha384 = 0x50000005, kSha512 = 0x50000006;
constexpr uint32_t kHmacSha224 = 0x30000003, kHmacSha256 = 0x30000004, kHmacSha384 = 0x30000005,
                   kHmacSha512 = 0x30000006, kAesCmac = 0x30000610;
constexpr uint32_t kAesEcb = 0x10000010, kAesCbc = 0x10000110, kAesCtr = 0x10000210,
                   kAesXts = 0x10000410, kAesCcm = 0x40000710, kAesGcm = 0x40000810;
constexpr uint32_t kRsassaV15Sha256 = 0x70004830, kRsassaPssSha1 = 0x70212930,
                   kRsassaPssSha512 = 0x70616930, kRsaesV15 = 0x60000130,
                   kRsaesOaepSha1 = 0x60210230, kRsaesOaepSha256 = 0x60410230,
                   kRsaesOaepSha512 = 0x60610230, kRsassaV15Sha1 = 0x70002830;
constexpr uint32_t kEcdsaSha1 = 0x70001042, kEcdsaSha224 = 0x70002042, kEcdsaSha256 = 0x70003042,
                   kEcdsaSha384 = 0x70004042, kEcdsaSha512 = 0x70005042;
constexpr uint32_t kModeEncrypt = 0, kModeDecrypt = 1;
constexpr uint32_t kP192 = 1, kP224 = 2, kP256 = 3, kP384 = 4, kP521 = 5;
constexpr uint32_t kMacInvalid = 0xFFFF3071;
constexpr uint32_t kSha3_224 = 0x50000008, kSha3_256 = 0x50000009, kSha3_384 = 0x5000000A,
                   kSha3_512 = 0x5000000B;
constexpr uint32_t kHmacSha3_224 = 0x30000008, kHmacSha3_256 = 0x30000009,
                   kHmacSha3_384 = 0x3000000A, kHmacSha3_512 = 0x3000000B;
constexpr uint32_t kBadParameters = 0xFFFF0006;

Bytes hex(const std::string& s) {
  Bytes b;
  for (size_t i = 0; i + 1 < s.size(); i += 2)
    b.push_back(static_cast<uint8_t>(std::stoi(s.substr(i, 2), nullptr, 16)));
  return b;
}

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }

Bytes cat(Bytes a, const Bytes& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Bytes random_bytes(size_t n) {
  Bytes b(n);
  if (n != 0) {
    EXPECT_EQ(RAND_bytes(b.data(), static_cast<int>(n)), 1);
  }
  return b;
}

std::string describe(TEEC_Result r) {
  char buf[64];
  if ((r & 0xFFFF0000u) == TA_CRYPTO_TEST_FAILED)
    std::snprintf(buf, sizeof(buf), "TA check failed at line %u", r & 0xFFFF);
  else
    std::snprintf(buf, sizeof(buf), "0x%08x", r);
  return buf;
}

// --- host references (OpenSSL, one shot) ---

Bytes host_cipher(const EVP_CIPHER* c, const Bytes& key, const Bytes& iv, const Bytes& in,
                  bool encrypt) {
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  Bytes out(in.size() + 32);
  int l1 = 0, l2 = 0;
  EXPECT_EQ(EVP_CipherInit_ex(ctx, c, nullptr, key.data(), iv.empty() ? nullptr : iv.data(),
                              encrypt ? 1 : 0),
            1);
  EVP_CIPHER_CTX_set_padding(ctx, 0);
  EXPECT_EQ(EVP_CipherUpdate(ctx, out.data(), &l1, in.data(), static_cast<int>(in.size())), 1);
  EXPECT_EQ(EVP_CipherFinal_ex(ctx, out.data() + l1, &l2), 1);
  EVP_CIPHER_CTX_free(ctx);
  out.resize(static_cast<size_t>(l1 + l2));
  return out;
}

// AES-GCM or AES-CCM encryption: ciphertext || tag.
Bytes host_aead(bool ccm, const Bytes& key, const Bytes& nonce, const Bytes& aad, const Bytes& in,
                int tag_len) {
  const EVP_CIPHER* c = ccm ? EVP_aes_128_ccm() : EVP_aes_128_gcm();
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  int l = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(ctx, c, nullptr, nullptr, nullptr), 1);
  EVP_CIPHER_CTX_ctrl(ctx, ccm ? EVP_CTRL_CCM_SET_IVLEN : EVP_CTRL_GCM_SET_IVLEN,
                      static_cast<int>(nonce.size()), nullptr);
  if (ccm) EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_CCM_SET_TAG, tag_len, nullptr);
  EXPECT_EQ(EVP_EncryptInit_ex(ctx, nullptr, nullptr, key.data(), nonce.data()), 1);
  if (ccm) EVP_EncryptUpdate(ctx, nullptr, &l, nullptr, static_cast<int>(in.size()));
  if (!aad.empty()) EVP_EncryptUpdate(ctx, nullptr, &l, aad.data(), static_cast<int>(aad.size()));
  Bytes out(in.size() + static_cast<size_t>(tag_len));
  if (!in.empty() || ccm) {
    EXPECT_EQ(EVP_EncryptUpdate(ctx, out.data(), &l, in.data(), static_cast<int>(in.size())), 1);
  }
  EXPECT_EQ(EVP_EncryptFinal_ex(ctx, out.data() + in.size(), &l), 1);
  EVP_CIPHER_CTX_ctrl(ctx, ccm ? EVP_CTRL_CCM_GET_TAG : EVP_CTRL_GCM_GET_TAG, tag_len,
                      out.data() + in.size());
  EVP_CIPHER_CTX_free(ctx);
  return out;
}

// --- the fixture: a session to the crypto-test TA ---

class CryptoTa : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx_), TEEC_SUCCESS);
    open(kCryptoUuid);
  }
  void TearDown() override {
    if (open_) TEEC_CloseSession(&sess_);
    TEEC_FinalizeContext(&ctx_);
    auto a = machine().audit();
    EXPECT_TRUE(a.quiescent()) << a.describe();
  }

  void open(const TEEC_UUID& uuid) {
    if (open_) TEEC_CloseSession(&sess_);
    uint32_t origin = 0;
    ASSERT_EQ(TEEC_OpenSession(&ctx_, &sess_, &uuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr, &origin),
              TEEC_SUCCESS);
    open_ = true;
  }

  TEEC_Result invoke(uint32_t cmd, TEEC_Operation& op, uint32_t* origin = nullptr) {
    uint32_t o = 0;
    TEEC_Result r = TEEC_InvokeCommand(&sess_, cmd, &op, &o);
    if (origin != nullptr) *origin = o;
    return r;
  }

  static void in(TEEC_Operation& op, int i, const Bytes& b) {
    op.params[i].tmpref.buffer = const_cast<uint8_t*>(b.data());
    op.params[i].tmpref.size = b.size();
  }
  static void out(TEEC_Operation& op, int i, Bytes& b) {
    op.params[i].tmpref.buffer = b.data();
    op.params[i].tmpref.size = b.size();
  }

  // Digest of msg fed in pieces of `chunk` bytes (0: all at once); out_size bytes of room.
  TEEC_Result digest(uint32_t alg, const Bytes& msg, uint32_t chunk, Bytes* result,
                     size_t out_size = 64) {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT,
                                     TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE);
    op.params[0].value = {alg, chunk};
    in(op, 1, msg);
    result->assign(out_size, 0);
    out(op, 2, *result);
    TEEC_Result r = invoke(TA_CRYPTO_CMD_DIGEST, op);
    size_t n = op.params[2].tmpref.size;
    result->resize(r == TEEC_SUCCESS ? n : 0);
    if (r == TEEC_ERROR_SHORT_BUFFER) last_needed_ = n;
    return r;
  }

  TEEC_Result mac(uint32_t alg, const Bytes& key, const Bytes& msg, uint32_t chunk, Bytes* result) {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT,
                                     TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT);
    op.params[0].value = {alg, chunk};
    in(op, 1, key);
    in(op, 2, msg);
    result->assign(64, 0);
    out(op, 3, *result);
    TEEC_Result r = invoke(TA_CRYPTO_CMD_MAC, op);
    result->resize(r == TEEC_SUCCESS ? op.params[3].tmpref.size : 0);
    return r;
  }

  TEEC_Result mac_compare(uint32_t alg, const Bytes& key, const Bytes& msg, const Bytes& expect) {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT,
                                     TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_INPUT);
    op.params[0].value = {alg, 3};
    in(op, 1, key);
    in(op, 2, msg);
    in(op, 3, expect);
    return invoke(TA_CRYPTO_CMD_MAC_COMPARE, op);
  }

  // iv_and_data: the IV (none for ECB) then the data.
  TEEC_Result cipher(uint32_t alg, uint32_t mode, const Bytes& key, const Bytes& iv_and_data,
                     uint32_t chunk, Bytes* result, size_t out_size = 0) {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT,
                                     TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT);
    op.params[0].value = {alg, mode | chunk << 8};
    in(op, 1, key);
    in(op, 2, iv_and_data);
    result->assign(out_size != 0 ? out_size : iv_and_data.size() + 16, 0);
    out(op, 3, *result);
    TEEC_Result r = invoke(TA_CRYPTO_CMD_CIPHER, op);
    if (r == TEEC_ERROR_SHORT_BUFFER) last_needed_ = op.params[3].tmpref.size;
    result->resize(r == TEEC_SUCCESS ? op.params[3].tmpref.size : 0);
    return r;
  }

  // Encrypt: result = ciphertext || tag. Decrypt: `payload` is the ciphertext, `tag` the tag.
  TEEC_Result ae(uint32_t alg, uint32_t mode, const Bytes& key, const Bytes& nonce, const Bytes& aad,
                 const Bytes& payload, const Bytes& tag, uint32_t tag_bits, uint32_t chunk,
                 Bytes* result) {
    Bytes req;
    for (const Bytes* b : {&key, &nonce, &aad, &payload, &tag}) {
      uint32_t l = static_cast<uint32_t>(b->size());
      req.insert(req.end(), reinterpret_cast<uint8_t*>(&l), reinterpret_cast<uint8_t*>(&l) + 4);
      req.insert(req.end(), b->begin(), b->end());
    }
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT,
                                     TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE);
    op.params[0].value = {alg, mode | chunk << 8 | tag_bits << 16};
    in(op, 1, req);
    result->assign(payload.size() + 16, 0);
    out(op, 2, *result);
    TEEC_Result r = invoke(TA_CRYPTO_CMD_AE, op);
    result->resize(r == TEEC_SUCCESS ? op.params[2].tmpref.size : 0);
    return r;
  }

  TEEC_Result none_cmd(uint32_t cmd) {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_NONE, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    return invoke(cmd, op);
  }

  TEEC_Result value_cmd(uint32_t cmd, uint32_t a, uint32_t b) {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    op.params[0].value = {a, b};
    return invoke(cmd, op);
  }

  TEEC_Context ctx_{};
  TEEC_Session sess_{};
  bool open_ = false;
  size_t last_needed_ = 0;
};

::testing::AssertionResult TaOk(const char* expr, TEEC_Result r) {
  if (r == TEEC_SUCCESS) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << expr << " returned " << describe(r);
}
#define EXPECT_TA_OK(expr) EXPECT_PRED_FORMAT1(TaOk, expr)

// --- digests ---

struct DigestKat {
  uint32_t alg;
  std::string msg;
  std::string digest;
};

const DigestKat kDigestKats[] = {
    {kMd5, "abc", "900150983cd24fb0d6963f7d28e17f72"},
    {kSha1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
    {kSha224, "abc", "23097d223405d8228642a477bda255b32aadbce4bda0b3f7e36c9da7"},
    {kSha256, "abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
    {kSha256, "", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
    {kSha256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    {kSha384, "abc",
     "cb00753f45a35e8bb5a03d699ac65007272c32ab0eded1631a8b605a43ff5bed8086072ba1e7cc2358baeca134c8"
     "25a7"},
    {kSha512, "abc",
     "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a2192992a274fc1a836ba3c23a3fe"
     "ebbd454d4423643ce80e2a9ac94fa54ca49f"},
    // FIPS 202 examples (NIST example values for SHA3-224 to SHA3-512).
    {kSha3_224, "abc", "e642824c3f8cf24ad09234ee7d3c766fc9a3a5168d0c94ad73b46fdf"},
    {kSha3_256, "abc", "3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532"},
    {kSha3_256, "", "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a"},
    {kSha3_256, "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "41c0dba2a9d6240849100376a8235e2c82e1b9998a999e21db32dd97496d3376"},
    {kSha3_384, "abc",
     "ec01498288516fc926459f58e2c6ad8df9b473cb0fc08c2596da7cf0e49be4b298d88cea927ac7f539f1edf22837"
     "6d25"},
    {kSha3_512, "abc",
     "b751850b1a57168a5693cd924b6b096e08f621827444f70d884f5d0240d2712e10e116e9192af3c91a7ec57647e3"
     "934057340b4cf408d5a56592f8274eec53f0"},
};

TEST_F(CryptoTa, DigestKnownAnswers) {
  for (const DigestKat& k : kDigestKats) {
    for (uint32_t chunk : {0u, 1u, 2u, 64u}) {
      Bytes d;
      EXPECT_TA_OK(digest(k.alg, text(k.msg), chunk, &d));
      EXPECT_EQ(d, hex(k.digest)) << std::hex << k.alg << " \"" << k.msg << "\" chunk " << chunk;
    }
  }
}

TEST_F(CryptoTa, DigestShortBufferReportsTheNeededSize) {
  Bytes d;
  uint32_t origin = 0;
  TEEC_Operation op{};
  EXPECT_EQ(digest(kSha256, text("abc"), 0, &d, 31), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(last_needed_, 32u);
  EXPECT_EQ(digest(kSha512, text("abc"), 0, &d, 0), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(last_needed_, 64u);
  // The origin of the TA's answer.
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT,
                                   TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE);
  op.params[0].value = {kSha1, 0};
  Bytes msg = text("abc"), small(4);
  in(op, 1, msg);
  out(op, 2, small);
  EXPECT_EQ(invoke(TA_CRYPTO_CMD_DIGEST, op, &origin), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(origin, TEEC_ORIGIN_TRUSTED_APP);
  EXPECT_EQ(op.params[2].tmpref.size, 20u);
}

TEST_F(CryptoTa, DigestMatchesOpenSslForEverySplit) {
  const std::pair<uint32_t, const EVP_MD*> algs[] = {
      {kSha1, EVP_sha1()},         {kSha224, EVP_sha224()},     {kSha256, EVP_sha256()},
      {kSha384, EVP_sha384()},     {kSha512, EVP_sha512()},     {kSha3_224, EVP_sha3_224()},
      {kSha3_256, EVP_sha3_256()}, {kSha3_384, EVP_sha3_384()}, {kSha3_512, EVP_sha3_512()}};
  // Around the SHA-2 blocks (64, 128 bytes) and the SHA3 rates (144, 136, 104, 72 bytes).
  for (size_t len : {0u, 1u, 63u, 64u, 65u, 72u, 104u, 136u, 137u, 144u, 1000u}) {
    Bytes msg = random_bytes(len);
    for (auto [alg, md] : algs) {
      Bytes expect(64);
      unsigned n = 0;
      EVP_Digest(msg.data(), msg.size(), expect.data(), &n, md, nullptr);
      expect.resize(n);
      for (uint32_t chunk : {0u, 7u, 128u}) {
        Bytes d;
        EXPECT_TA_OK(digest(alg, msg, chunk, &d));
        EXPECT_EQ(d, expect) << len << " bytes, chunk " << chunk;
      }
    }
  }
}

// --- MACs ---

struct MacKat {
  uint32_t alg;
  std::string key, msg, mac;
};

// RFC 4231 test cases 1-4 (keys and data in hex) and RFC 4493 examples 1-4.
const std::string kRfc4493Msg =
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52e"
    "ff69f2445df4f9b17ad2b417be66c3710";
const MacKat kMacKats[] = {
    {kHmacSha224, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265", "896fb1128abbdf196832107cd49df33f47b4b1169912ba4f53684b22"},
    {kHmacSha256, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
     "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
    {kHmacSha384, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
     "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9"
     "cb6"},
    {kHmacSha512, "0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
     "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f"
     "4e4be9d914eeb61f1702e696c203a126854"},
    {kHmacSha256, "4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
     "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
    {kHmacSha512, "4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
     "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e"
     "6fdcaeab1a34d4a6b4b636e070a38bce737"},
    {kHmacSha256, std::string(40, 'a'), std::string(100, 'd'),
     "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
    {kHmacSha256, "0102030405060708090a0b0c0d0e0f10111213141516171819",
     [] {
       std::string s;
       for (int i = 0; i < 50; ++i) s += "cd";
       return s;
     }(),
     "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
    {kAesCmac, "2b7e151628aed2a6abf7158809cf4f3c", "", "bb1d6929e95937287fa37d129b756746"},
    {kAesCmac, "2b7e151628aed2a6abf7158809cf4f3c", kRfc4493Msg.substr(0, 32),
     "070a16b46b4d4144f79bdd9dd04a287c"},
    {kAesCmac, "2b7e151628aed2a6abf7158809cf4f3c", kRfc4493Msg.substr(0, 80),
     "dfa66747de9ae63030ca32611497c827"},
    {kAesCmac, "2b7e151628aed2a6abf7158809cf4f3c", kRfc4493Msg, "51f0bebf7e3b9d92fc49741779363cfe"},
};

TEST_F(CryptoTa, MacKnownAnswers) {
  for (const MacKat& k : kMacKats) {
    for (uint32_t chunk : {0u, 1u, 5u, 16u}) {
      Bytes m;
      EXPECT_TA_OK(mac(k.alg, hex(k.key), hex(k.msg), chunk, &m));
      EXPECT_EQ(m, hex(k.mac)) << std::hex << k.alg << " key " << k.key << " chunk " << chunk;
    }
  }
}

TEST_F(CryptoTa, MacCompareFinal) {
  for (const MacKat& k : kMacKats) {
    Bytes good = hex(k.mac);
    EXPECT_TA_OK(mac_compare(k.alg, hex(k.key), hex(k.msg), good));
    Bytes bad = good;
    bad.back() ^= 0x01;
    EXPECT_EQ(mac_compare(k.alg, hex(k.key), hex(k.msg), bad), kMacInvalid);
    Bytes truncated(good.begin(), good.end() - 1);
    EXPECT_EQ(mac_compare(k.alg, hex(k.key), hex(k.msg), truncated), kMacInvalid);
  }
}

// --- symmetric ciphers ---

const std::string kAesKey = "2b7e151628aed2a6abf7158809cf4f3c";
const std::string kSp80038aPlain =
    "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52e"
    "ff69f2445df4f9b17ad2b417be66c3710";

struct CipherKat {
  uint32_t alg;
  std::string key, iv, plain, cipher;
};

const CipherKat kCipherKats[] = {
    // SP 800-38A F.1.1, F.2.1, F.5.1.
    {kAesEcb, kAesKey, "", kSp80038aPlain,
     "3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf43b1cd7f598ece23881b00e3ed0306"
     "887b0c785e27e8ad3f8223207104725dd4"},
    {kAesCbc, kAesKey, "000102030405060708090a0b0c0d0e0f", kSp80038aPlain,
     "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b273bed6b8e3c1743b7116e69e222295"
     "163ff1caa1681fac09120eca307586e1a7"},
    {kAesCtr, kAesKey, "f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff", kSp80038aPlain,
     "874d6191b620e3261bef6864990db6ce9806f66b7970fdff8617187bb9fffdff5ae4df3edbd5d35e5b4f09020db03e"
     "ab1e031dda2fbe03d1792170a0f3009cee"},
    // IEEE 1619 XTS-AES-128 vectors 1 and 15 (ciphertext stealing); key = key1 || key2.
    {kAesXts, std::string(64, '0'), std::string(32, '0'), std::string(64, '0'),
     "917cf69ebd68b2ec9b9fe9a3eadda692cd43d2f59598ed858c02c2652fbf922e"},
    {kAesXts, "fffefdfcfbfaf9f8f7f6f5f4f3f2f1f0bfbebdbcbbbab9b8b7b6b5b4b3b2b1b0",
     "9a785634120000000000000000000000", "000102030405060708090a0b0c0d0e0f10",
     "6c1625db4671522d3d7599601de7ca09ed"},
};

TEST_F(CryptoTa, CipherKnownAnswersBothWays) {
  for (const CipherKat& k : kCipherKats) {
    for (uint32_t chunk : {0u, 1u, 5u, 16u, 17u, 33u}) {
      Bytes out;
      EXPECT_TA_OK(cipher(k.alg, kModeEncrypt, hex(k.key), cat(hex(k.iv), hex(k.plain)), chunk, &out));
      EXPECT_EQ(out, hex(k.cipher)) << std::hex << k.alg << " chunk " << std::dec << chunk;
      EXPECT_TA_OK(cipher(k.alg, kModeDecrypt, hex(k.key), cat(hex(k.iv), hex(k.cipher)), chunk, &out));
      EXPECT_EQ(out, hex(k.plain)) << std::hex << k.alg << " chunk " << std::dec << chunk;
    }
  }
}

TEST_F(CryptoTa, CipherMatchesOpenSslForRandomSplits) {
  std::mt19937 rng(7);
  for (int round = 0; round < 40; ++round) {
    bool wide = round % 2 == 1;  // AES-256
    Bytes key = random_bytes(wide ? 32 : 16), iv = random_bytes(16);
    size_t blocks = 1 + rng() % 9;
    uint32_t chunk = static_cast<uint32_t>(rng() % 40);
    for (uint32_t mode : {kModeEncrypt, kModeDecrypt}) {
      bool enc = mode == kModeEncrypt;
      Bytes data = random_bytes(blocks * 16);
      Bytes out;
      EXPECT_TA_OK(cipher(kAesCbc, mode, key, cat(iv, data), chunk, &out));
      EXPECT_EQ(out, host_cipher(wide ? EVP_aes_256_cbc() : EVP_aes_128_cbc(), key, iv, data, enc));
      data = random_bytes(rng() % 200);
      EXPECT_TA_OK(cipher(kAesCtr, mode, key, cat(iv, data), chunk, &out));
      EXPECT_EQ(out, host_cipher(wide ? EVP_aes_256_ctr() : EVP_aes_128_ctr(), key, iv, data, enc));
      // XTS: any length from one block, in any pieces.
      Bytes xkey = random_bytes(wide ? 64 : 32);
      data = random_bytes(16 + rng() % 100);
      EXPECT_TA_OK(cipher(kAesXts, mode, xkey, cat(iv, data), chunk, &out));
      EXPECT_EQ(out, host_cipher(wide ? EVP_aes_256_xts() : EVP_aes_128_xts(), xkey, iv, data, enc))
          << data.size() << " bytes in pieces of " << chunk;
    }
  }
}

TEST_F(CryptoTa, CipherShortBufferReportsTheNeededSize) {
  const CipherKat& k = kCipherKats[1];  // CBC, 64 bytes
  Bytes out;
  EXPECT_EQ(cipher(k.alg, kModeEncrypt, hex(k.key), cat(hex(k.iv), hex(k.plain)), 0, &out, 63),
            TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(last_needed_, 64u);
  // In pieces: the update that does not fit reports what it needs.
  EXPECT_EQ(cipher(k.alg, kModeEncrypt, hex(k.key), cat(hex(k.iv), hex(k.plain)), 20, &out, 8),
            TEEC_ERROR_SHORT_BUFFER);
}

// --- authenticated encryption ---

struct AeKat {
  uint32_t alg;
  std::string key, nonce, aad, plain, cipher, tag;
};

const AeKat kAeKats[] = {
    // GCM specification test cases 1, 2 and 4.
    {kAesGcm, std::string(32, '0'), std::string(24, '0'), "", "", "",
     "58e2fccefa7e3061367f1d57a4e7455a"},
    {kAesGcm, std::string(32, '0'), std::string(24, '0'), "", std::string(32, '0'),
     "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
    {kAesGcm, "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b5"
     "25b16aedf5aa0de657ba637b39",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa"
     "051ba30b396a0aac973d58e091",
     "5bc94fbc3221a5db94fae95ae7121a47"},
    // SP 800-38C C.1 and C.2; RFC 3610 packet vector #1.
    {kAesCcm, "404142434445464748494a4b4c4d4e4f", "10111213141516", "0001020304050607", "20212223",
     "7162015b", "4dac255d"},
    {kAesCcm, "404142434445464748494a4b4c4d4e4f", "1011121314151617",
     "000102030405060708090a0b0c0d0e0f", "202122232425262728292a2b2c2d2e2f",
     "d2a1f0e051ea5f62081a7792073d593d", "1fc64fbfaccd"},
    {kAesCcm, "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf", "00000003020100a0a1a2a3a4a5", "0001020304050607",
     "08090a0b0c0d0e0f101112131415161718191a1b1c1d1e", "588c979a61c663d2f066d0c2c0f989806d5f6b61dac384",
     "17e8d12cfdf926e0"},
};

TEST_F(CryptoTa, AeKnownAnswersBothWays) {
  for (const AeKat& k : kAeKats) {
    uint32_t tag_bits = static_cast<uint32_t>(hex(k.tag).size() * 8);
    for (uint32_t chunk : {0u, 1u, 3u, 16u}) {
      Bytes out;
      EXPECT_TA_OK(ae(k.alg, kModeEncrypt, hex(k.key), hex(k.nonce), hex(k.aad), hex(k.plain), {},
                      tag_bits, chunk, &out));
      EXPECT_EQ(out, cat(hex(k.cipher), hex(k.tag))) << std::hex << k.alg << " chunk " << chunk;
      EXPECT_TA_OK(ae(k.alg, kModeDecrypt, hex(k.key), hex(k.nonce), hex(k.aad), hex(k.cipher),
                      hex(k.tag), tag_bits, chunk, &out));
      EXPECT_EQ(out, hex(k.plain));
    }
  }
}

TEST_F(CryptoTa, AeBadTagIsMacInvalid) {
  for (const AeKat& k : kAeKats) {
    uint32_t tag_bits = static_cast<uint32_t>(hex(k.tag).size() * 8);
    Bytes out, tag = hex(k.tag);
    tag[0] ^= 0x80;
    EXPECT_EQ(ae(k.alg, kModeDecrypt, hex(k.key), hex(k.nonce), hex(k.aad), hex(k.cipher), tag,
                 tag_bits, 0, &out),
              kMacInvalid);
    Bytes aad = hex(k.aad);
    if (!aad.empty()) {
      aad[0] ^= 0x01;
      EXPECT_EQ(ae(k.alg, kModeDecrypt, hex(k.key), hex(k.nonce), aad, hex(k.cipher), hex(k.tag),
                   tag_bits, 0, &out),
                kMacInvalid);
    }
    // A tag of another length than TEE_AEInit announced does not authenticate.
    Bytes full = hex(k.tag), shorter(full.begin(), full.end() - 2);
    EXPECT_EQ(ae(k.alg, kModeDecrypt, hex(k.key), hex(k.nonce), hex(k.aad), hex(k.cipher), shorter,
                 tag_bits, 0, &out),
              kMacInvalid);
  }
}

TEST_F(CryptoTa, AeMatchesOpenSslForRandomSplits) {
  std::mt19937 rng(11);
  for (int round = 0; round < 30; ++round) {
    bool ccm = round % 2 == 1;
    Bytes key = random_bytes(16), nonce = random_bytes(ccm ? 7 + rng() % 7 : 1 + rng() % 20);
    Bytes aad = random_bytes(rng() % 40), plain = random_bytes(rng() % 100);
    int tag_len = ccm ? 4 + 2 * static_cast<int>(rng() % 7) : 12 + static_cast<int>(rng() % 5);
    uint32_t chunk = static_cast<uint32_t>(rng() % 20);
    uint32_t alg = ccm ? kAesCcm : kAesGcm;
    Bytes expect = host_aead(ccm, key, nonce, aad, plain, tag_len);
    Bytes out;
    EXPECT_TA_OK(ae(alg, kModeEncrypt, key, nonce, aad, plain, {}, static_cast<uint32_t>(tag_len * 8),
                    chunk, &out));
    EXPECT_EQ(out, expect) << (ccm ? "CCM" : "GCM") << " round " << round;
    Bytes ct(expect.begin(), expect.end() - tag_len), tag(expect.end() - tag_len, expect.end());
    EXPECT_TA_OK(ae(alg, kModeDecrypt, key, nonce, aad, ct, tag, static_cast<uint32_t>(tag_len * 8),
                    chunk, &out));
    EXPECT_EQ(out, plain);
  }
}

// --- asymmetric ---

TEST_F(CryptoTa, RsaRoundTrips) {
  const std::pair<uint32_t, uint32_t> cases[] = {
      {1024, kRsassaV15Sha1},   {2048, kRsassaV15Sha256}, {1024, kRsassaPssSha1},
      {2048, kRsassaPssSha512}, {1024, kRsaesV15},        {1024, kRsaesOaepSha1},
      {2048, kRsaesOaepSha256}, {2048, kRsaesOaepSha512}, {512, kRsassaV15Sha256},
  };
  for (auto [bits, alg] : cases)
    EXPECT_TA_OK(value_cmd(TA_CRYPTO_CMD_RSA, bits, alg)) << bits << " bits, alg " << std::hex << alg;
}

TEST_F(CryptoTa, EcdsaRoundTrips) {
  const std::pair<uint32_t, uint32_t> cases[] = {
      {kP192, kEcdsaSha1}, {kP224, kEcdsaSha224}, {kP256, kEcdsaSha256},
      {kP384, kEcdsaSha384}, {kP521, kEcdsaSha512}};
  for (auto [curve, alg] : cases)
    EXPECT_TA_OK(value_cmd(TA_CRYPTO_CMD_ECDSA, curve, alg)) << "curve " << curve;
}

TEST_F(CryptoTa, KeyAgreementGivesBothSidesTheSameSecret) {
  const std::pair<uint32_t, uint32_t> cases[] = {{kP256, 32}, {kP384, 48}, {kP521, 66}, {0, 32}};
  for (auto [curve, bytes] : cases) {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
    op.params[0].value = {curve, 0};
    EXPECT_TA_OK(invoke(TA_CRYPTO_CMD_ECDH, op)) << "curve " << curve;
    EXPECT_EQ(op.params[1].value.a, bytes);
  }
}

TEST_F(CryptoTa, Ed25519Rfc8032) {
  struct Kat {
    std::string secret, pub, msg, sig;
  };
  const Kat kats[] = {
      {"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
       "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "",
       "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
       "b46bd25bf5f0595bbe24655141438e7a100b"},
      {"4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
       "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c", "72",
       "92a009a9f0d4cab8720e820b5f642540a2b27b5416503f8fb3762223ebdb69da085ac1e43e15996e458f3613d0f1"
       "1d8c387b2eaeb4302aeeb00d291612bb0c00"},
      {"c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7",
       "fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025", "af82",
       "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984d"
       "c6594a7c15e9716ed28dc027beceea1ec40a"},
  };
  for (const Kat& k : kats) {
    Bytes req = cat(cat(hex(k.secret), hex(k.pub)), hex(k.msg)), sig(64);
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE,
                                     TEEC_NONE);
    in(op, 0, req);
    out(op, 1, sig);
    EXPECT_TA_OK(invoke(TA_CRYPTO_CMD_ED25519, op));
    EXPECT_EQ(sig, hex(k.sig));
  }
}

// --- object and operation rules ---

TEST_F(CryptoTa, ErrorResults) {
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_NONE, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  EXPECT_TA_OK(invoke(TA_CRYPTO_CMD_ERRORS, op));
}

TEST_F(CryptoTa, KeyGeneration) {
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_NONE, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  EXPECT_TA_OK(invoke(TA_CRYPTO_CMD_GENERATE, op));
}

// Each broken rule panics the TA: the client sees TARGET_DEAD from the TEE, the session stays
// dead, and a new session gets a new instance.
TEST_F(CryptoTa, RuleBreakingPanicsTheTa) {
  for (uint32_t rule = 0; rule < TA_CRYPTO_PANIC_COUNT; ++rule) {
    uint32_t origin = 0;
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    op.params[0].value = {rule, 0};
    EXPECT_EQ(invoke(TA_CRYPTO_CMD_PANIC, op, &origin), TEEC_ERROR_TARGET_DEAD) << "rule " << rule;
    EXPECT_EQ(origin, TEEC_ORIGIN_TEE) << "rule " << rule;
    TEEC_Operation again{};
    again.paramTypes = TEEC_PARAM_TYPES(TEEC_NONE, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    EXPECT_EQ(invoke(TA_CRYPTO_CMD_ERRORS, again, &origin), TEEC_ERROR_TARGET_DEAD);
    open(kCryptoUuid);
  }
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_NONE, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  EXPECT_TA_OK(invoke(TA_CRYPTO_CMD_ERRORS, op));
}

TEST_F(CryptoTa, CipherUpdateWithoutKeyPanics) {
  uint32_t origin = 0;
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  op.params[0].value = {TA_CRYPTO_PANIC_UPDATE_WITHOUT_KEY, 0};
  EXPECT_EQ(invoke(TA_CRYPTO_CMD_PANIC, op, &origin), TEEC_ERROR_TARGET_DEAD);
  EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
}

// Objects and operations a TA leaves behind go with its instance (the audit and, under ASan, the
// leak checker see to the rest).
TEST_F(CryptoTa, LeftoversDieWithTheInstance) {
  for (int i = 0; i < 3; ++i) {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    EXPECT_TA_OK(invoke(TA_CRYPTO_CMD_LEAK, op));
    EXPECT_EQ(op.params[0].value.a, 4u);
    open(kCryptoUuid);
  }
}

// A handle is valid only in the instance that made it: another instance of the same TA (one per
// session here) panics on it, while its owner can still use it.
TEST_F(CryptoTa, HandlesDoNotCrossInstances) {
  TEEC_Operation make{};
  make.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  ASSERT_EQ(invoke(TA_CRYPTO_CMD_MAKE_HANDLE, make), TEEC_SUCCESS);

  TEEC_Session other{};
  uint32_t origin = 0;
  ASSERT_EQ(TEEC_OpenSession(&ctx_, &other, &kCryptoUuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr,
                             &origin),
            TEEC_SUCCESS);
  TEEC_Operation use{};
  use.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  use.params[0].value = make.params[0].value;
  EXPECT_EQ(TEEC_InvokeCommand(&other, TA_CRYPTO_CMD_FREE_HANDLE, &use, &origin),
            TEEC_ERROR_TARGET_DEAD);
  EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
  TEEC_CloseSession(&other);

  use.params[0].value = make.params[0].value;
  EXPECT_EQ(invoke(TA_CRYPTO_CMD_FREE_HANDLE, use), TEEC_SUCCESS);
  // Freed: the same value is no handle any more.
  use.params[0].value = make.params[0].value;
  EXPECT_EQ(invoke(TA_CRYPTO_CMD_FREE_HANDLE, use, &origin), TEEC_ERROR_TARGET_DEAD);
}

// --- SHA3, HMAC-SHA3, raw RSA and finite-field DH (the algorithms added after the first set) ---



TEST_F(CryptoTa, Sha3ShortBufferReportsTheNeededSize) {
  Bytes d;
  EXPECT_EQ(digest(kSha3_384, text("abc"), 0, &d, 47), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(last_needed_, 48u);
}

TEST_F(CryptoTa, HmacSha3KnownAnswersAndOpenSsl) {
  // NIST HMAC example values ("Sample message for keylen<blocklen", key 00 01 02 ...).
  Bytes msg = text("Sample message for keylen<blocklen");
  Bytes key(32);
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i);
  Bytes m;
  EXPECT_TA_OK(mac(kHmacSha3_256, key, msg, 0, &m));
  EXPECT_EQ(m, hex("4fe8e202c4f058e8dddc23d8c34e467343e23555e24fc2f025d598f558f67205"));
  EXPECT_TA_OK(mac(kHmacSha3_224, Bytes(key.begin(), key.begin() + 28), msg, 3, &m));
  EXPECT_EQ(m, hex("332cfd59347fdb8e576e77260be4aba2d6dc53117b3bfb52c6d18c04"));

  const std::pair<uint32_t, const char*> algs[] = {{kHmacSha3_224, "SHA3-224"},
                                                    {kHmacSha3_256, "SHA3-256"},
                                                    {kHmacSha3_384, "SHA3-384"},
                                                    {kHmacSha3_512, "SHA3-512"}};
  for (auto [alg, name] : algs) {
    for (size_t key_len : {32u, 100u, 128u}) {
      Bytes k = random_bytes(key_len), data = random_bytes(key_len * 3 + 1);
      Bytes expect(64);
      size_t n = 0;
      ASSERT_NE(EVP_Q_mac(nullptr, "HMAC", nullptr, name, nullptr, k.data(), k.size(), data.data(),
                          data.size(), expect.data(), expect.size(), &n),
                nullptr);
      expect.resize(n);
      EXPECT_TA_OK(mac(alg, k, data, 7, &m));
      EXPECT_EQ(m, expect) << name << " key " << key_len;
      EXPECT_TA_OK(mac_compare(alg, k, data, expect));
      expect[0] ^= 0x40;
      EXPECT_EQ(mac_compare(alg, k, data, expect), kMacInvalid);
    }
  }
}

TEST_F(CryptoTa, Sha3SignaturesAndOaepRoundTrip) {
  const std::pair<uint32_t, uint32_t> rsa[] = {
      {2048, 0x70009830 /* RSASSA v1.5 SHA3-256 */}, {2048, 0x7000B830 /* v1.5 SHA3-512 */},
      {2048, 0x70818930 /* PSS SHA3-224 */},         {2048, 0x70A1A930 /* PSS SHA3-384 */},
      {1024, 0x60810230 /* OAEP SHA3-224 */},        {2048, 0x60B10230 /* OAEP SHA3-512 */},
  };
  for (auto [bits, alg] : rsa)
    EXPECT_TA_OK(value_cmd(TA_CRYPTO_CMD_RSA, bits, alg)) << bits << " bits, alg " << std::hex << alg;
  const std::pair<uint32_t, uint32_t> ecdsa[] = {
      {kP256, 0x70007042 /* ECDSA SHA3-256 */}, {kP384, 0x70008042 /* SHA3-384 */},
      {kP521, 0x70009042 /* SHA3-512 */}, {kP224, 0x70006042 /* SHA3-224 */}};
  for (auto [curve, alg] : ecdsa)
    EXPECT_TA_OK(value_cmd(TA_CRYPTO_CMD_ECDSA, curve, alg)) << "curve " << curve;
}

TEST_F(CryptoTa, NewAlgorithmSizeRulesAndErrors) {
  EXPECT_TA_OK(none_cmd(TA_CRYPTO_CMD_NEW_ALG_ERRORS));
}

// --- HKDF, AES-CBC-MAC and AES-CTS ---

// u32 length + bytes for each part (the TA's request blobs).
Bytes blobs(std::initializer_list<Bytes> parts) {
  Bytes req;
  for (const Bytes& b : parts) {
    uint32_t l = static_cast<uint32_t>(b.size());
    req.insert(req.end(), reinterpret_cast<uint8_t*>(&l), reinterpret_cast<uint8_t*>(&l) + 4);
    req.insert(req.end(), b.begin(), b.end());
  }
  return req;
}


constexpr uint32_t kAesCbcMacNopad = 0x30000110,
                   kAesCbcMacPkcs5 = 0x30000510, kAesCts = 0x10000310;
constexpr uint32_t kDes3Ecb = 0x10000013, kDes3Cbc = 0x10000113, kDes3CbcMacNopad = 0x30000113,
                   kDes3CbcMacPkcs5 = 0x30000513;

Bytes counting(uint8_t from, size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(from + i);
  return b;
}

Bytes host_hkdf(const char* md, const Bytes& ikm, const Bytes& salt, const Bytes& info,
                size_t len) {
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  EVP_KDF_CTX* ctx = EVP_KDF_CTX_new(kdf);
  EVP_KDF_free(kdf);
  uint8_t empty = 0;
  auto ptr = [&](const Bytes& b) { return b.empty() ? &empty : const_cast<uint8_t*>(b.data()); };
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(md), 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, ptr(ikm), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, ptr(salt), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, ptr(info), info.size()),
      OSSL_PARAM_construct_end()};
  Bytes out(len);
  EXPECT_EQ(EVP_KDF_derive(ctx, out.data(), len, params), 1);
  EVP_KDF_CTX_free(ctx);
  return out;
}

// The host's triple DES in CBC or ECB (OpenSSL's two-key cipher for 16-byte keys).
const EVP_CIPHER* host_des3(size_t key_len, bool cbc) {
  if (key_len == 16) return cbc ? EVP_des_ede_cbc() : EVP_des_ede_ecb();
  return cbc ? EVP_des_ede3_cbc() : EVP_des_ede3_ecb();
}

// CBC-MAC on the host: the last block of CBC with a zero IV over msg (PKCS#5-padded).
Bytes host_cbc_mac(const Bytes& key, Bytes msg, bool pkcs5, bool des3 = false) {
  size_t block = des3 ? 8 : 16;
  if (pkcs5) msg.insert(msg.end(), block - msg.size() % block, static_cast<uint8_t>(block - msg.size() % block));
  const EVP_CIPHER* c = des3               ? host_des3(key.size(), true)
                        : key.size() == 32 ? EVP_aes_256_cbc()
                        : key.size() == 24 ? EVP_aes_192_cbc()
                                           : EVP_aes_128_cbc();
  Bytes out = host_cipher(c, key, Bytes(block, 0), msg, true);
  return Bytes(out.end() - static_cast<long>(block), out.end());
}

// AES-CBC-CS3 on the host (OpenSSL's CBC-CTS cipher, cts_mode CS3).
Bytes host_cts(const Bytes& key, const Bytes& iv, const Bytes& in, bool encrypt) {
  const char* name = key.size() == 32 ? "AES-256-CBC-CTS"
                     : key.size() == 24 ? "AES-192-CBC-CTS"
                                        : "AES-128-CBC-CTS";
  EVP_CIPHER* c = EVP_CIPHER_fetch(nullptr, name, nullptr);
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  OSSL_PARAM params[] = {
      OSSL_PARAM_construct_utf8_string(OSSL_CIPHER_PARAM_CTS_MODE, const_cast<char*>("CS3"), 0),
      OSSL_PARAM_construct_end()};
  Bytes out(in.size());
  int l = 0;
  EXPECT_EQ(EVP_CipherInit_ex2(ctx, c, key.data(), iv.data(), encrypt ? 1 : 0, params), 1);
  EXPECT_EQ(EVP_CipherUpdate(ctx, out.data(), &l, in.data(), static_cast<int>(in.size())), 1);
  EXPECT_EQ(static_cast<size_t>(l), in.size());
  EVP_CIPHER_CTX_free(ctx);
  EVP_CIPHER_free(c);
  return out;
}

class Kdf : public CryptoTa {
 protected:
  TEEC_Result hkdf(uint32_t hash, const Bytes& ikm, const Bytes& salt, const Bytes& info,
                   uint32_t len, Bytes* result) {
    Bytes req = blobs({ikm, salt, info});
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT,
                                     TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE);
    op.params[0].value = {hash, len};
    in(op, 1, req);
    result->assign(len, 0);
    out(op, 2, *result);
    TEEC_Result r = invoke(TA_CRYPTO_CMD_HKDF, op);
    result->resize(r == TEEC_SUCCESS ? op.params[2].tmpref.size : 0);
    return r;
  }
};

// RFC 5869 appendix A, test cases 1 to 4 (SHA-256 and SHA-1).
TEST_F(Kdf, HkdfRfc5869) {
  Bytes ikm22(22, 0x0b), salt13 = counting(0x00, 13), info10 = counting(0xf0, 10), okm;
  const std::string case1 =
      "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865";
  EXPECT_TA_OK(hkdf(kSha256, ikm22, salt13, info10, 42, &okm));
  EXPECT_EQ(okm, hex(case1));
  // Without TEE_ATTR_HKDF_HASH_ALGORITHM the hash is SHA-256.
  EXPECT_TA_OK(hkdf(0, ikm22, salt13, info10, 42, &okm));
  EXPECT_EQ(okm, hex(case1));
  EXPECT_TA_OK(hkdf(kSha256, counting(0x00, 80), counting(0x60, 80), counting(0xb0, 80), 82, &okm));
  EXPECT_EQ(okm, hex("b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac78"
                     "27271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f"
                     "3434f1d87"));
  // Case 3: no salt (left out), zero-length info.
  EXPECT_TA_OK(hkdf(0, ikm22, {}, {}, 42, &okm));
  EXPECT_EQ(okm, hex("8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b"
                     "61a96c8"));
  EXPECT_TA_OK(hkdf(kSha1, Bytes(11, 0x0b), salt13, info10, 42, &okm));
  EXPECT_EQ(okm, hex("085a01ea1b10f36933068b56efa5ad81a4f14b822f5b091568a9cdd4f155fda2c22e422478d30"
                     "5f3f896"));
}

TEST_F(Kdf, HkdfMatchesOpenSslForEveryHash) {
  std::mt19937 rng(11);
  const struct {
    uint32_t alg;
    const char* md;
    size_t size;
  } hashes[] = {{kMd5, "MD5", 16},         {kSha1, "SHA1", 20},         {kSha224, "SHA224", 28},
                {kSha256, "SHA256", 32},   {kSha384, "SHA384", 48},     {kSha512, "SHA512", 64},
                {kSha3_256, "SHA3-256", 32}, {kSha3_512, "SHA3-512", 64}};
  for (const auto& h : hashes) {
    Bytes ikm = random_bytes(1 + rng() % 64), salt = random_bytes(1 + rng() % 80),
          info = random_bytes(rng() % 40), okm;
    // One byte, one hash block, and the most that fits the 512-byte buffer or 255 blocks.
    for (size_t len : {size_t{1}, h.size, std::min<size_t>(512, 255 * h.size)}) {
      EXPECT_TA_OK(hkdf(h.alg, ikm, salt, info, static_cast<uint32_t>(len), &okm));
      EXPECT_EQ(okm, host_hkdf(h.md, ikm, salt, info, len)) << h.md << " " << len;
    }
  }
}

TEST_F(Kdf, CbcMacMatchesOpenSslForRandomSplits) {
  std::mt19937 rng(5);
  for (int round = 0; round < 30; ++round) {
    Bytes key = random_bytes(16 + 8 * (round % 3));
    uint32_t chunk = static_cast<uint32_t>(rng() % 40);
    Bytes whole = random_bytes(16 * (1 + rng() % 6)), any = random_bytes(rng() % 100), m;
    EXPECT_TA_OK(mac(kAesCbcMacNopad, key, whole, chunk, &m));
    EXPECT_EQ(m, host_cbc_mac(key, whole, false)) << whole.size() << " in pieces of " << chunk;
    for (const Bytes* msg : {&whole, &any}) {
      EXPECT_TA_OK(mac(kAesCbcMacPkcs5, key, *msg, chunk, &m));
      EXPECT_EQ(m, host_cbc_mac(key, *msg, true)) << msg->size() << " in pieces of " << chunk;
      EXPECT_TA_OK(mac_compare(kAesCbcMacPkcs5, key, *msg, m));
      m[15] ^= 0x80;
      EXPECT_EQ(mac_compare(kAesCbcMacPkcs5, key, *msg, m), kMacInvalid);
    }
  }
  // SP 800-38A key and plaintext: four blocks without padding.
  Bytes m;
  EXPECT_TA_OK(mac(kAesCbcMacNopad, hex(kAesKey), hex(kSp80038aPlain), 7, &m));
  EXPECT_EQ(m, host_cbc_mac(hex(kAesKey), hex(kSp80038aPlain), false));
}

// RFC 3962 appendix B: AES-128 CBC-CS3 with a zero IV, 17 to 64 bytes.
TEST_F(Kdf, CtsRfc3962) {
  const std::string key = "636869636b656e207465726979616b69";
  const std::string plain =
      "4920776f756c64206c696b65207468652047656e6572616c20476175277320436869636b656e2c20706c656173"
      "652c20616e6420776f6e746f6e20736f75702e";
  const struct {
    size_t len;
    std::string cipher;
  } kats[] = {
      {17, "c6353568f2bf8cb4d8a580362da7ff7f97"},
      {31, "fc00783e0efdb2c1d445d4c8eff7ed2297687268d6ecccc0c07b25e25ecfe5"},
      {32, "39312523a78662d5be7fcbcc98ebf5a897687268d6ecccc0c07b25e25ecfe584"},
      {47, "97687268d6ecccc0c07b25e25ecfe584b3fffd940c16a18c1b5549d2f838029e39312523a78662d5be7fcb"
           "cc98ebf5"},
      {48, "97687268d6ecccc0c07b25e25ecfe5849dad8bbb96c4cdc03bc103e1a194bbd839312523a78662d5be7fcb"
           "cc98ebf5a8"},
      {64, "97687268d6ecccc0c07b25e25ecfe58439312523a78662d5be7fcbcc98ebf5a84807efe836ee89a526730d"
           "bc2f7bc8409dad8bbb96c4cdc03bc103e1a194bbd8"},
  };
  Bytes iv(16, 0), all = hex(plain);
  for (const auto& k : kats) {
    Bytes p(all.begin(), all.begin() + static_cast<long>(k.len));
    for (uint32_t chunk : {0u, 1u, 5u, 16u, 17u, 33u}) {
      Bytes out;
      EXPECT_TA_OK(cipher(kAesCts, kModeEncrypt, hex(key), cat(iv, p), chunk, &out));
      EXPECT_EQ(out, hex(k.cipher)) << k.len << " bytes, chunk " << chunk;
      EXPECT_TA_OK(cipher(kAesCts, kModeDecrypt, hex(key), cat(iv, hex(k.cipher)), chunk, &out));
      EXPECT_EQ(out, p) << k.len << " bytes, chunk " << chunk;
    }
  }
}

TEST_F(Kdf, CtsMatchesOpenSslForRandomSplits) {
  std::mt19937 rng(3);
  for (int round = 0; round < 40; ++round) {
    Bytes key = random_bytes(16 + 8 * (round % 3)), iv = random_bytes(16);
    Bytes data = random_bytes(17 + rng() % 100);
    uint32_t chunk = static_cast<uint32_t>(rng() % 40);
    for (uint32_t mode : {kModeEncrypt, kModeDecrypt}) {
      Bytes out;
      EXPECT_TA_OK(cipher(kAesCts, mode, key, cat(iv, data), chunk, &out));
      EXPECT_EQ(out, host_cts(key, iv, data, mode == kModeEncrypt))
          << data.size() << " bytes in pieces of " << chunk;
    }
  }
}

// SP 800-67 rev. 1 appendix B: three-key TDEA in ECB on "The qufck brown fox jump".
TEST_F(Kdf, Des3KnownAnswerBothWays) {
  const Bytes key = hex("0123456789abcdef23456789abcdef01456789abcdef0123");
  const Bytes plain = hex("5468652071756663"
                          "6b2062726f776e20"
                          "666f78206a756d70");
  const Bytes expect = hex("a826fd8ce53b855fcce21c8112256fe668d5c05dd9b6b900");
  for (uint32_t chunk : {0u, 1u, 5u, 8u, 9u, 17u}) {
    Bytes out;
    EXPECT_TA_OK(cipher(kDes3Ecb, kModeEncrypt, key, plain, chunk, &out));
    EXPECT_EQ(out, expect) << "chunk " << chunk;
    EXPECT_TA_OK(cipher(kDes3Ecb, kModeDecrypt, key, expect, chunk, &out));
    EXPECT_EQ(out, plain) << "chunk " << chunk;
  }
}

TEST_F(Kdf, Des3MatchesOpenSslForRandomSplits) {
  std::mt19937 rng(9);
  for (int round = 0; round < 30; ++round) {
    Bytes key = random_bytes(round % 2 == 0 ? 16 : 24), iv = random_bytes(8);
    Bytes data = random_bytes(8 * (1 + rng() % 12));
    uint32_t chunk = static_cast<uint32_t>(rng() % 30);
    for (uint32_t mode : {kModeEncrypt, kModeDecrypt}) {
      bool enc = mode == kModeEncrypt;
      Bytes out;
      EXPECT_TA_OK(cipher(kDes3Cbc, mode, key, cat(iv, data), chunk, &out));
      EXPECT_EQ(out, host_cipher(host_des3(key.size(), true), key, iv, data, enc))
          << key.size() << "-byte key, " << data.size() << " bytes in pieces of " << chunk;
      EXPECT_TA_OK(cipher(kDes3Ecb, mode, key, data, chunk, &out));
      EXPECT_EQ(out, host_cipher(host_des3(key.size(), false), key, {}, data, enc));
    }
    Bytes m, any = random_bytes(rng() % 50);
    EXPECT_TA_OK(mac(kDes3CbcMacNopad, key, data, chunk, &m));
    EXPECT_EQ(m, host_cbc_mac(key, data, false, true));
    EXPECT_TA_OK(mac(kDes3CbcMacPkcs5, key, any, chunk, &m));
    EXPECT_EQ(m, host_cbc_mac(key, any, true, true)) << any.size() << " bytes";
    EXPECT_TA_OK(mac_compare(kDes3CbcMacPkcs5, key, any, m));
  }
  // A partial block without padding cannot be enciphered: the TA panics.
  Bytes out;
  EXPECT_EQ(cipher(kDes3Cbc, kModeEncrypt, random_bytes(24), random_bytes(8 + 12), 0, &out),
            TEEC_ERROR_TARGET_DEAD);
  open(kCryptoUuid);
}

TEST_F(Kdf, SizeRulesAndErrors) { EXPECT_TA_OK(none_cmd(TA_CRYPTO_CMD_KDF_MAC_ERRORS)); }

// The new panic rules kill only the instance that broke them: a second session to another
// instance of the same TA keeps working.
TEST_F(Kdf, PanicsKillOnlyTheirInstance) {
  TEEC_Session other{};
  uint32_t origin = 0;
  ASSERT_EQ(TEEC_OpenSession(&ctx_, &other, &kCryptoUuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr,
                             &origin),
            TEEC_SUCCESS);
  for (uint32_t rule : {TA_CRYPTO_PANIC_HKDF_NO_SIZE, TA_CRYPTO_PANIC_HKDF_TOO_BIG,
                        TA_CRYPTO_PANIC_HKDF_WRONG_KEY, TA_CRYPTO_PANIC_CBC_MAC_PARTIAL,
                        TA_CRYPTO_PANIC_CTS_SHORT, TA_CRYPTO_PANIC_CBC_MAC_EMPTY}) {
    EXPECT_EQ(value_cmd(TA_CRYPTO_CMD_PANIC, rule, 0), TEEC_ERROR_TARGET_DEAD) << "rule " << rule;
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_NONE, TEEC_NONE, TEEC_NONE, TEEC_NONE);
    EXPECT_TA_OK(TEEC_InvokeCommand(&other, TA_CRYPTO_CMD_KDF_MAC_ERRORS, &op, &origin));
    open(kCryptoUuid);
  }
  TEEC_CloseSession(&other);
}

// --- raw RSA, against the host's OpenSSL ---

Bytes bn_bytes(const BIGNUM* bn) {
  Bytes b(static_cast<size_t>(BN_num_bytes(bn)));
  if (!b.empty()) BN_bn2bin(bn, b.data());
  return b;
}

Bytes pkey_bn(const EVP_PKEY* k, const char* name) {
  BIGNUM* bn = nullptr;
  EXPECT_EQ(EVP_PKEY_get_bn_param(k, name, &bn), 1);
  Bytes b = bn_bytes(bn);
  BN_clear_free(bn);
  return b;
}

Bytes strip_zeros_keep_one(Bytes b) {
  size_t off = 0;
  while (off + 1 < b.size() && b[off] == 0) ++off;
  return Bytes(b.begin() + static_cast<std::ptrdiff_t>(off), b.end());
}

// Raw RSA on the host: the input left-padded to the modulus size, the output without leading
// zeros (one zero byte for zero), which is the form GP/OP-TEE return.
Bytes host_rsa_raw(EVP_PKEY* key, const Bytes& in, bool encrypt) {
  size_t k = static_cast<size_t>(EVP_PKEY_get_size(key));
  Bytes block(k - in.size(), 0);
  block.insert(block.end(), in.begin(), in.end());
  EVP_PKEY_CTX* c = EVP_PKEY_CTX_new_from_pkey(nullptr, key, nullptr);
  Bytes out(k);
  size_t outl = k;
  EXPECT_EQ(encrypt ? EVP_PKEY_encrypt_init(c) : EVP_PKEY_decrypt_init(c), 1);
  EXPECT_EQ(EVP_PKEY_CTX_set_rsa_padding(c, RSA_NO_PADDING), 1);
  EXPECT_EQ(encrypt ? EVP_PKEY_encrypt(c, out.data(), &outl, block.data(), k)
                    : EVP_PKEY_decrypt(c, out.data(), &outl, block.data(), k),
            1);
  EVP_PKEY_CTX_free(c);
  out.resize(outl);
  return strip_zeros_keep_one(out);
}

class RsaNopad : public CryptoTa {
 protected:
  void SetUp() override {
    CryptoTa::SetUp();
    key_ = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", size_t{2048});
    ASSERT_NE(key_, nullptr);
    n_ = pkey_bn(key_, OSSL_PKEY_PARAM_RSA_N);
    e_ = pkey_bn(key_, OSSL_PKEY_PARAM_RSA_E);
    d_ = pkey_bn(key_, OSSL_PKEY_PARAM_RSA_D);
  }
  void TearDown() override {
    EVP_PKEY_free(key_);
    CryptoTa::TearDown();
  }
  TEEC_Result run(uint32_t mode, const Bytes& input, Bytes* result, size_t out_size = 512) {
    Bytes req = blobs({n_, e_, d_});
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT,
                                     TEEC_MEMREF_TEMP_INPUT, TEEC_MEMREF_TEMP_OUTPUT);
    op.params[0].value = {mode, 0};
    in(op, 1, req);
    in(op, 2, input);
    result->assign(out_size, 0);
    out(op, 3, *result);
    TEEC_Result r = invoke(TA_CRYPTO_CMD_RSA_NOPAD, op);
    if (r == TEEC_ERROR_SHORT_BUFFER) last_needed_ = op.params[3].tmpref.size;
    result->resize(r == TEEC_SUCCESS ? op.params[3].tmpref.size : 0);
    return r;
  }
  EVP_PKEY* key_ = nullptr;
  Bytes n_, e_, d_;
};

TEST_F(RsaNopad, EncryptAndDecryptMatchOpenSsl) {
  Bytes full = random_bytes(256);
  full[0] &= 0x7f;  // below 2^2047 <= n
  const Bytes inputs[] = {full, hex("02"), hex("000002"), hex("01"), Bytes(300, 0),
                          cat(Bytes(5, 0), full), random_bytes(100)};
  for (const Bytes& m : inputs) {
    Bytes stripped = m;
    while (!stripped.empty() && stripped[0] == 0) stripped.erase(stripped.begin());
    Bytes expect = host_rsa_raw(key_, stripped, true);
    Bytes c;
    EXPECT_TA_OK(run(kModeEncrypt, m, &c));
    EXPECT_EQ(c, expect) << m.size() << "-byte input";
    Bytes back;
    EXPECT_TA_OK(run(kModeDecrypt, c, &back));
    EXPECT_EQ(back, strip_zeros_keep_one(stripped.empty() ? Bytes{0} : stripped));
  }
  // Zero (even as no bytes at all) encrypts and decrypts to one zero byte (OP-TEE's form).
  Bytes z;
  EXPECT_TA_OK(run(kModeEncrypt, Bytes{}, &z));
  EXPECT_EQ(z, Bytes{0});
  EXPECT_TA_OK(run(kModeDecrypt, Bytes{0, 0}, &z));
  EXPECT_EQ(z, Bytes{0});
  // A ciphertext made by the host decrypts in the TA.
  Bytes c = host_rsa_raw(key_, full, true), back;
  EXPECT_TA_OK(run(kModeDecrypt, c, &back));
  EXPECT_EQ(back, strip_zeros_keep_one(full));
}

TEST_F(RsaNopad, OutOfRangeInputsAndShortBuffers) {
  Bytes r;
  // The modulus itself, a larger value of the same length, and a longer one: BAD_PARAMETERS.
  EXPECT_EQ(run(kModeEncrypt, n_, &r), kBadParameters);
  EXPECT_EQ(run(kModeDecrypt, n_, &r), kBadParameters);
  EXPECT_EQ(run(kModeEncrypt, Bytes(256, 0xff), &r), kBadParameters);
  EXPECT_EQ(run(kModeEncrypt, cat(hex("01"), Bytes(256, 0)), &r), kBadParameters);
  // SHORT_BUFFER reports the length of the result without its leading zeros.
  Bytes m = hex("0203");
  Bytes expect = host_rsa_raw(key_, m, true);
  EXPECT_EQ(run(kModeEncrypt, m, &r, expect.size() - 1), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(last_needed_, expect.size());
  EXPECT_TA_OK(run(kModeEncrypt, m, &r, expect.size()));
  EXPECT_EQ(r, expect);
  EXPECT_EQ(run(kModeDecrypt, expect, &r, 1), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(last_needed_, 2u);
}

// --- finite-field DH, against the host's OpenSSL BIGNUM arithmetic ---

struct BnDeleter {
  void operator()(BIGNUM* b) const { BN_clear_free(b); }
};
using Bn = std::unique_ptr<BIGNUM, BnDeleter>;

Bn bn(const Bytes& b) { return Bn(BN_bin2bn(b.data(), static_cast<int>(b.size()), nullptr)); }

Bytes mod_exp(const Bytes& base, const Bytes& exp, const Bytes& mod) {
  Bn r(BN_new());
  BN_CTX* ctx = BN_CTX_new();
  EXPECT_EQ(BN_mod_exp(r.get(), bn(base).get(), bn(exp).get(), bn(mod).get(), ctx), 1);
  BN_CTX_free(ctx);
  return bn_bytes(r.get());
}

// The RFC 7919 ffdhe2048 group (p, g = 2, q = (p - 1) / 2) from the host's OpenSSL.
void ffdhe2048(Bytes* p, Bytes* g, Bytes* q) {
  EVP_PKEY_CTX* c = EVP_PKEY_CTX_new_from_name(nullptr, "DH", nullptr);
  EVP_PKEY* params = nullptr;
  ASSERT_EQ(EVP_PKEY_paramgen_init(c), 1);
  ASSERT_EQ(EVP_PKEY_CTX_set_group_name(c, "ffdhe2048"), 1);
  ASSERT_EQ(EVP_PKEY_paramgen(c, &params), 1);
  *p = pkey_bn(params, OSSL_PKEY_PARAM_FFC_P);
  *g = pkey_bn(params, OSSL_PKEY_PARAM_FFC_G);
  *q = pkey_bn(params, OSSL_PKEY_PARAM_FFC_Q);
  EVP_PKEY_free(params);
  EVP_PKEY_CTX_free(c);
}

class Dh : public CryptoTa {
 protected:
  // Runs TA_CRYPTO_CMD_DH; ta_public and secret receive the TA's public value and secret.
  TEEC_Result run(uint32_t x_bits, const Bytes& p, const Bytes& g, const Bytes& q,
                  const Bytes& priv, const Bytes& pub, const Bytes& peer, Bytes* ta_public,
                  Bytes* secret) {
    Bytes req = blobs({p, g, q, priv, pub, peer});
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT,
                                     TEEC_MEMREF_TEMP_OUTPUT, TEEC_MEMREF_TEMP_OUTPUT);
    op.params[0].value = {x_bits, 0};
    in(op, 1, req);
    ta_public->assign(256, 0);
    secret->assign(256, 0);
    out(op, 2, *ta_public);
    out(op, 3, *secret);
    TEEC_Result r = invoke(TA_CRYPTO_CMD_DH, op);
    ta_public->resize(r == TEEC_SUCCESS ? op.params[2].tmpref.size : 0);
    secret->resize(r == TEEC_SUCCESS ? op.params[3].tmpref.size : 0);
    return r;
  }
};

TEST_F(Dh, GeneratedKeysAgreeWithTheHost) {
  Bn rfc3526(BN_get_rfc3526_prime_2048(nullptr));
  Bytes p14 = bn_bytes(rfc3526.get()), p7919, g7919, q7919;
  ffdhe2048(&p7919, &g7919, &q7919);
  struct Case {
    const Bytes *p, *g, *q;
    uint32_t x_bits;
  };
  const Bytes two = hex("02"), none;
  const Case cases[] = {{&p14, &two, &none, 0},
                        {&p14, &two, &none, 256},
                        {&p7919, &g7919, &q7919, 0},
                        {&p7919, &g7919, &none, 225}};
  for (const Case& c : cases) {
    Bytes host_x = random_bytes(32);
    Bytes host_y = mod_exp(*c.g, host_x, *c.p);
    Bytes ta_y, z;
    EXPECT_TA_OK(run(c.x_bits, *c.p, *c.g, *c.q, none, none, host_y, &ta_y, &z))
        << "x_bits " << c.x_bits;
    EXPECT_GT(ta_y.size(), 1u);
    EXPECT_EQ(z, mod_exp(ta_y, host_x, *c.p)) << "x_bits " << c.x_bits;
  }
}

TEST_F(Dh, PopulatedKeyDerivesTheKnownSecret) {
  Bn rfc3526(BN_get_rfc3526_prime_2048(nullptr));
  Bytes p = bn_bytes(rfc3526.get()), g = hex("02"), none;
  Bytes x = random_bytes(40), y = mod_exp(g, x, p);
  Bytes peer_x = random_bytes(40), peer_y = mod_exp(g, peer_x, p);
  Bytes ta_y, z;
  EXPECT_TA_OK(run(0, p, g, none, x, y, peer_y, &ta_y, &z));
  EXPECT_EQ(ta_y, y);
  EXPECT_EQ(z, mod_exp(peer_y, x, p));
  EXPECT_EQ(z, mod_exp(y, peer_x, p));
  // No range check on the peer's value (OP-TEE's behaviour): 1 gives the secret 1, without the
  // leading zeros of a modulus-sized encoding.
  EXPECT_TA_OK(run(0, p, g, none, x, y, hex("0001"), &ta_y, &z));
  EXPECT_EQ(z, hex("01"));
}

// --- GP 1.1 compatibility ---

TEST_F(CryptoTa, Gp11TaUsesThirtyTwoBitLengths) {
  open(kGp11Uuid);
  TEEC_Operation op{};
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_NONE, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  EXPECT_TA_OK(invoke(1, op));  // TA_CRYPTO_GP11_CMD_SELF_TEST

  Bytes msg = text("abc"), d(32);
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT,
                                   TEEC_MEMREF_TEMP_OUTPUT, TEEC_NONE);
  op.params[0].value = {kSha256, 0};
  in(op, 1, msg);
  out(op, 2, d);
  EXPECT_TA_OK(invoke(0, op));  // TA_CRYPTO_GP11_CMD_DIGEST
  EXPECT_EQ(d, hex(kDigestKats[3].digest));
  Bytes small(8);
  out(op, 2, small);
  EXPECT_EQ(invoke(0, op), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(op.params[2].tmpref.size, 32u);

  // GP 1.1: TEE_FreeOperation(TEE_HANDLE_NULL) panics.
  uint32_t origin = 0;
  op.paramTypes = TEEC_PARAM_TYPES(TEEC_NONE, TEEC_NONE, TEEC_NONE, TEEC_NONE);
  EXPECT_EQ(invoke(2, op, &origin), TEEC_ERROR_TARGET_DEAD);
  EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
}

// --- the object model persistent storage builds on (no TA involved) ---

namespace crypto = ta_runtime::crypto;

constexpr uint32_t kTypeAes = 0xA0000010, kTypeRsaKeypair = 0xA1000030, kTypeData = 0xA00000BF;
constexpr uint32_t kAttrSecret = 0xC0000000, kAttrModulus = 0xD0000130;

// What a persistent object adds: the handle flag and a data stream.
class FakePersistent : public crypto::CryptoObject {
 public:
  using CryptoObject::CryptoObject;
  bool persistent() const override { return true; }
  uint32_t handle_flags() const override {
    return CryptoObject::handle_flags() | crypto::kHandleFlagPersistent;
  }
  uint64_t data_size() const override { return 123; }
};

TEST(CryptoObjectModel, SecretSurvivesSerializeAndRestore) {
  Bytes key = hex(kAesKey);
  crypto::CryptoObject src(kTypeAes, 256);
  crypto::AttrRef attr{kAttrSecret, key};
  ASSERT_TRUE(src.populate({&attr, 1}).is_ok());
  src.restrict_usage(0x6);
  crypto::SecretBytes blob = src.serialize_attributes();

  FakePersistent copy(kTypeAes, 256);
  EXPECT_FALSE(copy.initialized());
  ASSERT_TRUE(copy.restore(src.object_size(), src.usage(), blob).is_ok());
  EXPECT_TRUE(copy.initialized());
  EXPECT_EQ(copy.object_size(), 128u);
  EXPECT_EQ(copy.usage(), 0x6u);
  EXPECT_EQ(copy.handle_flags(), crypto::kHandleFlagInitialized | crypto::kHandleFlagPersistent);
  ASSERT_NE(copy.find(kAttrSecret), nullptr);
  EXPECT_EQ(Bytes(copy.find(kAttrSecret)->bytes.begin(), copy.find(kAttrSecret)->bytes.end()), key);
}

TEST(CryptoObjectModel, KeyPairSurvivesSerializeAndRestore) {
  crypto::CryptoObject src(kTypeRsaKeypair, 1024);
  ASSERT_TRUE(src.generate(1024, {}).is_ok());
  crypto::CryptoObject copy(kTypeRsaKeypair, 1024);
  ASSERT_TRUE(copy.restore(src.object_size(), src.usage(), src.serialize_attributes()).is_ok());
  ASSERT_NE(copy.pkey(), nullptr);
  EXPECT_EQ(EVP_PKEY_eq(copy.pkey(), src.pkey()), 1);
  EXPECT_EQ(copy.find(kAttrModulus)->bytes, src.find(kAttrModulus)->bytes);
}

TEST(CryptoObjectModel, PersistentObjectFromATransientOne) {
  crypto::CryptoObject transient(kTypeAes, 128);
  Bytes key = hex(kAesKey);
  crypto::AttrRef attr{kAttrSecret, key};
  ASSERT_TRUE(transient.populate({&attr, 1}).is_ok());
  FakePersistent p(transient.type(), transient.max_object_size());
  ASSERT_TRUE(p.copy_from(transient).is_ok());
  EXPECT_EQ(p.object_size(), 128u);
  EXPECT_TRUE(p.persistent());
}

TEST(CryptoObjectModel, DataObjectsHaveNoAttributes) {
  EXPECT_TRUE(crypto::CryptoObject::check_allocation(kTypeData, 0).is_ok());
  FakePersistent data(kTypeData, 0);
  ASSERT_TRUE(data.restore(0, crypto::kUsageAll, {}).is_ok());
  EXPECT_TRUE(data.attributes().empty());
  EXPECT_EQ(data.data_size(), 123u);
}

TEST(CryptoObjectModel, MalformedSerializationIsRefused) {
  crypto::CryptoObject o(kTypeAes, 256);
  const Bytes truncated = {0x00, 0x00, 0x00, 0xC0, 0x10, 0x00, 0x00, 0x00, 0x01};
  EXPECT_EQ(o.restore(128, crypto::kUsageAll, truncated).code, 0xFFFF0006u);
  const Bytes foreign = {0x30, 0x01, 0x00, 0xD0, 0x00, 0x00, 0x00, 0x00};  // RSA modulus on AES
  EXPECT_EQ(o.restore(0, crypto::kUsageAll, foreign).code, 0xFFFF0006u);
  EXPECT_EQ(o.restore(512, crypto::kUsageAll, {}).code, 0xFFFF0006u);  // larger than its maximum
  EXPECT_FALSE(o.initialized());
}

}  // namespace
}  // namespace teemu::test
