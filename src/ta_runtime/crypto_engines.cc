#include "ta_runtime/crypto_engines.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include <algorithm>
#include <climits>
#include <cstring>

#include "base/assert.h"

namespace teemu::ta_runtime::crypto {

namespace {

constexpr size_t kBlock = 16;
// EVP update calls take an int length: larger inputs go in pieces of this size (a multiple of
// the block size, so ECB/CBC never see a partial block mid-stream).
constexpr size_t kEvpChunk = size_t{1} << 30;

void evp_update(EVP_CIPHER_CTX* ctx, uint8_t* out, const uint8_t* in, size_t n) {
  while (n > 0) {
    size_t piece = std::min(n, kEvpChunk);
    int outl = 0;
    TEEMU_ASSERT(EVP_CipherUpdate(ctx, out, &outl, in, static_cast<int>(piece)) == 1);
    TEEMU_ASSERT(static_cast<size_t>(outl) == piece);
    in += piece;
    out += piece;
    n -= piece;
  }
}

const EVP_CIPHER* aes(size_t key_len, const EVP_CIPHER* k128, const EVP_CIPHER* k192,
                      const EVP_CIPHER* k256) {
  switch (key_len) {
    case 16: return k128;
    case 24: return k192;
    case 32: return k256;
    default: return nullptr;
  }
}

const EVP_CIPHER* aes_ecb(size_t key_len) {
  return aes(key_len, EVP_aes_128_ecb(), EVP_aes_192_ecb(), EVP_aes_256_ecb());
}

constexpr size_t kDesBlock = 8;

// The ECB or CBC cipher for `key` and the key OpenSSL is given: a two-key triple-DES key K1 K2
// runs as the three-key K1 K2 K1 (SP 800-67). Null cipher for a key of another length.
const EVP_CIPHER* block_cipher(BlockCipher c, bool cbc, std::span<const uint8_t> key,
                               uint8_t (&des_key)[24], const uint8_t** key_out) {
  *key_out = key.data();
  if (c == BlockCipher::kAes)
    return cbc ? aes(key.size(), EVP_aes_128_cbc(), EVP_aes_192_cbc(), EVP_aes_256_cbc())
               : aes_ecb(key.size());
  if (key.size() != 16 && key.size() != 24) return nullptr;
  std::memcpy(des_key, key.data(), 16);
  std::memcpy(des_key + 16, key.data() + (key.size() == 24 ? 16 : 0), 8);
  *key_out = des_key;
  return cbc ? EVP_des_ede3_cbc() : EVP_des_ede3_ecb();
}

// Multiplies an XTS tweak by the primitive element alpha of GF(2^128) (IEEE 1619, 5.2).
void mul_alpha(uint8_t t[16]) {
  uint8_t carry = t[15] >> 7;
  for (int i = 15; i > 0; --i) t[i] = static_cast<uint8_t>((t[i] << 1) | (t[i - 1] >> 7));
  t[0] = static_cast<uint8_t>(t[0] << 1);
  if (carry) t[0] ^= 0x87;
}

CipherCtxPtr copy_ctx(const EVP_CIPHER_CTX* src) {
  CipherCtxPtr c(EVP_CIPHER_CTX_new());
  TEEMU_ASSERT(c);
  // A context that was never started has nothing to copy (and OpenSSL refuses to).
  if (EVP_CIPHER_CTX_get0_cipher(src) != nullptr) TEEMU_ASSERT(EVP_CIPHER_CTX_copy(c.get(), src) == 1);
  return c;
}

}  // namespace

// --- hashes ------------------------------------------------------------------------------------

size_t hash_size(Hash h) {
  switch (h) {
    case Hash::kMd5: return 16;
    case Hash::kSha1: return 20;
    case Hash::kSha224: return 28;
    case Hash::kSha256: return 32;
    case Hash::kSha384: return 48;
    case Hash::kSha512: return 64;
    case Hash::kSha3_224: return 28;
    case Hash::kSha3_256: return 32;
    case Hash::kSha3_384: return 48;
    case Hash::kSha3_512: return 64;
    case Hash::kNone: return 0;
  }
  return 0;
}

const EVP_MD* hash_md(Hash h) {
  switch (h) {
    case Hash::kMd5: return EVP_md5();
    case Hash::kSha1: return EVP_sha1();
    case Hash::kSha224: return EVP_sha224();
    case Hash::kSha256: return EVP_sha256();
    case Hash::kSha384: return EVP_sha384();
    case Hash::kSha512: return EVP_sha512();
    case Hash::kSha3_224: return EVP_sha3_224();
    case Hash::kSha3_256: return EVP_sha3_256();
    case Hash::kSha3_384: return EVP_sha3_384();
    case Hash::kSha3_512: return EVP_sha3_512();
    case Hash::kNone: return nullptr;
  }
  return nullptr;
}

const char* hash_name(Hash h) {
  switch (h) {
    case Hash::kMd5: return "MD5";
    case Hash::kSha1: return "SHA1";
    case Hash::kSha224: return "SHA224";
    case Hash::kSha256: return "SHA256";
    case Hash::kSha384: return "SHA384";
    case Hash::kSha512: return "SHA512";
    case Hash::kSha3_224: return "SHA3-224";
    case Hash::kSha3_256: return "SHA3-256";
    case Hash::kSha3_384: return "SHA3-384";
    case Hash::kSha3_512: return "SHA3-512";
    case Hash::kNone: return nullptr;
  }
  return nullptr;
}

// --- DigestEngine ------------------------------------------------------------------------------

std::unique_ptr<DigestEngine> DigestEngine::create(Hash h) {
  const EVP_MD* md = hash_md(h);
  if (md == nullptr) return nullptr;
  std::unique_ptr<DigestEngine> e(new DigestEngine());
  e->hash_ = h;
  e->ctx_.reset(EVP_MD_CTX_new());
  if (!e->ctx_ || EVP_DigestInit_ex(e->ctx_.get(), md, nullptr) != 1) {
    ERR_clear_error();
    return nullptr;
  }
  return e;
}

std::unique_ptr<DigestEngine> DigestEngine::clone() const {
  std::unique_ptr<DigestEngine> e(new DigestEngine());
  e->hash_ = hash_;
  e->ctx_.reset(EVP_MD_CTX_new());
  TEEMU_ASSERT(e->ctx_ && EVP_MD_CTX_copy_ex(e->ctx_.get(), ctx_.get()) == 1);
  e->extracting_ = extracting_;
  std::memcpy(e->digest_, digest_, sizeof(digest_));
  e->extract_off_ = extract_off_;
  return e;
}

void DigestEngine::restart() {
  TEEMU_ASSERT(EVP_DigestInit_ex(ctx_.get(), hash_md(hash_), nullptr) == 1);
  extracting_ = false;
  extract_off_ = 0;
}

void DigestEngine::update(const void* p, size_t n) {
  if (n > 0) TEEMU_ASSERT(EVP_DigestUpdate(ctx_.get(), p, n) == 1);
}

void DigestEngine::finish(uint8_t* out) {
  unsigned len = 0;
  TEEMU_ASSERT(EVP_DigestFinal_ex(ctx_.get(), out, &len) == 1 && len == size());
  restart();
}

size_t DigestEngine::extract(uint8_t* out, size_t max) {
  if (!extracting_) {
    unsigned len = 0;
    TEEMU_ASSERT(EVP_DigestFinal_ex(ctx_.get(), digest_, &len) == 1 && len == size());
    extracting_ = true;
    extract_off_ = 0;
  }
  size_t n = std::min(max, size() - extract_off_);
  std::memcpy(out, digest_ + extract_off_, n);
  extract_off_ += n;
  return n;
}

// --- MacEngine ---------------------------------------------------------------------------------

std::unique_ptr<MacEngine> MacEngine::create(Hash h) {
  EVP_MAC* mac = EVP_MAC_fetch(nullptr, h == Hash::kNone ? "CMAC" : "HMAC", nullptr);
  if (mac == nullptr) {
    ERR_clear_error();
    return nullptr;
  }
  std::unique_ptr<MacEngine> e(new MacEngine());
  e->hash_ = h;
  e->ctx_.reset(EVP_MAC_CTX_new(mac));
  EVP_MAC_free(mac);  // the context holds its own reference
  if (!e->ctx_) return nullptr;
  return e;
}

std::unique_ptr<MacEngine> MacEngine::create_cbc_mac(BlockCipher c, CbcMacPad pad) {
  std::unique_ptr<MacEngine> e(new MacEngine());
  e->pad_ = pad;
  e->block_cipher_ = c;
  e->block_ = c == BlockCipher::kDes3 ? kDesBlock : kBlock;
  e->cbc_ctx_.reset(EVP_CIPHER_CTX_new());
  if (!e->cbc_ctx_) return nullptr;
  return e;
}

MacEngine::~MacEngine() {
  OPENSSL_cleanse(partial_, sizeof(partial_));
  OPENSSL_cleanse(last_, sizeof(last_));
}

std::unique_ptr<MacEngine> MacEngine::clone() const {
  std::unique_ptr<MacEngine> e(new MacEngine());
  e->hash_ = hash_;
  if (cbc_mac()) {
    e->cbc_ctx_ = copy_ctx(cbc_ctx_.get());
    e->pad_ = pad_;
    e->block_cipher_ = block_cipher_;
    e->block_ = block_;
    std::memcpy(e->partial_, partial_, sizeof(partial_));
    e->partial_len_ = partial_len_;
    e->fed_ = fed_;
    std::memcpy(e->last_, last_, sizeof(last_));
    return e;
  }
  e->ctx_.reset(EVP_MAC_CTX_dup(ctx_.get()));
  TEEMU_ASSERT(e->ctx_);
  return e;
}

bool MacEngine::start(std::span<const uint8_t> key) {
  if (cbc_mac()) {
    // GP and OP-TEE ignore TEE_MACInit's IV for CBC-MAC: the chain starts from zero.
    uint8_t des_key[24];
    const uint8_t* k = nullptr;
    const EVP_CIPHER* cipher = block_cipher(block_cipher_, true, key, des_key, &k);
    static const uint8_t kZeroIv[kBlock] = {};
    bool ok = cipher != nullptr &&
              EVP_EncryptInit_ex(cbc_ctx_.get(), cipher, nullptr, k, kZeroIv) == 1 &&
              EVP_CIPHER_CTX_set_padding(cbc_ctx_.get(), 0) == 1;
    OPENSSL_cleanse(des_key, sizeof(des_key));
    if (!ok) {
      ERR_clear_error();
      return false;
    }
    partial_len_ = 0;
    fed_ = false;
    std::memset(last_, 0, sizeof(last_));
    return true;
  }
  OSSL_PARAM params[2];
  if (hash_ == Hash::kNone) {
    const char* cipher = key.size() == 16   ? "AES-128-CBC"
                         : key.size() == 24 ? "AES-192-CBC"
                         : key.size() == 32 ? "AES-256-CBC"
                                            : nullptr;
    if (cipher == nullptr) return false;
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_CIPHER, const_cast<char*>(cipher), 0);
  } else {
    params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST,
                                                 const_cast<char*>(hash_name(hash_)), 0);
  }
  params[1] = OSSL_PARAM_construct_end();
  // An empty HMAC key is valid; OpenSSL wants a non-null pointer to take it as a key at all.
  static const uint8_t kEmpty = 0;
  bool ok = EVP_MAC_init(ctx_.get(), key.empty() ? &kEmpty : key.data(), key.size(), params) == 1;
  if (!ok) ERR_clear_error();
  return ok;
}

void MacEngine::update(const void* p, size_t n) {
  if (!cbc_mac()) {
    if (n > 0) TEEMU_ASSERT(EVP_MAC_update(ctx_.get(), static_cast<const uint8_t*>(p), n) == 1);
    return;
  }
  // Only the last ciphertext block matters: encrypt block by block and keep that one.
  const uint8_t* in = static_cast<const uint8_t*>(p);
  // A full block is held back until more input comes: PKCS#5 must know whether it was last.
  while (n > 0) {
    if (partial_len_ == block_) {
      evp_update(cbc_ctx_.get(), last_, partial_, block_);
      partial_len_ = 0;
      fed_ = true;
    }
    size_t take = std::min(n, block_ - partial_len_);
    std::memcpy(partial_ + partial_len_, in, take);
    partial_len_ += take;
    in += take;
    n -= take;
  }
}

bool MacEngine::can_finish(size_t n) const {
  if (!cbc_mac() || pad_ == CbcMacPad::kPkcs5) return true;
  // Without padding: whole blocks, and at least one (OP-TEE refuses an empty message).
  return (partial_len_ + n % block_) % block_ == 0 && (fed_ || partial_len_ != 0 || n != 0);
}

void MacEngine::finish(uint8_t* out) {
  if (!cbc_mac()) {
    size_t len = 0;
    TEEMU_ASSERT(EVP_MAC_final(ctx_.get(), out, &len, size()) == 1 && len == size());
    return;
  }
  TEEMU_ASSERT(can_finish());
  if (partial_len_ == block_) {
    evp_update(cbc_ctx_.get(), last_, partial_, block_);
    partial_len_ = 0;
  }
  if (pad_ == CbcMacPad::kPkcs5) {
    auto fill = static_cast<uint8_t>(block_ - partial_len_);
    std::memset(partial_ + partial_len_, fill, fill);
    evp_update(cbc_ctx_.get(), last_, partial_, block_);
  }
  std::memcpy(out, last_, block_);
  partial_len_ = 0;
  fed_ = false;
}

bool hkdf(Hash h, std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
          std::span<const uint8_t> info, size_t out_len, SecretBytes* out) {
  const char* md = hash_name(h);
  if (md == nullptr || out_len == 0) return false;
  EVP_KDF* kdf = EVP_KDF_fetch(nullptr, "HKDF", nullptr);
  if (kdf == nullptr) {
    ERR_clear_error();
    return false;
  }
  std::unique_ptr<EVP_KDF_CTX, decltype(&EVP_KDF_CTX_free)> ctx(EVP_KDF_CTX_new(kdf),
                                                                &EVP_KDF_CTX_free);
  EVP_KDF_free(kdf);  // the context holds its own reference
  if (!ctx) return false;
  // OpenSSL wants non-null pointers even for empty values; RFC 5869 takes an empty salt as
  // HashLen zero bytes, which OpenSSL does when the salt is left out.
  static uint8_t kEmpty = 0;
  auto octets = [](std::span<const uint8_t> v) {
    return v.empty() ? static_cast<void*>(&kEmpty) : const_cast<uint8_t*>(v.data());
  };
  OSSL_PARAM params[5];
  size_t n = 0;
  params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, const_cast<char*>(md), 0);
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, octets(ikm), ikm.size());
  if (!salt.empty())
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, octets(salt), salt.size());
  params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, octets(info), info.size());
  params[n] = OSSL_PARAM_construct_end();
  SecretBytes okm(out_len);
  if (EVP_KDF_derive(ctx.get(), okm.data(), okm.size(), params) != 1) {
    ERR_clear_error();
    return false;
  }
  *out = std::move(okm);
  return true;
}

// --- CipherEngine ------------------------------------------------------------------------------

std::unique_ptr<CipherEngine> CipherEngine::create(CipherMode m, bool encrypt, BlockCipher c) {
  if (c == BlockCipher::kDes3 && m != CipherMode::kEcb && m != CipherMode::kCbc) return nullptr;
  std::unique_ptr<CipherEngine> e(new CipherEngine());
  e->mode_ = m;
  e->encrypt_ = encrypt;
  e->block_cipher_ = c;
  e->block_ = c == BlockCipher::kDes3 ? kDesBlock : kBlock;
  e->ctx_.reset(EVP_CIPHER_CTX_new());
  if (!e->ctx_) return nullptr;
  return e;
}

CipherEngine::~CipherEngine() {
  OPENSSL_cleanse(tweak_, sizeof(tweak_));
  OPENSSL_cleanse(buf_, sizeof(buf_));
}

std::unique_ptr<CipherEngine> CipherEngine::clone() const {
  std::unique_ptr<CipherEngine> e(new CipherEngine());
  e->mode_ = mode_;
  e->encrypt_ = encrypt_;
  e->block_cipher_ = block_cipher_;
  e->block_ = block_;
  e->ctx_ = copy_ctx(ctx_.get());
  std::memcpy(e->tweak_, tweak_, sizeof(tweak_));
  std::memcpy(e->buf_, buf_, sizeof(buf_));
  e->buffered_ = buffered_;
  return e;
}

Status CipherEngine::start(std::span<const uint8_t> key1, std::span<const uint8_t> key2,
                           const uint8_t* iv, size_t iv_len) {
  const EVP_CIPHER* cipher = nullptr;
  uint8_t des_key[24];
  const uint8_t* k1 = key1.data();
  switch (mode_) {
    case CipherMode::kEcb:
      // GP: ECB takes no IV (OP-TEE panics on one).
      if (iv != nullptr && iv_len != 0) return Status::fatal(kErrorBadParameters);
      cipher = block_cipher(block_cipher_, false, key1, des_key, &k1);
      iv = nullptr;
      break;
    case CipherMode::kCbc: cipher = block_cipher(block_cipher_, true, key1, des_key, &k1); break;
    case CipherMode::kCtr:
      cipher = aes(key1.size(), EVP_aes_128_ctr(), EVP_aes_192_ctr(), EVP_aes_256_ctr());
      break;
    case CipherMode::kXts: cipher = aes_ecb(key1.size()); break;
    case CipherMode::kCts:
      cipher = aes(key1.size(), EVP_aes_128_cbc(), EVP_aes_192_cbc(), EVP_aes_256_cbc());
      break;
  }
  if (cipher == nullptr) return Status::fatal(kErrorBadParameters);
  if (mode_ != CipherMode::kEcb && (iv == nullptr || iv_len != block_))
    return Status::fatal(kErrorBadParameters);

  buffered_ = 0;
  if (mode_ == CipherMode::kXts) {
    // The tweak is the IV encrypted under the second key; the data key then works block by block.
    const EVP_CIPHER* tweak_cipher = aes_ecb(key2.size());
    CipherCtxPtr tctx(EVP_CIPHER_CTX_new());
    int outl = 0;
    if (tweak_cipher == nullptr || !tctx ||
        EVP_CipherInit_ex(tctx.get(), tweak_cipher, nullptr, key2.data(), nullptr, 1) != 1 ||
        EVP_CIPHER_CTX_set_padding(tctx.get(), 0) != 1 ||
        EVP_CipherUpdate(tctx.get(), tweak_, &outl, iv, kBlock) != 1 || outl != kBlock) {
      ERR_clear_error();
      return Status::fatal(kErrorBadParameters);
    }
    iv = nullptr;
  }
  bool ok = EVP_CipherInit_ex(ctx_.get(), cipher, nullptr, k1, iv, encrypt_ ? 1 : 0) == 1 &&
            EVP_CIPHER_CTX_set_padding(ctx_.get(), 0) == 1;
  OPENSSL_cleanse(des_key, sizeof(des_key));
  if (!ok) {
    ERR_clear_error();
    return Status::fatal(kErrorBadParameters);
  }
  return Status::ok();
}

size_t CipherEngine::update_size(size_t n) const {
  size_t total = buffered_ + n;
  switch (mode_) {
    case CipherMode::kCtr: return n;
    case CipherMode::kEcb:
    case CipherMode::kCbc: return total / block_ * block_;
    case CipherMode::kXts:
    case CipherMode::kCts:
      // Keep more than one and at most two blocks back for ciphertext stealing.
      return total > 2 * kBlock ? (total - 2 * kBlock + kBlock - 1) / kBlock * kBlock : 0;
  }
  return 0;
}

bool CipherEngine::can_finish(size_t n) const {
  size_t total = buffered_ + n;
  switch (mode_) {
    case CipherMode::kCtr: return true;
    case CipherMode::kEcb:
    case CipherMode::kCbc: return total % block_ == 0;
    case CipherMode::kXts: return total >= kBlock;
    // CS3 steals from the next-to-last block: OP-TEE's final step refuses less than two blocks.
    case CipherMode::kCts: return total > kBlock;
  }
  return false;
}

size_t CipherEngine::finish_size(size_t n) const {
  return mode_ == CipherMode::kCtr ? n : buffered_ + n;
}

void CipherEngine::xts_block(const uint8_t* in, uint8_t* out, const uint8_t tweak[16]) {
  uint8_t x[kBlock];
  for (size_t i = 0; i < kBlock; ++i) x[i] = in[i] ^ tweak[i];
  int outl = 0;
  TEEMU_ASSERT(EVP_CipherUpdate(ctx_.get(), x, &outl, x, kBlock) == 1 && outl == kBlock);
  for (size_t i = 0; i < kBlock; ++i) out[i] = x[i] ^ tweak[i];
  OPENSSL_cleanse(x, sizeof(x));
}

void CipherEngine::xts_process(const uint8_t* in, size_t n, uint8_t* out) {
  for (size_t off = 0; off < n; off += kBlock) {
    xts_block(in + off, out + off, tweak_);
    mul_alpha(tweak_);
  }
}

void CipherEngine::blocks(const uint8_t* in, size_t n, uint8_t* out) {
  if (mode_ == CipherMode::kXts)
    xts_process(in, n, out);
  else
    evp_update(ctx_.get(), out, in, n);
}

void CipherEngine::consume(const uint8_t* in, size_t len, size_t n, uint8_t* out) {
  // The stream is buf_[0, buffered_) followed by in[0, len); byte k of it is:
  auto at = [&](size_t k) { return k < buffered_ ? buf_[k] : in[k - buffered_]; };
  size_t done = 0;
  while (done < n && done < buffered_) {  // blocks that start in the buffer
    uint8_t block[kBlock];
    for (size_t i = 0; i < block_; ++i) block[i] = at(done + i);
    blocks(block, block_, out + done);
    OPENSSL_cleanse(block, sizeof(block));
    done += block_;
  }
  if (done < n) blocks(in + (done - buffered_), n - done, out + done);
  size_t rest = buffered_ + len - n;
  TEEMU_ASSERT(rest <= sizeof(buf_));
  uint8_t keep[sizeof(buf_)];
  for (size_t i = 0; i < rest; ++i) keep[i] = at(n + i);
  std::memcpy(buf_, keep, rest);
  OPENSSL_cleanse(keep, sizeof(keep));
  buffered_ = rest;
}

void CipherEngine::update(const uint8_t* in, size_t n, uint8_t* out) {
  if (mode_ == CipherMode::kCtr) {
    evp_update(ctx_.get(), out, in, n);
    return;
  }
  consume(in, n, update_size(n), out);
}

void CipherEngine::finish(const uint8_t* in, size_t n, uint8_t* out) {
  if (mode_ == CipherMode::kCtr) {
    evp_update(ctx_.get(), out, in, n);
    return;
  }
  size_t total = buffered_ + n;
  if (mode_ == CipherMode::kCts) {
    // Everything but the last 17 to 32 bytes as plain CBC, then the stolen tail.
    size_t head = ((total + kBlock - 1) / kBlock - 2) * kBlock;
    consume(in, n, head, out);
    cts_tail(out + head);
    return;
  }
  if (mode_ != CipherMode::kXts || total % kBlock == 0) {
    consume(in, n, total, out);
    return;
  }
  // XTS with a partial last block: all but the last full block as usual, then ciphertext
  // stealing over the last full block and the partial one (IEEE 1619, 5.3.2 and 5.4.2).
  size_t tail = total % kBlock;
  size_t head = (total / kBlock - 1) * kBlock;
  consume(in, n, head, out);
  TEEMU_ASSERT(buffered_ == kBlock + tail);
  uint8_t* last_full = out + head;
  uint8_t* last_part = out + head + kBlock;
  uint8_t next_tweak[kBlock];
  std::memcpy(next_tweak, tweak_, kBlock);
  mul_alpha(next_tweak);
  uint8_t cc[kBlock], pp[kBlock];
  if (encrypt_) {
    xts_block(buf_, cc, tweak_);
    std::memcpy(pp, buf_ + kBlock, tail);
    std::memcpy(pp + tail, cc + tail, kBlock - tail);
    std::memcpy(last_part, cc, tail);
    xts_block(pp, last_full, next_tweak);
  } else {
    xts_block(buf_, pp, next_tweak);
    std::memcpy(cc, buf_ + kBlock, tail);
    std::memcpy(cc + tail, pp + tail, kBlock - tail);
    std::memcpy(last_part, pp, tail);
    xts_block(cc, last_full, tweak_);
  }
  OPENSSL_cleanse(cc, sizeof(cc));
  OPENSSL_cleanse(pp, sizeof(pp));
  OPENSSL_cleanse(buf_, sizeof(buf_));
  buffered_ = 0;
}

// --- AeEngine ----------------------------------------------------------------------------------

std::unique_ptr<AeEngine> AeEngine::create(AeMode m, bool encrypt) {
  std::unique_ptr<AeEngine> e(new AeEngine());
  e->mode_ = m;
  e->encrypt_ = encrypt;
  e->ctx_.reset(EVP_CIPHER_CTX_new());
  if (!e->ctx_) return nullptr;
  return e;
}

AeEngine::~AeEngine() {
  OPENSSL_cleanse(mac_, sizeof(mac_));
  OPENSSL_cleanse(mac_buf_, sizeof(mac_buf_));
  OPENSSL_cleanse(s0_, sizeof(s0_));
  OPENSSL_cleanse(ks_, sizeof(ks_));
}

std::unique_ptr<AeEngine> AeEngine::clone() const {
  std::unique_ptr<AeEngine> e(new AeEngine());
  e->mode_ = mode_;
  e->encrypt_ = encrypt_;
  e->tag_len_ = tag_len_;
  e->ctx_ = copy_ctx(ctx_.get());
  e->aad_len_ = aad_len_;
  e->aad_done_ = aad_done_;
  e->payload_len_ = payload_len_;
  e->payload_done_ = payload_done_;
  e->payload_started_ = payload_started_;
  std::memcpy(e->mac_, mac_, sizeof(mac_));
  std::memcpy(e->mac_buf_, mac_buf_, sizeof(mac_buf_));
  e->mac_fill_ = mac_fill_;
  std::memcpy(e->ctr_, ctr_, sizeof(ctr_));
  std::memcpy(e->s0_, s0_, sizeof(s0_));
  std::memcpy(e->ks_, ks_, sizeof(ks_));
  e->ks_used_ = ks_used_;
  return e;
}

void AeEngine::ecb(uint8_t block[16]) {
  int outl = 0;
  TEEMU_ASSERT(EVP_EncryptUpdate(ctx_.get(), block, &outl, block, kBlock) == 1 && outl == kBlock);
}

Status AeEngine::start(std::span<const uint8_t> key, const uint8_t* nonce, size_t nonce_len,
                       uint32_t tag_bits, uint64_t aad_len, uint64_t payload_len) {
  if (mode_ == AeMode::kGcm) {
    // GP 1.3.1: GCM tags of 128, 120, 112, 104 or 96 bits.
    if (tag_bits < 96 || tag_bits > 128 || tag_bits % 8 != 0)
      return Status::error(kErrorNotSupported);
    const EVP_CIPHER* c = aes(key.size(), EVP_aes_128_gcm(), EVP_aes_192_gcm(), EVP_aes_256_gcm());
    if (c == nullptr || nonce == nullptr || nonce_len == 0 || nonce_len > INT_MAX)
      return Status::fatal(kErrorBadParameters);
    int enc = encrypt_ ? 1 : 0;
    if (EVP_CipherInit_ex(ctx_.get(), c, nullptr, nullptr, nullptr, enc) != 1 ||
        EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_SET_IVLEN, static_cast<int>(nonce_len),
                            nullptr) != 1 ||
        EVP_CipherInit_ex(ctx_.get(), nullptr, nullptr, key.data(), nonce, enc) != 1) {
      ERR_clear_error();
      return Status::fatal(kErrorBadParameters);
    }
    tag_len_ = tag_bits / 8;
    return Status::ok();
  }

  // CCM (SP 800-38C): tags of 4..16 even bytes, nonces of 7..13 bytes leaving L = 15 - nonce_len
  // bytes for the payload length.
  if (tag_bits % 8 != 0 || tag_bits < 32 || tag_bits > 128 || (tag_bits / 8) % 2 != 0)
    return Status::error(kErrorNotSupported);
  if (nonce == nullptr || nonce_len < 7 || nonce_len > 13) return Status::fatal(kErrorBadParameters);
  size_t l = 15 - nonce_len;
  if (l < 8 && (payload_len >> (8 * l)) != 0) return Status::fatal(kErrorBadParameters);
  const EVP_CIPHER* c = aes_ecb(key.size());
  if (c == nullptr || EVP_EncryptInit_ex(ctx_.get(), c, nullptr, key.data(), nullptr) != 1 ||
      EVP_CIPHER_CTX_set_padding(ctx_.get(), 0) != 1) {
    ERR_clear_error();
    return Status::fatal(kErrorBadParameters);
  }
  tag_len_ = tag_bits / 8;
  aad_len_ = aad_len;
  payload_len_ = payload_len;
  aad_done_ = payload_done_ = 0;
  payload_started_ = false;
  mac_fill_ = 0;
  ks_used_ = kBlock;

  uint8_t b0[kBlock] = {};
  b0[0] = static_cast<uint8_t>((aad_len > 0 ? 0x40 : 0) | (((tag_len_ - 2) / 2) << 3) | (l - 1));
  std::memcpy(b0 + 1, nonce, nonce_len);
  for (size_t i = 0; i < l; ++i) b0[15 - i] = static_cast<uint8_t>(payload_len >> (8 * i));
  std::memcpy(mac_, b0, kBlock);
  ecb(mac_);
  if (aad_len > 0) {
    uint8_t enc[10];
    size_t n = 0;
    if (aad_len < 0xFF00) {
      enc[n++] = static_cast<uint8_t>(aad_len >> 8);
      enc[n++] = static_cast<uint8_t>(aad_len);
    } else if (aad_len <= 0xFFFFFFFFu) {
      enc[n++] = 0xFF;
      enc[n++] = 0xFE;
      for (int i = 3; i >= 0; --i) enc[n++] = static_cast<uint8_t>(aad_len >> (8 * i));
    } else {
      enc[n++] = 0xFF;
      enc[n++] = 0xFF;
      for (int i = 7; i >= 0; --i) enc[n++] = static_cast<uint8_t>(aad_len >> (8 * i));
    }
    mac_absorb(enc, n);
  }
  // Counter blocks: flags L-1, the nonce, the block index; index 0 masks the tag.
  std::memset(ctr_, 0, sizeof(ctr_));
  ctr_[0] = static_cast<uint8_t>(l - 1);
  std::memcpy(ctr_ + 1, nonce, nonce_len);
  std::memcpy(s0_, ctr_, kBlock);
  ecb(s0_);
  ctr_[15] = 1;
  return Status::ok();
}

void AeEngine::mac_absorb(const uint8_t* p, size_t n) {
  while (n > 0) {
    size_t take = std::min(n, kBlock - mac_fill_);
    std::memcpy(mac_buf_ + mac_fill_, p, take);
    mac_fill_ += take;
    p += take;
    n -= take;
    if (mac_fill_ == kBlock) {
      for (size_t i = 0; i < kBlock; ++i) mac_[i] ^= mac_buf_[i];
      ecb(mac_);
      mac_fill_ = 0;
    }
  }
}

void AeEngine::mac_pad() {
  if (mac_fill_ == 0) return;
  std::memset(mac_buf_ + mac_fill_, 0, kBlock - mac_fill_);
  for (size_t i = 0; i < kBlock; ++i) mac_[i] ^= mac_buf_[i];
  ecb(mac_);
  mac_fill_ = 0;
}

Status AeEngine::ccm_payload_start() {
  if (payload_started_) return Status::ok();
  // GP: all the AAD announced in TEE_AEInit comes before the payload.
  if (aad_done_ != aad_len_) return Status::fatal(kErrorBadParameters);
  mac_pad();
  payload_started_ = true;
  return Status::ok();
}

void AeEngine::ccm_crypt(const uint8_t* in, size_t n, uint8_t* out) {
  while (n > 0) {
    if (ks_used_ == kBlock) {
      std::memcpy(ks_, ctr_, kBlock);
      ecb(ks_);
      ks_used_ = 0;
      for (int i = 15; i >= 0; --i)  // the index is big-endian in the last L bytes
        if (++ctr_[i] != 0) break;
    }
    size_t take = std::min(n, kBlock - ks_used_);
    uint8_t chunk[kBlock];
    for (size_t i = 0; i < take; ++i) chunk[i] = in[i] ^ ks_[ks_used_ + i];
    // The MAC covers the plaintext: the input when encrypting, the output when decrypting.
    mac_absorb(encrypt_ ? in : chunk, take);
    std::memcpy(out, chunk, take);
    OPENSSL_cleanse(chunk, sizeof(chunk));
    ks_used_ += take;
    in += take;
    out += take;
    n -= take;
  }
}

void AeEngine::ccm_tag(uint8_t* tag) {
  mac_pad();
  for (size_t i = 0; i < tag_len_; ++i) tag[i] = mac_[i] ^ s0_[i];
}

Status AeEngine::update_aad(const uint8_t* p, size_t n) {
  if (n == 0) return Status::ok();
  if (mode_ == AeMode::kGcm) {
    while (n > 0) {
      size_t piece = std::min(n, kEvpChunk);
      int outl = 0;
      TEEMU_ASSERT(EVP_CipherUpdate(ctx_.get(), nullptr, &outl, p, static_cast<int>(piece)) == 1);
      p += piece;
      n -= piece;
    }
    return Status::ok();
  }
  if (payload_started_ || n > aad_len_ - aad_done_) return Status::fatal(kErrorBadParameters);
  mac_absorb(p, n);
  aad_done_ += n;
  return Status::ok();
}

Status AeEngine::update(const uint8_t* in, size_t n, uint8_t* out) {
  if (mode_ == AeMode::kGcm) {
    evp_update(ctx_.get(), out, in, n);
    return Status::ok();
  }
  if (Status s = ccm_payload_start(); !s.is_ok()) return s;
  if (n > payload_len_ - payload_done_) return Status::fatal(kErrorBadParameters);
  ccm_crypt(in, n, out);
  payload_done_ += n;
  return Status::ok();
}

Status AeEngine::finish_encrypt(const uint8_t* in, size_t n, uint8_t* out, uint8_t* tag) {
  if (mode_ == AeMode::kGcm) {
    evp_update(ctx_.get(), out, in, n);
    int outl = 0;
    uint8_t dummy[kBlock];
    TEEMU_ASSERT(EVP_CipherFinal_ex(ctx_.get(), dummy, &outl) == 1 && outl == 0);
    TEEMU_ASSERT(EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_GET_TAG, static_cast<int>(tag_len_),
                                     tag) == 1);
    return Status::ok();
  }
  if (Status s = ccm_payload_start(); !s.is_ok()) return s;
  if (n != payload_len_ - payload_done_) return Status::fatal(kErrorBadParameters);
  ccm_crypt(in, n, out);
  payload_done_ += n;
  ccm_tag(tag);
  return Status::ok();
}

Status AeEngine::finish_decrypt(const uint8_t* in, size_t n, uint8_t* out, const uint8_t* tag,
                                size_t tag_len) {
  bool ok = false;
  if (mode_ == AeMode::kGcm) {
    bool tag_ok = tag_len == tag_len_ && tag != nullptr;
    if (tag_ok)
      TEEMU_ASSERT(EVP_CIPHER_CTX_ctrl(ctx_.get(), EVP_CTRL_GCM_SET_TAG, static_cast<int>(tag_len_),
                                       const_cast<uint8_t*>(tag)) == 1);
    evp_update(ctx_.get(), out, in, n);
    int outl = 0;
    uint8_t dummy[kBlock];
    ok = tag_ok && EVP_CipherFinal_ex(ctx_.get(), dummy, &outl) == 1;
    ERR_clear_error();
  } else {
    if (Status s = ccm_payload_start(); !s.is_ok()) return s;
    if (n != payload_len_ - payload_done_) return Status::fatal(kErrorBadParameters);
    ccm_crypt(in, n, out);
    payload_done_ += n;
    uint8_t expect[kBlock];
    ccm_tag(expect);
    ok = tag_len == tag_len_ && tag != nullptr && equal_ct(expect, tag, tag_len_);
    OPENSSL_cleanse(expect, sizeof(expect));
  }
  if (!ok) {
    // Plaintext that failed authentication is not handed out.
    if (n > 0) OPENSSL_cleanse(out, n);
    return Status::error(kErrorMacInvalid);
  }
  return Status::ok();
}

// CBC-CS3 over the buffered P(n-1) (full) and P(n) (d = 1..16 bytes), continuing the CBC chain
// of ctx_: the output is C(n) || the first d bytes of C(n-1) (SP 800-38A addendum; RFC 3962).
void CipherEngine::cts_tail(uint8_t* out) {
  size_t d = buffered_ - kBlock;
  TEEMU_ASSERT(buffered_ > kBlock && buffered_ <= 2 * kBlock);
  uint8_t a[kBlock], b[kBlock] = {};
  if (encrypt_) {
    evp_update(ctx_.get(), a, buf_, kBlock);  // C(n-1) = E(P(n-1) ^ chain)
    std::memcpy(b, buf_ + kBlock, d);         // P(n) padded with zeros
    evp_update(ctx_.get(), out, b, kBlock);   // C(n) = E(P(n)0 ^ C(n-1))
    std::memcpy(out + kBlock, a, d);
  } else {
    // The chain value before these two blocks, then D = Dec(C(n)) = P(n)0 ^ C(n-1).
    uint8_t chain[kBlock];
    TEEMU_ASSERT(EVP_CIPHER_CTX_get_updated_iv(ctx_.get(), chain, kBlock) == 1);
    evp_update(ctx_.get(), a, buf_, kBlock);  // a = D ^ chain
    for (size_t i = 0; i < kBlock; ++i) a[i] ^= chain[i];
    // C(n-1) = its d stored bytes, completed by the tail of D (where P(n) was zero).
    std::memcpy(b, buf_ + kBlock, d);
    std::memcpy(b + d, a + d, kBlock - d);
    for (size_t i = 0; i < d; ++i) out[kBlock + i] = a[i] ^ b[i];  // P(n)
    // CBC-decrypting C(n-1) now chains with C(n): undo that and apply the real chain.
    uint8_t p[kBlock];
    evp_update(ctx_.get(), p, b, kBlock);
    for (size_t i = 0; i < kBlock; ++i) out[i] = p[i] ^ buf_[i] ^ chain[i];
    OPENSSL_cleanse(p, sizeof(p));
    OPENSSL_cleanse(chain, sizeof(chain));
  }
  OPENSSL_cleanse(a, sizeof(a));
  OPENSSL_cleanse(b, sizeof(b));
  OPENSSL_cleanse(buf_, sizeof(buf_));
  buffered_ = 0;
}

}  // namespace teemu::ta_runtime::crypto
