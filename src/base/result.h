// Error values. Two families, each converted to its wire form in exactly one place per boundary:
//  - Error: a GlobalPlatform result code (TEEC_*/TEE_* values verbatim) plus its origin, used by the
//    secure OS, the client library and anything that reports to a GP caller.
//  - Errno: a Linux errno, used by the REE kernel model (ioctl results are -errno).
#pragma once

#include <cstdint>
#include <utility>

#include <tl/expected.hpp>

#include "abi/gp.h"

namespace teemu {

struct Error {
  uint32_t code = abi::TEE_ERROR_GENERIC;
  uint32_t origin = abi::TEE_ORIGIN_TEE;

  friend bool operator==(const Error&, const Error&) = default;
};

template <class T>
using Result = tl::expected<T, Error>;

inline tl::unexpected<Error> fail(uint32_t code, uint32_t origin = abi::TEE_ORIGIN_TEE) {
  return tl::unexpected(Error{code, origin});
}

// A positive Linux errno value (EINVAL, ENOMEM, ...). Functions at the uapi boundary return the
// negated value as the ioctl result.
struct Errno {
  int value = 0;
  friend bool operator==(const Errno&, const Errno&) = default;
};

template <class T>
using KResult = tl::expected<T, Errno>;

inline tl::unexpected<Errno> fail_errno(int e) { return tl::unexpected(Errno{e}); }

}  // namespace teemu

// TRY(expr): evaluates an expected; on error returns the error from the enclosing function,
// otherwise yields the value. TRY_VOID for expected<void, E>.
#define TEEMU_CONCAT_INNER(a, b) a##b
#define TEEMU_CONCAT(a, b) TEEMU_CONCAT_INNER(a, b)
#define TRY(expr)                                                       \
  ({                                                                    \
    auto&& TEEMU_CONCAT(try_r_, __LINE__) = (expr);                     \
    if (!TEEMU_CONCAT(try_r_, __LINE__))                                \
      return ::tl::unexpected(std::move(TEEMU_CONCAT(try_r_, __LINE__).error())); \
    std::move(*TEEMU_CONCAT(try_r_, __LINE__));                         \
  })
#define TRY_VOID(expr)                                                  \
  do {                                                                  \
    auto&& TEEMU_CONCAT(try_r_, __LINE__) = (expr);                     \
    if (!TEEMU_CONCAT(try_r_, __LINE__))                                \
      return ::tl::unexpected(std::move(TEEMU_CONCAT(try_r_, __LINE__).error())); \
  } while (0)
