/* Compiler helpers OP-TEE TAs rely on (subset of OP-TEE's compiler.h). */
#ifndef COMPILER_H
#define COMPILER_H

#ifndef __unused
#define __unused __attribute__((unused))
#endif
#ifndef __maybe_unused
#define __maybe_unused __attribute__((unused))
#endif
#ifndef __noreturn
#define __noreturn __attribute__((noreturn))
#endif
#ifndef __weak
#define __weak __attribute__((weak))
#endif
#ifndef __packed
#define __packed __attribute__((packed))
#endif
#ifndef __aligned
#define __aligned(x) __attribute__((aligned(x)))
#endif
#ifndef __section
#define __section(x) __attribute__((section(x)))
#endif
#ifndef __printf
#define __printf(a, b) __attribute__((format(printf, (a), (b))))
#endif

#endif /* COMPILER_H */
