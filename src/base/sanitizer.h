// Sanitizer detection, and what the sanitizers cannot see for themselves, told to them
// explicitly. Nothing in a normal build.
#pragma once

// Which sanitizer this translation unit is built with, detected once for all of teemu: clang
// has __has_feature, gcc defines __SANITIZE_*__.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define TEEMU_ASAN 1
#endif
#if __has_feature(thread_sanitizer)
#define TEEMU_TSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(TEEMU_ASAN)
#define TEEMU_ASAN 1
#endif
#if defined(__SANITIZE_THREAD__) && !defined(TEEMU_TSAN)
#define TEEMU_TSAN 1
#endif

#ifdef TEEMU_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#ifdef TEEMU_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace teemu::base {

// TA images are mapped and unmapped by the dynamic loader, whose mmap/munmap TSan does not
// intercept (glibc calls them internally): TSan never learns that an unloaded image's memory
// went away, and a new image mapped at the same address inherits the old one's access history.
// The old accesses do happen before the new ones (the address is free for the new image only
// once the old one is unmapped), and TSan is told so: every unload releases one synchronization
// object before dlclose unmaps anything, and every load acquires it after dlopen has mapped the
// image. (Acquiring before dlopen is too early: another thread's dlclose could unmap the range,
// and this dlopen reuse it, before that thread's release.) Clang 14's AnnotateNewMemory, which
// would reset the range instead, does nothing.
inline char g_image_mapping_order;
inline void image_about_to_be_unmapped() {
#ifdef TEEMU_TSAN
  __tsan_release(&g_image_mapping_order);
#endif
}
inline void image_mapped() {
#ifdef TEEMU_TSAN
  __tsan_acquire(&g_image_mapping_order);
#endif
}

}  // namespace teemu::base
