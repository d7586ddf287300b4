// GP TEE Internal Core API 1.3.1: generic and transient object functions (section 5.5, 5.6).
// Panics follow the spec's "Panic Reasons" and OP-TEE's libutee, which panics on every result a
// function may not return.
#include <cstring>

#include "ta_runtime/crypto_api.h"

namespace teemu::ta_runtime::crypto {

InstanceState& instance() {
  InstanceState* s = current_instance_state();
  if (s == nullptr) TEE_Panic(TEE_ERROR_BAD_STATE);
  return *s;
}

CryptoObject* find_object(TEE_ObjectHandle h) {
  return h == TEE_HANDLE_NULL ? nullptr : instance().get<CryptoObject>(h);
}

Operation* find_operation(TEE_OperationHandle h) {
  return h == TEE_HANDLE_NULL ? nullptr : instance().get<Operation>(h);
}

InputView::InputView(const void* in, size_t n, const void* out, size_t out_n)
    : p_(static_cast<const uint8_t*>(in)) {
  if (in == nullptr || out == nullptr || n == 0 || out_n == 0) return;
  auto i = reinterpret_cast<uintptr_t>(in);
  auto o = reinterpret_cast<uintptr_t>(out);
  // Overlap of [i, i + n) and [o, o + out_n), written so that no sum can wrap.
  bool overlap = i >= o ? i - o < out_n : o - i < n;
  if (overlap) {
    copy_ = secret_copy(in, n);
    p_ = copy_.data();
  }
}

std::span<const uint8_t> secret_of(const CryptoObject& key) {
  const Attribute* a = key.find(TEE_ATTR_SECRET_VALUE);
  return a == nullptr ? std::span<const uint8_t>() : std::span<const uint8_t>(a->bytes);
}

namespace {

template <class Info>
void fill_info(const CryptoObject& o, Info* info) {
  info->objectType = o.type();
  info->objectSize = o.object_size();
  info->maxObjectSize = o.max_object_size();
  info->objectUsage = o.usage();
  info->dataSize = static_cast<decltype(info->dataSize)>(o.data_size());
  info->dataPosition = static_cast<decltype(info->dataPosition)>(o.data_position());
  info->handleFlags = o.handle_flags();
}

// A transient object the TA may still fill: GP panics on persistent or initialized ones.
Status fillable(TEE_ObjectHandle h, CryptoObject** out) {
  CryptoObject* o = find_object(h);
  if (o == nullptr || o->persistent() || o->initialized()) return Status::fatal();
  *out = o;
  return Status::ok();
}

// An attribute the TA may read: the object initialized, the attribute public or the object
// extractable (GP 1.3.1 5.5.6, 5.5.7: otherwise a panic).
Status readable(TEE_ObjectHandle h, uint32_t id, bool value, const Attribute** out) {
  CryptoObject* o = find_object(h);
  if (o == nullptr || ((id & TEE_ATTR_FLAG_VALUE) != 0) != value || !o->initialized())
    return Status::fatal();
  if ((id & TEE_ATTR_FLAG_PUBLIC) == 0 && (o->usage() & TEE_USAGE_EXTRACTABLE) == 0)
    return Status::fatal();
  *out = o->find(id);
  return *out == nullptr ? Status::error(TEE_ERROR_ITEM_NOT_FOUND) : Status::ok();
}

}  // namespace

namespace api {

Status allocate_transient(uint32_t type, uint32_t max_size, TEE_ObjectHandle* object) {
  if (object == nullptr) return Status::fatal();
  *object = TEE_HANDLE_NULL;
  if (type == TEE_TYPE_DATA) return Status::error(TEE_ERROR_NOT_SUPPORTED);
  if (Status s = CryptoObject::check_allocation(type, max_size); !s.is_ok()) return s;
  std::unique_ptr<CryptoObject> o;
  try {
    o = std::make_unique<CryptoObject>(type, max_size);
  } catch (const std::bad_alloc&) {
    return Status::error(TEE_ERROR_OUT_OF_MEMORY);
  }
  *object = reinterpret_cast<TEE_ObjectHandle>(instance().add(std::move(o)));
  return Status::ok();
}

Status populate(TEE_ObjectHandle object, const std::vector<AttrRef>& attrs) {
  CryptoObject* o = nullptr;
  if (Status s = fillable(object, &o); !s.is_ok()) return s;
  return o->populate(attrs);
}

Status generate_key(TEE_ObjectHandle object, uint32_t key_size, const std::vector<AttrRef>& params) {
  CryptoObject* o = nullptr;
  if (Status s = fillable(object, &o); !s.is_ok()) return s;
  return o->generate(key_size, params);
}

Status get_buffer_attribute(TEE_ObjectHandle object, uint32_t id, void* buffer, size_t* size) {
  if (size == nullptr) return Status::fatal();
  const Attribute* a = nullptr;
  if (Status s = readable(object, id, false, &a); !s.is_ok()) return s;
  size_t need = a->bytes.size();
  if (*size < need || (buffer == nullptr && need != 0)) {
    *size = need;
    return Status::error(TEE_ERROR_SHORT_BUFFER);
  }
  if (need != 0) std::memcpy(buffer, a->bytes.data(), need);
  *size = need;
  return Status::ok();
}

}  // namespace api
}  // namespace teemu::ta_runtime::crypto

using namespace teemu::ta_runtime::crypto;

TA_API TEE_Result TEE_GetObjectInfo1(TEE_ObjectHandle object, TEE_ObjectInfo* objectInfo) {
  return run_api([&] {
    CryptoObject* o = find_object(object);
    if (o == nullptr || objectInfo == nullptr) return Status::fatal();
    fill_info(*o, objectInfo);
    return Status::ok();
  });
}

TA_API void TEE_GetObjectInfo(TEE_ObjectHandle object, TEE_ObjectInfo* objectInfo) {
  (void)TEE_GetObjectInfo1(object, objectInfo);
}

TA_API TEE_Result __GP11_TEE_GetObjectInfo1(TEE_ObjectHandle object,
                                            __GP11_TEE_ObjectInfo* objectInfo) {
  return run_api([&] {
    CryptoObject* o = find_object(object);
    if (o == nullptr || objectInfo == nullptr) return Status::fatal();
    fill_info(*o, objectInfo);
    return Status::ok();
  });
}

TA_API void __GP11_TEE_GetObjectInfo(TEE_ObjectHandle object, __GP11_TEE_ObjectInfo* objectInfo) {
  (void)__GP11_TEE_GetObjectInfo1(object, objectInfo);
}

TA_API TEE_Result TEE_RestrictObjectUsage1(TEE_ObjectHandle object, uint32_t objectUsage) {
  return run_api([&] {
    CryptoObject* o = find_object(object);
    if (o == nullptr) return Status::fatal();
    o->restrict_usage(objectUsage);
    return Status::ok();
  });
}

TA_API void TEE_RestrictObjectUsage(TEE_ObjectHandle object, uint32_t objectUsage) {
  (void)TEE_RestrictObjectUsage1(object, objectUsage);
}

TA_API TEE_Result TEE_GetObjectBufferAttribute(TEE_ObjectHandle object, uint32_t attributeID,
                                               void* buffer, size_t* size) {
  return run_api([&] { return api::get_buffer_attribute(object, attributeID, buffer, size); });
}

TA_API TEE_Result TEE_GetObjectValueAttribute(TEE_ObjectHandle object, uint32_t attributeID,
                                              uint32_t* a, uint32_t* b) {
  return run_api([&] {
    const Attribute* attr = nullptr;
    if (Status s = readable(object, attributeID, true, &attr); !s.is_ok()) return s;
    if (a != nullptr) *a = attr->a;
    if (b != nullptr) *b = attr->b;
    return Status::ok();
  });
}

TA_API TEE_Result TEE_AllocateTransientObject(TEE_ObjectType objectType, uint32_t maxObjectSize,
                                              TEE_ObjectHandle* object) {
  return run_api([&] { return api::allocate_transient(objectType, maxObjectSize, object); });
}

TA_API void TEE_FreeTransientObject(TEE_ObjectHandle object) {
  run_api([&] {
    if (object == TEE_HANDLE_NULL) return Status::ok();
    CryptoObject* o = find_object(object);
    if (o == nullptr || o->persistent()) return Status::fatal();
    instance().remove(o);
    return Status::ok();
  });
}

TA_API void TEE_ResetTransientObject(TEE_ObjectHandle object) {
  run_api([&] {
    if (object == TEE_HANDLE_NULL) return Status::ok();
    CryptoObject* o = find_object(object);
    if (o == nullptr || o->persistent()) return Status::fatal();
    o->reset();
    return Status::ok();
  });
}

TA_API TEE_Result TEE_PopulateTransientObject(TEE_ObjectHandle object, const TEE_Attribute* attrs,
                                              uint32_t attrCount) {
  return run_api([&] {
    std::vector<AttrRef> refs;
    if (Status s = read_attrs(attrs, attrCount, &refs); !s.is_ok()) return s;
    return api::populate(object, refs);
  });
}

TA_API void TEE_InitRefAttribute(TEE_Attribute* attr, uint32_t attributeID, const void* buffer,
                                 size_t length) {
  if (attr == nullptr || (attributeID & TEE_ATTR_FLAG_VALUE) != 0) TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
  attr->attributeID = attributeID;
  attr->content.ref.buffer = const_cast<void*>(buffer);
  attr->content.ref.length = length;
}

TA_API void TEE_InitValueAttribute(TEE_Attribute* attr, uint32_t attributeID, uint32_t a,
                                   uint32_t b) {
  if (attr == nullptr || (attributeID & TEE_ATTR_FLAG_VALUE) == 0) TEE_Panic(TEE_ERROR_BAD_PARAMETERS);
  attr->attributeID = attributeID;
  attr->content.value.a = a;
  attr->content.value.b = b;
}

TA_API TEE_Result TEE_CopyObjectAttributes1(TEE_ObjectHandle destObject,
                                            TEE_ObjectHandle srcObject) {
  return run_api([&] {
    CryptoObject* src = find_object(srcObject);
    CryptoObject* dst = nullptr;
    if (src == nullptr || !src->initialized()) return Status::fatal();
    if (Status s = fillable(destObject, &dst); !s.is_ok()) return s;
    return dst->copy_from(*src);
  });
}

TA_API void TEE_CopyObjectAttributes(TEE_ObjectHandle destObject, TEE_ObjectHandle srcObject) {
  (void)TEE_CopyObjectAttributes1(destObject, srcObject);
}

TA_API TEE_Result TEE_GenerateKey(TEE_ObjectHandle object, uint32_t keySize,
                                  const TEE_Attribute* params, uint32_t paramCount) {
  return run_api([&] {
    std::vector<AttrRef> refs;
    if (Status s = read_attrs(params, paramCount, &refs); !s.is_ok()) return s;
    return api::generate_key(object, keySize, refs);
  });
}
