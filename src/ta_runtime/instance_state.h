// Runtime state owned by one TA instance: its heap (TEE_Malloc, bounded by TA_DATA_SIZE as in
// OP-TEE) and the handles of its objects (crypto operations, transient and persistent objects,
// enumerators, TA sessions). Everything left is freed when the instance goes, so a TA that
// forgets to free (or panics) leaks nothing. Only the thread running the instance touches it (the
// secure OS runs one entry point of an instance at a time).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <unordered_map>

namespace teemu::ta_runtime {

// Base of every object a TA holds by handle.
class RuntimeObject {
 public:
  virtual ~RuntimeObject() = default;
};

class InstanceState {
 public:
  // heap_limit 0 means no limit.
  explicit InstanceState(size_t heap_limit) : heap_limit_(heap_limit) {}
  ~InstanceState();
  InstanceState(const InstanceState&) = delete;
  InstanceState& operator=(const InstanceState&) = delete;

  // --- heap ---
  void* alloc(size_t size, bool zero);
  // Null for a pointer this instance did not allocate (the caller panics the TA).
  void* realloc(void* p, size_t size, bool* bad_pointer);
  // False for a pointer this instance did not allocate.
  bool free(void* p);
  size_t heap_used() const { return used_; }
  bool owns(const void* p) const;
  // The live allocation holding address `p` (anywhere inside it): its start and size.
  bool find_allocation(const void* p, const void** start, size_t* size) const;

  // --- handles: the handle is the object's address, valid only if registered here ---
  template <class T>
  T* add(std::unique_ptr<T> obj) {
    T* raw = obj.get();
    objects_.emplace(static_cast<const void*>(raw), std::move(obj));
    return raw;
  }
  // The object behind `handle` if it is one of this instance's objects of type T, else null.
  template <class T>
  T* get(const void* handle) const {
    auto it = objects_.find(handle);
    return it == objects_.end() ? nullptr : dynamic_cast<T*>(it->second.get());
  }
  bool remove(const void* handle) { return objects_.erase(handle) != 0; }
  size_t object_count() const { return objects_.size(); }

 private:
  struct Block;
  size_t heap_limit_;
  size_t used_ = 0;
  Block* blocks_ = nullptr;  // doubly linked list of live allocations
  std::unordered_map<const void*, std::unique_ptr<RuntimeObject>> objects_;
};

// The state of the instance whose entry point runs on the calling host thread; null outside of
// a TA entry point.
InstanceState* current_instance_state();

}  // namespace teemu::ta_runtime
