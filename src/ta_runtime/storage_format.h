// The on-disk formats of trusted storage and their cryptography (docs/storage.md). Pure
// functions: nothing here does I/O, knows about RPC or includes the TA dev kit, so every format
// is tested on its own.
//
// Every storage file is one sealed record:
//
//   header (48 bytes, authenticated, not encrypted)
//     magic[4]  "TMDK" device key | "TMDR" per-TA manifest | "TMOB" object
//     format    u32, kFormatVersion
//     ta[16]    the owning TA's UUID (zero for the device key)
//     file_no   u32, the object's file number (0 otherwise)
//     version   u64, the object's version or the manifest's generation (0 for the device key)
//     nonce[12] random per write
//   ciphertext  AES-256-GCM of the payload under the file's key, header as AAD
//   tag[16]
//
// All integers are little-endian. Keys: the device key seals under the hardware unique key; a
// TA's manifest and objects seal under HMAC-SHA256(device key, label || TA UUID).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ta_runtime/crypto_util.h"

namespace teemu::ta_runtime::storage {

using crypto::SecretBytes;
using Bytes = std::vector<uint8_t>;

inline constexpr size_t kKeySize = 32;   // AES-256, HMAC-SHA256 output
inline constexpr size_t kHashSize = 32;  // SHA-256
inline constexpr size_t kNonceSize = 12;
inline constexpr size_t kTagSize = 16;
inline constexpr size_t kHeaderSize = 48;
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr size_t kMaxIdLen = 64;  // TEE_OBJECT_ID_MAX_LEN

using Hash = std::array<uint8_t, kHashSize>;
using Uuid16 = std::array<uint8_t, 16>;

enum class FileKind : uint8_t { kDeviceKey, kManifest, kObject };

struct FileHeader {
  FileKind kind = FileKind::kObject;
  Uuid16 ta{};
  uint32_t file_no = 0;
  uint64_t version = 0;
};

// --- primitives (OpenSSL) ---------------------------------------------------------------------
Hash sha256(std::span<const uint8_t> data);
SecretBytes hmac_sha256(std::span<const uint8_t> key, std::span<const uint8_t> data);
// Fills `out` with random bytes; false if the generator failed.
bool random_bytes(uint8_t* out, size_t n);

// The hardware unique key of a software platform: SHA-256 over a fixed label and the platform's
// die id (the host's machine-id). See docs/storage.md for what it does and does not protect.
SecretBytes derive_huk(std::span<const uint8_t> die_id);
// A TA's storage key: HMAC-SHA256(device key, "teemu TA storage key v1" || ta).
SecretBytes derive_ta_key(std::span<const uint8_t> device_key, const Uuid16& ta);

// --- sealed records ---------------------------------------------------------------------------
// Seals `payload` under `key` (32 bytes) with `h` as authenticated header. Empty on failure of
// the random generator or the cipher.
Bytes seal(std::span<const uint8_t> key, const FileHeader& h, std::span<const uint8_t> payload);
// Opens a sealed record: true and the header and payload if the record is well formed, of `kind`
// and authentic under `key`. The header's other fields are the caller's to check.
bool unseal(std::span<const uint8_t> key, FileKind kind, std::span<const uint8_t> file,
            FileHeader* h, SecretBytes* payload);

// --- the per-TA manifest (OP-TEE's dirf.db) -----------------------------------------------------
// One object as the manifest knows it: where its current file is, the hash of that file, and the
// object's description (so that enumeration needs no object file).
struct ManifestEntry {
  Bytes id;
  uint32_t file_no = 0;
  uint64_t version = 0;
  Hash hash{};
  uint32_t type = 0;
  uint32_t object_size = 0;
  uint32_t max_object_size = 0;
  uint32_t usage = 0;
  uint64_t data_size = 0;
};

struct Manifest {
  uint64_t generation = 0;  // bumped by every commit; the rollback check compares it
  uint32_t next_file_no = 1;
  std::vector<ManifestEntry> entries;

  ManifestEntry* find(std::span<const uint8_t> id);
  bool remove(std::span<const uint8_t> id);
};

// A bound on entries: an object id is at most 64 bytes, so this keeps a manifest below ~2 MiB and
// stops a TA from growing the one file every commit rewrites without bound.
inline constexpr size_t kMaxObjectsPerTa = 16384;

SecretBytes encode_manifest(const Manifest& m);
// False if the payload is malformed (lengths, counts, duplicate ids, trailing bytes).
bool decode_manifest(std::span<const uint8_t> payload, Manifest* m);

// --- object files --------------------------------------------------------------------------------
struct ObjectContent {
  uint32_t type = 0;
  uint32_t object_size = 0;
  uint32_t max_object_size = 0;
  uint32_t usage = 0;
  SecretBytes attributes;  // CryptoObject::serialize_attributes()
  SecretBytes data;        // the data stream
};

SecretBytes encode_object(const ObjectContent& c);
bool decode_object(std::span<const uint8_t> payload, ObjectContent* c);

// --- names -------------------------------------------------------------------------------------
// Everything of a TA lives in a directory named by its UUID (8-4-4-4-12 hex).
std::string ta_dir(const Uuid16& ta);
std::string manifest_name(const Uuid16& ta);
std::string manifest_tmp_name(const Uuid16& ta);
// An object's file changes name with every version, so the previous file stays intact until the
// manifest naming the new one is committed.
std::string object_name(const Uuid16& ta, uint32_t file_no, uint64_t version);
inline constexpr const char* kDeviceKeyName = "devkey.bin";
inline constexpr const char* kDeviceKeyTmpName = "devkey.tmp";

}  // namespace teemu::ta_runtime::storage
