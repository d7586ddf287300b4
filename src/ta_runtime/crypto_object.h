// Objects a TA holds through a TEE_ObjectHandle (GP TEE Internal Core API 1.3.1, chapter 5):
// a type, a size, usage flags and a set of attributes (key material or other values).
//
// CryptoObject is the transient object and the base every object handle shares. A persistent
// object (TEE_CreatePersistentObject / TEE_OpenPersistentObject) derives from it and adds its
// data stream:
//
//   class PersistentObject : public crypto::CryptoObject {
//     bool persistent() const override { return true; }
//     uint32_t handle_flags() const override;  // kHandleFlagPersistent | initialized | access
//     uint64_t data_size() const override;  uint64_t data_position() const override;
//   };
//
// so that TEE_GetObjectInfo1, TEE_GetObjectBufferAttribute, TEE_GetObjectValueAttribute,
// TEE_RestrictObjectUsage1, TEE_SetOperationKey and TEE_CopyObjectAttributes1 (which take either
// kind) work unchanged. Storage saves an object as (type, object_size, max_object_size, usage,
// serialize_attributes()) and rebuilds it with the constructor and restore(); the serialized
// attributes are key material and must only ever be written encrypted. A persistent object made
// from a transient one (TEE_CreatePersistentObject) is constructed with the transient object's
// type and maximum size and filled with copy_from(). Pure data objects use TEE_TYPE_DATA, which
// has no attributes; the transient API refuses that type (GP 1.3.1), this class does not.
//
// Objects live in the TA instance's handle table (InstanceState): the handle is the object's
// address and is valid only while the table holds it. Everything here runs on the thread of the
// instance's current entry point; nothing is shared between instances. Key material is kept in
// SecretBytes (wiped on free) and is never logged.
#pragma once

#include <openssl/types.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "ta_runtime/crypto_util.h"
#include "ta_runtime/instance_state.h"

namespace teemu::ta_runtime::crypto {

// tee_api_defines.h values used by the object model.
inline constexpr uint32_t kHandleFlagPersistent = 0x00010000;
inline constexpr uint32_t kHandleFlagInitialized = 0x00020000;
inline constexpr uint32_t kAttrFlagPublic = 1u << 28;  // readable without TEE_USAGE_EXTRACTABLE
inline constexpr uint32_t kAttrFlagValue = 1u << 29;   // (a, b) rather than a buffer
inline constexpr uint32_t kUsageExtractable = 0x00000001;
inline constexpr uint32_t kUsageAll = 0xFFFFFFFF;  // usage of a fresh or reset object

// One attribute. Numbers (RSA and ECC components) are big-endian without leading zero bytes, as
// OP-TEE returns them; secret values are kept byte for byte.
struct Attribute {
  uint32_t id = 0;
  SecretBytes bytes;      // buffer attribute
  uint32_t a = 0, b = 0;  // value attribute
  bool is_value() const { return (id & kAttrFlagValue) != 0; }
};

// An attribute as a TA passes it (TEE_Attribute): the buffer is the TA's, read in place and
// copied only once it has been checked.
struct AttrRef {
  uint32_t id = 0;
  std::span<const uint8_t> bytes;
  uint32_t a = 0, b = 0;
  bool is_value() const { return (id & kAttrFlagValue) != 0; }
};

class CryptoObject : public RuntimeObject {
 public:
  // Whether an object of `type` with `max_object_size` bits can exist (TEE_AllocateTransientObject):
  // kErrorNotSupported for an unknown type or a size the type does not allow.
  static Status check_allocation(uint32_t type, uint32_t max_object_size);

  // An uninitialized object; the caller has passed check_allocation.
  CryptoObject(uint32_t type, uint32_t max_object_size);
  ~CryptoObject() override;
  CryptoObject(const CryptoObject&) = delete;
  CryptoObject& operator=(const CryptoObject&) = delete;

  // --- TEE_ObjectInfo ---
  uint32_t type() const { return type_; }
  uint32_t object_size() const { return object_size_; }  // bits; 0 while uninitialized
  uint32_t max_object_size() const { return max_object_size_; }
  uint32_t usage() const { return usage_; }
  bool initialized() const { return initialized_; }
  virtual bool persistent() const { return false; }
  virtual uint32_t handle_flags() const { return initialized_ ? kHandleFlagInitialized : 0; }
  virtual uint64_t data_size() const { return 0; }
  virtual uint64_t data_position() const { return 0; }

  // TEE_RestrictObjectUsage1: usage can only shrink.
  void restrict_usage(uint32_t usage) { usage_ &= usage; }

  // The attribute with this id, or null.
  const Attribute* find(uint32_t id) const;
  const std::vector<Attribute>& attributes() const { return attrs_; }

  // TEE_PopulateTransientObject on an uninitialized object. Panics (Status::fatal) for a missing
  // or foreign or repeated attribute or one too big for max_object_size; kErrorBadParameters for
  // a value the type cannot use (the object stays uninitialized).
  Status populate(std::span<const AttrRef> attrs);

  // TEE_CopyObjectAttributes1 into this uninitialized object from an initialized `src` of the
  // same type, or the public part of a key pair into a public-key object. Fatal otherwise.
  Status copy_from(const CryptoObject& src);

  // TEE_GenerateKey on an uninitialized object: a key of `key_size` bits, with the optional
  // generation attributes (RSA public exponent, ECC curve, DH group, subprime and x_bits).
  Status generate(uint32_t key_size, std::span<const AttrRef> params);

  // Makes this uninitialized generic secret hold `secret` (the output of TEE_DeriveKey).
  void set_secret(SecretBytes secret);

  // TEE_ResetTransientObject: uninitialized, no attributes, full usage.
  void reset();

  // --- storage ---
  // The attributes as a self-delimiting byte string (id, kind, length, bytes per attribute).
  SecretBytes serialize_attributes() const;
  // Makes this uninitialized object hold what serialize_attributes() produced; kErrorBadParameters
  // (nothing changed) if `serialized` is malformed or does not fit the type.
  Status restore(uint32_t object_size, uint32_t usage, std::span<const uint8_t> serialized);

  // The OpenSSL key the attributes describe (RSA, ECC, Ed25519, X25519 types), built on first use
  // and owned by the object; null for secret types or attributes that do not form a valid key.
  EVP_PKEY* pkey() const;

 private:
  void clear_key();

  uint32_t type_;
  uint32_t max_object_size_;
  uint32_t object_size_ = 0;
  uint32_t usage_ = kUsageAll;
  bool initialized_ = false;
  std::vector<Attribute> attrs_;
  mutable PkeyPtr pkey_;
};

// --- ECC curves (TEE_ECC_CURVE_*) ---
// Size in bits of a NIST curve (192, 224, 256, 384, 521), 0 if unknown.
uint32_t ecc_curve_bits(uint32_t curve);
// OpenSSL group name of a NIST curve, null if unknown.
const char* ecc_curve_group(uint32_t curve);

// Builds an ECC public key (NIST curve, big-endian coordinates); null if the point is invalid.
PkeyPtr make_ecc_public_key(uint32_t curve, std::span<const uint8_t> x, std::span<const uint8_t> y);
// Builds an X25519 public key from its 32 raw bytes; null if malformed.
PkeyPtr make_x25519_public_key(std::span<const uint8_t> pub);

// The DH shared secret peer^x mod p of a TEE_TYPE_DH_KEYPAIR object into *out, big-endian
// without leading zeros (OP-TEE's form; empty for a zero secret). Like OP-TEE, the peer value is
// not range checked: a TA that needs SP 800-56A checks does them itself. False (and *out
// untouched) when the key's prime is even (no Montgomery form) or memory runs out.
bool dh_shared_secret(const CryptoObject& key, std::span<const uint8_t> peer, SecretBytes* out);

}  // namespace teemu::ta_runtime::crypto
