/* A TA that adds or subtracts one from a value the client passes. */
#include <tee_internal_api.h>
#include <tee_internal_api_extensions.h>

#include <hello_world_ta.h>

TEE_Result TA_CreateEntryPoint(void) {
  DMSG("has been called");
  return TEE_SUCCESS;
}

void TA_DestroyEntryPoint(void) { DMSG("has been called"); }

TEE_Result TA_OpenSessionEntryPoint(uint32_t param_types, TEE_Param __maybe_unused params[4],
                                    void __maybe_unused **sess_ctx) {
  if (param_types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE,
                                     TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  IMSG("Hello from the TA\n");
  return TEE_SUCCESS;
}

void TA_CloseSessionEntryPoint(void __maybe_unused *sess_ctx) { IMSG("Goodbye from the TA\n"); }

static TEE_Result step_value(uint32_t param_types, TEE_Param params[4], int delta) {
  if (param_types != TEE_PARAM_TYPES(TEE_PARAM_TYPE_VALUE_INOUT, TEE_PARAM_TYPE_NONE,
                                     TEE_PARAM_TYPE_NONE, TEE_PARAM_TYPE_NONE))
    return TEE_ERROR_BAD_PARAMETERS;
  IMSG("Got value: %u from the client", params[0].value.a);
  params[0].value.a += delta;
  IMSG("Changed it to: %u", params[0].value.a);
  return TEE_SUCCESS;
}

TEE_Result TA_InvokeCommandEntryPoint(void __maybe_unused *sess_ctx, uint32_t cmd_id,
                                      uint32_t param_types, TEE_Param params[4]) {
  switch (cmd_id) {
    case TA_HELLO_WORLD_CMD_INC_VALUE: return step_value(param_types, params, 1);
    case TA_HELLO_WORLD_CMD_DEC_VALUE: return step_value(param_types, params, -1);
    default: return TEE_ERROR_BAD_PARAMETERS;
  }
}
