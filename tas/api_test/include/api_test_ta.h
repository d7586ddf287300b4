/* The API-test TAs: the GP Internal Core API functions of properties, time, memory access
 * rights, instance data and TA-to-TA sessions, in a GP 1.3.1 and a GP 1.1 build of one source.
 * Each command reports the GP results it saw in output values; the invoke itself succeeds unless
 * the command's parameters are wrong (or it panics). */
#ifndef API_TEST_TA_H
#define API_TEST_TA_H

#define TA_API_TEST_UUID \
  { 0x8d2e4f60, 0x3a1b, 0x4c5d, { 0x9e, 0x7f, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf5 } }
#define TA_API_TEST_GP11_UUID \
  { 0x8d2e4f60, 0x3a1b, 0x4c5d, { 0x9e, 0x7f, 0xa0, 0xb1, 0xc2, 0xd3, 0xe4, 0xf6 } }

/* Property sets as the commands name them. */
#define API_SET_TA 0
#define API_SET_CLIENT 1
#define API_SET_TEE 2
#define API_SET_BOGUS 3 /* a handle that is neither a set nor an enumerator */

/* TEE_GetPropertyAsString. p0 VALUE_INPUT: a = set, b = length passed in;
 * p1 MEMREF_INPUT: the name (NUL-terminated); p2 MEMREF_OUTPUT: the value;
 * p3 VALUE_OUTPUT: a = result, b = length the call returned. */
#define API_CMD_PROP_STRING 0
/* TEE_GetPropertyAs<kind>. p0 VALUE_INPUT: a = set, b = kind (API_KIND_*);
 * p1 MEMREF_INPUT: the name; p2 MEMREF_OUTPUT: the raw value (a bool as one byte);
 * p3 VALUE_OUTPUT: a = result, b = length (binary blocks: as returned; else the value's size). */
#define API_CMD_PROP_TYPED 1
#define API_KIND_BOOL 0
#define API_KIND_U32 1
#define API_KIND_U64 2
#define API_KIND_UUID 3
#define API_KIND_IDENTITY 4
#define API_KIND_BINARY 5
/* Enumerates a set. p0 VALUE_INPUT: a = set; p1 MEMREF_OUTPUT: "name=value\n" for every
 * property (TEE_GetPropertyName, then TEE_GetPropertyAsString through the enumerator);
 * p2 VALUE_OUTPUT: a = properties seen, b = API_ENUM_* bits for the checks that held. */
#define API_CMD_PROP_ENUM 2
#define API_ENUM_NOT_STARTED_NAME (1u << 0)  /* GetPropertyName before Start: ITEM_NOT_FOUND */
#define API_ENUM_NOT_STARTED_NEXT (1u << 1)  /* GetNextProperty before Start: ITEM_NOT_FOUND */
#define API_ENUM_END (1u << 2)               /* GetNextProperty past the end: ITEM_NOT_FOUND */
#define API_ENUM_PAST_END_NAME (1u << 3)     /* GetPropertyName past the end: ITEM_NOT_FOUND */
#define API_ENUM_SHORT_NAME (1u << 4)        /* a 1-byte name buffer: SHORT_BUFFER, length */
#define API_ENUM_RESET (1u << 5)             /* after Reset: ITEM_NOT_FOUND again */
#define API_ENUM_RESTART (1u << 6)           /* Start again: back at the first property */
/* A call GP says panics. p0 VALUE_INPUT: a = API_PANIC_*. */
#define API_CMD_PROP_PANIC 3
#define API_PANIC_BOGUS_HANDLE 0  /* TEE_GetPropertyAsString on a non-handle */
#define API_PANIC_NULL_VALUE 1    /* TEE_GetPropertyAsU32 with value NULL */
#define API_PANIC_NULL_LENGTH 2   /* TEE_GetPropertyAsString with valueBufferLen NULL */
#define API_PANIC_FREE_BOGUS 3    /* TEE_FreePropertyEnumerator on a non-enumerator */
#define API_PANIC_START_BOGUS 4   /* TEE_StartPropertyEnumerator with a non-set */
#define API_PANIC_NEXT_BOGUS 5    /* TEE_GetNextProperty on a non-enumerator */

/* TEE_GetSystemTime around TEE_Wait(p0.a): p1, p2 VALUE_OUTPUT: seconds/millis before and
 * after; p3 VALUE_OUTPUT: a = TEE_Wait's result. */
#define API_CMD_TIME_SYSTEM 4
/* TEE_GetREETime. p0 VALUE_OUTPUT: seconds, millis. */
#define API_CMD_TIME_REE 5
/* TEE_GetTAPersistentTime. p0 VALUE_OUTPUT: seconds, millis; p1 VALUE_OUTPUT: a = result. */
#define API_CMD_TIME_GET 6
/* TEE_SetTAPersistentTime. p0 VALUE_INPUT: seconds, millis; p1 VALUE_OUTPUT: a = result. */
#define API_CMD_TIME_SET 7

/* TEE_CheckMemoryAccessRights on the TA's own memory and on p0 (MEMREF_INOUT, client memory).
 * p1 MEMREF_OUTPUT: one uint32_t result per API_RIGHTS_* check, in that order. */
#define API_CMD_MEM_RIGHTS 8
enum api_rights_check {
  API_RIGHTS_SHARED_READ_ANY,      /* p0, READ | ANY_OWNER: SUCCESS */
  API_RIGHTS_SHARED_READ,          /* p0, READ: ACCESS_DENIED (not the TA's) */
  API_RIGHTS_SHARED_RW_ANY,        /* p0, READ | WRITE | ANY_OWNER: SUCCESS */
  API_RIGHTS_SHARED_PAST_END,      /* p0 and one byte more, READ | ANY_OWNER: ACCESS_DENIED */
  API_RIGHTS_RODATA_READ,          /* a const array, READ: SUCCESS */
  API_RIGHTS_RODATA_WRITE,         /* a const array, WRITE: ACCESS_DENIED */
  API_RIGHTS_DATA_RW,              /* an initialized global, READ | WRITE: SUCCESS */
  API_RIGHTS_BSS_RW,               /* a zeroed global, READ | WRITE: SUCCESS */
  API_RIGHTS_STACK_RW,             /* a local array, READ | WRITE: SUCCESS */
  API_RIGHTS_HEAP_RW,              /* TEE_Malloc memory, READ | WRITE: SUCCESS */
  API_RIGHTS_HEAP_RW_ANY,          /* TEE_Malloc memory, READ | WRITE | ANY_OWNER: SUCCESS */
  API_RIGHTS_NULL,                 /* NULL, 1 byte, READ: ACCESS_DENIED */
  API_RIGHTS_LOW_ADDRESS,          /* 256 KiB, 1 byte, READ: ACCESS_DENIED */
  API_RIGHTS_SIZE_ZERO,            /* NULL, size 0: SUCCESS */
  API_RIGHTS_WRAP,                 /* a range wrapping the address space: ACCESS_DENIED */
  API_RIGHTS_TEXT_WRITE,           /* the TA's code, WRITE: ACCESS_DENIED */
  API_RIGHTS_HOST_HEAP,            /* memory the TA never got (host malloc), READ | ANY_OWNER: ACCESS_DENIED */
  API_RIGHTS_COUNT
};

/* TEE_SetInstanceData / TEE_GetInstanceData. p0 VALUE_INOUT: a = 1 sets a TA_Malloc'd word
 * holding b; a = 0 reads it back into b (a = 0 if no data was set). */
#define API_CMD_INSTANCE_DATA 9

/* TA-to-TA sessions with the lifecycle-test TAs. p0 VALUE_INPUT: a = API_T2T_*, b = argument;
 * p1 MEMREF_INOUT: client memory for the scenarios that pass it on (else a 1-byte dummy);
 * p2 VALUE_OUTPUT: a = the last TEE result, b = its origin; p3 VALUE_OUTPUT: scenario values. */
#define API_CMD_T2T 10
#define API_T2T_COUNTER 0       /* open MULTI, COUNTER twice: p3.a = 2nd counter; close */
#define API_T2T_HEAP_XOR 1      /* XOR a 16-byte heap buffer: p3.a = 1 if changed, p3.b = rights */
#define API_T2T_STACK_XOR 2     /* the same with a stack buffer */
#define API_T2T_CLIENT_XOR 3    /* pass p1 through: the client sees it changed; p3.b = rights */
#define API_T2T_RODATA_OUT 4    /* open with a const array as MEMREF_OUTPUT: ACCESS_DENIED */
#define API_T2T_NULL_SIZED 5    /* open with MEMREF_INPUT NULL, size 4: BAD_PARAMETERS */
#define API_T2T_MISSING 6       /* open a TA that does not exist: ITEM_NOT_FOUND */
#define API_T2T_PANIC 7         /* open MULTI, PANIC: p2 = TARGET_DEAD/TEE; p3.a = next invoke's result */
#define API_T2T_IDENTITY 8      /* open MULTI, CLIENT: p3.a = login, p3.b = 1 if the UUID is ours */
#define API_T2T_CALLEE_ERROR 9  /* an unknown command: the callee's NOT_SUPPORTED, origin TRUSTED_APP */
#define API_T2T_SHORT 10        /* XOR asking for size b on a 16-byte heap buffer: p3.a = size back,
                                   p3.b = 1 if the caller's buffer is untouched */
#define API_T2T_KEEP 11         /* open SHARED (b = 0) and keep the session in a global */
#define API_T2T_BAD_HANDLE 12   /* TEE_InvokeTACommand on a bogus handle: panics */
#define API_T2T_CLOSE_BOGUS 13  /* TEE_CloseTASession on a bogus handle: panics */
#define API_T2T_CLOSE_NULL 14   /* TEE_CloseTASession(TEE_HANDLE_NULL): nothing */
#define API_T2T_OPEN_SELF 15    /* open our own UUID (a multi-instance TA): a new instance */

/* Extension properties the TA declares (TA_CURRENT_TA_EXT_PROPERTIES). */
#define API_EXT_STRING "teemu.test.string"
#define API_EXT_STRING_VALUE "hello properties"
#define API_EXT_U32 "teemu.test.u32"
#define API_EXT_U32_VALUE 0x12345678u
#define API_EXT_U64 "teemu.test.u64"
#define API_EXT_U64_VALUE 0x0123456789abcdefull
#define API_EXT_BOOL "teemu.test.bool"
#define API_EXT_BINARY "teemu.test.binary"
#define API_EXT_BINARY_BASE64 "AAECAwQFBgcICQ==" /* bytes 0..9 */
#define API_EXT_UUID "teemu.test.uuid"
#define API_EXT_IDENTITY "teemu.test.identity"

#endif
