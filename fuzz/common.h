// Shared pieces of the libFuzzer targets: a byte reader the targets build their structured
// inputs from (and the writer the seed generators use, with the same encoding), the seed-writing
// mode every target has, and the harness's own failure report.
//
// Encoding: little-endian integers taken from the front of the input; once the input is used up
// every read returns zero, so any prefix of a valid program is a valid (shorter) program.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

namespace teemu::fuzz {

class Reader {
 public:
  Reader(const uint8_t* data, size_t size) : p_(data), n_(size) {}
  bool empty() const { return n_ == 0; }
  size_t left() const { return n_; }

  uint8_t u8() { return static_cast<uint8_t>(take(1)); }
  uint16_t u16() { return static_cast<uint16_t>(take(2)); }
  uint32_t u32() { return static_cast<uint32_t>(take(4)); }
  uint64_t u64() { return take(8); }
  bool flag() { return u8() & 1; }
  // A value below `bound` (bound > 0), from one byte when it fits.
  uint32_t below(uint32_t bound) { return bound <= 256 ? u8() % bound : u32() % bound; }
  template <class T>
  T pick(std::initializer_list<T> choices) {
    return choices.begin()[below(static_cast<uint32_t>(choices.size()))];
  }
  // One of `choices`, or (one time in size + 1) what `other()` reads. Never put a read into the
  // list itself: the list's elements are all evaluated before the pick.
  template <class T, class F>
  T pick_or(std::initializer_list<T> choices, F&& other) {
    const uint32_t i = below(static_cast<uint32_t>(choices.size() + 1));
    return i < choices.size() ? choices.begin()[i] : static_cast<T>(other());
  }
  template <class T>
  const T& pick(const std::vector<T>& choices) {
    return choices[below(static_cast<uint32_t>(choices.size()))];
  }
  // `n` bytes (fewer at the end of the input, zero-padded).
  std::vector<uint8_t> bytes(size_t n) {
    std::vector<uint8_t> out(n, 0);
    const size_t k = n < n_ ? n : n_;
    if (k != 0) std::memcpy(out.data(), p_, k);
    p_ += k;
    n_ -= k;
    return out;
  }
  // A length-prefixed (u16) byte string.
  std::vector<uint8_t> blob(size_t max) {
    size_t n = u16();
    if (n > max) n = max;
    return bytes(n);
  }

 private:
  uint64_t take(size_t k) {
    uint64_t v = 0;
    for (size_t i = 0; i < k && n_ != 0; ++i, --n_) v |= uint64_t{*p_++} << (8 * i);
    return v;
  }
  const uint8_t* p_;
  size_t n_;
};

class Writer {
 public:
  Writer& u8(uint64_t v) { return put(v, 1); }
  Writer& u16(uint64_t v) { return put(v, 2); }
  Writer& u32(uint64_t v) { return put(v, 4); }
  Writer& u64(uint64_t v) { return put(v, 8); }
  Writer& raw(const std::vector<uint8_t>& b) {
    out_.insert(out_.end(), b.begin(), b.end());
    return *this;
  }
  Writer& blob(const std::vector<uint8_t>& b) {
    u16(b.size());
    return raw(b);
  }
  const std::vector<uint8_t>& data() const { return out_; }

 private:
  Writer& put(uint64_t v, size_t k) {
    for (size_t i = 0; i < k; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
    return *this;
  }
  std::vector<uint8_t> out_;
};

using Seeds = std::vector<std::pair<std::string, std::vector<uint8_t>>>;

// Each target defines these two. seeds() makes the starting corpus (fuzz/corpus/<target>/);
// init() runs once before the first input.
Seeds seeds();
void init();

// The harness found a broken promise of the code under test that no sanitizer sees (a resource
// left behind, a call that never ends, a wrong result): print it and abort, which libFuzzer
// reports as a crash and saves the input for.
[[noreturn]] void finding(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// TEEMU_FUZZ_VERBOSE=1: targets print what each input does (for checking seeds).
bool verbose();
void trace(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// The build's TA directory (TEEMU_FUZZ_TA_DIR overrides it) and the file of one TA.
std::string ta_dir();
std::vector<uint8_t> read_file(const std::string& path);
// A fresh empty directory under $TMPDIR for this process (removed at exit).
std::string scratch_dir(const char* what);
// Removes everything inside `dir` (not `dir` itself).
void clear_dir(const std::string& dir);

}  // namespace teemu::fuzz
