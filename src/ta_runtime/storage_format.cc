#include "ta_runtime/storage_format.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <climits>
#include <cstdio>
#include <cstring>

namespace teemu::ta_runtime::storage {

namespace {

constexpr char kMagicDeviceKey[4] = {'T', 'M', 'D', 'K'};
constexpr char kMagicManifest[4] = {'T', 'M', 'D', 'R'};
constexpr char kMagicObject[4] = {'T', 'M', 'O', 'B'};
constexpr char kHukLabel[] = "teemu hardware unique key v1";
constexpr char kTaKeyLabel[] = "teemu TA storage key v1";

const char* magic_of(FileKind k) {
  switch (k) {
    case FileKind::kDeviceKey: return kMagicDeviceKey;
    case FileKind::kManifest: return kMagicManifest;
    default: return kMagicObject;
  }
}

// --- little-endian encoding -------------------------------------------------------------------

template <class Buf>
void put_u32(Buf& b, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
template <class Buf>
void put_u64(Buf& b, uint64_t v) {
  for (int i = 0; i < 8; ++i) b.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
template <class Buf>
void put_bytes(Buf& b, std::span<const uint8_t> s) {
  b.insert(b.end(), s.begin(), s.end());
}

// Reads from a span, failing (and staying failed) on a short input.
class Reader {
 public:
  explicit Reader(std::span<const uint8_t> in) : in_(in) {}
  bool u8(uint8_t* v) {
    if (!take(1)) return false;
    *v = in_[pos_ - 1];
    return true;
  }
  bool u32(uint32_t* v) {
    if (!take(4)) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v |= uint32_t{in_[pos_ - 4 + i]} << (8 * i);
    return true;
  }
  bool u64(uint64_t* v) {
    if (!take(8)) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v |= uint64_t{in_[pos_ - 8 + i]} << (8 * i);
    return true;
  }
  bool bytes(size_t n, std::span<const uint8_t>* out) {
    if (!take(n)) return false;
    *out = in_.subspan(pos_ - n, n);
    return true;
  }
  bool done() const { return ok_ && pos_ == in_.size(); }

 private:
  bool take(size_t n) {
    if (!ok_ || n > in_.size() - pos_) return ok_ = false;
    pos_ += n;
    return true;
  }
  std::span<const uint8_t> in_;
  size_t pos_ = 0;
  bool ok_ = true;
};

Bytes encode_header(const FileHeader& h, const uint8_t nonce[kNonceSize]) {
  Bytes b;
  b.reserve(kHeaderSize);
  const char* m = magic_of(h.kind);
  b.insert(b.end(), m, m + 4);
  put_u32(b, kFormatVersion);
  b.insert(b.end(), h.ta.begin(), h.ta.end());
  put_u32(b, h.file_no);
  put_u64(b, h.version);
  b.insert(b.end(), nonce, nonce + kNonceSize);
  return b;
}

using CipherCtx = crypto::CipherCtxPtr;

}  // namespace

Hash sha256(std::span<const uint8_t> data) {
  Hash h{};
  unsigned len = 0;
  if (EVP_Digest(data.data(), data.size(), h.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != kHashSize)
    h.fill(0);
  return h;
}

SecretBytes hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data) {
  SecretBytes out(kKeySize);
  unsigned len = 0;
  static const uint8_t kEmpty = 0;
  if (HMAC(EVP_sha256(), key.empty() ? &kEmpty : key.data(), static_cast<int>(key.size()),
           data.empty() ? &kEmpty : data.data(), data.size(), out.data(), &len) == nullptr ||
      len != kKeySize)
    return {};
  return out;
}

bool random_bytes(uint8_t* out, size_t n) {
  return n == 0 || RAND_priv_bytes(out, static_cast<int>(n)) == 1;
}

SecretBytes derive_huk(std::span<const uint8_t> die_id) {
  Bytes in(kHukLabel, kHukLabel + sizeof(kHukLabel) - 1);
  put_bytes(in, die_id);
  Hash h = sha256(in);
  SecretBytes huk(h.begin(), h.end());
  OPENSSL_cleanse(h.data(), h.size());
  return huk;
}

SecretBytes derive_ta_key(std::span<const uint8_t> device_key, const Uuid16& ta) {
  Bytes in(kTaKeyLabel, kTaKeyLabel + sizeof(kTaKeyLabel) - 1);
  in.insert(in.end(), ta.begin(), ta.end());
  return hmac_sha256(device_key, in);
}

Bytes seal(std::span<const uint8_t> key, const FileHeader& h, std::span<const uint8_t> payload) {
  if (key.size() != kKeySize || payload.size() > static_cast<size_t>(INT_MAX)) return {};
  uint8_t nonce[kNonceSize];
  if (!random_bytes(nonce, sizeof(nonce))) return {};
  Bytes out = encode_header(h, nonce);
  const size_t ct_at = out.size();
  out.resize(ct_at + payload.size() + kTagSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx && EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) == 1 &&
            EVP_EncryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce) == 1 &&
            EVP_EncryptUpdate(ctx.get(), nullptr, &len, out.data(), kHeaderSize) == 1;
  if (ok && !payload.empty())
    ok = EVP_EncryptUpdate(ctx.get(), out.data() + ct_at, &len, payload.data(),
                           static_cast<int>(payload.size())) == 1 &&
         static_cast<size_t>(len) == payload.size();
  ok = ok && EVP_EncryptFinal_ex(ctx.get(), out.data() + ct_at + payload.size(), &len) == 1 &&
       EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagSize,
                           out.data() + ct_at + payload.size()) == 1;
  if (!ok) return {};
  return out;
}

bool unseal(std::span<const uint8_t> key, FileKind kind, std::span<const uint8_t> file,
            FileHeader* h, SecretBytes* payload) {
  if (key.size() != kKeySize || file.size() < kHeaderSize + kTagSize ||
      file.size() - kHeaderSize - kTagSize > static_cast<size_t>(INT_MAX))
    return false;
  Reader r(file.first(kHeaderSize));
  std::span<const uint8_t> magic, ta, nonce;
  uint32_t format = 0;
  FileHeader got;
  got.kind = kind;
  if (!r.bytes(4, &magic) || !r.u32(&format) || !r.bytes(16, &ta) || !r.u32(&got.file_no) ||
      !r.u64(&got.version) || !r.bytes(kNonceSize, &nonce) || !r.done())
    return false;
  if (std::memcmp(magic.data(), magic_of(kind), 4) != 0 || format != kFormatVersion) return false;
  std::memcpy(got.ta.data(), ta.data(), 16);
  const size_t ct_len = file.size() - kHeaderSize - kTagSize;
  SecretBytes out(ct_len);
  uint8_t tag[kTagSize];
  std::memcpy(tag, file.data() + kHeaderSize + ct_len, kTagSize);
  CipherCtx ctx(EVP_CIPHER_CTX_new());
  int len = 0;
  bool ok = ctx && EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, nullptr, nullptr) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_IVLEN, kNonceSize, nullptr) == 1 &&
            EVP_DecryptInit_ex(ctx.get(), nullptr, nullptr, key.data(), nonce.data()) == 1 &&
            EVP_DecryptUpdate(ctx.get(), nullptr, &len, file.data(), kHeaderSize) == 1;
  if (ok && ct_len != 0)
    ok = EVP_DecryptUpdate(ctx.get(), out.data(), &len, file.data() + kHeaderSize,
                           static_cast<int>(ct_len)) == 1;
  uint8_t none[kTagSize];  // GCM's final step writes nothing; never hand it a null pointer
  ok = ok && EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTagSize, tag) == 1 &&
       EVP_DecryptFinal_ex(ctx.get(), ct_len != 0 ? out.data() + ct_len : none, &len) == 1;
  if (!ok) return false;  // `out` is wiped as it goes
  *h = got;
  *payload = std::move(out);
  return true;
}

// --- manifest ----------------------------------------------------------------------------------

ManifestEntry* Manifest::find(std::span<const uint8_t> id) {
  for (ManifestEntry& e : entries)
    if (e.id.size() == id.size() && std::equal(e.id.begin(), e.id.end(), id.begin())) return &e;
  return nullptr;
}

bool Manifest::remove(std::span<const uint8_t> id) {
  for (auto it = entries.begin(); it != entries.end(); ++it) {
    if (it->id.size() == id.size() && std::equal(it->id.begin(), it->id.end(), id.begin())) {
      entries.erase(it);
      return true;
    }
  }
  return false;
}

SecretBytes encode_manifest(const Manifest& m) {
  SecretBytes b;
  put_u64(b, m.generation);
  put_u32(b, m.next_file_no);
  put_u32(b, static_cast<uint32_t>(m.entries.size()));
  for (const ManifestEntry& e : m.entries) {
    b.push_back(static_cast<uint8_t>(e.id.size()));
    put_bytes(b, e.id);
    put_u32(b, e.file_no);
    put_u64(b, e.version);
    put_bytes(b, e.hash);
    put_u32(b, e.type);
    put_u32(b, e.object_size);
    put_u32(b, e.max_object_size);
    put_u32(b, e.usage);
    put_u64(b, e.data_size);
  }
  return b;
}

bool decode_manifest(std::span<const uint8_t> payload, Manifest* out) {
  Reader r(payload);
  Manifest m;
  uint32_t count = 0;
  if (!r.u64(&m.generation) || !r.u32(&m.next_file_no) || !r.u32(&count) ||
      count > kMaxObjectsPerTa)
    return false;
  for (uint32_t i = 0; i < count; ++i) {
    ManifestEntry e;
    uint8_t id_len = 0;
    std::span<const uint8_t> id, hash;
    if (!r.u8(&id_len) || id_len > kMaxIdLen || !r.bytes(id_len, &id) || !r.u32(&e.file_no) ||
        !r.u64(&e.version) || !r.bytes(kHashSize, &hash) || !r.u32(&e.type) ||
        !r.u32(&e.object_size) || !r.u32(&e.max_object_size) || !r.u32(&e.usage) ||
        !r.u64(&e.data_size))
      return false;
    e.id.assign(id.begin(), id.end());
    std::memcpy(e.hash.data(), hash.data(), kHashSize);
    // Each id once, each file number once and below the next one to hand out.
    if (m.find(e.id) != nullptr || e.file_no == 0 || e.file_no >= m.next_file_no) return false;
    for (const ManifestEntry& o : m.entries)
      if (o.file_no == e.file_no) return false;
    m.entries.push_back(std::move(e));
  }
  if (!r.done()) return false;
  *out = std::move(m);
  return true;
}

// --- objects -----------------------------------------------------------------------------------

SecretBytes encode_object(const ObjectContent& c) {
  SecretBytes b;
  b.reserve(32 + c.attributes.size() + c.data.size());
  put_u32(b, c.type);
  put_u32(b, c.object_size);
  put_u32(b, c.max_object_size);
  put_u32(b, c.usage);
  put_u32(b, static_cast<uint32_t>(c.attributes.size()));
  put_bytes(b, c.attributes);
  put_u64(b, c.data.size());
  put_bytes(b, c.data);
  return b;
}

bool decode_object(std::span<const uint8_t> payload, ObjectContent* out) {
  Reader r(payload);
  ObjectContent c;
  uint32_t attr_len = 0;
  uint64_t data_len = 0;
  std::span<const uint8_t> attrs, data;
  if (!r.u32(&c.type) || !r.u32(&c.object_size) || !r.u32(&c.max_object_size) ||
      !r.u32(&c.usage) || !r.u32(&attr_len) || !r.bytes(attr_len, &attrs) || !r.u64(&data_len) ||
      data_len > payload.size() || !r.bytes(static_cast<size_t>(data_len), &data) || !r.done())
    return false;
  c.attributes.assign(attrs.begin(), attrs.end());
  c.data.assign(data.begin(), data.end());
  *out = std::move(c);
  return true;
}

// --- names -------------------------------------------------------------------------------------

std::string ta_dir(const Uuid16& u) {
  char s[40];
  std::snprintf(s, sizeof(s),
                "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", u[0], u[1],
                u[2], u[3], u[4], u[5], u[6], u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14],
                u[15]);
  return s;
}

std::string manifest_name(const Uuid16& ta) { return ta_dir(ta) + "/dirf.db"; }
std::string manifest_tmp_name(const Uuid16& ta) { return ta_dir(ta) + "/dirf.db.tmp"; }

std::string object_name(const Uuid16& ta, uint32_t file_no, uint64_t version) {
  char s[48];
  std::snprintf(s, sizeof(s), "/o%08x.%016llx", file_no, static_cast<unsigned long long>(version));
  return ta_dir(ta) + s;
}

}  // namespace teemu::ta_runtime::storage
