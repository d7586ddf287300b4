/* Trace macros of OP-TEE TAs. The level comes from TRACE_LEVEL, which the dev kit sets from
 * CFG_TEE_TA_LOG_LEVEL (default 2). */
#ifndef TRACE_H
#define TRACE_H

#include <compiler.h>
#include <stdint.h>

#define TRACE_MIN 1
#define TRACE_ERROR 1
#define TRACE_INFO 2
#define TRACE_DEBUG 3
#define TRACE_FLOW 4
#define TRACE_MAX TRACE_FLOW

#ifndef TRACE_LEVEL
#define TRACE_LEVEL TRACE_INFO
#endif

#ifdef __cplusplus
extern "C" {
#endif
void trace_printf(const char *func, int line, int level, bool level_ok, const char *fmt, ...)
    __printf(5, 6);
#ifdef __cplusplus
}
#endif

#define trace_printf_helper(level, level_ok, ...) \
  trace_printf(__func__, __LINE__, (level), (level_ok), __VA_ARGS__)

#if (TRACE_LEVEL < TRACE_ERROR)
#define EMSG(...) (void)0
#else
#define EMSG(...) trace_printf_helper(TRACE_ERROR, true, __VA_ARGS__)
#endif
#if (TRACE_LEVEL < TRACE_INFO)
#define IMSG(...) (void)0
#else
#define IMSG(...) trace_printf_helper(TRACE_INFO, true, __VA_ARGS__)
#endif
#if (TRACE_LEVEL < TRACE_DEBUG)
#define DMSG(...) (void)0
#else
#define DMSG(...) trace_printf_helper(TRACE_DEBUG, true, __VA_ARGS__)
#endif
#if (TRACE_LEVEL < TRACE_FLOW)
#define FMSG(...) (void)0
#else
#define FMSG(...) trace_printf_helper(TRACE_FLOW, true, __VA_ARGS__)
#endif
#if (TRACE_LEVEL <= 0)
#define MSG(...) (void)0
#else
#define MSG(...) trace_printf_helper(0, false, __VA_ARGS__)
#endif

#endif /* TRACE_H */
