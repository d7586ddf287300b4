// Loads TAs built with the TA dev kit: an ELF shared object exporting `ta_head` and the GP entry
// points. Each instance is a separate image (the bytes are written to a fresh memfd and dlopen'd
// from it), so every instance has its own copy of the TA's globals, as OP-TEE gives every
// instance its own address space.
#pragma once

#include <memory>

#include "tee/ta.h"

namespace teemu::ta_runtime {

namespace storage {
class StorageService;
}

class DlTaLoader : public tee::TaLoader {
 public:
  // `storage` is the machine's trusted storage, shared by every instance this loader makes (it
  // must outlive them: the machine destroys the secure OS, and with it the instances, first).
  // Without it TAs get TEE_ERROR_STORAGE_NOT_AVAILABLE from the storage API.
  explicit DlTaLoader(std::unique_ptr<storage::StorageService> storage);
  DlTaLoader();
  ~DlTaLoader() override;

  Result<std::unique_ptr<tee::TaInstance>> instantiate(const abi::Uuid& uuid,
                                                       const std::vector<uint8_t>& image) override;
  storage::StorageService* storage() const { return storage_.get(); }

  // The checks an image passes before it is handed to the dynamic loader (instantiate makes
  // them; tests and the fuzzer call them alone): null if the image may be loaded, else what is
  // wrong with it.
  static const char* image_problem(const std::vector<uint8_t>& image);

 private:
  std::unique_ptr<storage::StorageService> storage_;
};

}  // namespace teemu::ta_runtime
