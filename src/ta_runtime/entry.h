// The calling convention between the secure OS and a dlopen'd TA: entry points looked up by
// their GP names (or the __GP11_ names of TAs built in GP 1.1 compatibility mode), TEE_Param
// conversion, and the escape from TEE_Panic back to the caller of the entry point.
#pragma once

#include <memory>
#include <vector>

#include "ta_runtime/instance_state.h"
#include "ta_runtime/loaded_image.h"
#include "ta_runtime/ta_memory.h"
#include "tee/ta.h"

namespace teemu::ta_runtime {

namespace storage {
class StorageService;
}

class ImagePool;

class DlTaInstance : public tee::TaInstance {
 public:
  // An instance running in `image`, a loaded copy nobody else uses (freshly loaded, or restored
  // to its snapshot). When the instance goes, the copy goes back to `pool` (if given) for a later
  // instance, unless an entry point of this one panicked or crashed: then it is unloaded.
  // `storage` (not owned, may be null) is the machine's trusted storage.
  DlTaInstance(std::unique_ptr<LoadedImage> image, std::shared_ptr<ImagePool> pool,
               storage::StorageService* storage = nullptr);
  ~DlTaInstance() override;

  const tee::TaProperties& properties() const override { return image_->props(); }
  tee::TaOutcome create() override;
  tee::TaOutcome open_session(tee::TaParams& params, void** session_ctx) override;
  tee::TaOutcome invoke(void* session_ctx, uint32_t cmd, tee::TaParams& params) override;
  tee::TaOutcome close_session(void* session_ctx) override;
  tee::TaOutcome destroy() override;

  InstanceState& state() { return *state_; }
  storage::StorageService* storage() const { return storage_; }
  // The dlopen handle of this instance's image and its loaded segments.
  void* dl_handle() const { return image_->handle(); }
  const std::vector<ImageSegment>& image() const { return image_->segments(); }
  // TEE_SetInstanceData / TEE_GetInstanceData.
  const void* instance_data = nullptr;

 private:
  // Runs body(ctx) on the calling secure thread with this instance current; TEE_Panic inside
  // it returns here with panicked = true.
  // `params`, if given, are the memrefs the entry point receives (for TEE_CheckMemoryAccessRights).
  tee::TaOutcome run(uint32_t (*body)(void*), void* ctx, const tee::TaParams* params = nullptr);

  std::unique_ptr<InstanceState> state_;
  storage::StorageService* storage_ = nullptr;
  std::unique_ptr<LoadedImage> image_;
  std::shared_ptr<ImagePool> pool_;
  // An entry point panicked or crashed: the copy's memory is not trusted again.
  bool panicked_ = false;
};

// The instance whose entry point runs on the calling host thread; null outside of one.
DlTaInstance* current_instance();

// The running entry point's parameters (null for entry points without any) and the address its
// caller's frame ends at: the TA's stack lies below it. Null outside of an entry point.
const tee::TaParams* current_call_params();
const void* current_entry_frame();

// TEE_Panic: unwinds to the entry point's caller on the current secure thread. Never returns.
[[noreturn]] void panic_current_ta(uint32_t code);

}  // namespace teemu::ta_runtime
