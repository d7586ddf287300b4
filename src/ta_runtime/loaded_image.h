// One dlopen'd copy of a TA image: the dynamic loader's handle, the memfd it was loaded from, the
// entry points, the loaded segments, and a snapshot of everything of it a TA can write.
//
// The snapshot is taken right after dlopen, before any TA entry point ran: the writable segments
// (.data, .bss, the writable part of the GOT) as the loader left them, relocated and with the
// image's constructors run. restore() puts it back, so a copy that served one instance serves
// the next exactly as a fresh dlopen of the same bytes would: the TA sees its globals as
// initialised, never a value an earlier instance left. The read-only segments (code, rodata,
// RELRO) cannot be changed by the TA and need no reset; its heap and handles are not in the image
// (InstanceState, made new for every instance).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "ta_runtime/ta_memory.h"
#include "tee/ta.h"

namespace teemu::ta_runtime {

class LoadedImage {
 public:
  struct Entries {
    void* create = nullptr;
    void* destroy = nullptr;
    void* open = nullptr;
    void* close = nullptr;
    void* invoke = nullptr;
    bool gp11 = false;  // open/invoke are the __GP11_ entry points (32-bit memref sizes)
  };

  // Takes ownership of `handle` and of the memfd `image_fd` on success; on failure (an entry
  // point is missing, the UUID is the runtime's reserved one) returns null and owns neither.
  static std::unique_ptr<LoadedImage> create(void* handle, int image_fd,
                                             const tee::TaProperties& props);
  // dlclose, then closes the memfd (the loader recognises objects by path: the descriptor must
  // stay open while the handle is).
  ~LoadedImage();
  LoadedImage(const LoadedImage&) = delete;
  LoadedImage& operator=(const LoadedImage&) = delete;

  // Copies the writable segments. Must run before any TA code does (other than the image's
  // constructors, which dlopen ran). False if the loaded segments are unknown: the copy must then
  // not serve another instance.
  bool snapshot();
  // Puts the snapshot back. The caller owns the copy alone: no entry point of it runs.
  void restore();

  void* handle() const { return handle_; }
  const tee::TaProperties& props() const { return props_; }
  const Entries& entries() const { return entries_; }
  // Loaded segments with their permissions after relocation (page bounds).
  const std::vector<ImageSegment>& segments() const { return segments_; }
  // Bytes the snapshot keeps (zero-filled ranges are not stored).
  size_t snapshot_bytes() const { return saved_.size(); }

 private:
  LoadedImage() = default;

  // One writable range: `size` bytes at `start`, either kept in saved_ from `saved_at` on, or all
  // zero in the snapshot (then restored by zeroing, or by dropping anonymous pages).
  struct Range {
    uintptr_t start = 0;
    size_t size = 0;
    bool zero = false;
    bool anonymous = false;  // private anonymous pages (the .bss beyond the file's last page)
    size_t saved_at = 0;
  };

  void* handle_ = nullptr;
  int fd_ = -1;
  tee::TaProperties props_;
  Entries entries_;
  std::vector<ImageSegment> segments_;
  std::vector<Range> ranges_;
  std::vector<uint8_t> saved_;
};

}  // namespace teemu::ta_runtime
