// `teemu run`: runs a client program against teemu's libteec. `teemu demo --tour` runs the
// example clients the same way.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace teemu::tool {

// The directory libteemu.so was loaded from (<prefix>/lib, or lib/ of the build tree): teemu's
// TAs are in lib/teemu/ta below it, the examples in lib/teemu/examples.
std::string lib_dir();

// Puts --guests/--guest into the environment the machine's configuration is read from
// (TEEMU_GUESTS, TEEMU_GUEST); false, with a message naming `command`, for a guest outside
// 1..guests. Nothing is set for guests == 0.
bool set_guest_env(const char* command, uint32_t guests, uint32_t guest);

// Puts the program in argv in place of this process, with teemu's libraries first on the
// library path, the TA directories in ta_dirs searched before the others (TEEMU_TA_PATH or
// teemu's own) and, with guests != 0, a hypervisor of that many guests, the program in guest
// `guest`. Returns only on an error: 2 for bad arguments, 127 when the program cannot run.
int run_program(const std::vector<std::string>& ta_dirs, const std::vector<std::string>& argv,
                uint32_t guests, uint32_t guest);

}  // namespace teemu::tool
