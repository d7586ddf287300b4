// TA persistent time (api_time.cc): where its per-TA records live in trusted storage.
#pragma once

#include "abi/gp.h"

namespace teemu::ta_runtime {

// The storage namespace (a TA UUID no TA may have) holding every TA's persistent-time record,
// with the TA's UUID as object id: 7465656d-752d-5441-8074-696d65000000 ("teemu-TA", "time").
// LoadedImage::create refuses a TA claiming it, so the records are out of every TA's reach.
inline constexpr abi::Uuid kTimeNamespace = {{0x74, 0x65, 0x65, 0x6d, 0x75, 0x2d, 0x54, 0x41, 0x80,
                                              0x74, 0x69, 0x6d, 0x65, 0x00, 0x00, 0x00}};

}  // namespace teemu::ta_runtime
