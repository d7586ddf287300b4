/* OP-TEE extensions to the GP constants (values as in OP-TEE's tee_api_defines_extensions.h). */
#ifndef TEE_API_DEFINES_EXTENSIONS_H
#define TEE_API_DEFINES_EXTENSIONS_H

/* Implementation-specific storage ids. teemu stores TEE_STORAGE_PRIVATE and
 * TEE_STORAGE_PRIVATE_REE in the same REE file system (as OP-TEE built with CFG_REE_FS); it has no
 * RPMB, so TEE_STORAGE_PRIVATE_RPMB answers TEE_ERROR_ITEM_NOT_FOUND as OP-TEE without
 * CFG_RPMB_FS does. */
#define TEE_STORAGE_PRIVATE_REE 0x80000000
#define TEE_STORAGE_PRIVATE_RPMB 0x80000100
#define TEE_STORAGE_PRIVATE_SQL_RESERVED 0x80000200

#endif /* TEE_API_DEFINES_EXTENSIONS_H */
