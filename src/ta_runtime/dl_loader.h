// Loads TAs built with the TA dev kit: an ELF shared object exporting `ta_head` and the GP entry
// points. Each instance is a separate image (the bytes are written to a fresh memfd and dlopen'd
// from it), so every instance has its own copy of the TA's globals, as OP-TEE gives every
// instance its own address space.
#pragma once

#include "tee/ta.h"

namespace teemu::ta_runtime {

class DlTaLoader : public tee::TaLoader {
 public:
  Result<std::unique_ptr<tee::TaInstance>> instantiate(const abi::Uuid& uuid,
                                                       const std::vector<uint8_t>& image) override;
};

}  // namespace teemu::ta_runtime
