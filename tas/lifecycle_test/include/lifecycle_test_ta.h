/* The lifecycle-test TAs: one source built with different headers (flags, UUIDs, a failing
 * TA_CreateEntryPoint), for instance semantics, loader checks and as the callee of TA-to-TA
 * sessions. */
#ifndef LIFECYCLE_TEST_TA_H
#define LIFECYCLE_TEST_TA_H

#define LIFECYCLE_UUID(last) \
  { 0x1f0c5a70, 0x6b2d, 0x4e8a, { 0x9c, 0x3f, 0x5d, 0x7e, 0x9a, 0x1b, 0x3c, (last) } }

/* Flags 0: a new instance per session. */
#define TA_LIFECYCLE_MULTI_UUID LIFECYCLE_UUID(0x01)
/* TA_FLAG_SINGLE_INSTANCE: one instance, one session at a time. */
#define TA_LIFECYCLE_SINGLE_UUID LIFECYCLE_UUID(0x02)
/* TA_FLAG_SINGLE_INSTANCE | TA_FLAG_MULTI_SESSION. */
#define TA_LIFECYCLE_SHARED_UUID LIFECYCLE_UUID(0x03)
/* ... | TA_FLAG_INSTANCE_KEEP_ALIVE. */
#define TA_LIFECYCLE_KEEP_ALIVE_UUID LIFECYCLE_UUID(0x04)
/* TA_CreateEntryPoint returns TEE_ERROR_GENERIC (xtest 1008's create_fail_test). */
#define TA_LIFECYCLE_CREATE_FAIL_UUID LIFECYCLE_UUID(0x05)
/* A flag outside TA_FLAGS_MASK: the loader refuses it. */
#define TA_LIFECYCLE_BAD_FLAGS_UUID LIFECYCLE_UUID(0x06)
/* Installed as <...07>.ta, but its header says ...08: the loader refuses it. */
#define TA_LIFECYCLE_WRONG_UUID_FILE LIFECYCLE_UUID(0x07)
#define TA_LIFECYCLE_WRONG_UUID_HEADER LIFECYCLE_UUID(0x08)
/* TA_CreateEntryPoint panics. */
#define TA_LIFECYCLE_CREATE_PANIC_UUID LIFECYCLE_UUID(0x09)
/* Flags 0, like ...01: the one whose file the image-cache tests replace with other bytes. */
#define TA_LIFECYCLE_RELOAD_UUID LIFECYCLE_UUID(0x0b)
/* Flags 0, and a constructor of its own: its loaded copies are never reused. */
#define TA_LIFECYCLE_CTOR_UUID LIFECYCLE_UUID(0x0c)
/* Never built. */
#define TA_LIFECYCLE_MISSING_UUID LIFECYCLE_UUID(0x0f)

/* p0 VALUE_OUTPUT: a = the instance's counter after incrementing it, b = sessions open now. */
#define LIFECYCLE_CMD_COUNTER 0
/* TEE_Panic(LIFECYCLE_PANIC_CODE). */
#define LIFECYCLE_CMD_PANIC 1
#define LIFECYCLE_PANIC_CODE 0x0badc0de
/* p0 VALUE_OUTPUT: a = the client's login; p1 MEMREF_OUTPUT: its TEE_UUID (16 bytes). */
#define LIFECYCLE_CMD_CLIENT 2
/* p0 MEMREF_INOUT: every byte XOR 0xff, size set to p1.a if p1.a != 0 (data then written up to
 * the buffer's size only); p1 VALUE_INOUT: b = bit 0 TEE_CheckMemoryAccessRights(READ |
 * ANY_OWNER) succeeded on p0, bit 1 READ alone was TEE_ERROR_ACCESS_DENIED. Returns
 * TEE_ERROR_SHORT_BUFFER if the new size is larger than the buffer. */
#define LIFECYCLE_CMD_XOR 3
/* Opens a session to this TA's own UUID (its gpd.ta.appID) and closes it again.
 * p0 VALUE_OUTPUT: a = TEE_OpenTASession's result, b = its origin. */
#define LIFECYCLE_CMD_SELF_OPEN 4
/* The next TA_CloseSessionEntryPoint / TA_DestroyEntryPoint of this instance panics. */
#define LIFECYCLE_CMD_PANIC_AT_CLOSE 5
#define LIFECYCLE_CMD_PANIC_AT_DESTROY 6
/* Opening a session with p0 VALUE_INPUT a = LIFECYCLE_OPEN_PANIC panics in
 * TA_OpenSessionEntryPoint. */
#define LIFECYCLE_OPEN_PANIC 0x0badc0de
/* What a fresh instance must look like, then leaves the instance changed everywhere a TA can
 * keep state. p0 VALUE_OUTPUT: a = the initialised global (.data) as found, LIFECYCLE_DATA_MARKER
 * in a fresh instance; b = LIFECYCLE_FRESH_* bits for what was as a fresh instance has it. Then
 * the .data global becomes LIFECYCLE_DATA_DIRTY, the counter (.bss) grows by 100, a heap block is
 * allocated and kept in a .bss pointer and as the instance data.
 * p1 VALUE_OUTPUT: a = times the constructor ran in this loaded image (variant ...0c only). */
#define LIFECYCLE_CMD_DIRTY 7
#define LIFECYCLE_DATA_MARKER 0x600dda7au
#define LIFECYCLE_DATA_DIRTY 0xd1d1d1d1u
#define LIFECYCLE_FRESH_COUNTER 1u       /* the .bss counter is 0 */
#define LIFECYCLE_FRESH_HEAP_POINTER 2u  /* the .bss heap pointer is NULL */
#define LIFECYCLE_FRESH_INSTANCE_DATA 4u /* TEE_GetInstanceData() is NULL */
#define LIFECYCLE_FRESH_ALL 7u

#endif
