// The secure OS's view of trusted applications. The secure OS owns sessions and instances; the TA
// runtime (src/ta_runtime) implements loading and the entry-point calling convention behind these
// interfaces, so the OS never depends on how a TA is built.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "abi/gp.h"
#include "base/result.h"

namespace teemu::tee {

// TA flags (user_ta_header.h).
constexpr uint32_t TA_FLAG_SINGLE_INSTANCE = 1u << 2;
constexpr uint32_t TA_FLAG_MULTI_SESSION = 1u << 3;
constexpr uint32_t TA_FLAG_INSTANCE_KEEP_ALIVE = 1u << 4;

// Parameters as a TA entry point receives them: TEE_PARAM_TYPE_* per slot, values as a/b, memrefs
// as a buffer pointer the TA may dereference directly (zero copy) and a size it may change.
struct TaParams {
  uint32_t types = 0;
  struct Slot {
    uint32_t a = 0;
    uint32_t b = 0;
    void* buffer = nullptr;
    size_t size = 0;
  } p[abi::TEE_NUM_PARAMS];

  uint32_t type(unsigned i) const { return (types >> (4 * i)) & 0xf; }
};

struct TaProperties {
  abi::Uuid uuid{};
  uint32_t flags = 0;
  uint32_t stack_size = 0;
  uint32_t data_size = 0;
};

// Outcome of running a TA entry point: a TEE result, or the TA panicked (its instance is dead).
struct TaOutcome {
  uint32_t result = abi::TEE_SUCCESS;
  bool panicked = false;
};

// One TA instance: its own copy of the TA's globals and heap. Entry points run on the calling
// secure thread's stack; the secure OS guarantees one entry at a time per instance.
class TaInstance {
 public:
  virtual ~TaInstance() = default;
  virtual const TaProperties& properties() const = 0;
  virtual TaOutcome create() = 0;
  virtual TaOutcome open_session(TaParams& params, void** session_ctx) = 0;
  virtual TaOutcome invoke(void* session_ctx, uint32_t cmd, TaParams& params) = 0;
  virtual TaOutcome close_session(void* session_ctx) = 0;
  virtual TaOutcome destroy() = 0;
};

// Makes instances of TAs from their binary images (the bytes of a <uuid>.ta file).
class TaLoader {
 public:
  virtual ~TaLoader() = default;
  // Checks the image (format, header, that it is the TA `uuid`) and makes a new instance.
  // Errors: TEE_ERROR_BAD_FORMAT for a corrupt image, TEE_ERROR_SECURITY for a UUID mismatch.
  virtual Result<std::unique_ptr<TaInstance>> instantiate(const abi::Uuid& uuid,
                                                          const std::vector<uint8_t>& image) = 0;
};

}  // namespace teemu::tee
