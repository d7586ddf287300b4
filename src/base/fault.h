// Synchronous fault signals (SIGSEGV, SIGBUS, SIGILL, SIGFPE) inside the process, handled the way
// a kernel handles faults in privileged code:
//  - copy_checked() is the exception-table copy of copy_from_user/copy_to_user: a fault while
//    touching either buffer makes it return false instead of killing the process;
//  - a hook (the TA runtime's) may claim faults raised while its code runs;
//  - every other fault goes to the disposition that was installed before teemu's.
#pragma once

#include <setjmp.h>
#include <signal.h>

#include <cstddef>

#include "base/sanitizer.h"

// Jumping out of a signal handler (and out of TA code on TEE_Panic). Normally the compiler's
// setjmp/longjmp builtins: a few registers, no signal mask, no libc. Under TSan the libc pair,
// which TSan intercepts: it must see the jump to know that the signal handler has ended.
#ifdef TEEMU_TSAN
#define TEEMU_SETJMP(buf) sigsetjmp(buf, 0)
#define TEEMU_LONGJMP(buf) siglongjmp(buf, 1)
#else
#define TEEMU_SETJMP(buf) __builtin_setjmp(buf)
#define TEEMU_LONGJMP(buf) __builtin_longjmp(buf, 1)
#endif

namespace teemu::base {

#ifdef TEEMU_TSAN
using JumpBuffer = sigjmp_buf;
#else
using JumpBuffer = void* [5];
#endif

// Copies n bytes from src to dst; false if the copy faulted (nothing is guaranteed about how
// much of dst was written then). Safe to call on any thread.
bool copy_checked(void* dst, const void* src, size_t n);

// Touches one byte of each of the `pages` pages from `start` (page aligned) for writing, without
// changing it (an atomic OR of zero), as a kernel's write fault-in of user pages does: false if
// one of them is not mapped writable. Pages not present yet are faulted in. Safe on any thread,
// and against other threads writing the same bytes.
bool probe_writable_checked(void* start, size_t pages);

// A hook runs inside the signal handler for faults copy_checked did not claim. It either does
// not return (it jumps out) or returns to let the fault take its previous course.
using FaultHook = void (*)(int sig, siginfo_t* info, void* ucontext);
void set_fault_hook(FaultHook hook);

// Gives the calling thread an alternate signal stack (kept until the thread exits), so faults
// caused by a stack overflow can be handled too.
void ensure_alt_stack();

// After jumping out of the handler: unblock the fault signals for the calling thread again. All of
// them, not only the one handled: the handler may have run with others blocked too (a
// sanitizer's handler that calls ours blocks every signal), and a fault signal that arrives
// blocked kills the process.
void unblock_fault_signals();

// Call where a jump (__builtin_longjmp, which sanitizers do not intercept) has just landed,
// abandoning the frames below: under ASan their stack redzones stay poisoned and would be
// reported when the stack is used again, so the stack is unpoisoned. Nothing elsewhere.
void landed_after_jump();

}  // namespace teemu::base
