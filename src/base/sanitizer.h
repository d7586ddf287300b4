// What the sanitizers cannot see for themselves, told to them explicitly. Nothing in a normal
// build.
#pragma once

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TEEMU_TSAN_ANNOTATIONS 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define TEEMU_TSAN_ANNOTATIONS 1
#endif

#ifdef TEEMU_TSAN_ANNOTATIONS
#include <sanitizer/tsan_interface.h>
#endif

namespace teemu::base {

// TA images are mapped and unmapped by the dynamic loader, whose mmap/munmap TSan does not
// intercept: a new image mapped where an unloaded one was looks to TSan like the same memory
// written by two threads with nothing ordering them. The unload does order them (the new image
// can only be mapped there after the old one is gone), so every unload releases and every load
// acquires one synchronization object.
inline char g_image_mapping_order;
inline void image_unmapped() {
#ifdef TEEMU_TSAN_ANNOTATIONS
  __tsan_release(&g_image_mapping_order);
#endif
}
inline void image_about_to_be_mapped() {
#ifdef TEEMU_TSAN_ANNOTATIONS
  __tsan_acquire(&g_image_mapping_order);
#endif
}

}  // namespace teemu::base
