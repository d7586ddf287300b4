// The SMC conduit: the one narrow interface between the normal world (or a hypervisor) and the
// secure monitor. Registers a0..a7 go in, a0..a7 come out; the call runs synchronously on the
// calling host thread, as a core enters the secure world.
#pragma once

#include "abi/optee_smc.h"

namespace teemu::hw {

class SmcHandler {
 public:
  virtual ~SmcHandler() = default;
  // Handles one SMC. Must not throw; every input is untrusted.
  virtual abi::SmcRegs smc(const abi::SmcRegs& in) = 0;
};

}  // namespace teemu::hw
