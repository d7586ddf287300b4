// Embedded mode: one machine per process, booted inside the client on first use (the first
// TEEC_InitializeContext), configured by TEEMU_CONFIG and TEEMU_* variables. Nothing to start.
#pragma once

#include "platform/machine.h"

namespace teemu::platform {

// The process's machine, booted on the first call; null if booting failed (the reason is
// printed to stderr once). Thread-safe.
Machine* embedded_machine();

// A client context of the embedded machine was finalized: writes TEEMU_STATS if configured.
void embedded_context_finalized();

}  // namespace teemu::platform
