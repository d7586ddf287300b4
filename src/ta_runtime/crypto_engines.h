// The stateful parts of crypto operations on OpenSSL 3: digests, MACs, block and stream ciphers,
// authenticated encryption. Each engine knows its algorithm, not the GP operation rules (state
// machine, panics, output-size checks): the API layer (crypto_operation_api.cc) applies those
// before it calls an engine, so an engine call never fails on TA input except where documented.
// Engines are owned by one Operation and used on its instance's thread only.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "ta_runtime/crypto_util.h"

namespace teemu::ta_runtime::crypto {

enum class Hash {
  kNone,
  kMd5,
  kSha1,
  kSha224,
  kSha256,
  kSha384,
  kSha512,
  kSha3_224,  // FIPS 202
  kSha3_256,
  kSha3_384,
  kSha3_512,
};

// Digest size in bytes; the OpenSSL digest (null for kNone); its OpenSSL name.
size_t hash_size(Hash h);
const EVP_MD* hash_md(Hash h);
const char* hash_name(Hash h);

class DigestEngine {
 public:
  // Null if OpenSSL cannot provide the hash.
  static std::unique_ptr<DigestEngine> create(Hash h);
  std::unique_ptr<DigestEngine> clone() const;
  size_t size() const { return hash_size(hash_); }
  void restart();  // back to an empty message, extraction state dropped
  void update(const void* p, size_t n);
  // Writes size() bytes and restarts.
  void finish(uint8_t* out);

  // TEE_DigestExtract: the first call computes the digest; calls hand it out in pieces.
  bool extracting() const { return extracting_; }
  size_t extract(uint8_t* out, size_t max);

 private:
  DigestEngine() = default;
  Hash hash_ = Hash::kNone;
  MdCtxPtr ctx_;
  bool extracting_ = false;
  uint8_t digest_[64] = {};
  size_t extract_off_ = 0;
};

// The block cipher under ECB, CBC and CBC-MAC: AES (16-byte blocks) or triple DES (8-byte
// blocks, 16-byte two-key or 24-byte three-key keys).
enum class BlockCipher { kAes, kDes3 };

// How a MAC ends its message (AES-CBC-MAC only; HMAC and CMAC define their own ending).
enum class CbcMacPad { kNone, kPkcs5 };

class MacEngine {
 public:
  // HMAC over `h`, or AES-CMAC when h is kNone. Null if OpenSSL cannot provide it.
  static std::unique_ptr<MacEngine> create(Hash h);
  // CBC-MAC with a zero IV: the last ciphertext block of CBC over the message (kNone: a whole
  // number of blocks; kPkcs5: padded as PKCS#5/#7 always pads, one to a block of bytes).
  static std::unique_ptr<MacEngine> create_cbc_mac(BlockCipher c, CbcMacPad pad);
  ~MacEngine();
  std::unique_ptr<MacEngine> clone() const;
  size_t size() const { return cbc_mac() ? block_ : hash_ == Hash::kNone ? 16 : hash_size(hash_); }
  // Starts a MAC under `key`; false if OpenSSL refuses the key (a panic for the caller).
  bool start(std::span<const uint8_t> key);
  void update(const void* p, size_t n);
  // Whether the message may end after n more bytes (CBC-MAC without padding: one or more
  // whole blocks).
  bool can_finish(size_t n = 0) const;
  void finish(uint8_t* out);  // size() bytes; requires can_finish()

 private:
  MacEngine() = default;
  bool cbc_mac() const { return cbc_ctx_ != nullptr; }
  Hash hash_ = Hash::kNone;
  MacCtxPtr ctx_;
  // CBC-MAC state: AES-CBC encryption, the partial block and the last ciphertext block.
  CipherCtxPtr cbc_ctx_;
  CbcMacPad pad_ = CbcMacPad::kNone;
  BlockCipher block_cipher_ = BlockCipher::kAes;
  size_t block_ = 16;
  uint8_t partial_[16] = {};
  size_t partial_len_ = 0;
  bool fed_ = false;  // a block went through the cipher since start()
  uint8_t last_[16] = {};
};

// HKDF (RFC 5869) over `h`: `out_len` bytes of output keying material into *out. False if
// OpenSSL refuses (unknown hash, out_len above 255 hash lengths).
bool hkdf(Hash h, std::span<const uint8_t> ikm, std::span<const uint8_t> salt,
          std::span<const uint8_t> info, size_t out_len, SecretBytes* out);

enum class CipherMode { kEcb, kCbc, kCtr, kXts, kCts };

// AES (and triple DES in ECB/CBC) in ECB/CBC without padding, CTR, XTS (IEEE 1619, with ciphertext stealing) and CTS (CBC
// with ciphertext stealing, the RFC 3962 / NIST SP 800-38A addendum CS3 form: the last two
// ciphertext blocks always swapped), fed in pieces of any length. ECB and CBC hold back a
// partial block; XTS and CTS hold back more than one and at most two blocks until the end,
// because stealing needs the last full block.
class CipherEngine {
 public:
  // Triple DES only in ECB and CBC (null otherwise).
  static std::unique_ptr<CipherEngine> create(CipherMode m, bool encrypt,
                                              BlockCipher c = BlockCipher::kAes);
  ~CipherEngine();
  std::unique_ptr<CipherEngine> clone() const;

  // Starts with the key(s) and IV. Fatal status for an IV of the wrong length (ECB takes none,
  // the others one block) or a key OpenSSL refuses.
  Status start(std::span<const uint8_t> key1, std::span<const uint8_t> key2, const uint8_t* iv,
               size_t iv_len);

  // Bytes update(n) writes.
  size_t update_size(size_t n) const;
  void update(const uint8_t* in, size_t n, uint8_t* out);
  // Whether the message may end after n more bytes (whole blocks for ECB/CBC, one block at least
  // for XTS, more than one for CTS), and how many bytes finish(n) writes.
  bool can_finish(size_t n) const;
  size_t finish_size(size_t n) const;
  void finish(const uint8_t* in, size_t n, uint8_t* out);

 private:
  CipherEngine() = default;
  void xts_block(const uint8_t* in, uint8_t* out, const uint8_t tweak[16]);
  void xts_process(const uint8_t* in, size_t n, uint8_t* out);  // n % 16 == 0
  void blocks(const uint8_t* in, size_t n, uint8_t* out);       // n % 16 == 0
  // Processes the first `n` bytes (whole blocks) of buffer || in and keeps the rest buffered.
  void consume(const uint8_t* in, size_t len, size_t n, uint8_t* out);
  // CTS: the last 17 to 32 bytes, which are buffered, with the blocks swapped.
  void cts_tail(uint8_t* out);

  CipherMode mode_ = CipherMode::kEcb;
  bool encrypt_ = true;
  BlockCipher block_cipher_ = BlockCipher::kAes;
  size_t block_ = 16;
  CipherCtxPtr ctx_;  // ECB/CBC/CTR; XTS: ECB under the data key
  uint8_t tweak_[16] = {};
  uint8_t buf_[32] = {};
  size_t buffered_ = 0;
};

enum class AeMode { kGcm, kCcm };

// AES-GCM (OpenSSL) and AES-CCM (RFC 3610 / SP 800-38C on AES-ECB, so that the payload can be
// streamed; OpenSSL's CCM needs it in one piece).
class AeEngine {
 public:
  static std::unique_ptr<AeEngine> create(AeMode m, bool encrypt);
  ~AeEngine();
  std::unique_ptr<AeEngine> clone() const;

  // kErrorNotSupported for a tag length the mode does not define (error, not fatal); fatal for a
  // nonce of the wrong length or a payload length the nonce leaves no room for.
  Status start(std::span<const uint8_t> key, const uint8_t* nonce, size_t nonce_len,
               uint32_t tag_bits, uint64_t aad_len, uint64_t payload_len);
  size_t tag_size() const { return tag_len_; }
  // CCM: fatal once more AAD than announced arrives.
  Status update_aad(const uint8_t* p, size_t n);
  // Output is as long as the input. CCM: fatal when the AAD is incomplete or the payload exceeds
  // the announced length.
  Status update(const uint8_t* in, size_t n, uint8_t* out);
  // Writes n bytes and the tag (tag_size()); CCM: fatal if the payload is not the announced length.
  Status finish_encrypt(const uint8_t* in, size_t n, uint8_t* out, uint8_t* tag);
  // kErrorMacInvalid (and the final n bytes wiped) if the tag does not match.
  Status finish_decrypt(const uint8_t* in, size_t n, uint8_t* out, const uint8_t* tag,
                        size_t tag_len);

 private:
  AeEngine() = default;
  void ecb(uint8_t block[16]);
  void mac_absorb(const uint8_t* p, size_t n);
  void mac_pad();
  void ccm_crypt(const uint8_t* in, size_t n, uint8_t* out);
  Status ccm_payload_start();
  void ccm_tag(uint8_t* tag);

  AeMode mode_ = AeMode::kGcm;
  bool encrypt_ = true;
  size_t tag_len_ = 0;
  CipherCtxPtr ctx_;  // GCM context; CCM: AES-ECB encryption
  // CCM state.
  uint64_t aad_len_ = 0, aad_done_ = 0, payload_len_ = 0, payload_done_ = 0;
  bool payload_started_ = false;
  uint8_t mac_[16] = {};
  uint8_t mac_buf_[16] = {};
  size_t mac_fill_ = 0;
  uint8_t ctr_[16] = {};
  uint8_t s0_[16] = {};
  uint8_t ks_[16] = {};
  size_t ks_used_ = 16;
};

}  // namespace teemu::ta_runtime::crypto
