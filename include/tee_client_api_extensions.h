/*
 * OP-TEE extensions to the GP TEE Client API, as provided by teemu's libteec.
 */
#ifndef TEE_CLIENT_API_EXTENSIONS_H
#define TEE_CLIENT_API_EXTENSIONS_H

#include <tee_client_api.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Registers memory referred to by a dma-buf file descriptor. teemu models no dma-buf heaps, so
 * this always fails with TEEC_ERROR_BAD_PARAMETERS, which is what OP-TEE's libteec returns for
 * any failure of the underlying ioctl.
 */
TEEC_Result TEEC_RegisterSharedMemoryFileDescriptor(TEEC_Context *context,
                                                    TEEC_SharedMemory *sharedMem, int fd);

#ifdef __cplusplus
}
#endif

#endif /* TEE_CLIENT_API_EXTENSIONS_H */
