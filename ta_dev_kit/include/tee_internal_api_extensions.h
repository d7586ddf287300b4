/* OP-TEE extensions to the GP TEE Internal Core API. */
#ifndef TEE_INTERNAL_API_EXTENSIONS_H
#define TEE_INTERNAL_API_EXTENSIONS_H

#include <tee_api_defines_extensions.h>
#include <tee_api_types.h>

#endif /* TEE_INTERNAL_API_EXTENSIONS_H */
