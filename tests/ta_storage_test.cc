// Trusted storage (GP TEE Internal Core API 1.3.1, 5.5.5 and 5.7-5.9) end to end: the storage-test
// TAs (tas/storage_test, a GP 1.3.1 and a GP 1.1 build) driven through the GP Client API on the
// embedded machine, machines of their own for what needs a restart or a storage directory to
// tamper with, and tee-supplicant's REE FS service on its own. Each process gets a fresh storage
// directory (TEEMU_STORAGE_DIR is set before the embedded machine boots); every test that builds
// a machine gives it its own directory.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "abi/optee_msg.h"
#include "abi/tee_uapi.h"
#include "platform/config.h"
#include "ree/kernel.h"
#include "storage_test_ta.h"
#include "supplicant/supplicant.h"
#include "ta_runtime/storage_format.h"
#include "support/gp_util.h"  // last: the GP header's macros

namespace teemu::test {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

// --- GP values the tests use (tee_api_defines.h; the TA dev kit's headers are for TAs) ---------
constexpr uint32_t kPrivate = 0x00000001, kPrivateRee = 0x80000000, kPrivateRpmb = 0x80000100;
constexpr uint32_t kRead = 0x1, kWrite = 0x2, kWriteMeta = 0x4, kShareRead = 0x10,
                   kShareWrite = 0x20, kOverwrite = 0x400;
constexpr uint32_t kSeekSet = 0, kSeekCur = 1, kSeekEnd = 2;
constexpr uint32_t kHandlePersistent = 0x00010000, kHandleInitialized = 0x00020000;
constexpr uint32_t kTypeData = 0xA00000BF, kTypeAes = 0xA0000010, kTypeRsaKeypair = 0xA1000030;
constexpr uint32_t kAttrSecret = 0xC0000000, kAttrModulus = 0xD0000130;
constexpr uint32_t kCorrupt = 0xF0100001, kNotAvailable = 0xF0100003, kNoSpace = 0xFFFF3041,
                   kOverflowErr = 0xFFFF300F;
constexpr uint64_t kMaxPosition = 0xFFFFFFFF;

const TEEC_UUID kStorageUuid = TA_STORAGE_TEST_UUID;
const TEEC_UUID kStorage2Uuid = TA_STORAGE_TEST2_UUID;
const uint8_t kAesKey[] = TA_STORAGE_AES_KEY;

Bytes text(const std::string& s) { return Bytes(s.begin(), s.end()); }
Bytes repeat(uint8_t v, size_t n) { return Bytes(n, v); }

ta_runtime::storage::Uuid16 octets(const TEEC_UUID& u) {
  ta_runtime::storage::Uuid16 o{};
  for (int i = 0; i < 4; ++i) o[i] = static_cast<uint8_t>(u.timeLow >> (24 - 8 * i));
  o[4] = static_cast<uint8_t>(u.timeMid >> 8);
  o[5] = static_cast<uint8_t>(u.timeMid);
  o[6] = static_cast<uint8_t>(u.timeHiAndVersion >> 8);
  o[7] = static_cast<uint8_t>(u.timeHiAndVersion);
  std::memcpy(o.data() + 8, u.clockSeqAndNode, 8);
  return o;
}

std::string make_temp_dir() {
  char tmpl[] = "/tmp/teemu-storage-XXXXXX";
  const char* d = mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d != nullptr ? d : "/tmp";
}

Bytes read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const Bytes& b) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(b.data()), static_cast<std::streamsize>(b.size()));
}

fs::path ta_dir(const std::string& root, const TEEC_UUID& u) {
  return fs::path(root) / ta_runtime::storage::ta_dir(octets(u));
}

// The object files of a TA (its manifest and temporary files excluded).
std::vector<fs::path> object_files(const std::string& root, const TEEC_UUID& u) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(ta_dir(root, u), ec))
    if (e.path().filename().string()[0] == 'o') out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// The object files that are in `after` and not in `before`.
std::vector<fs::path> added(const std::vector<fs::path>& before, const std::vector<fs::path>& after) {
  std::vector<fs::path> out;
  for (const auto& p : after)
    if (std::find(before.begin(), before.end(), p) == before.end()) out.push_back(p);
  return out;
}

// Every file under `root` (recursively) as one byte string per file.
std::vector<Bytes> all_files(const std::string& root) {
  std::vector<Bytes> out;
  std::error_code ec;
  for (const auto& e : fs::recursive_directory_iterator(root, ec))
    if (e.is_regular_file()) out.push_back(read_file(e.path()));
  return out;
}

bool contains(const Bytes& hay, const Bytes& needle) {
  return std::search(hay.begin(), hay.end(), needle.begin(), needle.end()) != hay.end();
}

// --- the process's storage directory -------------------------------------------------------------

// A fresh directory for the embedded machine, set before it boots. A crash-test child is given
// its directory by the parent instead.
class StorageEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    if (std::getenv("TEEMU_STORAGE_TEST_CHILD") != nullptr) return;
    dir_ = make_temp_dir();
    setenv("TEEMU_STORAGE_DIR", dir_.c_str(), 1);
  }
  void TearDown() override {
    std::error_code ec;
    if (!dir_.empty()) fs::remove_all(dir_, ec);
  }

 private:
  std::string dir_;
};
[[maybe_unused]] ::testing::Environment* const kStorageEnv =
    ::testing::AddGlobalTestEnvironment(new StorageEnv);

// --- talking to the storage-test TA ----------------------------------------------------------------

struct Param {
  enum class Kind { kNone, kValueIn, kValueOut, kValueInOut, kMemIn, kMemOut };
  Kind kind = Kind::kNone;
  uint32_t a = 0, b = 0;
  Bytes mem;          // input bytes; for outputs the capacity, then what came back
  size_t size = 0;    // memref size after the call (may exceed the capacity: SHORT_BUFFER)

  static Param value_in(uint32_t a, uint32_t b = 0) { return {Kind::kValueIn, a, b, {}, 0}; }
  static Param value_out() { return {Kind::kValueOut, 0, 0, {}, 0}; }
  static Param value_inout(uint32_t a, uint32_t b) { return {Kind::kValueInOut, a, b, {}, 0}; }
  static Param mem_in(Bytes b) { return {Kind::kMemIn, 0, 0, std::move(b), 0}; }
  static Param mem_out(size_t cap) { return {Kind::kMemOut, 0, 0, Bytes(cap), 0}; }
};
using Params = std::array<Param, 4>;

// One session to a TA, through whatever client.
class TaLink {
 public:
  virtual ~TaLink() = default;
  virtual uint32_t invoke(uint32_t cmd, Params& p, uint32_t* origin) = 0;
};

// Through the GP Client API (the embedded machine).
class GpSession : public TaLink {
 public:
  GpSession(TEEC_Context* ctx, const TEEC_UUID& uuid) {
    uint32_t origin = 0;
    result_ = TEEC_OpenSession(ctx, &s_, &uuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr, &origin);
  }
  ~GpSession() override {
    if (result_ == TEEC_SUCCESS) TEEC_CloseSession(&s_);
  }
  uint32_t result() const { return result_; }

  uint32_t invoke(uint32_t cmd, Params& p, uint32_t* origin) override {
    TEEC_Operation op{};
    uint32_t types[4] = {TEEC_NONE, TEEC_NONE, TEEC_NONE, TEEC_NONE};
    uint8_t dummy[1];
    for (int i = 0; i < 4; ++i) {
      switch (p[i].kind) {
        case Param::Kind::kNone: break;
        case Param::Kind::kValueIn:
        case Param::Kind::kValueOut:
        case Param::Kind::kValueInOut:
          types[i] = p[i].kind == Param::Kind::kValueIn    ? TEEC_VALUE_INPUT
                     : p[i].kind == Param::Kind::kValueOut ? TEEC_VALUE_OUTPUT
                                                           : TEEC_VALUE_INOUT;
          op.params[i].value.a = p[i].a;
          op.params[i].value.b = p[i].b;
          break;
        case Param::Kind::kMemIn:
        case Param::Kind::kMemOut:
          types[i] = p[i].kind == Param::Kind::kMemIn ? TEEC_MEMREF_TEMP_INPUT
                                                      : TEEC_MEMREF_TEMP_OUTPUT;
          op.params[i].tmpref.buffer = p[i].mem.empty() ? dummy : p[i].mem.data();
          op.params[i].tmpref.size = p[i].mem.size();
          break;
      }
    }
    op.paramTypes = TEEC_PARAM_TYPES(types[0], types[1], types[2], types[3]);
    uint32_t o = 0;
    uint32_t r = TEEC_InvokeCommand(&s_, cmd, &op, &o);
    if (origin != nullptr) *origin = o;
    for (int i = 0; i < 4; ++i) {
      if (p[i].kind == Param::Kind::kValueOut || p[i].kind == Param::Kind::kValueInOut) {
        p[i].a = op.params[i].value.a;
        p[i].b = op.params[i].value.b;
      } else if (p[i].kind == Param::Kind::kMemOut) {
        p[i].size = op.params[i].tmpref.size;
        if (p[i].size <= p[i].mem.size()) p[i].mem.resize(p[i].size);
      }
    }
    return r;
  }

 private:
  TEEC_Session s_{};
  uint32_t result_ = TEEC_ERROR_GENERIC;
};

// Through the REE kernel's ioctls, for machines the tests build themselves.
class RawSession : public TaLink {
 public:
  RawSession(ree::Kernel& k, const TEEC_UUID& uuid) : k_(k) {
    fd_ = k_.sys_open("/dev/tee0");
    EXPECT_GE(fd_, 0);
    struct {
      abi::tee_ioctl_open_session_arg h;
      abi::tee_ioctl_param p[1];
    } arg{};
    const auto o = octets(uuid);
    std::memcpy(arg.h.uuid, o.data(), 16);
    arg.h.clnt_login = abi::TEE_IOCTL_LOGIN_PUBLIC;
    abi::tee_ioctl_buf_data d{reinterpret_cast<uint64_t>(&arg), sizeof(arg.h)};
    if (k_.sys_ioctl(fd_, abi::TEE_IOC_OPEN_SESSION, &d) == 0) result_ = arg.h.ret;
    session_ = arg.h.session;
  }
  ~RawSession() override {
    if (result_ == TEEC_SUCCESS) {
      abi::tee_ioctl_close_session_arg c{session_};
      k_.sys_ioctl(fd_, abi::TEE_IOC_CLOSE_SESSION, &c);
    }
    if (fd_ >= 0) k_.sys_close(fd_);
  }
  uint32_t result() const { return result_; }

  uint32_t invoke(uint32_t cmd, Params& p, uint32_t* origin) override {
    struct {
      abi::tee_ioctl_invoke_arg h;
      abi::tee_ioctl_param p[4];
    } arg{};
    arg.h.func = cmd;
    arg.h.session = session_;
    arg.h.num_params = 4;
    struct Shm {
      int fd = -1;
      void* map = nullptr;
      size_t len = 0;
    } shm[4];
    for (int i = 0; i < 4; ++i) {
      auto& q = arg.p[i];
      switch (p[i].kind) {
        case Param::Kind::kNone: q.attr = abi::TEE_IOCTL_PARAM_ATTR_TYPE_NONE; break;
        case Param::Kind::kValueIn:
        case Param::Kind::kValueOut:
        case Param::Kind::kValueInOut:
          q.attr = p[i].kind == Param::Kind::kValueIn    ? abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT
                   : p[i].kind == Param::Kind::kValueOut ? abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT
                                                         : abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
          q.a = p[i].a;
          q.b = p[i].b;
          break;
        case Param::Kind::kMemIn:
        case Param::Kind::kMemOut: {
          abi::tee_ioctl_shm_alloc_data d{std::max<size_t>(p[i].mem.size(), 1), 0, 0};
          shm[i].fd = k_.sys_ioctl(fd_, abi::TEE_IOC_SHM_ALLOC, &d);
          EXPECT_GE(shm[i].fd, 0);
          int err = 0;
          shm[i].len = d.size;
          shm[i].map = k_.sys_mmap(d.size, shm[i].fd, 0, &err);
          EXPECT_NE(shm[i].map, nullptr);
          if (!p[i].mem.empty()) std::memcpy(shm[i].map, p[i].mem.data(), p[i].mem.size());
          q.attr = p[i].kind == Param::Kind::kMemIn ? abi::TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT
                                                    : abi::TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT;
          q.a = 0;
          q.b = p[i].mem.size();
          q.c = static_cast<uint64_t>(d.id);
          break;
        }
      }
    }
    abi::tee_ioctl_buf_data d{reinterpret_cast<uint64_t>(&arg), sizeof(arg)};
    uint32_t r = TEEC_ERROR_COMMUNICATION;
    if (k_.sys_ioctl(fd_, abi::TEE_IOC_INVOKE, &d) == 0) r = arg.h.ret;
    if (origin != nullptr) *origin = arg.h.ret_origin;
    for (int i = 0; i < 4; ++i) {
      if (p[i].kind == Param::Kind::kValueOut || p[i].kind == Param::Kind::kValueInOut) {
        p[i].a = static_cast<uint32_t>(arg.p[i].a);
        p[i].b = static_cast<uint32_t>(arg.p[i].b);
      } else if (p[i].kind == Param::Kind::kMemOut) {
        p[i].size = arg.p[i].b;
        if (p[i].size <= p[i].mem.size()) {
          p[i].mem.resize(p[i].size);
          if (p[i].size != 0) std::memcpy(p[i].mem.data(), shm[i].map, p[i].size);
        }
      }
      if (shm[i].map != nullptr) k_.sys_munmap(shm[i].map, shm[i].len);
      if (shm[i].fd >= 0) k_.sys_close(shm[i].fd);
    }
    return r;
  }

 private:
  ree::Kernel& k_;
  int fd_ = -1;
  uint32_t session_ = 0;
  uint32_t result_ = TEEC_ERROR_GENERIC;
};

// The storage-test TA's commands.
class Store {
 public:
  explicit Store(TaLink& l) : l_(l) {}

  uint32_t create(const std::string& id, uint32_t flags, const Bytes* data, uint32_t* slot,
                  uint32_t attr = TA_STORAGE_ATTR_NONE, uint32_t bits = 0,
                  uint32_t storage = kPrivate) {
    Params p{Param::value_in(storage, flags), Param::mem_in(text(id)),
             data != nullptr ? Param::mem_in(*data) : Param{}, Param::value_inout(attr, bits)};
    uint32_t r = l_.invoke(TA_STORAGE_CMD_CREATE, p, nullptr);
    if (slot != nullptr) *slot = p[3].a;
    return r;
  }
  uint32_t open(const std::string& id, uint32_t flags, uint32_t* slot,
                uint32_t storage = kPrivate) {
    Params p{Param::value_in(storage, flags), Param::mem_in(text(id)), Param::value_out(), {}};
    uint32_t r = l_.invoke(TA_STORAGE_CMD_OPEN, p, nullptr);
    if (slot != nullptr) *slot = p[2].a;
    return r;
  }
  uint32_t close(uint32_t slot) { return simple(TA_STORAGE_CMD_CLOSE, slot, 0); }
  uint32_t read(uint32_t slot, size_t n, Bytes* out) {
    Params p{Param::value_in(slot), Param::mem_out(n), {}, {}};
    uint32_t r = l_.invoke(TA_STORAGE_CMD_READ, p, nullptr);
    *out = p[1].mem;
    return r;
  }
  uint32_t write(uint32_t slot, const Bytes& data) {
    Params p{Param::value_in(slot), Param::mem_in(data), {}, {}};
    return l_.invoke(TA_STORAGE_CMD_WRITE, p, nullptr);
  }
  uint32_t seek(uint32_t slot, int64_t off, uint32_t whence) {
    const auto u = static_cast<uint64_t>(off);
    Params p{Param::value_in(slot, whence),
             Param::value_in(static_cast<uint32_t>(u), static_cast<uint32_t>(u >> 32)), {}, {}};
    return l_.invoke(TA_STORAGE_CMD_SEEK, p, nullptr);
  }
  uint32_t truncate(uint32_t slot, uint32_t size) {
    return simple(TA_STORAGE_CMD_TRUNCATE, slot, size);
  }
  uint32_t rename(uint32_t slot, const std::string& id) {
    Params p{Param::value_in(slot), Param::mem_in(text(id)), {}, {}};
    return l_.invoke(TA_STORAGE_CMD_RENAME, p, nullptr);
  }
  uint32_t remove(uint32_t slot, bool deprecated = false) {
    return simple(TA_STORAGE_CMD_DELETE, slot, deprecated ? 1 : 0);
  }
  ta_storage_info info(uint32_t slot) {
    Params p{Param::value_in(slot), Param::mem_out(sizeof(ta_storage_info)), {}, {}};
    ta_storage_info out{};
    EXPECT_EQ(l_.invoke(TA_STORAGE_CMD_INFO, p, nullptr), TEEC_SUCCESS);
    if (p[1].mem.size() == sizeof(out)) std::memcpy(&out, p[1].mem.data(), sizeof(out));
    return out;
  }
  // cap SIZE_MAX: no buffer at all (a NULL pointer).
  uint32_t get_attr(uint32_t slot, uint32_t id, size_t cap, Bytes* out, size_t* size) {
    Params p{Param::value_in(slot, id), cap == SIZE_MAX ? Param{} : Param::mem_out(cap), {}, {}};
    uint32_t r = l_.invoke(TA_STORAGE_CMD_GET_ATTR, p, nullptr);
    if (out != nullptr) *out = p[1].mem;
    if (size != nullptr) *size = p[1].size;
    return r;
  }
  uint32_t list(std::vector<std::string>* ids, uint32_t storage = kPrivate) {
    Params p{Param::value_in(storage), Param::mem_out(8192), Param::value_out(), {}};
    uint32_t r = l_.invoke(TA_STORAGE_CMD_ENUM, p, nullptr);
    ids->clear();
    const Bytes& b = p[1].mem;
    for (size_t at = 0; r == TEEC_SUCCESS && at < b.size();) {
      const size_t n = b[at];
      ids->emplace_back(b.begin() + static_cast<ptrdiff_t>(at + 1),
                        b.begin() + static_cast<ptrdiff_t>(at + 1 + n));
      at += 1 + n;
    }
    if (r == TEEC_SUCCESS) {
      EXPECT_EQ(ids->size(), p[2].a);
    }
    std::sort(ids->begin(), ids->end());
    return r;
  }
  uint32_t enum_checks() {
    Params p{};
    return l_.invoke(TA_STORAGE_CMD_ENUM_CHECKS, p, nullptr);
  }
  uint32_t cipher(uint32_t slot, const Bytes& in, Bytes* out) {
    Params p{Param::value_in(slot), Param::mem_in(in), Param::mem_out(in.size()), {}};
    uint32_t r = l_.invoke(TA_STORAGE_CMD_CIPHER, p, nullptr);
    *out = p[2].mem;
    return r;
  }
  uint32_t wipe() {
    Params p{Param::value_out(), {}, {}, {}};
    return l_.invoke(TA_STORAGE_CMD_WIPE, p, nullptr);
  }
  uint32_t panic(uint32_t which, uint32_t* origin) {
    Params p{Param::value_in(which), {}, {}, {}};
    return l_.invoke(TA_STORAGE_CMD_PANIC, p, origin);
  }
  // TEE_GetObjectInfo1 on a slot's handle: the invoke's result (TARGET_DEAD if the TA panicked).
  uint32_t probe(uint32_t slot, uint32_t* info_result) {
    Params p{Param::value_in(slot), Param::value_out(), {}, {}};
    uint32_t r = l_.invoke(TA_STORAGE_CMD_PROBE, p, nullptr);
    *info_result = p[1].a;
    return r;
  }

  // --- conveniences ---
  // The whole data stream of object `id` (opened for reading and closed again).
  uint32_t read_object(const std::string& id, Bytes* out, size_t cap = 1 << 20) {
    out->clear();
    uint32_t slot = 0;
    uint32_t r = open(id, kRead | kShareRead, &slot);
    if (r != TEEC_SUCCESS) return r;
    r = read(slot, cap, out);
    EXPECT_EQ(close(slot), TEEC_SUCCESS);
    return r;
  }
  uint32_t put(const std::string& id, const Bytes& data) {
    uint32_t slot = 0;
    uint32_t r = create(id, kRead | kWrite | kOverwrite, &data, &slot);
    if (r == TEEC_SUCCESS) {
      EXPECT_EQ(close(slot), TEEC_SUCCESS);
    }
    return r;
  }

 private:
  uint32_t simple(uint32_t cmd, uint32_t a, uint32_t b) {
    Params p{Param::value_in(a, b), {}, {}, {}};
    return l_.invoke(cmd, p, nullptr);
  }
  TaLink& l_;
};

Bytes aes_ecb(const Bytes& in) {
  EVP_CIPHER_CTX* c = EVP_CIPHER_CTX_new();
  Bytes out(in.size() + 16);
  int l1 = 0, l2 = 0;
  EXPECT_EQ(EVP_EncryptInit_ex(c, EVP_aes_128_ecb(), nullptr, kAesKey, nullptr), 1);
  EVP_CIPHER_CTX_set_padding(c, 0);
  EXPECT_EQ(EVP_EncryptUpdate(c, out.data(), &l1, in.data(), static_cast<int>(in.size())), 1);
  EXPECT_EQ(EVP_EncryptFinal_ex(c, out.data() + l1, &l2), 1);
  EVP_CIPHER_CTX_free(c);
  out.resize(static_cast<size_t>(l1 + l2));
  return out;
}

// =================================================================================================
// The API through the GP Client API, for the GP 1.3.1 and the GP 1.1 build of the TA.

struct TaCase {
  const char* name;
  TEEC_UUID uuid;
};

void PrintTo(const TaCase& c, std::ostream* os) { *os << c.name; }

class StorageApiTest : public ::testing::TestWithParam<TaCase> {
 protected:
  void SetUp() override {
    ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx_), TEEC_SUCCESS);
    main_ = std::make_unique<GpSession>(&ctx_, GetParam().uuid);
    ASSERT_EQ(main_->result(), TEEC_SUCCESS);
    st_ = std::make_unique<Store>(*main_);
    ASSERT_EQ(st_->wipe(), TEEC_SUCCESS);  // objects of earlier tests in this process
  }
  void TearDown() override {
    st_.reset();
    main_.reset();
    stores_.clear();
    others_.clear();
    TEEC_FinalizeContext(&ctx_);
    auto a = machine().audit();
    EXPECT_TRUE(a.quiescent()) << a.describe();
  }
  // A session of its own: another instance of the TA (TA_FLAGS 0).
  Store& another() {
    others_.push_back(std::make_unique<GpSession>(&ctx_, GetParam().uuid));
    EXPECT_EQ(others_.back()->result(), TEEC_SUCCESS);
    stores_.push_back(std::make_unique<Store>(*others_.back()));
    return *stores_.back();
  }
  const std::string& root() { return machine().config().storage_dir; }
  bool gp11() const { return std::strcmp(GetParam().name, "gp11") == 0; }

  TEEC_Context ctx_{};
  std::unique_ptr<GpSession> main_;
  std::unique_ptr<Store> st_;
  std::vector<std::unique_ptr<GpSession>> others_;
  std::vector<std::unique_ptr<Store>> stores_;
};

TEST_P(StorageApiTest, CreateWriteReadSeekRoundTrip) {
  const Bytes hello = text("hello");
  uint32_t s = 0;
  ASSERT_EQ(st_->create("greeting", kRead | kWrite, &hello, &s), TEEC_SUCCESS);
  ta_storage_info i = st_->info(s);
  EXPECT_EQ(i.result, TEEC_SUCCESS);
  EXPECT_EQ(i.type, kTypeData);
  EXPECT_EQ(i.data_size, 5u);
  EXPECT_EQ(i.data_position, 0u);  // GP: a new object's position is 0
  EXPECT_EQ(i.handle_flags, kHandlePersistent | kHandleInitialized | kRead | kWrite);
  EXPECT_EQ(i.usage, 0xFFFFFFFFu);
  Bytes got;
  ASSERT_EQ(st_->read(s, 100, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, hello);
  EXPECT_EQ(st_->info(s).data_position, 5u);
  // Reading at the end gives nothing.
  ASSERT_EQ(st_->read(s, 10, &got), TEEC_SUCCESS);
  EXPECT_TRUE(got.empty());
  // Append, then read from an explicit position.
  ASSERT_EQ(st_->write(s, text(", world")), TEEC_SUCCESS);
  EXPECT_EQ(st_->info(s).data_size, 12u);
  ASSERT_EQ(st_->seek(s, -5, kSeekEnd), TEEC_SUCCESS);
  ASSERT_EQ(st_->read(s, 3, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("wor"));
  ASSERT_EQ(st_->seek(s, -2, kSeekCur), TEEC_SUCCESS);
  ASSERT_EQ(st_->read(s, 100, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("orld"));
  ASSERT_EQ(st_->seek(s, 0, kSeekSet), TEEC_SUCCESS);
  ASSERT_EQ(st_->write(s, text("J")), TEEC_SUCCESS);  // overwrite in place
  ASSERT_EQ(st_->close(s), TEEC_SUCCESS);
  ASSERT_EQ(st_->read_object("greeting", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("Jello, world"));
}

TEST_P(StorageApiTest, OpenOfAMissingObjectIsItemNotFound) {
  uint32_t s = 0;
  EXPECT_EQ(st_->open("nothing here", kRead, &s), TEEC_ERROR_ITEM_NOT_FOUND);
}

TEST_P(StorageApiTest, CreateOverAnExistingObjectNeedsOverwrite) {
  const Bytes v1 = text("version one"), v2 = text("two");
  ASSERT_EQ(st_->put("obj", v1), TEEC_SUCCESS);
  uint32_t s = 0;
  EXPECT_EQ(st_->create("obj", kRead, &v2, &s), TEEC_ERROR_ACCESS_CONFLICT);
  Bytes got;
  ASSERT_EQ(st_->read_object("obj", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, v1);  // untouched
  ASSERT_EQ(st_->create("obj", kRead | kOverwrite, &v2, &s), TEEC_SUCCESS);
  EXPECT_EQ(st_->info(s).handle_flags,
            kHandlePersistent | kHandleInitialized | kRead | kOverwrite);
  ASSERT_EQ(st_->close(s), TEEC_SUCCESS);
  ASSERT_EQ(st_->read_object("obj", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, v2);
}

TEST_P(StorageApiTest, CreateWithoutAHandleCreatesAndCloses) {
  const Bytes v = text("fire and forget");
  ASSERT_EQ(st_->create("nohandle", kWriteMeta, &v, nullptr, TA_STORAGE_ATTR_NONE,
                        TA_STORAGE_CREATE_NULL_HANDLE),
            TEEC_SUCCESS);
  // It was closed: even an exclusive open succeeds.
  uint32_t s = 0;
  ASSERT_EQ(st_->open("nohandle", kRead | kWriteMeta, &s), TEEC_SUCCESS);
  Bytes got;
  ASSERT_EQ(st_->read(s, 100, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, v);
}

TEST_P(StorageApiTest, ObjectIdsUpToSixtyFourBytesAndBinary) {
  std::string id64(64, 'x');
  std::string binary("\0\x01\xff/..", 6);
  ASSERT_EQ(st_->put(id64, text("long")), TEEC_SUCCESS);
  ASSERT_EQ(st_->put(binary, text("binary")), TEEC_SUCCESS);
  ASSERT_EQ(st_->put("", text("empty id")), TEEC_SUCCESS);
  Bytes got;
  ASSERT_EQ(st_->read_object(id64, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("long"));
  ASSERT_EQ(st_->read_object(binary, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("binary"));
  ASSERT_EQ(st_->read_object("", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("empty id"));
  std::vector<std::string> ids;
  ASSERT_EQ(st_->list(&ids), TEEC_SUCCESS);
  std::vector<std::string> want{"", binary, id64};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(ids, want);
}

TEST_P(StorageApiTest, ReadSharingAcrossInstances) {
  ASSERT_EQ(st_->put("shared", text("data")), TEEC_SUCCESS);
  Store& b = another();
  uint32_t s1 = 0, s2 = 0;
  // Both share READ: fine.
  ASSERT_EQ(st_->open("shared", kRead | kShareRead, &s1), TEEC_SUCCESS);
  ASSERT_EQ(b.open("shared", kRead | kShareRead, &s2), TEEC_SUCCESS);
  // A third opener that does not share what the others share: conflict.
  uint32_t s3 = 0;
  EXPECT_EQ(b.open("shared", kRead, &s3), TEEC_ERROR_ACCESS_CONFLICT);
  EXPECT_EQ(b.open("shared", kRead | kShareRead | kShareWrite, &s3), TEEC_ERROR_ACCESS_CONFLICT);
  EXPECT_EQ(b.open("shared", kWrite | kShareRead, &s3), TEEC_ERROR_ACCESS_CONFLICT);
  // WRITE_META is exclusive; so is creating over it.
  EXPECT_EQ(b.open("shared", kWriteMeta | kShareRead, &s3), TEEC_ERROR_ACCESS_CONFLICT);
  const Bytes v = text("new");
  EXPECT_EQ(b.create("shared", kWrite | kOverwrite, &v, &s3), TEEC_ERROR_ACCESS_CONFLICT);
  ASSERT_EQ(st_->close(s1), TEEC_SUCCESS);
  ASSERT_EQ(b.close(s2), TEEC_SUCCESS);
  // All closed: an exclusive open works.
  ASSERT_EQ(b.open("shared", kRead | kWriteMeta, &s3), TEEC_SUCCESS);
  EXPECT_EQ(st_->open("shared", kRead | kShareRead, &s1), TEEC_ERROR_ACCESS_CONFLICT);
}

TEST_P(StorageApiTest, ExclusiveOpenLocksOutEveryone) {
  ASSERT_EQ(st_->put("locked", text("x")), TEEC_SUCCESS);
  uint32_t s = 0, t = 0;
  // No access and no share flag at all: nobody else may open it (GP 1.3.1, 5.7.3).
  ASSERT_EQ(st_->open("locked", 0, &s), TEEC_SUCCESS);
  EXPECT_EQ(another().open("locked", kRead | kShareRead, &t), TEEC_ERROR_ACCESS_CONFLICT);
  EXPECT_EQ(st_->open("locked", 0, &t), TEEC_SUCCESS);  // the same (empty) flags are compatible
  ASSERT_EQ(st_->close(t), TEEC_SUCCESS);
  ASSERT_EQ(st_->close(s), TEEC_SUCCESS);
  EXPECT_EQ(another().open("locked", kRead, &t), TEEC_SUCCESS);
}

TEST_P(StorageApiTest, SharedWritersSeeEachOthersData) {
  ASSERT_EQ(st_->put("w", text("0123456789")), TEEC_SUCCESS);
  Store& b = another();
  uint32_t s1 = 0, s2 = 0;
  const uint32_t f = kRead | kWrite | kShareRead | kShareWrite;
  ASSERT_EQ(st_->open("w", f, &s1), TEEC_SUCCESS);
  ASSERT_EQ(b.open("w", f, &s2), TEEC_SUCCESS);
  ASSERT_EQ(b.seek(s2, 4, kSeekSet), TEEC_SUCCESS);
  ASSERT_EQ(b.write(s2, text("abcdefgh")), TEEC_SUCCESS);  // also extends the stream
  // Each handle has its own position; both see the one data stream.
  EXPECT_EQ(st_->info(s1).data_position, 0u);
  EXPECT_EQ(st_->info(s1).data_size, 12u);
  EXPECT_EQ(b.info(s2).data_position, 12u);
  Bytes got;
  ASSERT_EQ(st_->read(s1, 100, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("0123abcdefgh"));
  // Creating over it with OVERWRITE and compatible sharing replaces the stream for everyone.
  const Bytes v = text("fresh");
  uint32_t s3 = 0;
  ASSERT_EQ(st_->create("w", f | kOverwrite, &v, &s3), TEEC_SUCCESS);
  ASSERT_EQ(b.seek(s2, 0, kSeekSet), TEEC_SUCCESS);
  ASSERT_EQ(b.read(s2, 100, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, v);
}

TEST_P(StorageApiTest, HandlesGoWithTheirInstance) {
  ASSERT_EQ(st_->put("leaked", text("x")), TEEC_SUCCESS);
  {
    auto session = std::make_unique<GpSession>(&ctx_, GetParam().uuid);
    Store other(*session);
    uint32_t s = 0;
    ASSERT_EQ(other.open("leaked", kRead | kWriteMeta, &s), TEEC_SUCCESS);
    // The session closes with its exclusive handle still open.
  }
  uint32_t s = 0;
  ASSERT_EQ(st_->open("leaked", kRead | kWriteMeta, &s), TEEC_SUCCESS);
}

TEST_P(StorageApiTest, PositionLimits) {
  ASSERT_EQ(st_->put("pos", text("12345")), TEEC_SUCCESS);
  uint32_t s = 0;
  ASSERT_EQ(st_->open("pos", kRead | kWrite, &s), TEEC_SUCCESS);
  // Before the start is the start.
  ASSERT_EQ(st_->seek(s, -100, kSeekCur), TEEC_SUCCESS);
  EXPECT_EQ(st_->info(s).data_position, 0u);
  // Up to TEE_DATA_MAX_POSITION, not past it (GP 1.1 offsets are 32-bit: two steps).
  ASSERT_EQ(st_->seek(s, 0x7FFFFFFF, kSeekSet), TEEC_SUCCESS);
  ASSERT_EQ(st_->seek(s, 0x7FFFFFFF, kSeekCur), TEEC_SUCCESS);
  EXPECT_EQ(st_->info(s).data_position, kMaxPosition - 1);
  EXPECT_EQ(st_->seek(s, 2, kSeekCur), kOverflowErr);
  EXPECT_EQ(st_->info(s).data_position, kMaxPosition - 1);  // unchanged
  ASSERT_EQ(st_->seek(s, 1, kSeekCur), TEEC_SUCCESS);
  EXPECT_EQ(st_->info(s).data_position, kMaxPosition);
  if (!gp11()) {
    ASSERT_EQ(st_->seek(s, static_cast<int64_t>(kMaxPosition), kSeekSet), TEEC_SUCCESS);
    EXPECT_EQ(st_->seek(s, static_cast<int64_t>(kMaxPosition) + 1, kSeekSet), kOverflowErr);
    EXPECT_EQ(st_->seek(s, static_cast<int64_t>(kMaxPosition), kSeekEnd), kOverflowErr);
  }
  // A write whose end would pass TEE_DATA_MAX_POSITION: OVERFLOW.
  ASSERT_EQ(st_->seek(s, -1, kSeekCur), TEEC_SUCCESS);
  EXPECT_EQ(st_->write(s, text("ab")), kOverflowErr);
  // Within the limit but beyond what this TEE stores per object: STORAGE_NO_SPACE.
  EXPECT_EQ(st_->write(s, text("a")), kNoSpace);
  EXPECT_EQ(st_->info(s).data_size, 5u);
  // Past the end: the gap reads as zeros.
  ASSERT_EQ(st_->seek(s, 8, kSeekSet), TEEC_SUCCESS);
  ASSERT_EQ(st_->write(s, text("Z")), TEEC_SUCCESS);
  ASSERT_EQ(st_->seek(s, 0, kSeekSet), TEEC_SUCCESS);
  Bytes got;
  ASSERT_EQ(st_->read(s, 100, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, (Bytes{'1', '2', '3', '4', '5', 0, 0, 0, 'Z'}));
}

TEST_P(StorageApiTest, TruncateShrinksAndExtendsWithZeros) {
  ASSERT_EQ(st_->put("t", text("abcdefgh")), TEEC_SUCCESS);
  uint32_t s = 0;
  ASSERT_EQ(st_->open("t", kRead | kWrite, &s), TEEC_SUCCESS);
  ASSERT_EQ(st_->seek(s, 6, kSeekSet), TEEC_SUCCESS);
  ASSERT_EQ(st_->truncate(s, 3), TEEC_SUCCESS);
  ta_storage_info i = st_->info(s);
  EXPECT_EQ(i.data_size, 3u);
  EXPECT_EQ(i.data_position, 6u);  // the position does not move
  Bytes got;
  ASSERT_EQ(st_->read(s, 10, &got), TEEC_SUCCESS);
  EXPECT_TRUE(got.empty());
  ASSERT_EQ(st_->truncate(s, 6), TEEC_SUCCESS);
  ASSERT_EQ(st_->seek(s, 0, kSeekSet), TEEC_SUCCESS);
  ASSERT_EQ(st_->read(s, 10, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, (Bytes{'a', 'b', 'c', 0, 0, 0}));
  EXPECT_EQ(st_->truncate(s, 0xFFFFFFFF), kNoSpace);
}

TEST_P(StorageApiTest, RenameMovesTheObject) {
  ASSERT_EQ(st_->put("old name", text("payload")), TEEC_SUCCESS);
  ASSERT_EQ(st_->put("taken", text("other")), TEEC_SUCCESS);
  uint32_t s = 0;
  ASSERT_EQ(st_->open("old name", kRead | kWriteMeta, &s), TEEC_SUCCESS);
  // Onto an existing object, or onto its own name: ACCESS_CONFLICT, nothing changes.
  EXPECT_EQ(st_->rename(s, "taken"), TEEC_ERROR_ACCESS_CONFLICT);
  EXPECT_EQ(st_->rename(s, "old name"), TEEC_ERROR_ACCESS_CONFLICT);
  ASSERT_EQ(st_->rename(s, "new name"), TEEC_SUCCESS);
  // The handle stays valid on the renamed object.
  Bytes got;
  ASSERT_EQ(st_->read(s, 100, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("payload"));
  ASSERT_EQ(st_->close(s), TEEC_SUCCESS);
  uint32_t t = 0;
  EXPECT_EQ(st_->open("old name", kRead, &t), TEEC_ERROR_ITEM_NOT_FOUND);
  ASSERT_EQ(st_->read_object("new name", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("payload"));
  ASSERT_EQ(st_->read_object("taken", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("other"));
}

TEST_P(StorageApiTest, RenameOntoANameOpenElsewhereIsAConflict) {
  ASSERT_EQ(st_->put("a", text("a")), TEEC_SUCCESS);
  ASSERT_EQ(st_->put("b", text("b")), TEEC_SUCCESS);
  uint32_t s = 0, t = 0;
  ASSERT_EQ(st_->open("a", kWriteMeta, &s), TEEC_SUCCESS);
  ASSERT_EQ(another().open("b", kRead | kShareRead, &t), TEEC_SUCCESS);
  EXPECT_EQ(st_->rename(s, "b"), TEEC_ERROR_ACCESS_CONFLICT);
  Bytes got;
  ASSERT_EQ(st_->read_object("b", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("b"));
}

TEST_P(StorageApiTest, DeleteAndTheDeprecatedDelete) {
  ASSERT_EQ(st_->put("doomed", text("x")), TEEC_SUCCESS);
  ASSERT_EQ(st_->put("doomed too", text("y")), TEEC_SUCCESS);
  uint32_t s = 0;
  ASSERT_EQ(st_->open("doomed", kWriteMeta, &s), TEEC_SUCCESS);
  ASSERT_EQ(st_->remove(s), TEEC_SUCCESS);
  EXPECT_EQ(st_->open("doomed", kRead, &s), TEEC_ERROR_ITEM_NOT_FOUND);
  ASSERT_EQ(st_->open("doomed too", kWriteMeta, &s), TEEC_SUCCESS);
  ASSERT_EQ(st_->remove(s, /*deprecated=*/true), TEEC_SUCCESS);
  EXPECT_EQ(st_->open("doomed too", kRead, &s), TEEC_ERROR_ITEM_NOT_FOUND);
  // TEE_CloseAndDeletePersistentObject1(TEE_HANDLE_NULL) does nothing (slot 15 is empty).
  EXPECT_EQ(st_->remove(15), TEEC_SUCCESS);
  // A deleted object's id is free again.
  ASSERT_EQ(st_->put("doomed", text("reborn")), TEEC_SUCCESS);
}

TEST_P(StorageApiTest, StorageIds) {
  // TEE_STORAGE_PRIVATE_REE is where TEE_STORAGE_PRIVATE objects live (OP-TEE with REE FS).
  const Bytes v = text("ree");
  uint32_t s = 0;
  ASSERT_EQ(st_->create("ree object", kRead, &v, &s, TA_STORAGE_ATTR_NONE, 0, kPrivateRee),
            TEEC_SUCCESS);
  ASSERT_EQ(st_->close(s), TEEC_SUCCESS);
  ASSERT_EQ(st_->open("ree object", kRead, &s, kPrivate), TEEC_SUCCESS);
  ASSERT_EQ(st_->close(s), TEEC_SUCCESS);
  std::vector<std::string> ids;
  ASSERT_EQ(st_->list(&ids, kPrivateRee), TEEC_SUCCESS);
  EXPECT_EQ(ids, std::vector<std::string>{"ree object"});
  // No RPMB here, and unknown ids: ITEM_NOT_FOUND (OP-TEE without CFG_RPMB_FS).
  EXPECT_EQ(st_->create("rpmb", kRead, &v, &s, TA_STORAGE_ATTR_NONE, 0, kPrivateRpmb),
            TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(st_->open("ree object", kRead, &s, kPrivateRpmb), TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(st_->open("ree object", kRead, &s, 0x42), TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(st_->list(&ids, kPrivateRpmb), TEEC_ERROR_ITEM_NOT_FOUND);
}

TEST_P(StorageApiTest, Enumeration) {
  std::vector<std::string> ids;
  // An empty storage: StartPersistentObjectEnumerator answers ITEM_NOT_FOUND (GP 1.3.1, 5.8.5).
  EXPECT_EQ(st_->list(&ids), TEEC_ERROR_ITEM_NOT_FOUND);
  for (const char* id : {"one", "two", "three"}) ASSERT_EQ(st_->put(id, text(id)), TEEC_SUCCESS);
  ASSERT_EQ(st_->list(&ids), TEEC_SUCCESS);
  EXPECT_EQ(ids, (std::vector<std::string>{"one", "three", "two"}));
  EXPECT_EQ(st_->enum_checks(), TEEC_SUCCESS);
  // Another instance of the same TA sees the same objects.
  ASSERT_EQ(another().list(&ids), TEEC_SUCCESS);
  EXPECT_EQ(ids.size(), 3u);
}

TEST_P(StorageApiTest, KeyObjectsKeepTheirAttributes) {
  const Bytes data = text("key with data");
  uint32_t s = 0;
  ASSERT_EQ(st_->create("aes key", kRead, &data, &s, TA_STORAGE_ATTR_AES), TEEC_SUCCESS);
  ASSERT_EQ(st_->close(s), TEEC_SUCCESS);
  ASSERT_EQ(st_->open("aes key", kRead, &s), TEEC_SUCCESS);
  ta_storage_info i = st_->info(s);
  EXPECT_EQ(i.type, kTypeAes);
  EXPECT_EQ(i.object_size, 128u);
  EXPECT_EQ(i.max_object_size, 128u);
  EXPECT_EQ(i.data_size, data.size());
  // The key works for an operation (TEE_SetOperationKey takes a persistent object).
  Bytes plain(32), out;
  for (size_t k = 0; k < plain.size(); ++k) plain[k] = static_cast<uint8_t>(k * 7);
  ASSERT_EQ(st_->cipher(s, plain, &out), TEEC_SUCCESS);
  EXPECT_EQ(out, aes_ecb(plain));
  // TEE_GetObjectBufferAttribute on a persistent object: the value, short buffers with the size
  // needed, a missing attribute.
  Bytes key;
  size_t size = 0;
  ASSERT_EQ(st_->get_attr(s, kAttrSecret, 64, &key, &size), TEEC_SUCCESS);
  EXPECT_EQ(key, Bytes(kAesKey, kAesKey + sizeof(kAesKey)));
  EXPECT_EQ(st_->get_attr(s, kAttrSecret, 4, &key, &size), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(size, 16u);
  EXPECT_EQ(st_->get_attr(s, kAttrSecret, SIZE_MAX, nullptr, nullptr), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(st_->get_attr(s, kAttrModulus, 64, &key, &size), TEEC_ERROR_ITEM_NOT_FOUND);
  Bytes got;
  ASSERT_EQ(st_->read(s, 100, &got), TEEC_SUCCESS);
  EXPECT_EQ(got, data);
  // A new object from the attributes of this persistent one.
  uint32_t t = 0;
  ASSERT_EQ(st_->create("aes copy", kRead, nullptr, &t, TA_STORAGE_ATTR_SLOT, s << 8),
            TEEC_SUCCESS);
  ASSERT_EQ(st_->cipher(t, plain, &out), TEEC_SUCCESS);
  EXPECT_EQ(out, aes_ecb(plain));
  EXPECT_EQ(st_->info(t).data_size, 0u);
}

TEST_P(StorageApiTest, KeyPairObject) {
  uint32_t s = 0;
  ASSERT_EQ(st_->create("rsa", kRead, nullptr, &s, TA_STORAGE_ATTR_RSA), TEEC_SUCCESS);
  ASSERT_EQ(st_->close(s), TEEC_SUCCESS);
  ASSERT_EQ(st_->open("rsa", kRead, &s), TEEC_SUCCESS);
  EXPECT_EQ(st_->info(s).type, kTypeRsaKeypair);
  EXPECT_EQ(st_->info(s).object_size, 1024u);
  Bytes mod;
  size_t size = 0;
  EXPECT_EQ(st_->get_attr(s, kAttrModulus, 10, &mod, &size), TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(size, 128u);
  ASSERT_EQ(st_->get_attr(s, kAttrModulus, 128, &mod, &size), TEEC_SUCCESS);
  EXPECT_EQ(mod.size(), 128u);
  EXPECT_NE(mod[0] & 0x80, 0);  // a 1024-bit modulus
}

TEST_P(StorageApiTest, GpRulesThatPanic) {
  for (uint32_t rule = 0; rule < TA_STORAGE_PANIC_COUNT; ++rule) {
    auto session = std::make_unique<GpSession>(&ctx_, GetParam().uuid);
    ASSERT_EQ(session->result(), TEEC_SUCCESS);
    Store s(*session);
    uint32_t origin = 0;
    EXPECT_EQ(s.panic(rule, &origin), TEEC_ERROR_TARGET_DEAD) << "rule " << rule;
    EXPECT_EQ(origin, TEEC_ORIGIN_TEE) << "rule " << rule;
  }
  // The dead instances left nothing open.
  uint32_t s = 0;
  EXPECT_EQ(st_->open("panic", kRead | kWriteMeta, &s), TEEC_SUCCESS);
}

TEST_P(StorageApiTest, FilesHoldNoPlaintext) {
  const std::string secret = "a rather distinctive secret 0123456789";
  const std::string id = "a distinctive object id";
  ASSERT_EQ(st_->put(id, text(secret)), TEEC_SUCCESS);
  uint32_t s = 0;
  ASSERT_EQ(st_->create("key", kRead, nullptr, &s, TA_STORAGE_ATTR_AES), TEEC_SUCCESS);
  const auto files = all_files(root());
  ASSERT_GE(files.size(), 4u);  // device key, manifest, two objects
  for (const Bytes& f : files) {
    EXPECT_FALSE(contains(f, text(secret)));
    EXPECT_FALSE(contains(f, text(id)));
    EXPECT_FALSE(contains(f, Bytes(kAesKey, kAesKey + sizeof(kAesKey))));
  }
}

TEST_P(StorageApiTest, FlippedByteIsCorruptThenGone) {
  // Every region of the file: header, ciphertext, tag.
  for (size_t at : {size_t{5}, size_t{30}, size_t{200}, size_t{1000 + 48 + 20 + 15}}) {
    const auto before = object_files(root(), GetParam().uuid);
    ASSERT_EQ(st_->put("victim", repeat('v', 1000)), TEEC_SUCCESS);
    const auto files = added(before, object_files(root(), GetParam().uuid));
    ASSERT_EQ(files.size(), 1u);
    Bytes b = read_file(files[0]);
    b[at] ^= 0x01;
    write_file(files[0], b);
    Bytes got;
    EXPECT_EQ(st_->read_object("victim", &got), kCorrupt) << "byte " << at;
    EXPECT_TRUE(got.empty());
    // OP-TEE deletes an object it finds corrupt.
    EXPECT_EQ(st_->read_object("victim", &got), TEEC_ERROR_ITEM_NOT_FOUND);
  }
}

TEST_P(StorageApiTest, OlderObjectFileSwappedInIsCorrupt) {
  const auto before = object_files(root(), GetParam().uuid);
  ASSERT_EQ(st_->put("ledger", text("balance 100")), TEEC_SUCCESS);
  auto files = added(before, object_files(root(), GetParam().uuid));
  ASSERT_EQ(files.size(), 1u);
  const fs::path v1_path = files[0];
  const Bytes v1 = read_file(v1_path);
  uint32_t s = 0;
  ASSERT_EQ(st_->open("ledger", kRead | kWrite, &s), TEEC_SUCCESS);
  ASSERT_EQ(st_->write(s, text("balance 000")), TEEC_SUCCESS);
  ASSERT_EQ(st_->close(s), TEEC_SUCCESS);
  files = added(before, object_files(root(), GetParam().uuid));
  ASSERT_EQ(files.size(), 1u);
  EXPECT_NE(files[0], v1_path);  // every version has its own file
  // Putting the old file back under its old name resurrects nothing.
  write_file(v1_path, v1);
  Bytes got;
  ASSERT_EQ(st_->read_object("ledger", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("balance 000"));
  // The old content under the current name: a rollback of this object, detected.
  write_file(files[0], v1);
  EXPECT_EQ(st_->read_object("ledger", &got), kCorrupt);
  EXPECT_TRUE(got.empty());
}

TEST_P(StorageApiTest, DeletedObjectCannotBeResurrected) {
  const auto before = object_files(root(), GetParam().uuid);
  ASSERT_EQ(st_->put("gone", text("secret")), TEEC_SUCCESS);
  auto files = added(before, object_files(root(), GetParam().uuid));
  ASSERT_EQ(files.size(), 1u);
  const Bytes saved = read_file(files[0]);
  uint32_t s = 0;
  ASSERT_EQ(st_->open("gone", kWriteMeta, &s), TEEC_SUCCESS);
  ASSERT_EQ(st_->remove(s), TEEC_SUCCESS);
  EXPECT_FALSE(fs::exists(files[0]));
  write_file(files[0], saved);
  EXPECT_EQ(st_->open("gone", kRead, &s), TEEC_ERROR_ITEM_NOT_FOUND);
}

INSTANTIATE_TEST_SUITE_P(Ta, StorageApiTest,
                         ::testing::Values(TaCase{"gp131", TA_STORAGE_TEST_UUID},
                                           TaCase{"gp11", TA_STORAGE_GP11_UUID}),
                         [](const ::testing::TestParamInfo<TaCase>& i) { return i.param.name; });

// Two sessions of one TA on two host threads: transactions serialize on the storage lock (the
// secure threads wait for it in the normal world) and nothing is lost.
TEST(StorageConcurrency, TwoInstancesOnTwoThreads) {
  TEEC_Context ctx{};
  ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx), TEEC_SUCCESS);
  {
    GpSession a(&ctx, kStorageUuid), b(&ctx, kStorageUuid);
    ASSERT_EQ(a.result(), TEEC_SUCCESS);
    ASSERT_EQ(b.result(), TEEC_SUCCESS);
    ASSERT_EQ(Store(a).wipe(), TEEC_SUCCESS);
    auto work = [](TaLink* link, char tag) {
      Store st(*link);
      int failures = 0;
      for (int i = 0; i < 20; ++i) {
        const std::string id = std::string(1, tag) + std::to_string(i);
        failures += st.put(id, repeat(static_cast<uint8_t>(tag), 100 + i)) != TEEC_SUCCESS;
      }
      return failures;
    };
    auto fa = std::async(std::launch::async, work, &a, 'a');
    auto fb = std::async(std::launch::async, work, &b, 'b');
    EXPECT_EQ(fa.get(), 0);
    EXPECT_EQ(fb.get(), 0);
    std::vector<std::string> ids;
    ASSERT_EQ(Store(a).list(&ids), TEEC_SUCCESS);
    EXPECT_EQ(ids.size(), 40u);
    Bytes got;
    ASSERT_EQ(Store(b).read_object("a7", &got), TEEC_SUCCESS);
    EXPECT_EQ(got, repeat('a', 107));
  }
  TEEC_FinalizeContext(&ctx);
  EXPECT_TRUE(machine().audit().quiescent()) << machine().audit().describe();
}

// =================================================================================================
// Machines of their own: restarts, tampering with the directory, the supplicant.

class StorageMachineTest : public ::testing::Test {
 protected:
  void SetUp() override { dir_ = make_temp_dir(); }
  void TearDown() override {
    shutdown();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  void boot(uint32_t guests = 0) {
    shutdown();
    platform::MachineConfig c;
    c.ta_path = {TEEMU_TEST_TA_DIR};
    c.storage_dir = dir_;
    c.guests = guests;
    std::string error;
    machine_ = platform::Machine::create(c, &error);
    ASSERT_NE(machine_, nullptr) << error;
  }
  void shutdown() {
    sessions_.clear();
    stores_.clear();
    if (machine_) {
      auto a = machine_->audit();
      EXPECT_TRUE(a.quiescent()) << a.describe();
    }
    machine_.reset();
  }
  Store& session(const TEEC_UUID& uuid = kStorageUuid, ree::Kernel* kernel = nullptr) {
    sessions_.push_back(
        std::make_unique<RawSession>(kernel != nullptr ? *kernel : machine_->kernel(), uuid));
    EXPECT_EQ(sessions_.back()->result(), TEEC_SUCCESS);
    stores_.push_back(std::make_unique<Store>(*sessions_.back()));
    return *stores_.back();
  }
  fs::path manifest(const TEEC_UUID& u = kStorageUuid) { return ta_dir(dir_, u) / "dirf.db"; }

  std::string dir_;
  std::unique_ptr<platform::Machine> machine_;
  std::vector<std::unique_ptr<RawSession>> sessions_;
  std::vector<std::unique_ptr<Store>> stores_;
};

TEST_F(StorageMachineTest, ObjectsSurviveARestart) {
  boot();
  Store& a = session();
  ASSERT_EQ(a.put("persistent", text("across boots")), TEEC_SUCCESS);
  uint32_t s = 0;
  ASSERT_EQ(a.create("key", kRead, nullptr, &s, TA_STORAGE_ATTR_AES), TEEC_SUCCESS);
  boot();  // a new machine on the same directory (the old one is gone)
  Store& b = session();
  Bytes got;
  ASSERT_EQ(b.read_object("persistent", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("across boots"));
  ASSERT_EQ(b.open("key", kRead, &s), TEEC_SUCCESS);
  Bytes plain(16, 0x42), out;
  ASSERT_EQ(b.cipher(s, plain, &out), TEEC_SUCCESS);
  EXPECT_EQ(out, aes_ecb(plain));
  // The device key was made once, on first use.
  EXPECT_TRUE(fs::exists(fs::path(dir_) / "devkey.bin"));
}

TEST_F(StorageMachineTest, LeftoversAreCollectedOnceABoot) {
  boot();
  ASSERT_EQ(session().put("kept", text("kept")), TEEC_SUCCESS);
  shutdown();
  // What a crash between an object write and its commit leaves, a stale temporary manifest,
  // and a file that is not storage's at all.
  const fs::path d = ta_dir(dir_, kStorageUuid);
  const auto live = object_files(dir_, kStorageUuid);
  ASSERT_EQ(live.size(), 1u);
  write_file(d / "o00000063.0000000000000001", text("orphan"));
  write_file(d / "dirf.db.tmp", text("stale"));
  write_file(d / "notes.txt", text("not ours"));
  boot();
  Bytes got;
  ASSERT_EQ(session().read_object("kept", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("kept"));
  EXPECT_FALSE(fs::exists(d / "o00000063.0000000000000001"));
  EXPECT_FALSE(fs::exists(d / "dirf.db.tmp"));
  EXPECT_TRUE(fs::exists(d / "notes.txt"));
  EXPECT_EQ(object_files(dir_, kStorageUuid), live);
}

// With virtualization every guest has its own tee-supplicant and file system: the same TA in
// two guests has two storages, with their own device keys, rollback floors and open objects.
TEST_F(StorageMachineTest, GuestsHaveStoragesOfTheirOwn) {
  boot(2);
  ASSERT_NE(machine_->guest_kernel(1), nullptr);
  Store& g1 = session(kStorageUuid, machine_->guest_kernel(1));
  Store& g2 = session(kStorageUuid, machine_->guest_kernel(2));
  for (int i = 0; i < 5; ++i) ASSERT_EQ(g1.put("same id", text("guest one")), TEEC_SUCCESS);
  ASSERT_EQ(g2.put("same id", text("guest two")), TEEC_SUCCESS);
  Bytes got;
  ASSERT_EQ(g1.read_object("same id", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("guest one"));
  ASSERT_EQ(g2.read_object("same id", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("guest two"));
  // An exclusive handle in one guest does not lock the other guest's object.
  uint32_t s1 = 0, s2 = 0;
  ASSERT_EQ(g1.open("same id", kRead | kWriteMeta, &s1), TEEC_SUCCESS);
  ASSERT_EQ(g2.open("same id", kRead | kWriteMeta, &s2), TEEC_SUCCESS);
  for (int g = 1; g <= 2; ++g) {
    const std::string root = dir_ + "/guest-" + std::to_string(g);
    EXPECT_TRUE(fs::exists(fs::path(root) / "devkey.bin"));
    EXPECT_EQ(object_files(root, kStorageUuid).size(), 1u);
  }
  EXPECT_NE(read_file(fs::path(dir_) / "guest-1/devkey.bin"),
            read_file(fs::path(dir_) / "guest-2/devkey.bin"));
}

TEST_F(StorageMachineTest, OtherTasCannotReadAnObject) {
  boot();
  ASSERT_EQ(session(kStorageUuid).put("mine", text("TA one's data")), TEEC_SUCCESS);
  Store& two = session(kStorage2Uuid);
  uint32_t s = 0;
  // Another TA names its own objects only.
  EXPECT_EQ(two.open("mine", kRead, &s), TEEC_ERROR_ITEM_NOT_FOUND);
  std::vector<std::string> ids;
  EXPECT_EQ(two.list(&ids), TEEC_ERROR_ITEM_NOT_FOUND);
  // Even with TA one's files copied into its directory, it cannot read them: they are
  // authenticated under TA one's key and UUID.
  boot();
  std::error_code ec;
  fs::remove_all(ta_dir(dir_, kStorage2Uuid), ec);
  fs::copy(ta_dir(dir_, kStorageUuid), ta_dir(dir_, kStorage2Uuid), fs::copy_options::recursive);
  Store& two_again = session(kStorage2Uuid);
  EXPECT_EQ(two_again.open("mine", kRead, &s), kCorrupt);
  EXPECT_EQ(two_again.list(&ids), kCorrupt);
}

TEST_F(StorageMachineTest, ManifestDeletedDuringABootIsDetected) {
  boot();
  Store& a = session();
  ASSERT_EQ(a.put("x", text("x")), TEEC_SUCCESS);
  ASSERT_TRUE(fs::remove(manifest()));
  // This boot knows a manifest existed: its disappearance is a rollback.
  uint32_t s = 0;
  EXPECT_EQ(a.open("x", kRead, &s), kCorrupt);
  std::vector<std::string> ids;
  EXPECT_EQ(a.list(&ids), kCorrupt);
  EXPECT_EQ(a.put("y", text("y")), kCorrupt);
  // After a restart nothing remembers it (no monotonic counter): the storage reads as empty and
  // is usable again.
  boot();
  Store& b = session();
  EXPECT_EQ(b.open("x", kRead, &s), TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(b.list(&ids), TEEC_ERROR_ITEM_NOT_FOUND);
  ASSERT_EQ(b.put("y", text("y")), TEEC_SUCCESS);
  Bytes got;
  ASSERT_EQ(b.read_object("y", &got), TEEC_SUCCESS);
}

TEST_F(StorageMachineTest, WholeDirectoryRollbackDuringABootIsDetected) {
  boot();
  Store& a = session();
  ASSERT_EQ(a.put("account", text("old")), TEEC_SUCCESS);
  const fs::path snapshot = fs::path(dir_ + "-snapshot");
  fs::copy(ta_dir(dir_, kStorageUuid), snapshot, fs::copy_options::recursive);
  ASSERT_EQ(a.put("account", text("new")), TEEC_SUCCESS);
  // Put back the complete older state: manifest and object files, all authentic.
  fs::remove_all(ta_dir(dir_, kStorageUuid));
  fs::copy(snapshot, ta_dir(dir_, kStorageUuid), fs::copy_options::recursive);
  Bytes got;
  EXPECT_EQ(a.read_object("account", &got), kCorrupt);
  // What a software TEE cannot detect: the same rollback across a restart (no hardware
  // monotonic counter or RPMB to remember the generation). docs/storage.md says so.
  boot();
  ASSERT_EQ(session().read_object("account", &got), TEEC_SUCCESS);
  EXPECT_EQ(got, text("old"));
  fs::remove_all(snapshot);
}

TEST_F(StorageMachineTest, TamperedManifestIsCorrupt) {
  boot();
  Store& a = session();
  ASSERT_EQ(a.put("m", text("m")), TEEC_SUCCESS);
  Bytes b = read_file(manifest());
  b[b.size() / 2] ^= 0x80;
  write_file(manifest(), b);
  uint32_t s = 0;
  EXPECT_EQ(a.open("m", kRead, &s), kCorrupt);
  boot();
  EXPECT_EQ(session().open("m", kRead, &s), kCorrupt);
  // A manifest is never taken from a tampered file, so nothing was deleted: the object file
  // is still there.
  EXPECT_EQ(object_files(dir_, kStorageUuid).size(), 1u);
}

TEST_F(StorageMachineTest, CorruptWriteClosesTheHandle) {
  boot();
  Store& a = session();
  ASSERT_EQ(a.put("c", text("c")), TEEC_SUCCESS);
  uint32_t s = 0, info = 0;
  ASSERT_EQ(a.open("c", kRead | kWrite, &s), TEEC_SUCCESS);
  ASSERT_EQ(a.probe(s, &info), TEEC_SUCCESS);
  EXPECT_EQ(info, TEEC_SUCCESS);
  ASSERT_TRUE(fs::remove(manifest()));
  EXPECT_EQ(a.write(s, text("more")), kCorrupt);
  // GP: after TEE_ERROR_CORRUPT_OBJECT the handle is closed; using it is a panic.
  EXPECT_EQ(a.probe(s, &info), TEEC_ERROR_TARGET_DEAD);
}

TEST_F(StorageMachineTest, TamperedDeviceKeyMakesEverythingCorrupt) {
  boot();
  ASSERT_EQ(session().put("k", text("k")), TEEC_SUCCESS);
  const fs::path key = fs::path(dir_) / "devkey.bin";
  Bytes b = read_file(key);
  b[b.size() - 3] ^= 0x10;
  write_file(key, b);
  boot();
  uint32_t s = 0;
  EXPECT_EQ(session().open("k", kRead, &s), kCorrupt);
}

TEST_F(StorageMachineTest, StorageDirectoryThatCannotExist) {
  // The storage root lies under a regular file: the supplicant answers STORAGE_NOT_AVAILABLE
  // and so does the API; the TA lives on.
  write_file(fs::path(dir_) / "file", text("x"));
  dir_ = dir_ + "/file/tee";
  boot();
  Store& a = session();
  uint32_t s = 0;
  EXPECT_EQ(a.open("x", kRead, &s), kNotAvailable);
  EXPECT_EQ(a.put("x", text("x")), kNotAvailable);
  std::vector<std::string> ids;
  EXPECT_EQ(a.list(&ids), kNotAvailable);
  dir_ = dir_.substr(0, dir_.size() - std::strlen("/file/tee"));
}

TEST_F(StorageMachineTest, SupplicantGoneBeforeTheRequest) {
  boot();
  Store& a = session();
  ASSERT_EQ(a.put("before", text("x")), TEEC_SUCCESS);
  machine_->supplicant().stop();
  uint32_t s = 0;
  // The driver fails the RPC at once (TEEC_ERROR_COMMUNICATION); storage reports it as
  // unavailable and the TA carries on.
  EXPECT_EQ(a.open("before", kRead, &s), kNotAvailable);
  EXPECT_EQ(a.put("after", text("y")), kNotAvailable);
}

// The supplicant goes away while the secure world waits for its answer to a storage request:
// the pending request fails with TEEC_ERROR_COMMUNICATION and the TA gets an error, no hang.
TEST_F(StorageMachineTest, SupplicantGoneWhileARequestWaits) {
  boot();
  Store& a = session();
  machine_->supplicant().stop();
  ree::Kernel& k = machine_->kernel();
  // A stand-in supplicant on /dev/teepriv0 that serves SHM_ALLOC, takes the first FS request
  // and then closes its device without answering.
  const int fd = k.sys_open("/dev/teepriv0");
  ASSERT_GE(fd, 0);
  auto result = std::async(std::launch::async, [&] { return a.put("pending", text("x")); });
  struct {
    abi::tee_iocl_supp_recv_arg h;
    abi::tee_ioctl_param p[5];
  } buf{};
  std::vector<std::pair<void*, int>> regs;
  bool saw_fs = false;
  while (!saw_fs) {
    std::memset(&buf, 0, sizeof(buf));
    buf.h.num_params = 5;
    buf.p[0].attr = abi::TEE_IOCTL_PARAM_ATTR_META;
    abi::tee_ioctl_buf_data d{reinterpret_cast<uint64_t>(&buf), sizeof(buf)};
    ASSERT_EQ(k.sys_ioctl(fd, abi::TEE_IOC_SUPPL_RECV, &d), 0);
    if (buf.h.func == abi::OPTEE_RPC_CMD_FS) {
      saw_fs = true;  // the secure thread now waits for this answer
      break;
    }
    ASSERT_EQ(buf.h.func, abi::OPTEE_RPC_CMD_SHM_ALLOC);
    const uint64_t size = buf.p[1].b;
    void* mem = nullptr;
    ASSERT_EQ(posix_memalign(&mem, 4096, (size + 4095) & ~uint64_t{4095}), 0);
    abi::tee_ioctl_shm_register_data r{reinterpret_cast<uint64_t>(mem), size, 0, 0};
    const int shm_fd = k.sys_ioctl(fd, abi::TEE_IOC_SHM_REGISTER, &r);
    ASSERT_GE(shm_fd, 0);
    regs.emplace_back(mem, shm_fd);
    struct {
      abi::tee_iocl_supp_send_arg h;
      abi::tee_ioctl_param p[2];
    } reply{};
    reply.h.ret = TEEC_SUCCESS;
    reply.h.num_params = 2;
    reply.p[0] = buf.p[0];
    reply.p[1] = buf.p[1];
    reply.p[1].c = static_cast<uint64_t>(r.id);
    abi::tee_ioctl_buf_data sd{reinterpret_cast<uint64_t>(&reply), sizeof(reply)};
    ASSERT_EQ(k.sys_ioctl(fd, abi::TEE_IOC_SUPPL_SEND, &sd), 0);
  }
  EXPECT_EQ(result.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  // Gone: the kernel fails what is pending.
  ASSERT_EQ(k.sys_close(fd), 0);
  ASSERT_EQ(result.wait_for(std::chrono::seconds(20)), std::future_status::ready);
  EXPECT_EQ(result.get(), kNotAvailable);
  for (auto& [mem, shm_fd] : regs) {
    k.sys_close(shm_fd);
    std::free(mem);
  }
}

// =================================================================================================
// A process killed in the middle of writes: the object is one of the versions, never garbage.

const Bytes& crash_version(int v) {
  static const Bytes a = repeat('A', 3000), b = repeat('B', 70000), c = repeat('C', 70000);
  return v == 0 ? a : (v == 1 ? b : c);
}

// Run only as the child of CrashTest (with TEEMU_STORAGE_TEST_CHILD set): writes versions in a
// loop until killed. Each version change is one GP call: a create with OVERWRITE, or a
// same-length write over the whole stream.
TEST(StorageCrashChild, DISABLED_Writer) {
  const char* ready = std::getenv("TEEMU_STORAGE_TEST_CHILD");
  ASSERT_NE(ready, nullptr);
  TEEC_Context ctx{};
  ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx), TEEC_SUCCESS);
  GpSession sess(&ctx, kStorageUuid);
  ASSERT_EQ(sess.result(), TEEC_SUCCESS);
  Store st(sess);
  bool announced = false;
  for (int round = 0;; ++round) {
    uint32_t s = 0;
    ASSERT_EQ(st.create("crash", kWrite | kOverwrite, &crash_version(0), &s), TEEC_SUCCESS);
    ASSERT_EQ(st.close(s), TEEC_SUCCESS);
    if (!announced) {
      write_file(ready, text("ready"));
      announced = true;
    }
    ASSERT_EQ(st.create("crash", kWrite | kOverwrite, &crash_version(1), &s), TEEC_SUCCESS);
    ASSERT_EQ(st.write(s, crash_version(2)), TEEC_SUCCESS);
    ASSERT_EQ(st.close(s), TEEC_SUCCESS);
  }
}

TEST_F(StorageMachineTest, KilledMidWriteLeavesOldOrNewVersion) {
  const std::string ready = dir_ + ".ready";
  std::mt19937 rng(12345);
  std::map<char, int> seen;
  // Everything the child needs is prepared before fork: after it only execve runs (this process
  // has other threads, so the child may not allocate).
  std::vector<std::string> env_strings;
  for (char** e = environ; *e != nullptr; ++e)
    if (std::strncmp(*e, "TEEMU_STORAGE_DIR=", 18) != 0) env_strings.emplace_back(*e);
  env_strings.push_back("TEEMU_STORAGE_DIR=" + dir_);
  env_strings.push_back("TEEMU_STORAGE_TEST_CHILD=" + ready);
  std::vector<char*> envp;
  for (auto& e : env_strings) envp.push_back(e.data());
  envp.push_back(nullptr);
  const char* argv[] = {"/proc/self/exe", "--gtest_filter=StorageCrashChild.DISABLED_Writer",
                        "--gtest_also_run_disabled_tests", nullptr};
  for (int iteration = 0; iteration < 8; ++iteration) {
    std::remove(ready.c_str());
    const pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      execve("/proc/self/exe", const_cast<char* const*>(argv), envp.data());
      _exit(127);
    }
    // Wait for the first committed version, then kill at a random moment of the loop.
    for (int i = 0; i < 3000 && !fs::exists(ready); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    ASSERT_TRUE(fs::exists(ready)) << "the writer never got going";
    std::this_thread::sleep_for(std::chrono::milliseconds(std::uniform_int_distribution<int>(0, 60)(rng)));
    ASSERT_EQ(kill(pid, SIGKILL), 0);
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(WIFSIGNALED(status)) << "the writer stopped by itself";
    boot();
    Bytes got;
    ASSERT_EQ(session().read_object("crash", &got, 100000), TEEC_SUCCESS);
    ASSERT_TRUE(got == crash_version(0) || got == crash_version(1) || got == crash_version(2))
        << "garbage of " << got.size() << " bytes";
    ++seen[static_cast<char>(got[0])];
    shutdown();
  }
  std::remove(ready.c_str());
  EXPECT_GE(seen.size(), 1u);
}

// =================================================================================================
// tee-supplicant's FS service on its own: the protocol, its error codes, path confinement.

class SupplicantFsTest : public StorageMachineTest {
 protected:
  void SetUp() override {
    StorageMachineTest::SetUp();
    boot();
    // A buffer of the supplicant's own, as SHM_ALLOC makes them for the secure world.
    std::vector<abi::tee_ioctl_param> p(1);
    p[0].attr = abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
    p[0].a = abi::OPTEE_RPC_SHM_TYPE_APPL;
    p[0].b = 8192;
    ASSERT_EQ(supp().handle(abi::OPTEE_RPC_CMD_SHM_ALLOC, p), TEEC_SUCCESS);
    shm_id_ = static_cast<int>(p[0].c);
    uint64_t size = 0;
    shm_ = supp().shm_buffer(shm_id_, &size);
    ASSERT_NE(shm_, nullptr);
    ASSERT_GE(size, 8192u);
  }
  void TearDown() override {
    std::vector<abi::tee_ioctl_param> p(1);
    p[0].attr = abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INOUT;
    p[0].a = abi::OPTEE_RPC_SHM_TYPE_APPL;
    p[0].b = static_cast<uint64_t>(shm_id_);
    EXPECT_EQ(supp().handle(abi::OPTEE_RPC_CMD_SHM_FREE, p), TEEC_SUCCESS);
    EXPECT_EQ(supp().fs().open_count(), 0u);
    StorageMachineTest::TearDown();
  }
  supplicant::Supplicant& supp() { return machine_->supplicant(); }

  static abi::tee_ioctl_param val(uint64_t attr, uint64_t a = 0, uint64_t b = 0, uint64_t c = 0) {
    return {attr, a, b, c};
  }
  static abi::tee_ioctl_param vin(uint64_t a, uint64_t b = 0, uint64_t c = 0) {
    return val(abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT, a, b, c);
  }
  static abi::tee_ioctl_param vout() { return val(abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT); }
  // A memref of [off, off + size) of our buffer.
  abi::tee_ioctl_param mem(bool output, uint64_t off, uint64_t size) const {
    return val(output ? abi::TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT
                      : abi::TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT,
               off, size, static_cast<uint64_t>(shm_id_));
  }
  // Puts a NUL-terminated name at `off`; the memref covering it (terminator included).
  abi::tee_ioctl_param name(const std::string& n, uint64_t off = 0) {
    std::memcpy(shm_ + off, n.c_str(), n.size() + 1);
    return mem(false, off, n.size() + 1);
  }
  uint32_t fs(std::vector<abi::tee_ioctl_param> p, std::vector<abi::tee_ioctl_param>* out = nullptr) {
    uint32_t r = supp().handle(abi::OPTEE_RPC_CMD_FS, p);
    if (out != nullptr) *out = p;
    return r;
  }
  uint32_t open(const std::string& n, bool create, uint64_t* fd) {
    std::vector<abi::tee_ioctl_param> out;
    uint32_t r = fs({vin(create ? abi::OPTEE_RPC_FS_CREATE : abi::OPTEE_RPC_FS_OPEN), name(n),
                     vout()},
                    &out);
    *fd = out[2].a;
    return r;
  }
  uint32_t close(uint64_t fd) { return fs({vin(abi::OPTEE_RPC_FS_CLOSE, fd)}); }

  int shm_id_ = -1;
  uint8_t* shm_ = nullptr;
};

TEST_F(SupplicantFsTest, FileRoundTrip) {
  uint64_t fd = 0;
  ASSERT_EQ(open("ta/sub/file", true, &fd), TEEC_SUCCESS);  // directories made on the way
  std::memcpy(shm_ + 1024, "0123456789", 10);
  ASSERT_EQ(fs({vin(abi::OPTEE_RPC_FS_WRITE, fd, 0), mem(false, 1024, 10)}), TEEC_SUCCESS);
  ASSERT_EQ(fs({vin(abi::OPTEE_RPC_FS_WRITE, fd, 20), mem(false, 1024, 2)}), TEEC_SUCCESS);
  std::vector<abi::tee_ioctl_param> out;
  ASSERT_EQ(fs({vin(abi::OPTEE_RPC_FS_READ, fd, 8), mem(true, 2048, 100)}, &out), TEEC_SUCCESS);
  EXPECT_EQ(out[1].b, 14u);  // bytes read, up to the end of the file
  EXPECT_EQ(std::memcmp(shm_ + 2048, "89\0\0\0\0\0\0\0\0\0\0" "01", 14), 0);
  ASSERT_EQ(fs({vin(abi::OPTEE_RPC_FS_TRUNCATE, fd, 4)}), TEEC_SUCCESS);
  ASSERT_EQ(close(fd), TEEC_SUCCESS);
  EXPECT_EQ(read_file(fs::path(dir_) / "ta/sub/file"), text("0123"));
  // CREATE truncates an existing file.
  ASSERT_EQ(open("ta/sub/file", true, &fd), TEEC_SUCCESS);
  ASSERT_EQ(close(fd), TEEC_SUCCESS);
  EXPECT_TRUE(read_file(fs::path(dir_) / "ta/sub/file").empty());
  // REMOVE takes the emptied directories along, never the root.
  ASSERT_EQ(fs({vin(abi::OPTEE_RPC_FS_REMOVE), name("ta/sub/file")}), TEEC_SUCCESS);
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "ta"));
  EXPECT_TRUE(fs::exists(dir_));
}

TEST_F(SupplicantFsTest, ErrorCodesOfTheRealDaemon) {
  uint64_t fd = 0;
  EXPECT_EQ(open("missing", false, &fd), TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_REMOVE), name("missing")}), TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_RENAME, 0), name("missing"), name("x", 512)}),
            TEEC_ERROR_ITEM_NOT_FOUND);
  ASSERT_EQ(open("a", true, &fd), TEEC_SUCCESS);
  ASSERT_EQ(close(fd), TEEC_SUCCESS);
  ASSERT_EQ(open("b", true, &fd), TEEC_SUCCESS);
  ASSERT_EQ(close(fd), TEEC_SUCCESS);
  // RENAME without overwrite onto an existing name: ACCESS_CONFLICT; with it: replaced.
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_RENAME, 0), name("a"), name("b", 512)}),
            TEEC_ERROR_ACCESS_CONFLICT);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_RENAME, 1), name("a"), name("b", 512)}), TEEC_SUCCESS);
  EXPECT_FALSE(fs::exists(fs::path(dir_) / "a"));
  // Descriptors the service did not hand out are refused: the daemon's own files stay open.
  const int own = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  ASSERT_GE(own, 0);
  EXPECT_EQ(close(static_cast<uint64_t>(own)), TEEC_ERROR_GENERIC);
  EXPECT_NE(fcntl(own, F_GETFD), -1);
  ::close(own);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_READ, 2, 0), mem(true, 0, 10)}), TEEC_ERROR_GENERIC);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_WRITE, 99999, 0), mem(false, 0, 10)}), TEEC_ERROR_GENERIC);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_TRUNCATE, 99999, 0)}), TEEC_ERROR_GENERIC);
  // Wrong layouts, unknown operations and an unknown command.
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_OPEN), name("b")}), TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_OPEN), vin(0), vout()}), TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_CLOSE), vin(0)}), TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(fs({vin(77)}), TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(fs({}), TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(fs({mem(false, 0, 1)}), TEEC_ERROR_BAD_PARAMETERS);
  std::vector<abi::tee_ioctl_param> p{vin(0)};
  EXPECT_EQ(supp().handle(abi::OPTEE_RPC_CMD_RPMB, p), TEEC_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(supp().handle(abi::OPTEE_RPC_CMD_SOCKET, p), TEEC_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(supp().handle(1234, p), TEEC_ERROR_NOT_SUPPORTED);
  // A memref outside the buffer, or of a buffer that does not exist.
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_OPEN), mem(false, 8190, 100), vout()}),
            TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_OPEN),
                val(abi::TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT, 0, 2, 4242), vout()}),
            TEEC_ERROR_BAD_PARAMETERS);
}

TEST_F(SupplicantFsTest, NamesStayInsideTheStorageDirectory) {
  const fs::path outside = fs::path(dir_).parent_path() / (fs::path(dir_).filename().string() + "-outside");
  for (const std::string& bad :
       {std::string("../") + outside.filename().string(), std::string("a/../../x"),
        std::string(".."), std::string("a/.."), outside.string(), std::string("/etc/passwd"),
        std::string("")}) {
    uint64_t fd = 0;
    EXPECT_EQ(open(bad, true, &fd), TEEC_ERROR_BAD_PARAMETERS) << bad;
    EXPECT_EQ(open(bad, false, &fd), TEEC_ERROR_BAD_PARAMETERS) << bad;
    EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_REMOVE), name(bad)}), TEEC_ERROR_BAD_PARAMETERS) << bad;
    EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_RENAME, 1), name("ok"), name(bad, 512)}),
              TEEC_ERROR_BAD_PARAMETERS)
        << bad;
    EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_OPENDIR), name(bad), vout()}), TEEC_ERROR_BAD_PARAMETERS)
        << bad;
  }
  EXPECT_FALSE(fs::exists(outside));
  // A name without its terminator inside the memref is never read past its end.
  std::memset(shm_, 'a', 16);
  uint64_t fd = 0;
  std::vector<abi::tee_ioctl_param> out;
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_CREATE), mem(false, 0, 16), vout()}, &out),
            TEEC_ERROR_BAD_PARAMETERS);
  // Names that only look odd are fine inside the root.
  ASSERT_EQ(open("dir/..name/x..y/.z", true, &fd), TEEC_SUCCESS);
  ASSERT_EQ(close(fd), TEEC_SUCCESS);
  EXPECT_TRUE(fs::exists(fs::path(dir_) / "dir/..name/x..y/.z"));
  EXPECT_TRUE(supplicant::ReeFs::valid_name("a/b", 4));
  EXPECT_FALSE(supplicant::ReeFs::valid_name("a/..", 5));
  EXPECT_FALSE(supplicant::ReeFs::valid_name("abc", 3));  // no terminator
}

TEST_F(SupplicantFsTest, SymbolicLinksAreNotFollowed) {
  const fs::path target = fs::path(dir_ + "-target");
  write_file(target, text("host file"));
  fs::create_symlink(target, fs::path(dir_) / "link");
  uint64_t fd = 0;
  EXPECT_EQ(open("link", false, &fd), TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(open("link", true, &fd), TEEC_ERROR_GENERIC);
  EXPECT_EQ(read_file(target), text("host file"));
  fs::remove(target);
}

TEST_F(SupplicantFsTest, Directories) {
  std::vector<abi::tee_ioctl_param> out;
  // Missing and empty directories: ITEM_NOT_FOUND, as tee-supplicant answers.
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_OPENDIR), name("nodir"), vout()}),
            TEEC_ERROR_ITEM_NOT_FOUND);
  fs::create_directory(fs::path(dir_) / "empty");
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_OPENDIR), name("empty"), vout()}),
            TEEC_ERROR_ITEM_NOT_FOUND);
  fs::create_directory(fs::path(dir_) / "d");
  write_file(fs::path(dir_) / "d" / "long-file-name", {});
  ASSERT_EQ(fs({vin(abi::OPTEE_RPC_FS_OPENDIR), name("d"), vout()}, &out), TEEC_SUCCESS);
  const uint64_t h = out[2].a;
  // Too small a buffer: SHORT_BUFFER with the size needed (and the entry is consumed, as in
  // tee-supplicant).
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_READDIR, h), mem(true, 0, 4)}, &out),
            TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(out[1].b, 15u);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_READDIR, h), mem(true, 0, 256)}, &out),
            TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_CLOSEDIR, h)}), TEEC_SUCCESS);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_CLOSEDIR, h)}), TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(fs({vin(abi::OPTEE_RPC_FS_READDIR, h), mem(true, 0, 256)}), TEEC_ERROR_BAD_PARAMETERS);
  ASSERT_EQ(fs({vin(abi::OPTEE_RPC_FS_OPENDIR), name("d"), vout()}, &out), TEEC_SUCCESS);
  const uint64_t h2 = out[2].a;
  ASSERT_EQ(fs({vin(abi::OPTEE_RPC_FS_READDIR, h2), mem(true, 0, 256)}, &out), TEEC_SUCCESS);
  EXPECT_EQ(std::string(reinterpret_cast<char*>(shm_)), "long-file-name");
  EXPECT_EQ(out[1].b, 15u);
  // Left open: the supplicant closes what is left when it stops.
  EXPECT_EQ(supp().fs().open_count(), 1u);
  supp().fs().close_all();
  EXPECT_EQ(supp().fs().open_count(), 0u);
}

TEST_F(SupplicantFsTest, DescriptorQuota) {
  std::vector<uint64_t> fds;
  uint64_t fd = 0;
  ASSERT_EQ(open("f", true, &fd), TEEC_SUCCESS);
  fds.push_back(fd);
  for (size_t i = 1; i < supplicant::ReeFs::kMaxOpen; ++i) {
    ASSERT_EQ(open("f", false, &fd), TEEC_SUCCESS);
    fds.push_back(fd);
  }
  EXPECT_EQ(open("f", false, &fd), TEEC_ERROR_OUT_OF_MEMORY);
  for (uint64_t f : fds) ASSERT_EQ(close(f), TEEC_SUCCESS);
  EXPECT_EQ(close(fds[0]), TEEC_ERROR_GENERIC);  // each descriptor closes once
}

// =================================================================================================
// The formats on their own.

TEST(StorageFormat, SealedRecordDetectsEveryFlippedByte) {
  using namespace ta_runtime::storage;
  SecretBytes key(32, 7);
  FileHeader h{FileKind::kObject, {}, 3, 9};
  h.ta[0] = 1;
  const Bytes payload = text("payload bytes");
  const Bytes sealed = seal(key, h, payload);
  ASSERT_EQ(sealed.size(), kHeaderSize + payload.size() + kTagSize);
  FileHeader got;
  SecretBytes out;
  ASSERT_TRUE(unseal(key, FileKind::kObject, sealed, &got, &out));
  EXPECT_EQ(Bytes(out.begin(), out.end()), payload);
  EXPECT_EQ(got.file_no, 3u);
  EXPECT_EQ(got.version, 9u);
  EXPECT_EQ(got.ta, h.ta);
  for (size_t i = 0; i < sealed.size(); ++i) {
    for (uint8_t bit : {uint8_t{0x01}, uint8_t{0x80}}) {
      Bytes b = sealed;
      b[i] ^= bit;
      EXPECT_FALSE(unseal(key, FileKind::kObject, b, &got, &out)) << "byte " << i;
    }
  }
  // Another kind, another key, a truncated record: refused.
  EXPECT_FALSE(unseal(key, FileKind::kManifest, sealed, &got, &out));
  SecretBytes other(32, 8);
  EXPECT_FALSE(unseal(other, FileKind::kObject, sealed, &got, &out));
  EXPECT_FALSE(unseal(key, FileKind::kObject, std::span(sealed).first(sealed.size() - 1), &got,
                      &out));
  // Two seals of the same content differ (a fresh nonce each time).
  EXPECT_NE(seal(key, h, payload), sealed);
}

TEST(StorageFormat, ManifestRoundTripAndMalformedInput) {
  using namespace ta_runtime::storage;
  Manifest m;
  m.generation = 42;
  m.next_file_no = 5;
  for (uint32_t i = 1; i < 5; ++i) {
    ManifestEntry e;
    e.id = text("obj" + std::to_string(i));
    e.file_no = i;
    e.version = 100 + i;
    e.hash[0] = static_cast<uint8_t>(i);
    e.type = kTypeData;
    e.data_size = i * 1000;
    m.entries.push_back(e);
  }
  SecretBytes enc = encode_manifest(m);
  Manifest back;
  ASSERT_TRUE(decode_manifest(enc, &back));
  EXPECT_EQ(back.generation, 42u);
  ASSERT_EQ(back.entries.size(), 4u);
  EXPECT_EQ(back.entries[2].id, text("obj3"));
  EXPECT_EQ(back.entries[2].data_size, 3000u);
  // Every truncation and a trailing byte are refused.
  for (size_t n = 0; n < enc.size(); ++n)
    EXPECT_FALSE(decode_manifest(std::span(enc).first(n), &back)) << n;
  SecretBytes longer = enc;
  longer.push_back(0);
  EXPECT_FALSE(decode_manifest(longer, &back));
  // Duplicate ids or file numbers, and file numbers not below next_file_no.
  Manifest dup = m;
  dup.entries[1].id = dup.entries[0].id;
  EXPECT_FALSE(decode_manifest(encode_manifest(dup), &back));
  dup = m;
  dup.entries[1].file_no = dup.entries[0].file_no;
  EXPECT_FALSE(decode_manifest(encode_manifest(dup), &back));
  dup = m;
  dup.next_file_no = 4;
  EXPECT_FALSE(decode_manifest(encode_manifest(dup), &back));
}

TEST(StorageFormat, KeysArePerTaAndPerDevice) {
  using namespace ta_runtime::storage;
  SecretBytes dev1(32, 1), dev2(32, 2);
  Uuid16 ta1{}, ta2{};
  ta2[15] = 1;
  EXPECT_NE(derive_ta_key(dev1, ta1), derive_ta_key(dev1, ta2));
  EXPECT_NE(derive_ta_key(dev1, ta1), derive_ta_key(dev2, ta1));
  EXPECT_EQ(derive_ta_key(dev1, ta1), derive_ta_key(dev1, ta1));
  EXPECT_EQ(derive_ta_key(dev1, ta1).size(), 32u);
  const std::string id1 = "machine-a", id2 = "machine-b";
  EXPECT_NE(derive_huk(text(id1)), derive_huk(text(id2)));
}

TEST(StorageConfig, DirectoryFromEnvironmentAndFile) {
  platform::MachineConfig c;
  const char* old = std::getenv("TEEMU_STORAGE_DIR");
  const std::string saved = old != nullptr ? old : "";
  setenv("TEEMU_STORAGE_DIR", "relative/dir", 1);
  ASSERT_TRUE(platform::apply_environment(c));
  EXPECT_EQ(c.storage_dir, (fs::current_path() / "relative/dir").string());
  setenv("TEEMU_STORAGE_DIR", "", 1);
  EXPECT_FALSE(platform::apply_environment(c));
  unsetenv("TEEMU_STORAGE_DIR");
  {  // The same for a TA path that names no directory.
    const char* old_path = std::getenv("TEEMU_TA_PATH");
    const std::string saved_path = old_path != nullptr ? old_path : "";
    for (const char* nothing : {"", ":", "::"}) {
      setenv("TEEMU_TA_PATH", nothing, 1);
      auto r = platform::apply_environment(c);
      ASSERT_FALSE(r) << "TEEMU_TA_PATH='" << nothing << "'";
      EXPECT_NE(r.error().message.find("TEEMU_TA_PATH"), std::string::npos);
    }
    setenv("TEEMU_TA_PATH", "/a::/b", 1);
    ASSERT_TRUE(platform::apply_environment(c));
    EXPECT_EQ(c.ta_path, (std::vector<std::string>{"/a", "/b"}));
    if (old_path != nullptr)
      setenv("TEEMU_TA_PATH", saved_path.c_str(), 1);
    else
      unsetenv("TEEMU_TA_PATH");
  }
  if (old != nullptr)
    setenv("TEEMU_STORAGE_DIR", saved.c_str(), 1);
  else
    unsetenv("TEEMU_STORAGE_DIR");
  const std::string dir = make_temp_dir();
  write_file(fs::path(dir) / "c.toml", text("storage_dir = \"/var/lib/teemu\"\n"));
  platform::MachineConfig f;
  ASSERT_TRUE(platform::apply_config_file(f, (fs::path(dir) / "c.toml").string()));
  EXPECT_EQ(f.storage_dir, "/var/lib/teemu");
  write_file(fs::path(dir) / "c.toml", text("storage_dir = 3\n"));
  EXPECT_FALSE(platform::apply_config_file(f, (fs::path(dir) / "c.toml").string()));
  fs::remove_all(dir);
  // The default follows the XDG base directories.
  EXPECT_NE(platform::default_storage_dir().find("teemu"), std::string::npos);
}

}  // namespace
}  // namespace teemu::test
