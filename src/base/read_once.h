// Reading memory the other side controls: each field is read exactly once into a local
// (READ_ONCE); the compiler may not re-load it later, so a concurrent rewrite cannot make a
// checked value differ from the used one (double fetch).
#pragma once

#include <type_traits>

namespace teemu::base {

template <class T>
T read_once(const T* p) {
  static_assert(std::is_integral_v<T>);
  return *static_cast<const volatile T*>(p);
}

template <class T>
void write_once(T* p, T v) {
  static_assert(std::is_integral_v<T>);
  *static_cast<volatile T*>(p) = v;
}

}  // namespace teemu::base
