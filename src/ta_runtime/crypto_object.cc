#include "ta_runtime/crypto_object.h"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <bit>
#include <cstring>

// Last: the dev kit's GP constants are macros.
#include <tee_api_defines.h>

namespace teemu::ta_runtime::crypto {

static_assert(kHandleFlagPersistent == TEE_HANDLE_FLAG_PERSISTENT);
static_assert(kHandleFlagInitialized == TEE_HANDLE_FLAG_INITIALIZED);
static_assert(kAttrFlagPublic == TEE_ATTR_FLAG_PUBLIC && kAttrFlagValue == TEE_ATTR_FLAG_VALUE);
static_assert(kUsageExtractable == TEE_USAGE_EXTRACTABLE);

namespace {

// --- the object types teemu supports, after OP-TEE's tee_svc_cryp.c type table -----------------

enum AttrFlag : uint16_t {
  kRequired = 1,       // populate needs it
  kOptionalGroup = 2,  // populate takes all of the group or none
  kSizeIndicator = 4,  // gives the object size
  kGenRequired = 8,    // TEE_GenerateKey needs it
  kGenOptional = 16,   // TEE_GenerateKey may take it
  kNumber = 32,        // a big-endian integer, kept without leading zeros
};

struct AttrSpec {
  uint32_t id;
  uint16_t flags;
};

enum class Kind {
  kData,  // TEE_TYPE_DATA: no attributes (persistent data objects; GP 1.3.1 has no transient ones)
  kSecret,
  kRsaPublic,
  kRsaPair,
  kEccPublic,
  kEccPair,
  kEdPublic,
  kEdPair,
  kXPublic,
  kXPair,
  kDhPair,
};

// Types whose attributes must form an OpenSSL key. DH key pairs are used as plain numbers
// (y^x mod p), as OP-TEE does, and are not checked for consistency either.
bool asymmetric(Kind k) { return k != Kind::kData && k != Kind::kSecret && k != Kind::kDhPair; }

struct TypeSpec {
  uint32_t type;
  Kind kind;
  uint32_t quanta, min_size, max_size;  // bits
  std::span<const AttrSpec> attrs;
};

constexpr AttrSpec kSecretAttrs[] = {{TEE_ATTR_SECRET_VALUE, kRequired | kSizeIndicator}};
constexpr AttrSpec kRsaPublicAttrs[] = {
    {TEE_ATTR_RSA_MODULUS, kRequired | kSizeIndicator | kNumber},
    {TEE_ATTR_RSA_PUBLIC_EXPONENT, kRequired | kNumber},
};
constexpr AttrSpec kRsaPairAttrs[] = {
    {TEE_ATTR_RSA_MODULUS, kRequired | kSizeIndicator | kNumber},
    {TEE_ATTR_RSA_PUBLIC_EXPONENT, kRequired | kGenOptional | kNumber},
    {TEE_ATTR_RSA_PRIVATE_EXPONENT, kRequired | kNumber},
    {TEE_ATTR_RSA_PRIME1, kOptionalGroup | kNumber},
    {TEE_ATTR_RSA_PRIME2, kOptionalGroup | kNumber},
    {TEE_ATTR_RSA_EXPONENT1, kOptionalGroup | kNumber},
    {TEE_ATTR_RSA_EXPONENT2, kOptionalGroup | kNumber},
    {TEE_ATTR_RSA_COEFFICIENT, kOptionalGroup | kNumber},
};
constexpr AttrSpec kEccPublicAttrs[] = {
    {TEE_ATTR_ECC_PUBLIC_VALUE_X, kRequired | kNumber},
    {TEE_ATTR_ECC_PUBLIC_VALUE_Y, kRequired | kNumber},
    {TEE_ATTR_ECC_CURVE, kRequired | kSizeIndicator},
};
constexpr AttrSpec kEccPairAttrs[] = {
    {TEE_ATTR_ECC_PRIVATE_VALUE, kRequired | kNumber},
    {TEE_ATTR_ECC_PUBLIC_VALUE_X, kRequired | kNumber},
    {TEE_ATTR_ECC_PUBLIC_VALUE_Y, kRequired | kNumber},
    {TEE_ATTR_ECC_CURVE, kRequired | kSizeIndicator | kGenRequired},
};
constexpr AttrSpec kEdPublicAttrs[] = {{TEE_ATTR_ED25519_PUBLIC_VALUE, kRequired}};
constexpr AttrSpec kEdPairAttrs[] = {
    {TEE_ATTR_ED25519_PRIVATE_VALUE, kRequired},
    {TEE_ATTR_ED25519_PUBLIC_VALUE, kRequired},
};
constexpr AttrSpec kXPublicAttrs[] = {{TEE_ATTR_X25519_PUBLIC_VALUE, kRequired}};
constexpr AttrSpec kXPairAttrs[] = {
    {TEE_ATTR_X25519_PRIVATE_VALUE, kRequired},
    {TEE_ATTR_X25519_PUBLIC_VALUE, kRequired},
};

// The optional subprime q is a one-member group; X_BITS is a generation parameter only.
constexpr AttrSpec kDhPairAttrs[] = {
    {TEE_ATTR_DH_PRIME, kRequired | kSizeIndicator | kGenRequired | kNumber},
    {TEE_ATTR_DH_BASE, kRequired | kGenRequired | kNumber},
    {TEE_ATTR_DH_PUBLIC_VALUE, kRequired | kNumber},
    {TEE_ATTR_DH_PRIVATE_VALUE, kRequired | kNumber},
    {TEE_ATTR_DH_SUBPRIME, kOptionalGroup | kGenOptional | kNumber},
    {TEE_ATTR_DH_X_BITS, kGenOptional},
};

// RSA up to 4096 bits, OP-TEE's default CFG_CORE_BIGNUM_MAX_BITS.
constexpr uint32_t kRsaMaxBits = 4096;

constexpr TypeSpec kTypes[] = {
    {TEE_TYPE_DATA, Kind::kData, 1, 0, 0, {}},
    {TEE_TYPE_AES, Kind::kSecret, 64, 128, 256, kSecretAttrs},
    {TEE_TYPE_HMAC_MD5, Kind::kSecret, 8, 64, 512, kSecretAttrs},
    {TEE_TYPE_HMAC_SHA1, Kind::kSecret, 8, 80, 512, kSecretAttrs},
    {TEE_TYPE_HMAC_SHA224, Kind::kSecret, 8, 112, 512, kSecretAttrs},
    {TEE_TYPE_HMAC_SHA256, Kind::kSecret, 8, 192, 1024, kSecretAttrs},
    {TEE_TYPE_HMAC_SHA384, Kind::kSecret, 8, 256, 1024, kSecretAttrs},
    {TEE_TYPE_HMAC_SHA512, Kind::kSecret, 8, 256, 1024, kSecretAttrs},
    // GP 1.3.1 table 5-9 sizes for the SHA3 HMAC keys.
    {TEE_TYPE_HMAC_SHA3_224, Kind::kSecret, 8, 192, 1024, kSecretAttrs},
    {TEE_TYPE_HMAC_SHA3_256, Kind::kSecret, 8, 256, 1024, kSecretAttrs},
    {TEE_TYPE_HMAC_SHA3_384, Kind::kSecret, 8, 256, 1024, kSecretAttrs},
    {TEE_TYPE_HMAC_SHA3_512, Kind::kSecret, 8, 256, 1024, kSecretAttrs},
    {TEE_TYPE_GENERIC_SECRET, Kind::kSecret, 8, 0, 4096, kSecretAttrs},
    // Two- or three-key triple DES; sizes count no parity bits (OP-TEE: 112 or 168 bits).
    {TEE_TYPE_DES3, Kind::kSecret, 56, 112, 168, kSecretAttrs},
    // The input keying material of TEE_ALG_HKDF (GP 1.3.1): whole bytes, 8 to 4096 bits.
    {TEE_TYPE_HKDF, Kind::kSecret, 8, 8, 4096, kSecretAttrs},
    {TEE_TYPE_RSA_PUBLIC_KEY, Kind::kRsaPublic, 1, 256, kRsaMaxBits, kRsaPublicAttrs},
    {TEE_TYPE_RSA_KEYPAIR, Kind::kRsaPair, 1, 256, kRsaMaxBits, kRsaPairAttrs},
    {TEE_TYPE_ECDSA_PUBLIC_KEY, Kind::kEccPublic, 1, 192, 521, kEccPublicAttrs},
    {TEE_TYPE_ECDSA_KEYPAIR, Kind::kEccPair, 1, 192, 521, kEccPairAttrs},
    {TEE_TYPE_ECDH_PUBLIC_KEY, Kind::kEccPublic, 1, 192, 521, kEccPublicAttrs},
    {TEE_TYPE_ECDH_KEYPAIR, Kind::kEccPair, 1, 192, 521, kEccPairAttrs},
    {TEE_TYPE_ED25519_PUBLIC_KEY, Kind::kEdPublic, 1, 256, 256, kEdPublicAttrs},
    {TEE_TYPE_ED25519_KEYPAIR, Kind::kEdPair, 1, 256, 256, kEdPairAttrs},
    {TEE_TYPE_X25519_PUBLIC_KEY, Kind::kXPublic, 1, 256, 256, kXPublicAttrs},
    {TEE_TYPE_X25519_KEYPAIR, Kind::kXPair, 1, 256, 256, kXPairAttrs},
    // DH groups of 256 to 2048 bits (OP-TEE's limits).
    {TEE_TYPE_DH_KEYPAIR, Kind::kDhPair, 1, 256, 2048, kDhPairAttrs},
};

// Bits a secret's size counts per byte: DES keys carry a parity bit in every byte that the size
// does not count (GP and OP-TEE), so 16 and 24 bytes are 112 and 168 bits.
constexpr unsigned counted_bits_per_byte(uint32_t type) { return type == TEE_TYPE_DES3 ? 7 : 8; }
// The size in bits of a secret of `bytes` bytes.
uint64_t secret_bits(uint32_t type, size_t bytes) {
  return static_cast<uint64_t>(bytes) * counted_bits_per_byte(type);
}
// The inverse: the bytes of a generated secret of `bits` bits.
size_t secret_bytes(uint32_t type, uint32_t bits) { return bits / counted_bits_per_byte(type); }

const TypeSpec* find_type(uint32_t type) {
  for (const TypeSpec& t : kTypes)
    if (t.type == type) return &t;
  return nullptr;
}

int find_attr(const TypeSpec& t, uint32_t id) {
  for (size_t i = 0; i < t.attrs.size(); ++i)
    if (t.attrs[i].id == id) return static_cast<int>(i);
  return -1;
}

bool size_allowed(const TypeSpec& t, uint32_t bits) {
  return bits % t.quanta == 0 && bits >= t.min_size && bits <= t.max_size;
}

// The public half of a key-pair type, 0 if none.
uint32_t public_type_of(uint32_t pair_type) {
  switch (pair_type) {
    case TEE_TYPE_RSA_KEYPAIR: return TEE_TYPE_RSA_PUBLIC_KEY;
    case TEE_TYPE_ECDSA_KEYPAIR: return TEE_TYPE_ECDSA_PUBLIC_KEY;
    case TEE_TYPE_ECDH_KEYPAIR: return TEE_TYPE_ECDH_PUBLIC_KEY;
    case TEE_TYPE_ED25519_KEYPAIR: return TEE_TYPE_ED25519_PUBLIC_KEY;
    case TEE_TYPE_X25519_KEYPAIR: return TEE_TYPE_X25519_PUBLIC_KEY;
    default: return 0;
  }
}

// --- numbers -------------------------------------------------------------------------------

std::span<const uint8_t> strip_leading_zeros(std::span<const uint8_t> v) {
  size_t i = 0;
  while (i < v.size() && v[i] == 0) ++i;
  return v.subspan(i);
}

uint32_t bit_length(std::span<const uint8_t> be) {
  be = strip_leading_zeros(be);
  if (be.empty()) return 0;
  return static_cast<uint32_t>((be.size() - 1) * 8 + std::bit_width(unsigned{be[0]}));
}

SecretBytes bn_to_bytes(const BIGNUM* bn) {
  SecretBytes out(static_cast<size_t>(BN_num_bytes(bn)));
  if (!out.empty()) BN_bn2bin(bn, out.data());
  return out;
}

// OSSL_PARAM numbers are unsigned integers in native byte order.
SecretBytes to_native(std::span<const uint8_t> be) {
  SecretBytes v(be.begin(), be.end());
  if constexpr (std::endian::native == std::endian::little) std::reverse(v.begin(), v.end());
  if (v.empty()) v.push_back(0);
  return v;
}

SecretBytes pad_left(std::span<const uint8_t> be, size_t len) {
  SecretBytes v(len - std::min(len, be.size()), 0);
  v.insert(v.end(), be.begin(), be.end());
  return v;
}

// Reads a BIGNUM parameter of a key as big-endian bytes; empty on failure.
SecretBytes get_bn(const EVP_PKEY* pkey, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(pkey, name, &bn) != 1) return {};
  SecretBytes out = bn_to_bytes(bn);
  BN_clear_free(bn);
  return out;
}

struct CurveInfo {
  uint32_t id;
  uint32_t bits;
  const char* group;
};
constexpr CurveInfo kCurves[] = {
    {TEE_ECC_CURVE_NIST_P192, 192, "prime192v1"}, {TEE_ECC_CURVE_NIST_P224, 224, "secp224r1"},
    {TEE_ECC_CURVE_NIST_P256, 256, "prime256v1"}, {TEE_ECC_CURVE_NIST_P384, 384, "secp384r1"},
    {TEE_ECC_CURVE_NIST_P521, 521, "secp521r1"},
};

const CurveInfo* find_curve(uint32_t id) {
  for (const CurveInfo& c : kCurves)
    if (c.id == id) return &c;
  return nullptr;
}

// --- building OpenSSL keys from attributes -------------------------------------------------

PkeyPtr from_params(const char* alg, int selection, OSSL_PARAM* params) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, alg, nullptr));
  EVP_PKEY* pkey = nullptr;
  if (!ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &pkey, selection, params) != 1)
    return nullptr;
  return PkeyPtr(pkey);
}

PkeyPtr build_rsa(const CryptoObject& o, bool pair) {
  struct Part {
    uint32_t id;
    const char* name;
  };
  static constexpr Part kParts[] = {
      {TEE_ATTR_RSA_MODULUS, OSSL_PKEY_PARAM_RSA_N},
      {TEE_ATTR_RSA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E},
      {TEE_ATTR_RSA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D},
      {TEE_ATTR_RSA_PRIME1, OSSL_PKEY_PARAM_RSA_FACTOR1},
      {TEE_ATTR_RSA_PRIME2, OSSL_PKEY_PARAM_RSA_FACTOR2},
      {TEE_ATTR_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT1},
      {TEE_ATTR_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_EXPONENT2},
      {TEE_ATTR_RSA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
  };
  SecretBytes native[std::size(kParts)];
  OSSL_PARAM params[std::size(kParts) + 1];
  size_t n = 0;
  for (size_t i = 0; i < std::size(kParts); ++i) {
    if (!pair && i >= 2) break;
    const Attribute* a = o.find(kParts[i].id);
    if (a == nullptr) continue;
    native[n] = to_native(a->bytes);
    params[n] = OSSL_PARAM_construct_BN(kParts[i].name, native[n].data(), native[n].size());
    ++n;
  }
  params[n] = OSSL_PARAM_construct_end();
  return from_params("RSA", pair ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
}

PkeyPtr build_ecc(uint32_t curve, std::span<const uint8_t> x, std::span<const uint8_t> y,
                  const Attribute* priv) {
  const CurveInfo* c = find_curve(curve);
  if (c == nullptr) return nullptr;
  size_t bytes = (c->bits + 7) / 8;
  if (strip_leading_zeros(x).size() > bytes || strip_leading_zeros(y).size() > bytes)
    return nullptr;
  SecretBytes point{0x04};  // uncompressed: 04 || X || Y
  SecretBytes px = pad_left(strip_leading_zeros(x), bytes);
  SecretBytes py = pad_left(strip_leading_zeros(y), bytes);
  point.insert(point.end(), px.begin(), px.end());
  point.insert(point.end(), py.begin(), py.end());
  SecretBytes d;
  OSSL_PARAM params[4];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
                                                 const_cast<char*>(c->group), 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(),
                                                  point.size());
  if (priv != nullptr) {
    if (strip_leading_zeros(priv->bytes).size() > bytes) return nullptr;
    d = to_native(priv->bytes);
    params[n++] = OSSL_PARAM_construct_BN(OSSL_PKEY_PARAM_PRIV_KEY, d.data(), d.size());
  }
  params[n] = OSSL_PARAM_construct_end();
  return from_params("EC", priv != nullptr ? EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY, params);
}

// Ed25519 / X25519 from raw bytes. A pair's public value must be the one its private value gives.
PkeyPtr build_raw(int nid, const Attribute* priv, const Attribute* pub) {
  if (pub == nullptr || pub->bytes.size() != 32) return nullptr;
  if (priv == nullptr)
    return PkeyPtr(EVP_PKEY_new_raw_public_key(nid, nullptr, pub->bytes.data(), 32));
  if (priv->bytes.size() != 32) return nullptr;
  PkeyPtr k(EVP_PKEY_new_raw_private_key(nid, nullptr, priv->bytes.data(), 32));
  uint8_t derived[32];
  size_t len = sizeof(derived);
  if (!k || EVP_PKEY_get_raw_public_key(k.get(), derived, &len) != 1 || len != 32 ||
      std::memcmp(derived, pub->bytes.data(), 32) != 0)
    return nullptr;
  return k;
}

Attribute number_attr(uint32_t id, SecretBytes v) {
  Attribute a;
  a.id = id;
  a.bytes = std::move(v);
  return a;
}

Attribute raw_attr(uint32_t id, const uint8_t* p, size_t n) {
  Attribute a;
  a.id = id;
  a.bytes = secret_copy(p, n);
  return a;
}

// --- key generation ------------------------------------------------------------------------

PkeyPtr keygen(const char* alg, uint32_t rsa_bits, const BIGNUM* rsa_e, const char* group) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, alg, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1) return nullptr;
  if (rsa_bits != 0) {
    if (EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), static_cast<int>(rsa_bits)) != 1) return nullptr;
    if (rsa_e != nullptr && EVP_PKEY_CTX_set1_rsa_keygen_pubexp(ctx.get(), const_cast<BIGNUM*>(rsa_e)) != 1)
      return nullptr;
  }
  if (group != nullptr && EVP_PKEY_CTX_set_group_name(ctx.get(), group) != 1) return nullptr;
  EVP_PKEY* pkey = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &pkey) != 1) return nullptr;
  return PkeyPtr(pkey);
}

// NIST SP 800-56B: an RSA public exponent is odd and 65537 <= e < 2^256 (OP-TEE's check).
bool rsa_exponent_ok(std::span<const uint8_t> be) {
  be = strip_leading_zeros(be);
  if (be.empty() || be.size() > 32 || (be.back() & 1) == 0) return false;
  if (be.size() > 3) return true;
  uint32_t e = 0;
  for (uint8_t b : be) e = (e << 8) | b;
  return e >= 65537;
}

// --- Diffie-Hellman (numbers only, as OP-TEE: no group or peer-value validation) -----------

BnPtr bn_from(std::span<const uint8_t> be) {
  return BnPtr(BN_bin2bn(be.empty() ? nullptr : be.data(), static_cast<int>(be.size()), nullptr));
}

// base^exp mod m in constant time over `exp`; null if m is even or zero (Montgomery needs odd m).
BnPtr mod_exp_secret(const BIGNUM* base, const BIGNUM* exp, const BIGNUM* m) {
  BnPtr r(BN_new());
  BnCtxPtr ctx(BN_CTX_new());
  if (!r || !ctx || !BN_is_odd(m)) return nullptr;
  if (BN_mod_exp_mont_consttime(r.get(), base, exp, m, ctx.get(), nullptr) != 1) return nullptr;
  return r;
}

// A DH private value for TEE_GenerateKey: exactly x_bits bits when asked for (GP's
// TEE_ATTR_DH_X_BITS), else uniform in [1, q-1] with a subprime, else in [1, p-2].
// kErrorBadParameters for a group or x_bits that leave no valid value.
Status dh_private_value(const BIGNUM* p, const BIGNUM* q, uint32_t x_bits, BnPtr* out) {
  BnPtr x(BN_new());
  BnPtr bound(BN_new());
  if (!x || !bound) return Status::fatal(kErrorOutOfMemory);
  if (x_bits != 0) {
    if (x_bits >= static_cast<uint32_t>(BN_num_bits(p))) return Status::error(kErrorBadParameters);
    if (BN_priv_rand(x.get(), static_cast<int>(x_bits), BN_RAND_TOP_ONE, BN_RAND_BOTTOM_ANY) != 1)
      return Status::fatal(kErrorGeneric);
  } else {
    // bound = q - 1 or p - 2; x = 1 + uniform [0, bound).
    if (BN_copy(bound.get(), q != nullptr ? q : p) == nullptr ||
        BN_sub_word(bound.get(), q != nullptr ? 1 : 2) != 1)
      return Status::fatal(kErrorGeneric);
    if (BN_cmp(bound.get(), BN_value_one()) <= 0) return Status::error(kErrorBadParameters);
    if (BN_priv_rand_range(x.get(), bound.get()) != 1 || BN_add_word(x.get(), 1) != 1)
      return Status::fatal(kErrorGeneric);
  }
  *out = std::move(x);
  return Status::ok();
}

const AttrRef* find_ref(std::span<const AttrRef> params, uint32_t id) {
  for (const AttrRef& p : params)
    if (p.id == id) return &p;
  return nullptr;
}

// TEE_GenerateKey for TEE_TYPE_DH_KEYPAIR: the prime must be exactly key_size bits rounded up to
// whole bytes (OP-TEE's rule); the group and the optional subprime and x_bits are kept.
Status generate_dh(uint32_t key_size, std::span<const AttrRef> params, std::vector<Attribute>* out) {
  const AttrRef* prime = find_ref(params, TEE_ATTR_DH_PRIME);
  const AttrRef* base = find_ref(params, TEE_ATTR_DH_BASE);
  const AttrRef* subprime = find_ref(params, TEE_ATTR_DH_SUBPRIME);
  const AttrRef* x_bits = find_ref(params, TEE_ATTR_DH_X_BITS);
  std::span<const uint8_t> p_be = strip_leading_zeros(prime->bytes);
  std::span<const uint8_t> g_be = strip_leading_zeros(base->bytes);
  if (p_be.size() * 8 != key_size) return Status::error(kErrorBadParameters);
  BnPtr p = bn_from(p_be), g = bn_from(g_be);
  BnPtr q = subprime != nullptr ? bn_from(strip_leading_zeros(subprime->bytes)) : nullptr;
  if (!p || !g || (subprime != nullptr && !q)) return Status::fatal(kErrorOutOfMemory);
  BnPtr x;
  if (Status st = dh_private_value(p.get(), q.get(), x_bits != nullptr ? x_bits->a : 0, &x);
      !st.is_ok())
    return st;
  BnPtr y = mod_exp_secret(g.get(), x.get(), p.get());
  if (!y) return Status::error(kErrorBadParameters);  // an even prime
  out->push_back(number_attr(TEE_ATTR_DH_PRIME, SecretBytes(p_be.begin(), p_be.end())));
  out->push_back(number_attr(TEE_ATTR_DH_BASE, SecretBytes(g_be.begin(), g_be.end())));
  out->push_back(number_attr(TEE_ATTR_DH_PUBLIC_VALUE, bn_to_bytes(y.get())));
  out->push_back(number_attr(TEE_ATTR_DH_PRIVATE_VALUE, bn_to_bytes(x.get())));
  if (q) out->push_back(number_attr(TEE_ATTR_DH_SUBPRIME, bn_to_bytes(q.get())));
  if (x_bits != nullptr) {
    Attribute a;
    a.id = TEE_ATTR_DH_X_BITS;
    a.a = x_bits->a;
    out->push_back(std::move(a));
  }
  return Status::ok();
}

// --- serialization: per attribute u32 id | value: u32 a, u32 b | buffer: u32 len, bytes --------

void put_u32(SecretBytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

bool get_u32(std::span<const uint8_t>& in, uint32_t* v) {
  if (in.size() < 4) return false;
  *v = uint32_t{in[0]} | uint32_t{in[1]} << 8 | uint32_t{in[2]} << 16 | uint32_t{in[3]} << 24;
  in = in.subspan(4);
  return true;
}

}  // namespace

// --- CryptoObject ----------------------------------------------------------------------------

Status CryptoObject::check_allocation(uint32_t type, uint32_t max_object_size) {
  const TypeSpec* t = find_type(type);
  if (t == nullptr || !size_allowed(*t, max_object_size)) return Status::error(kErrorNotSupported);
  return Status::ok();
}

CryptoObject::CryptoObject(uint32_t type, uint32_t max_object_size)
    : type_(type), max_object_size_(max_object_size) {}

CryptoObject::~CryptoObject() = default;

const Attribute* CryptoObject::find(uint32_t id) const {
  for (const Attribute& a : attrs_)
    if (a.id == id) return &a;
  return nullptr;
}

void CryptoObject::clear_key() {
  attrs_.clear();
  pkey_.reset();
  object_size_ = 0;
  initialized_ = false;
}

void CryptoObject::reset() {
  clear_key();
  usage_ = kUsageAll;
}

Status CryptoObject::populate(std::span<const AttrRef> in) {
  const TypeSpec* t = find_type(type_);
  if (t == nullptr || initialized_) return Status::fatal(kErrorBadState);

  // The set of attributes: each defined for the type, none repeated, all required ones there,
  // the optional group complete or absent (GP 1.3.1 TEE_PopulateTransientObject panic reasons).
  uint32_t found = 0, required = 0, group = 0;
  for (size_t i = 0; i < t->attrs.size(); ++i) {
    if (t->attrs[i].flags & kRequired) required |= 1u << i;
    if (t->attrs[i].flags & kOptionalGroup) group |= 1u << i;
  }
  for (const AttrRef& a : in) {
    int idx = find_attr(*t, a.id);
    if (idx < 0) return Status::fatal(kErrorItemNotFound);
    uint32_t bit = 1u << idx;
    if ((found & bit) != 0 || ((required | group) & bit) == 0)
      return Status::fatal(kErrorItemNotFound);
    found |= bit;
  }
  if ((found & required) != required) return Status::fatal(kErrorItemNotFound);
  if ((found & group) != 0 && (found & group) != group) return Status::fatal(kErrorItemNotFound);

  std::vector<Attribute> attrs;
  uint32_t size = 0;
  for (const AttrRef& a : in) {
    const AttrSpec& spec = t->attrs[static_cast<size_t>(find_attr(*t, a.id))];
    Attribute v;
    v.id = a.id;
    uint32_t bits = 0;
    if (a.is_value()) {
      v.a = a.a;  // b is not part of the value (OP-TEE keeps a only and reads back b = 0)
      if (a.id == TEE_ATTR_ECC_CURVE) {
        bits = ecc_curve_bits(a.a);
        if (bits == 0) return Status::fatal(kErrorNotSupported);
      }
    } else if (spec.flags & kNumber) {
      std::span<const uint8_t> n = strip_leading_zeros(a.bytes);
      bits = bit_length(n);
      // A number wider than the object may hold is a panic, as in OP-TEE (BIGNUM_MAXBITS).
      if (bits > max_object_size_) return Status::fatal(kErrorBadState);
      v.bytes = SecretBytes(n.begin(), n.end());
    } else {
      if (secret_bits(type_, a.bytes.size()) > max_object_size_)
        return Status::fatal(kErrorBadState);
      bits = static_cast<uint32_t>(secret_bits(type_, a.bytes.size()));
      v.bytes = SecretBytes(a.bytes.begin(), a.bytes.end());
    }
    if (spec.flags & kSizeIndicator) {
      if (bits > max_object_size_) return Status::fatal(kErrorBadState);
      size = bits;
    }
    attrs.push_back(std::move(v));
  }
  if (t->kind == Kind::kEdPublic || t->kind == Kind::kEdPair || t->kind == Kind::kXPublic ||
      t->kind == Kind::kXPair)
    size = 256;

  // Values the type cannot use: an error, the object stays uninitialized.
  if (type_ == TEE_TYPE_AES && size != 128 && size != 192 && size != 256)
    return Status::error(kErrorBadParameters);
  if (type_ == TEE_TYPE_DES3 && size != 112 && size != 168) return Status::error(kErrorBadParameters);
  if ((t->kind == Kind::kRsaPublic || t->kind == Kind::kRsaPair) && size < t->min_size)
    return Status::error(kErrorBadParameters);

  attrs_ = std::move(attrs);
  object_size_ = size;
  pkey_.reset();
  if (asymmetric(t->kind) && pkey() == nullptr) {
    // Inconsistent key material (a point off the curve, a public value that does not match).
    clear_key();
    return Status::error(kErrorBadParameters);
  }
  initialized_ = true;
  return Status::ok();
}

Status CryptoObject::copy_from(const CryptoObject& src) {
  if (!src.initialized_ || initialized_) return Status::fatal(kErrorBadState);
  if (src.object_size_ > max_object_size_) return Status::fatal(kErrorBadParameters);
  const TypeSpec* t = find_type(type_);
  if (t == nullptr) return Status::fatal(kErrorBadState);
  std::vector<Attribute> attrs;
  if (src.type_ == type_) {
    attrs = src.attrs_;
  } else if (public_type_of(src.type_) == type_) {
    for (const AttrSpec& spec : t->attrs) {
      const Attribute* a = src.find(spec.id);
      if (a == nullptr) return Status::fatal(kErrorBadState);
      attrs.push_back(*a);
    }
  } else {
    return Status::fatal(kErrorBadParameters);
  }
  attrs_ = std::move(attrs);
  object_size_ = src.object_size_;
  usage_ = src.usage_;
  pkey_.reset();
  initialized_ = true;
  return Status::ok();
}

Status CryptoObject::generate(uint32_t key_size, std::span<const AttrRef> params) {
  const TypeSpec* t = find_type(type_);
  if (t == nullptr || initialized_) return Status::fatal(kErrorBadState);
  if (!size_allowed(*t, key_size) || key_size > max_object_size_)
    return Status::fatal(kErrorNotSupported);

  uint32_t found = 0;
  const AttrRef* exponent = nullptr;
  const AttrRef* curve = nullptr;
  for (const AttrRef& p : params) {
    int idx = find_attr(*t, p.id);
    if (idx < 0 || (t->attrs[static_cast<size_t>(idx)].flags & (kGenRequired | kGenOptional)) == 0 ||
        (found & (1u << idx)) != 0)
      return Status::fatal(kErrorItemNotFound);
    found |= 1u << idx;
    if (p.id == TEE_ATTR_RSA_PUBLIC_EXPONENT) exponent = &p;
    if (p.id == TEE_ATTR_ECC_CURVE) curve = &p;
  }
  for (size_t i = 0; i < t->attrs.size(); ++i)
    if ((t->attrs[i].flags & kGenRequired) && (found & (1u << i)) == 0)
      return Status::fatal(kErrorItemNotFound);

  std::vector<Attribute> attrs;
  PkeyPtr key;
  switch (t->kind) {
    case Kind::kSecret: {
      Attribute a;
      a.id = TEE_ATTR_SECRET_VALUE;
      a.bytes.resize(secret_bytes(type_, key_size));  // DES3: no parity bits in key_size
      if (!a.bytes.empty() && RAND_priv_bytes(a.bytes.data(), static_cast<int>(a.bytes.size())) != 1)
        return Status::fatal(kErrorGeneric);
      attrs.push_back(std::move(a));
      break;
    }
    case Kind::kRsaPair: {
      // OpenSSL generates RSA keys of 512 bits and more.
      if (key_size < 512) return Status::fatal(kErrorNotSupported);
      BIGNUM* e = nullptr;
      if (exponent != nullptr) {
        if (!rsa_exponent_ok(exponent->bytes)) return Status::error(kErrorBadParameters);
        e = BN_bin2bn(exponent->bytes.data(), static_cast<int>(exponent->bytes.size()), nullptr);
        if (e == nullptr) return Status::fatal(kErrorOutOfMemory);
      }
      key = keygen("RSA", key_size, e, nullptr);
      BN_free(e);
      if (!key) return Status::fatal(kErrorGeneric);
      static constexpr std::pair<uint32_t, const char*> kParts[] = {
          {TEE_ATTR_RSA_MODULUS, OSSL_PKEY_PARAM_RSA_N},
          {TEE_ATTR_RSA_PUBLIC_EXPONENT, OSSL_PKEY_PARAM_RSA_E},
          {TEE_ATTR_RSA_PRIVATE_EXPONENT, OSSL_PKEY_PARAM_RSA_D},
          {TEE_ATTR_RSA_PRIME1, OSSL_PKEY_PARAM_RSA_FACTOR1},
          {TEE_ATTR_RSA_PRIME2, OSSL_PKEY_PARAM_RSA_FACTOR2},
          {TEE_ATTR_RSA_EXPONENT1, OSSL_PKEY_PARAM_RSA_EXPONENT1},
          {TEE_ATTR_RSA_EXPONENT2, OSSL_PKEY_PARAM_RSA_EXPONENT2},
          {TEE_ATTR_RSA_COEFFICIENT, OSSL_PKEY_PARAM_RSA_COEFFICIENT1},
      };
      for (const auto& [id, name] : kParts) {
        SecretBytes v = get_bn(key.get(), name);
        if (v.empty()) return Status::fatal(kErrorGeneric);
        attrs.push_back(number_attr(id, std::move(v)));
      }
      break;
    }
    case Kind::kEccPair: {
      if (ecc_curve_bits(curve->a) != key_size) return Status::error(kErrorBadParameters);
      key = keygen("EC", 0, nullptr, ecc_curve_group(curve->a));
      if (!key) return Status::fatal(kErrorGeneric);
      SecretBytes d = get_bn(key.get(), OSSL_PKEY_PARAM_PRIV_KEY);
      SecretBytes x = get_bn(key.get(), OSSL_PKEY_PARAM_EC_PUB_X);
      SecretBytes y = get_bn(key.get(), OSSL_PKEY_PARAM_EC_PUB_Y);
      if (d.empty() || x.empty() || y.empty()) return Status::fatal(kErrorGeneric);
      attrs.push_back(number_attr(TEE_ATTR_ECC_PRIVATE_VALUE, std::move(d)));
      attrs.push_back(number_attr(TEE_ATTR_ECC_PUBLIC_VALUE_X, std::move(x)));
      attrs.push_back(number_attr(TEE_ATTR_ECC_PUBLIC_VALUE_Y, std::move(y)));
      Attribute c;
      c.id = TEE_ATTR_ECC_CURVE;
      c.a = curve->a;
      attrs.push_back(std::move(c));
      break;
    }
    case Kind::kEdPair:
    case Kind::kXPair: {
      bool ed = t->kind == Kind::kEdPair;
      key = keygen(ed ? "ED25519" : "X25519", 0, nullptr, nullptr);
      if (!key) return Status::fatal(kErrorGeneric);
      uint8_t priv[32], pub[32];
      size_t pl = sizeof(priv), ul = sizeof(pub);
      if (EVP_PKEY_get_raw_private_key(key.get(), priv, &pl) != 1 ||
          EVP_PKEY_get_raw_public_key(key.get(), pub, &ul) != 1 || pl != 32 || ul != 32)
        return Status::fatal(kErrorGeneric);
      attrs.push_back(raw_attr(ed ? TEE_ATTR_ED25519_PRIVATE_VALUE : TEE_ATTR_X25519_PRIVATE_VALUE,
                               priv, 32));
      attrs.push_back(raw_attr(ed ? TEE_ATTR_ED25519_PUBLIC_VALUE : TEE_ATTR_X25519_PUBLIC_VALUE,
                               pub, 32));
      OPENSSL_cleanse(priv, sizeof(priv));
      break;
    }
    case Kind::kDhPair: {
      if (Status st = generate_dh(key_size, params, &attrs); !st.is_ok()) return st;
      break;
    }
    default:
      // Public keys cannot be generated (GP: TEE_GenerateKey takes key pairs and secrets).
      return Status::fatal(kErrorBadParameters);
  }
  attrs_ = std::move(attrs);
  pkey_ = std::move(key);
  object_size_ = key_size;
  initialized_ = true;
  return Status::ok();
}

void CryptoObject::set_secret(SecretBytes secret) {
  Attribute a;
  a.id = TEE_ATTR_SECRET_VALUE;
  a.bytes = std::move(secret);
  object_size_ = static_cast<uint32_t>(a.bytes.size() * 8);
  attrs_.clear();
  attrs_.push_back(std::move(a));
  pkey_.reset();
  initialized_ = true;
}

EVP_PKEY* CryptoObject::pkey() const {
  if (pkey_) return pkey_.get();
  const TypeSpec* t = find_type(type_);
  if (t == nullptr) return nullptr;
  switch (t->kind) {
    case Kind::kData:
    case Kind::kSecret:
    case Kind::kDhPair: return nullptr;
    case Kind::kRsaPublic:
    case Kind::kRsaPair: pkey_ = build_rsa(*this, t->kind == Kind::kRsaPair); break;
    case Kind::kEccPublic:
    case Kind::kEccPair: {
      const Attribute* c = find(TEE_ATTR_ECC_CURVE);
      const Attribute* x = find(TEE_ATTR_ECC_PUBLIC_VALUE_X);
      const Attribute* y = find(TEE_ATTR_ECC_PUBLIC_VALUE_Y);
      if (c == nullptr || x == nullptr || y == nullptr) return nullptr;
      pkey_ = build_ecc(c->a, x->bytes, y->bytes,
                        t->kind == Kind::kEccPair ? find(TEE_ATTR_ECC_PRIVATE_VALUE) : nullptr);
      break;
    }
    case Kind::kEdPublic:
    case Kind::kEdPair:
      pkey_ = build_raw(EVP_PKEY_ED25519, find(TEE_ATTR_ED25519_PRIVATE_VALUE),
                        find(TEE_ATTR_ED25519_PUBLIC_VALUE));
      break;
    case Kind::kXPublic:
    case Kind::kXPair:
      pkey_ = build_raw(EVP_PKEY_X25519, find(TEE_ATTR_X25519_PRIVATE_VALUE),
                        find(TEE_ATTR_X25519_PUBLIC_VALUE));
      break;
  }
  ERR_clear_error();
  return pkey_.get();
}

SecretBytes CryptoObject::serialize_attributes() const {
  SecretBytes out;
  for (const Attribute& a : attrs_) {
    put_u32(out, a.id);
    if (a.is_value()) {
      put_u32(out, a.a);
      put_u32(out, a.b);
    } else {
      put_u32(out, static_cast<uint32_t>(a.bytes.size()));
      out.insert(out.end(), a.bytes.begin(), a.bytes.end());
    }
  }
  return out;
}

Status CryptoObject::restore(uint32_t object_size, uint32_t usage,
                             std::span<const uint8_t> serialized) {
  const TypeSpec* t = find_type(type_);
  if (t == nullptr || initialized_ || object_size > max_object_size_)
    return Status::error(kErrorBadParameters);
  std::vector<Attribute> attrs;
  std::span<const uint8_t> in = serialized;
  while (!in.empty()) {
    Attribute a;
    uint32_t len = 0;
    if (!get_u32(in, &a.id) || find_attr(*t, a.id) < 0 || find(a.id) != nullptr)
      return Status::error(kErrorBadParameters);
    if (a.is_value()) {
      if (!get_u32(in, &a.a) || !get_u32(in, &a.b)) return Status::error(kErrorBadParameters);
    } else {
      if (!get_u32(in, &len) || len > in.size()) return Status::error(kErrorBadParameters);
      a.bytes = SecretBytes(in.begin(), in.begin() + len);
      in = in.subspan(len);
    }
    attrs.push_back(std::move(a));
  }
  attrs_ = std::move(attrs);
  object_size_ = object_size;
  usage_ = usage;
  pkey_.reset();
  initialized_ = true;
  if (asymmetric(t->kind) && pkey() == nullptr) {
    reset();
    return Status::error(kErrorBadParameters);
  }
  return Status::ok();
}

// --- curves and peer keys ----------------------------------------------------------------------

uint32_t ecc_curve_bits(uint32_t curve) {
  const CurveInfo* c = find_curve(curve);
  return c == nullptr ? 0 : c->bits;
}

const char* ecc_curve_group(uint32_t curve) {
  const CurveInfo* c = find_curve(curve);
  return c == nullptr ? nullptr : c->group;
}

PkeyPtr make_ecc_public_key(uint32_t curve, std::span<const uint8_t> x, std::span<const uint8_t> y) {
  PkeyPtr k = build_ecc(curve, x, y, nullptr);
  ERR_clear_error();
  return k;
}

bool dh_shared_secret(const CryptoObject& key, std::span<const uint8_t> peer, SecretBytes* out) {
  const Attribute* p = key.find(TEE_ATTR_DH_PRIME);
  const Attribute* x = key.find(TEE_ATTR_DH_PRIVATE_VALUE);
  if (p == nullptr || x == nullptr) return false;
  BnPtr bp = bn_from(p->bytes), bx = bn_from(x->bytes), by = bn_from(peer);
  if (!bp || !bx || !by) return false;
  BnPtr z = mod_exp_secret(by.get(), bx.get(), bp.get());
  if (!z) return false;
  *out = bn_to_bytes(z.get());
  return true;
}

PkeyPtr make_x25519_public_key(std::span<const uint8_t> pub) {
  if (pub.size() != 32) return nullptr;
  PkeyPtr k(EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, nullptr, pub.data(), pub.size()));
  ERR_clear_error();
  return k;
}

}  // namespace teemu::ta_runtime::crypto
