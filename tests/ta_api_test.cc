// GP TEE Internal Core API end to end, per API group, through the api-test TAs (tas/api_test: a
// GP 1.3.1 and a GP 1.1 build of one source) and the lifecycle-test TAs (tas/lifecycle_test):
// properties (4.4-4.7), time (7.2), memory access rights and instance data (7.1, 4.11),
// sessions with other TAs (4.9), and the instance semantics of the TA flags (4.5, OP-TEE's
// single-instance / multi-session / keep-alive), TA loading checks and panics. Each test names
// the rule it holds the implementation to. The process gets a fresh storage directory (the
// persistent time lives in trusted storage) and a TA directory of its own in front of the
// build's (the image-cache tests replace a TA file there).
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "abi/tee_uapi.h"
#include "platform/config.h"
#include "ree/kernel.h"
#include "ta_runtime/dl_loader.h"
#include "api_test_ta.h"
#include "lifecycle_test_ta.h"
#include "support/gp_util.h"  // last: the GP header's macros

namespace teemu::test {
namespace {

namespace fs = std::filesystem;

// GP values the tests use (tee_api_defines.h).
constexpr uint32_t kTimeNotSet = 0xFFFF5000;
constexpr uint32_t kOverflow = 0xFFFF300F;
constexpr uint32_t kLoginTrustedApp = 0xF0000000;

const TEEC_UUID kApiUuid = TA_API_TEST_UUID;
const TEEC_UUID kApiGp11Uuid = TA_API_TEST_GP11_UUID;
const TEEC_UUID kMulti = TA_LIFECYCLE_MULTI_UUID;
const TEEC_UUID kSingle = TA_LIFECYCLE_SINGLE_UUID;
const TEEC_UUID kShared = TA_LIFECYCLE_SHARED_UUID;
const TEEC_UUID kKeepAlive = TA_LIFECYCLE_KEEP_ALIVE_UUID;
const TEEC_UUID kCreateFail = TA_LIFECYCLE_CREATE_FAIL_UUID;
const TEEC_UUID kBadFlags = TA_LIFECYCLE_BAD_FLAGS_UUID;
const TEEC_UUID kWrongUuidFile = TA_LIFECYCLE_WRONG_UUID_FILE;
const TEEC_UUID kMissing = TA_LIFECYCLE_MISSING_UUID;
const TEEC_UUID kCreatePanic = TA_LIFECYCLE_CREATE_PANIC_UUID;
const TEEC_UUID kReload = TA_LIFECYCLE_RELOAD_UUID;
const TEEC_UUID kCtor = TA_LIFECYCLE_CTOR_UUID;
const char* const kReloadFile = "1f0c5a70-6b2d-4e8a-9c3f-5d7e9a1b3c0b.ta";
const char* const kCtorFile = "1f0c5a70-6b2d-4e8a-9c3f-5d7e9a1b3c0c.ta";

// Fresh directories for the embedded machine, set before it boots: its storage, and a TA
// directory searched before the build's (tests put TA files there and change them).
std::string g_ta_dir;
class MachineDirsEnv : public ::testing::Environment {
 public:
  void SetUp() override {
    const std::string storage = make("/tmp/teemu-api-test-XXXXXX");
    if (!storage.empty()) setenv("TEEMU_STORAGE_DIR", storage.c_str(), 1);
    g_ta_dir = make("/tmp/teemu-api-ta-XXXXXX");
    if (!g_ta_dir.empty()) {
      const char* rest = std::getenv("TEEMU_TA_PATH");
      const std::string path = g_ta_dir + ":" + (rest != nullptr ? rest : TEEMU_TEST_TA_DIR);
      setenv("TEEMU_TA_PATH", path.c_str(), 1);
    }
  }
  void TearDown() override {
    std::error_code ec;
    for (const auto& d : dirs_) fs::remove_all(d, ec);
  }

 private:
  std::string make(std::string tmpl) {
    if (mkdtemp(tmpl.data()) == nullptr) return {};
    dirs_.push_back(tmpl);
    return tmpl;
  }
  std::vector<std::string> dirs_;
};
[[maybe_unused]] ::testing::Environment* const kMachineDirsEnv =
    ::testing::AddGlobalTestEnvironment(new MachineDirsEnv);

std::vector<uint8_t> read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}
bool write_bytes(const std::string& path, const std::vector<uint8_t>& bytes) {
  // Replaced as tools replace files: written aside, then renamed over the old one.
  const std::string tmp = path + ".new";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes.data()),
              static_cast<std::streamsize>(bytes.size()));
    if (!out) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

// --- building operations ---------------------------------------------------------------------

class Op {
 public:
  Op& value_in(int i, uint32_t a, uint32_t b = 0) { return value(i, TEEC_VALUE_INPUT, a, b); }
  Op& value_out(int i) { return value(i, TEEC_VALUE_OUTPUT, 0, 0); }
  Op& value_inout(int i, uint32_t a, uint32_t b) { return value(i, TEEC_VALUE_INOUT, a, b); }
  Op& mem(int i, uint32_t type, void* buf, size_t size) {
    types_[i] = type;
    op_.params[i].tmpref.buffer = buf;
    op_.params[i].tmpref.size = size;
    return *this;
  }
  Op& mem_in(int i, const std::string& s) {  // a NUL-terminated string
    strings_[i].assign(s.begin(), s.end());
    strings_[i].push_back('\0');
    return mem(i, TEEC_MEMREF_TEMP_INPUT, strings_[i].data(), strings_[i].size());
  }
  TEEC_Operation* get() {
    op_.paramTypes = TEEC_PARAM_TYPES(types_[0], types_[1], types_[2], types_[3]);
    return &op_;
  }
  uint32_t a(int i) const { return op_.params[i].value.a; }
  uint32_t b(int i) const { return op_.params[i].value.b; }
  size_t size(int i) const { return op_.params[i].tmpref.size; }

 private:
  Op& value(int i, uint32_t type, uint32_t a, uint32_t b) {
    types_[i] = type;
    op_.params[i].value.a = a;
    op_.params[i].value.b = b;
    return *this;
  }
  TEEC_Operation op_{};
  uint32_t types_[4] = {TEEC_NONE, TEEC_NONE, TEEC_NONE, TEEC_NONE};
  std::vector<char> strings_[4];
};

// A session that closes itself.
class Session {
 public:
  Session(TEEC_Context* ctx, const TEEC_UUID& uuid) {
    result_ = TEEC_OpenSession(ctx, &s_, &uuid, TEEC_LOGIN_PUBLIC, nullptr, nullptr, &origin_);
  }
  ~Session() { close(); }
  void close() {
    if (result_ == TEEC_SUCCESS) TEEC_CloseSession(&s_);
    result_ = TEEC_ERROR_GENERIC;
  }
  TEEC_Result result() const { return result_; }
  uint32_t origin() const { return origin_; }
  TEEC_Result invoke(uint32_t cmd, Op& op, uint32_t* origin = nullptr) {
    uint32_t o = 0;
    TEEC_Result r = TEEC_InvokeCommand(&s_, cmd, op.get(), &o);
    if (origin != nullptr) *origin = o;
    return r;
  }
  TEEC_Result invoke(uint32_t cmd, uint32_t* origin = nullptr) {
    Op op;
    return invoke(cmd, op, origin);
  }

 private:
  TEEC_Session s_{};
  TEEC_Result result_ = TEEC_ERROR_GENERIC;
  uint32_t origin_ = 0;
};

// Whether this process's machine holds an instance of the keep-alive TA (it stays until the
// machine goes, so tests after the one that made it see it too).
bool g_keep_alive_instance = false;

// A context per test; at the end nothing is left anywhere but the keep-alive instance.
class ApiTestBase {
 protected:
  void open_context() { ASSERT_EQ(TEEC_InitializeContext(nullptr, &ctx_), TEEC_SUCCESS); }
  void close_context() {
    TEEC_FinalizeContext(&ctx_);
    auto a = machine().audit();
    EXPECT_EQ(a.ta_instances, g_keep_alive_instance ? 1u : 0u) << a.describe();
    a.ta_instances = 0;
    EXPECT_TRUE(a.quiescent()) << a.describe();
  }
  TEEC_Context ctx_{};
};

// --- the api-test TA in both builds --------------------------------------------------------------

struct Build {
  const char* name;
  TEEC_UUID uuid;
  const char* description;
};
void PrintTo(const Build& b, std::ostream* os) { *os << b.name; }
const Build kBuilds[] = {{"gp13", kApiUuid, "teemu API test TA"},
                         {"gp11", kApiGp11Uuid, "teemu API test TA (GP 1.1)"}};

class Api : public ::testing::TestWithParam<Build>, public ApiTestBase {
 protected:
  void SetUp() override {
    open_context();
    sess_ = std::make_unique<Session>(&ctx_, GetParam().uuid);
    ASSERT_EQ(sess_->result(), TEEC_SUCCESS);
  }
  void TearDown() override {
    sess_.reset();
    close_context();
  }

  struct Value {
    uint32_t result = 0;
    std::vector<uint8_t> bytes;
    uint32_t len = 0;
  };
  // API_CMD_PROP_TYPED.
  Value typed(uint32_t set, uint32_t kind, const std::string& name, size_t room = 64) {
    Value v;
    v.bytes.resize(room);
    Op op;
    op.value_in(0, set, kind).mem_in(1, name).mem(2, TEEC_MEMREF_TEMP_OUTPUT, v.bytes.data(), room);
    op.value_out(3);
    EXPECT_EQ(sess_->invoke(API_CMD_PROP_TYPED, op), TEEC_SUCCESS);
    v.result = op.a(3);
    v.len = op.b(3);
    v.bytes.resize(op.size(2) <= room ? op.size(2) : 0);
    return v;
  }
  // API_CMD_PROP_STRING: the string (without NUL) on success.
  std::string string_prop(uint32_t set, const std::string& name, uint32_t* result = nullptr,
                          uint32_t len_in = 256, uint32_t* len_out = nullptr) {
    std::vector<char> buf(256);
    Op op;
    op.value_in(0, set, len_in).mem_in(1, name).mem(2, TEEC_MEMREF_TEMP_OUTPUT, buf.data(), 256);
    op.value_out(3);
    EXPECT_EQ(sess_->invoke(API_CMD_PROP_STRING, op), TEEC_SUCCESS);
    if (result != nullptr) *result = op.a(3);
    if (len_out != nullptr) *len_out = op.b(3);
    if (op.a(3) != TEEC_SUCCESS) return {};
    EXPECT_EQ(op.size(2), op.b(3));
    EXPECT_GT(op.b(3), 0u);
    EXPECT_EQ(buf[op.b(3) - 1], '\0') << "the value includes its NUL";
    return std::string(buf.data());
  }
  uint32_t u32(uint32_t set, const std::string& name) {
    Value v = typed(set, API_KIND_U32, name);
    EXPECT_EQ(v.result, TEEC_SUCCESS) << name;
    uint32_t x = 0;
    if (v.bytes.size() == 4) std::memcpy(&x, v.bytes.data(), 4);
    return x;
  }
  bool boolean(uint32_t set, const std::string& name) {
    Value v = typed(set, API_KIND_BOOL, name);
    EXPECT_EQ(v.result, TEEC_SUCCESS) << name;
    return v.bytes.size() == 1 && v.bytes[0] != 0;
  }
  std::vector<uint8_t> uuid_bytes(const TEEC_UUID& u) {
    std::vector<uint8_t> b(sizeof(u));
    std::memcpy(b.data(), &u, sizeof(u));
    return b;
  }
  // API_CMD_T2T; returns {p2.a, p2.b, p3.a, p3.b}.
  std::array<uint32_t, 4> t2t(uint32_t scenario, uint32_t arg = 0, std::vector<uint8_t>* mem = nullptr,
                              TEEC_Result* invoke_result = nullptr) {
    uint8_t dummy = 0;
    Op op;
    op.value_in(0, scenario, arg);
    if (mem != nullptr)
      op.mem(1, TEEC_MEMREF_TEMP_INOUT, mem->data(), mem->size());
    else
      op.mem(1, TEEC_MEMREF_TEMP_INOUT, &dummy, 1);
    op.value_out(2).value_out(3);
    uint32_t origin = 0;
    const TEEC_Result r = sess_->invoke(API_CMD_T2T, op, &origin);
    if (invoke_result != nullptr) {
      *invoke_result = r;
    } else {
      EXPECT_EQ(r, TEEC_SUCCESS) << "origin " << origin;
    }
    return {op.a(2), op.b(2), op.a(3), op.b(3)};
  }

  std::unique_ptr<Session> sess_;
};

// --- properties ---

// GP 4.5.2 / OP-TEE user_ta_header.c: the gpd.ta.* properties come from the TA's header.
TEST_P(Api, TaPropertiesComeFromTheHeader) {
  EXPECT_FALSE(boolean(API_SET_TA, "gpd.ta.singleInstance"));
  EXPECT_FALSE(boolean(API_SET_TA, "gpd.ta.multiSession"));
  EXPECT_FALSE(boolean(API_SET_TA, "gpd.ta.instanceKeepAlive"));
  EXPECT_FALSE(boolean(API_SET_TA, "optee.ta.instanceKeepCrashed"));
  EXPECT_FALSE(boolean(API_SET_TA, "gpd.ta.doesNotCloseHandleOnCorruptObject"));
  EXPECT_EQ(u32(API_SET_TA, "gpd.ta.dataSize"), 64u * 1024);
  EXPECT_EQ(u32(API_SET_TA, "gpd.ta.stackSize"), 8u * 1024);
  EXPECT_EQ(u32(API_SET_TA, "gpd.ta.endian"), 0u);
  EXPECT_EQ(string_prop(API_SET_TA, "gpd.ta.version"), "2.5");
  EXPECT_EQ(string_prop(API_SET_TA, "gpd.ta.description"), GetParam().description);
  Value id = typed(API_SET_TA, API_KIND_UUID, "gpd.ta.appID");
  EXPECT_EQ(id.result, TEEC_SUCCESS);
  EXPECT_EQ(id.bytes, uuid_bytes(GetParam().uuid));
}

// GP 4.5.2: a TA's own properties (TA_CURRENT_TA_EXT_PROPERTIES), of every type.
TEST_P(Api, ExtensionPropertiesOfEveryType) {
  EXPECT_EQ(string_prop(API_SET_TA, API_EXT_STRING), API_EXT_STRING_VALUE);
  EXPECT_EQ(u32(API_SET_TA, API_EXT_U32), API_EXT_U32_VALUE);
  EXPECT_TRUE(boolean(API_SET_TA, API_EXT_BOOL));
  Value u64 = typed(API_SET_TA, API_KIND_U64, API_EXT_U64);
  ASSERT_EQ(u64.result, TEEC_SUCCESS);
  uint64_t x = 0;
  std::memcpy(&x, u64.bytes.data(), 8);
  EXPECT_EQ(x, API_EXT_U64_VALUE);
  Value bin = typed(API_SET_TA, API_KIND_BINARY, API_EXT_BINARY);
  ASSERT_EQ(bin.result, TEEC_SUCCESS);
  EXPECT_EQ(bin.bytes, (std::vector<uint8_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(bin.len, 10u);
  const TEEC_UUID ext_uuid = {0x01020304, 0x0506, 0x0708, {9, 10, 11, 12, 13, 14, 15, 16}};
  EXPECT_EQ(typed(API_SET_TA, API_KIND_UUID, API_EXT_UUID).bytes, uuid_bytes(ext_uuid));
  Value ident = typed(API_SET_TA, API_KIND_IDENTITY, API_EXT_IDENTITY);
  ASSERT_EQ(ident.result, TEEC_SUCCESS);
  uint32_t login = 0;
  std::memcpy(&login, ident.bytes.data(), 4);
  EXPECT_EQ(login, kLoginTrustedApp);
}

// GP 4.4.1 TEE_GetPropertyAsString: every type has a string form (OP-TEE's: decimal numbers,
// canonical lower-case UUIDs, "login:uuid" identities, base64 binary blocks).
TEST_P(Api, AsStringConvertsEveryType) {
  EXPECT_EQ(string_prop(API_SET_TA, API_EXT_BOOL), "true");
  EXPECT_EQ(string_prop(API_SET_TA, "gpd.ta.singleInstance"), "false");
  EXPECT_EQ(string_prop(API_SET_TA, API_EXT_U32), std::to_string(API_EXT_U32_VALUE));
  EXPECT_EQ(string_prop(API_SET_TA, API_EXT_U64), std::to_string(API_EXT_U64_VALUE));
  EXPECT_EQ(string_prop(API_SET_TA, API_EXT_UUID), "01020304-0506-0708-090a-0b0c0d0e0f10");
  EXPECT_EQ(string_prop(API_SET_TA, API_EXT_IDENTITY),
            "4026531840:a1a2a3a4-b1b2-c1c2-d1d2-0000000000ff");
  EXPECT_EQ(string_prop(API_SET_TA, API_EXT_BINARY), API_EXT_BINARY_BASE64);
}

// GP 4.5.3: a client session's identity is its login (PUBLIC: nil UUID); gpd.client.endian 0.
TEST_P(Api, ClientProperties) {
  Value id = typed(API_SET_CLIENT, API_KIND_IDENTITY, "gpd.client.identity");
  ASSERT_EQ(id.result, TEEC_SUCCESS);
  EXPECT_EQ(id.bytes, std::vector<uint8_t>(20, 0));
  EXPECT_EQ(string_prop(API_SET_CLIENT, "gpd.client.identity"),
            "0:00000000-0000-0000-0000-000000000000");
  EXPECT_EQ(u32(API_SET_CLIENT, "gpd.client.endian"), 0u);
}

// GP 4.5.4 with OP-TEE's values (tee_svc.c, libutee, mk/config.mk defaults).
TEST_P(Api, ImplementationProperties) {
  EXPECT_EQ(string_prop(API_SET_TEE, "gpd.tee.apiversion"), "GPD-1.1-dev");
  EXPECT_EQ(string_prop(API_SET_TEE, "gpd.tee.description"), "OPTEE");
  EXPECT_EQ(u32(API_SET_TEE, "gpd.tee.internalCore.version"), 0x01030100u);
  EXPECT_EQ(u32(API_SET_TEE, "gpd.tee.arith.maxBigIntSize"), 2048u);
  EXPECT_TRUE(boolean(API_SET_TEE, "gpd.tee.cryptography.ecc"));
  EXPECT_EQ(u32(API_SET_TEE, "gpd.tee.systemTime.protectionLevel"), 100u);
  EXPECT_EQ(u32(API_SET_TEE, "gpd.tee.TAPersistentTime.protectionLevel"), 100u);
  EXPECT_EQ(u32(API_SET_TEE, "gpd.tee.trustedStorage.antiRollback.protectionLevel"), 0u);
  EXPECT_EQ(string_prop(API_SET_TEE, "gpd.tee.trustedos.manufacturer"), "LINARO");
  EXPECT_EQ(string_prop(API_SET_TEE, "gpd.tee.firmware.implementation.version"), "FW_IMPL_UNDEF");
  EXPECT_EQ(string_prop(API_SET_TEE, "gpd.tee.firmware.manufacturer"), "FW_MAN_UNDEF");
  EXPECT_EQ(u32(API_SET_TEE, "gpd.tee.trustedos.implementation.binaryversion"), 0u);
  EXPECT_EQ(u32(API_SET_TEE, "gpd.tee.firmware.implementation.binaryversion"), 0u);
  EXPECT_FALSE(string_prop(API_SET_TEE, "gpd.tee.trustedos.implementation.version").empty());
  // A stable, RFC 4122 version-5 UUID.
  Value id = typed(API_SET_TEE, API_KIND_UUID, "gpd.tee.deviceID");
  ASSERT_EQ(id.result, TEEC_SUCCESS);
  TEEC_UUID u;
  std::memcpy(&u, id.bytes.data(), sizeof(u));
  EXPECT_EQ(u.timeHiAndVersion >> 12, 5);
  EXPECT_EQ(u.clockSeqAndNode[0] & 0xc0, 0x80);
  EXPECT_EQ(typed(API_SET_TEE, API_KIND_UUID, "gpd.tee.deviceID").bytes, id.bytes);
}

// GP 4.4.1 / 4.4.4: a buffer too small is TEE_ERROR_SHORT_BUFFER and the length needed (with the
// NUL for strings); the exact length is enough.
TEST_P(Api, ShortBufferReportsTheLengthNeeded) {
  uint32_t result = 0, len = 0;
  string_prop(API_SET_TA, "gpd.ta.version", &result, 2, &len);
  EXPECT_EQ(result, TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(len, 4u);
  string_prop(API_SET_TA, "gpd.ta.version", &result, 0, &len);
  EXPECT_EQ(result, TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(len, 4u);
  EXPECT_EQ(string_prop(API_SET_TA, "gpd.ta.version", &result, 4, &len), "2.5");
  EXPECT_EQ(result, TEEC_SUCCESS);
  Value bin = typed(API_SET_TA, API_KIND_BINARY, API_EXT_BINARY, 4);
  EXPECT_EQ(bin.result, TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(bin.len, 10u);
}

// GP 4.4: an unknown name is TEE_ERROR_ITEM_NOT_FOUND in every set and for every getter.
TEST_P(Api, UnknownNamesAreItemNotFound) {
  for (uint32_t set : {API_SET_TA, API_SET_CLIENT, API_SET_TEE}) {
    uint32_t result = 0;
    string_prop(set, "no.such.property", &result);
    EXPECT_EQ(result, TEEC_ERROR_ITEM_NOT_FOUND);
    for (uint32_t kind : {API_KIND_BOOL, API_KIND_U32, API_KIND_U64, API_KIND_UUID,
                          API_KIND_IDENTITY, API_KIND_BINARY})
      EXPECT_EQ(typed(set, kind, "no.such.property").result, TEEC_ERROR_ITEM_NOT_FOUND);
  }
  // Names are exact: no prefix or case folding.
  EXPECT_EQ(typed(API_SET_TA, API_KIND_U32, "gpd.ta.datasize").result, TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(typed(API_SET_TA, API_KIND_U32, "gpd.ta.").result, TEEC_ERROR_ITEM_NOT_FOUND);
}

// GP 4.4 (OP-TEE): a property of another type is TEE_ERROR_BAD_FORMAT.
TEST_P(Api, WrongTypeIsBadFormat) {
  EXPECT_EQ(typed(API_SET_TA, API_KIND_U32, "gpd.ta.version").result, TEEC_ERROR_BAD_FORMAT);
  EXPECT_EQ(typed(API_SET_TA, API_KIND_BOOL, "gpd.ta.dataSize").result, TEEC_ERROR_BAD_FORMAT);
  EXPECT_EQ(typed(API_SET_TA, API_KIND_U64, "gpd.ta.dataSize").result, TEEC_ERROR_BAD_FORMAT);
  EXPECT_EQ(typed(API_SET_TA, API_KIND_UUID, API_EXT_IDENTITY).result, TEEC_ERROR_BAD_FORMAT);
  EXPECT_EQ(typed(API_SET_TA, API_KIND_BINARY, API_EXT_STRING).result, TEEC_ERROR_BAD_FORMAT);
  EXPECT_EQ(typed(API_SET_CLIENT, API_KIND_UUID, "gpd.client.identity").result,
            TEEC_ERROR_BAD_FORMAT);
}

// GP 4.4.3-4.4.8: an enumerator walks every property of a set once, answers ITEM_NOT_FOUND
// before Start and past the end, and starts over after Reset and Start.
TEST_P(Api, EnumeratorsWalkEachSet) {
  const uint32_t all_checks = API_ENUM_NOT_STARTED_NAME | API_ENUM_NOT_STARTED_NEXT |
                              API_ENUM_END | API_ENUM_PAST_END_NAME | API_ENUM_SHORT_NAME |
                              API_ENUM_RESET | API_ENUM_RESTART;
  struct Expect {
    uint32_t set;
    uint32_t count;
    std::vector<std::string> lines;
  };
  const std::string version = "gpd.ta.version=2.5";
  const std::vector<Expect> sets = {
      {API_SET_TA, 18, {version, "gpd.ta.singleInstance=false", "gpd.ta.dataSize=65536",
                        std::string(API_EXT_STRING) + "=" + API_EXT_STRING_VALUE,
                        "gpd.ta.appID="}},
      {API_SET_CLIENT, 2, {"gpd.client.identity=0:00000000-0000-0000-0000-000000000000",
                           "gpd.client.endian=0"}},
      {API_SET_TEE, 15, {"gpd.tee.apiversion=GPD-1.1-dev", "gpd.tee.cryptography.ecc=true",
                         "gpd.tee.internalCore.version=16974080"}},
  };
  for (const auto& e : sets) {
    std::vector<char> out(8192);
    Op op;
    op.value_in(0, e.set).mem(1, TEEC_MEMREF_TEMP_OUTPUT, out.data(), out.size()).value_out(2);
    ASSERT_EQ(sess_->invoke(API_CMD_PROP_ENUM, op), TEEC_SUCCESS);
    EXPECT_EQ(op.a(2), e.count) << "set " << e.set;
    EXPECT_EQ(op.b(2), all_checks) << "set " << e.set;
    const std::string text(out.data(), op.size(1));
    for (const auto& line : e.lines) EXPECT_NE(text.find(line), std::string::npos) << line;
  }
}

// GP 4.4 panic reasons (OP-TEE libutee): handles that are neither a property set nor an
// enumerator, and null output pointers, panic the TA: the client sees TARGET_DEAD from the TEE.
TEST_P(Api, BadHandlesAndNullPointersPanic) {
  for (uint32_t which : {API_PANIC_BOGUS_HANDLE, API_PANIC_NULL_VALUE, API_PANIC_NULL_LENGTH,
                         API_PANIC_FREE_BOGUS, API_PANIC_START_BOGUS, API_PANIC_NEXT_BOGUS}) {
    Session s(&ctx_, GetParam().uuid);
    ASSERT_EQ(s.result(), TEEC_SUCCESS);
    Op op;
    op.value_in(0, which);
    uint32_t origin = 0;
    EXPECT_EQ(s.invoke(API_CMD_PROP_PANIC, op, &origin), TEEC_ERROR_TARGET_DEAD) << which;
    EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
  }
  // The fixture's own session (another instance) lives on.
  EXPECT_EQ(string_prop(API_SET_TA, "gpd.ta.version"), "2.5");
}

// --- time ---

// GP 7.2.1 / 7.2.2: system time never goes back and a TEE_Wait of N ms takes at least N ms.
TEST_P(Api, SystemTimeAdvancesAcrossWait) {
  Op op;
  op.value_in(0, 150).value_out(1).value_out(2).value_out(3);
  ASSERT_EQ(sess_->invoke(API_CMD_TIME_SYSTEM, op), TEEC_SUCCESS);
  EXPECT_EQ(op.a(3), TEEC_SUCCESS);
  const uint64_t t0 = uint64_t{op.a(1)} * 1000 + op.b(1), t1 = uint64_t{op.a(2)} * 1000 + op.b(2);
  EXPECT_LT(op.b(1), 1000u);
  EXPECT_GE(t1 - t0, 150u);
  EXPECT_LT(t1 - t0, 5000u);
}

// GP 7.2.5: REE time is the normal world's clock (RPC GET_TIME, served by the kernel driver).
TEST_P(Api, ReeTimeIsTheNormalWorldsClock) {
  Op op;
  op.value_out(0);
  ASSERT_EQ(sess_->invoke(API_CMD_TIME_REE, op), TEEC_SUCCESS);
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
  const int64_t ree = int64_t{op.a(0)} * 1000 + op.b(0);
  EXPECT_LT(op.b(0), 1000u);
  EXPECT_LT(std::llabs(now - ree), 2000);
}

uint32_t get_time(Session& s, uint64_t* ms) {
  Op op;
  op.value_out(0).value_out(1);
  EXPECT_EQ(s.invoke(API_CMD_TIME_GET, op), TEEC_SUCCESS);
  *ms = uint64_t{op.a(0)} * 1000 + op.b(0);
  return op.a(1);
}

uint32_t set_time(Session& s, uint32_t seconds, uint32_t millis) {
  Op op;
  op.value_in(0, seconds, millis).value_out(1);
  EXPECT_EQ(s.invoke(API_CMD_TIME_SET, op), TEEC_SUCCESS);
  return op.a(1);
}

// GP 7.2.3 / 7.2.4: TA persistent time is TIME_NOT_SET until set (and then 0), runs on from the
// value set, belongs to the TA (every instance sees it) and wraps with TEE_ERROR_OVERFLOW and the
// seconds modulo 2^32.
TEST_P(Api, PersistentTime) {
  uint64_t ms = 1;
  ASSERT_EQ(get_time(*sess_, &ms), kTimeNotSet);
  EXPECT_EQ(ms, 0u);
  ASSERT_EQ(set_time(*sess_, 1000000, 500), TEEC_SUCCESS);
  ASSERT_EQ(get_time(*sess_, &ms), TEEC_SUCCESS);
  EXPECT_GE(ms, 1000000500u);
  EXPECT_LT(ms, 1000002500u);
  {
    // Another instance of the same TA (it is multi-instance).
    Session other(&ctx_, GetParam().uuid);
    ASSERT_EQ(other.result(), TEEC_SUCCESS);
    ASSERT_EQ(get_time(other, &ms), TEEC_SUCCESS);
    EXPECT_GE(ms, 1000000500u);
  }
  {
    // Another TA has its own: never set (the GP 1.1 build, when this is the 1.3.1 one), or
    // whatever its own test left (the other way round).
    const TEEC_UUID& other_ta = std::strcmp(GetParam().name, "gp13") == 0 ? kApiGp11Uuid : kApiUuid;
    Session other(&ctx_, other_ta);
    ASSERT_EQ(other.result(), TEEC_SUCCESS);
    const uint32_t r = get_time(other, &ms);
    if (r == TEEC_SUCCESS)
      EXPECT_TRUE(ms < 1000000000u || ms > 1000010000u);
    else
      EXPECT_EQ(r, kTimeNotSet);
  }
  ASSERT_EQ(set_time(*sess_, 0xFFFFFFFF, 900), TEEC_SUCCESS);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  ASSERT_EQ(get_time(*sess_, &ms), kOverflow);
  EXPECT_LT(ms, 3000u) << "seconds wrap modulo 2^32";
  ASSERT_EQ(set_time(*sess_, 42, 0), TEEC_SUCCESS);
  ASSERT_EQ(get_time(*sess_, &ms), TEEC_SUCCESS);
  EXPECT_GE(ms, 42000u);
  EXPECT_LT(ms, 44000u);
}

// --- raw sessions on machines the tests build (for restarts) ---

class RawSession {
 public:
  RawSession(ree::Kernel& k, const TEEC_UUID& uuid) : k_(k) {
    fd_ = k_.sys_open("/dev/tee0");
    EXPECT_GE(fd_, 0);
    struct {
      abi::tee_ioctl_open_session_arg h;
      abi::tee_ioctl_param p[1];
    } arg{};
    uint8_t o[16];
    for (int i = 0; i < 4; ++i) o[i] = static_cast<uint8_t>(uuid.timeLow >> (24 - 8 * i));
    o[4] = static_cast<uint8_t>(uuid.timeMid >> 8);
    o[5] = static_cast<uint8_t>(uuid.timeMid);
    o[6] = static_cast<uint8_t>(uuid.timeHiAndVersion >> 8);
    o[7] = static_cast<uint8_t>(uuid.timeHiAndVersion);
    std::memcpy(o + 8, uuid.clockSeqAndNode, 8);
    std::memcpy(arg.h.uuid, o, 16);
    arg.h.clnt_login = abi::TEE_IOCTL_LOGIN_PUBLIC;
    abi::tee_ioctl_buf_data d{reinterpret_cast<uint64_t>(&arg), sizeof(arg.h)};
    if (k_.sys_ioctl(fd_, abi::TEE_IOC_OPEN_SESSION, &d) == 0) result_ = arg.h.ret;
    session_ = arg.h.session;
  }
  ~RawSession() {
    if (result_ == TEEC_SUCCESS) {
      abi::tee_ioctl_close_session_arg c{session_};
      k_.sys_ioctl(fd_, abi::TEE_IOC_CLOSE_SESSION, &c);
    }
    if (fd_ >= 0) k_.sys_close(fd_);
  }
  uint32_t result() const { return result_; }
  // Two value params: p0 in (a, b) or out, p1 out. Returns the TEE result; outputs in out[].
  uint32_t invoke(uint32_t cmd, bool p0_in, uint32_t a, uint32_t b, uint32_t out[4]) {
    struct {
      abi::tee_ioctl_invoke_arg h;
      abi::tee_ioctl_param p[2];
    } arg{};
    arg.h.func = cmd;
    arg.h.session = session_;
    arg.h.num_params = 2;
    arg.p[0].attr = p0_in ? abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT
                          : abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT;
    arg.p[0].a = a;
    arg.p[0].b = b;
    arg.p[1].attr = abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_OUTPUT;
    abi::tee_ioctl_buf_data d{reinterpret_cast<uint64_t>(&arg), sizeof(arg)};
    uint32_t r = TEEC_ERROR_COMMUNICATION;
    if (k_.sys_ioctl(fd_, abi::TEE_IOC_INVOKE, &d) == 0) r = arg.h.ret;
    out[0] = static_cast<uint32_t>(arg.p[0].a);
    out[1] = static_cast<uint32_t>(arg.p[0].b);
    out[2] = static_cast<uint32_t>(arg.p[1].a);
    out[3] = static_cast<uint32_t>(arg.p[1].b);
    return r;
  }

 private:
  ree::Kernel& k_;
  int fd_ = -1;
  uint32_t session_ = 0;
  uint32_t result_ = TEEC_ERROR_GENERIC;
};

std::unique_ptr<platform::Machine> boot(const std::string& storage_dir) {
  auto config = platform::load_config();
  EXPECT_TRUE(config.has_value());
  if (!config) return nullptr;
  config->storage_dir = storage_dir;
  std::string err;
  auto m = platform::Machine::create(*config, &err);
  EXPECT_NE(m, nullptr) << err;
  return m;
}

// GP 7.2.4: TA persistent time persists across a restart of the TEE (the record is in trusted
// storage; REE time keeps running meanwhile).
TEST(ApiTime, PersistentTimeSurvivesARestart) {
  char tmpl[] = "/tmp/teemu-api-time-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  ASSERT_NE(dir, nullptr);
  uint32_t out[4];
  {
    auto m = boot(dir);
    ASSERT_NE(m, nullptr);
    RawSession s(m->kernel(), kApiUuid);
    ASSERT_EQ(s.result(), TEEC_SUCCESS);
    ASSERT_EQ(s.invoke(API_CMD_TIME_GET, false, 0, 0, out), TEEC_SUCCESS);
    EXPECT_EQ(out[2], kTimeNotSet);
    ASSERT_EQ(s.invoke(API_CMD_TIME_SET, true, 5000, 0, out), TEEC_SUCCESS);
    EXPECT_EQ(out[2], TEEC_SUCCESS);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  {
    auto m = boot(dir);
    ASSERT_NE(m, nullptr);
    RawSession s(m->kernel(), kApiUuid);
    ASSERT_EQ(s.result(), TEEC_SUCCESS);
    ASSERT_EQ(s.invoke(API_CMD_TIME_GET, false, 0, 0, out), TEEC_SUCCESS);
    EXPECT_EQ(out[2], TEEC_SUCCESS);
    const uint64_t ms = uint64_t{out[0]} * 1000 + out[1];
    EXPECT_GE(ms, 5000300u);
    EXPECT_LT(ms, 5003000u);
  }
  std::error_code ec;
  fs::remove_all(dir, ec);
}

// --- memory ---

// GP 7.1.1 with xtest os_test's expectations: client memory passes READ only with ANY_OWNER; the
// TA's rodata is read-only and its code not writable; data, bss, stack and heap are read-write;
// NULL, unmapped and wrapping ranges are denied; size 0 is always fine.
TEST_P(Api, CheckMemoryAccessRights) {
  std::vector<uint8_t> shared(100, 7);
  std::vector<uint32_t> results(API_RIGHTS_COUNT, 0xdeadbeef);
  Op op;
  op.mem(0, TEEC_MEMREF_TEMP_INOUT, shared.data(), shared.size());
  op.mem(1, TEEC_MEMREF_TEMP_OUTPUT, results.data(), results.size() * 4);
  ASSERT_EQ(sess_->invoke(API_CMD_MEM_RIGHTS, op), TEEC_SUCCESS);
  const uint32_t ok = TEEC_SUCCESS, denied = TEEC_ERROR_ACCESS_DENIED;
  const uint32_t expected[API_RIGHTS_COUNT] = {
      ok,      // SHARED_READ_ANY
      denied,  // SHARED_READ
      ok,      // SHARED_RW_ANY
      denied,  // SHARED_PAST_END
      ok,      // RODATA_READ
      denied,  // RODATA_WRITE
      ok,      // DATA_RW
      ok,      // BSS_RW
      ok,      // STACK_RW
      ok,      // HEAP_RW
      ok,      // HEAP_RW_ANY
      denied,  // NULL
      denied,  // LOW_ADDRESS
      ok,      // SIZE_ZERO
      denied,  // WRAP
      denied,  // TEXT_WRITE
      denied,  // HOST_HEAP
  };
  for (int i = 0; i < API_RIGHTS_COUNT; ++i) EXPECT_EQ(results[i], expected[i]) << "check " << i;
}

// GP 4.11 (TEE_SetInstanceData / TEE_GetInstanceData): the pointer belongs to the instance: kept
// across invokes, absent in another instance.
TEST_P(Api, InstanceData) {
  Op set;
  set.value_inout(0, 1, 4242);
  ASSERT_EQ(sess_->invoke(API_CMD_INSTANCE_DATA, set), TEEC_SUCCESS);
  Op get;
  get.value_inout(0, 0, 0);
  ASSERT_EQ(sess_->invoke(API_CMD_INSTANCE_DATA, get), TEEC_SUCCESS);
  EXPECT_EQ(get.a(0), 1u);
  EXPECT_EQ(get.b(0), 4242u);
  Session other(&ctx_, GetParam().uuid);
  Op get2;
  get2.value_inout(0, 0, 0);
  ASSERT_EQ(other.invoke(API_CMD_INSTANCE_DATA, get2), TEEC_SUCCESS);
  EXPECT_EQ(get2.a(0), 0u);
}

// --- sessions with other TAs ---

// GP 4.9: open, invoke twice, close.
TEST_P(Api, TaToTaSession) {
  auto r = t2t(API_T2T_COUNTER);
  EXPECT_EQ(r[0], TEEC_SUCCESS);
  EXPECT_EQ(r[1], TEEC_ORIGIN_TRUSTED_APP);
  EXPECT_EQ(r[2], 2u);
}

// OP-TEE tee_svc_copy_param: memrefs in the caller's own memory reach the callee as a copy in
// secure memory (never the caller's memory itself: READ without ANY_OWNER fails there), and the
// callee's output comes back.
TEST_P(Api, PrivateMemrefsReachTheCalleeAsCopies) {
  for (uint32_t scenario : {API_T2T_HEAP_XOR, API_T2T_STACK_XOR}) {
    auto r = t2t(scenario);
    EXPECT_EQ(r[0], TEEC_SUCCESS) << scenario;
    EXPECT_EQ(r[2], 1u) << "the caller sees the callee's output";
    EXPECT_EQ(r[3], 3u) << "the callee may read it as not its own, not as its own";
  }
}

// A memref the caller got from its client is passed on in place: the client's bytes change.
TEST_P(Api, ClientMemrefsArePassedOnInPlace) {
  std::vector<uint8_t> mem(64, 0x0f);
  const int64_t copied = machine().stats().payload_bytes_copied.get();
  auto r = t2t(API_T2T_CLIENT_XOR, 0, &mem);
  EXPECT_EQ(r[0], TEEC_SUCCESS);
  EXPECT_EQ(r[3], 3u);
  EXPECT_EQ(mem, std::vector<uint8_t>(64, 0xf0));
  EXPECT_EQ(machine().stats().payload_bytes_copied.get() - copied, 0) << "zero copy";
}

// OP-TEE utee_param_to_param: an output memref the caller may not write is ACCESS_DENIED, NULL
// with a size BAD_PARAMETERS, both from the TEE; the session handle is TEE_HANDLE_NULL.
TEST_P(Api, BadMemrefsNeverReachTheCallee) {
  auto r = t2t(API_T2T_RODATA_OUT);
  EXPECT_EQ(r[0], TEEC_ERROR_ACCESS_DENIED);
  EXPECT_EQ(r[1], TEEC_ORIGIN_TEE);
  EXPECT_EQ(r[2], 1u);
  r = t2t(API_T2T_NULL_SIZED);
  EXPECT_EQ(r[0], TEEC_ERROR_BAD_PARAMETERS);
  EXPECT_EQ(r[1], TEEC_ORIGIN_TEE);
  EXPECT_EQ(r[2], 1u);
}

// GP 4.9.1: a TA that does not exist is ITEM_NOT_FOUND from the TEE.
TEST_P(Api, OpenMissingTaIsItemNotFound) {
  auto r = t2t(API_T2T_MISSING);
  EXPECT_EQ(r[0], TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(r[1], TEEC_ORIGIN_TEE);
  EXPECT_EQ(r[2], 1u);
}

// GP 4.9: a callee that panics is TARGET_DEAD from the TEE, stays dead, and the caller lives on.
TEST_P(Api, CalleePanicIsTargetDeadAndTheCallerLives) {
  auto r = t2t(API_T2T_PANIC);
  EXPECT_EQ(r[0], TEEC_ERROR_TARGET_DEAD);
  EXPECT_EQ(r[1], TEEC_ORIGIN_TEE);
  EXPECT_EQ(r[2], TEEC_ERROR_TARGET_DEAD);
  EXPECT_EQ(r[3], TEEC_ORIGIN_TEE);
  r = t2t(API_T2T_COUNTER);
  EXPECT_EQ(r[0], TEEC_SUCCESS);
  EXPECT_EQ(r[2], 2u);
}

// GP 4.5.3: the callee's client is TEE_LOGIN_TRUSTED_APP with the calling TA's UUID.
TEST_P(Api, CalleeSeesTheCallingTa) {
  auto r = t2t(API_T2T_IDENTITY);
  EXPECT_EQ(r[0], TEEC_SUCCESS);
  EXPECT_EQ(r[2], kLoginTrustedApp);
  EXPECT_EQ(r[3], 1u);
}

// GP 4.9.3: what the callee answers comes with origin TRUSTED_APP (no panic of the caller).
TEST_P(Api, CalleeErrorsHaveTheTrustedAppOrigin) {
  auto r = t2t(API_T2T_CALLEE_ERROR);
  EXPECT_EQ(r[0], TEEC_ERROR_NOT_SUPPORTED);
  EXPECT_EQ(r[1], TEEC_ORIGIN_TRUSTED_APP);
}

// GP 4.9.3: an output the callee says is larger than the buffer comes back as the size needed,
// and the caller's buffer is not written.
TEST_P(Api, CalleeShortBufferReportsTheSize) {
  auto r = t2t(API_T2T_SHORT, 32);
  EXPECT_EQ(r[0], TEEC_ERROR_SHORT_BUFFER);
  EXPECT_EQ(r[1], TEEC_ORIGIN_TRUSTED_APP);
  EXPECT_EQ(r[2], 32u);
  EXPECT_EQ(r[3], 1u);
}

// GP 4.9.2 / 4.9.3 panic reasons: a handle that is not a session panics the caller;
// TEE_HANDLE_NULL closes nothing.
TEST_P(Api, BadSessionHandlesPanic) {
  for (uint32_t scenario : {API_T2T_BAD_HANDLE, API_T2T_CLOSE_BOGUS}) {
    Session s(&ctx_, GetParam().uuid);
    Op op;
    uint8_t dummy = 0;
    op.value_in(0, scenario).mem(1, TEEC_MEMREF_TEMP_INOUT, &dummy, 1).value_out(2).value_out(3);
    uint32_t origin = 0;
    EXPECT_EQ(s.invoke(API_CMD_T2T, op, &origin), TEEC_ERROR_TARGET_DEAD) << scenario;
    EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
  }
  auto r = t2t(API_T2T_CLOSE_NULL);
  (void)r;
}

// A multi-instance TA may open a session to itself: a new instance (OP-TEE).
TEST_P(Api, MultiInstanceTaOpensItself) {
  auto r = t2t(API_T2T_OPEN_SELF);
  EXPECT_EQ(r[0], TEEC_SUCCESS);
}

uint32_t sessions_of(Session& s) {
  Op op;
  op.value_out(0);
  EXPECT_EQ(s.invoke(LIFECYCLE_CMD_COUNTER, op), TEEC_SUCCESS);
  return op.b(0);
}

// GP 4.9: sessions a TA opened are closed when its instance goes: when its last client session
// closes, and when it panicked and its client closes.
TEST_P(Api, SessionsDieWithTheCallingInstance) {
  Session watcher(&ctx_, kShared);  // keeps the shared instance alive and counts its sessions
  ASSERT_EQ(watcher.result(), TEEC_SUCCESS);
  EXPECT_EQ(sessions_of(watcher), 1u);
  auto r = t2t(API_T2T_KEEP);
  ASSERT_EQ(r[0], TEEC_SUCCESS);
  EXPECT_EQ(sessions_of(watcher), 2u);
  sess_.reset();
  EXPECT_EQ(sessions_of(watcher), 1u);

  Session caller(&ctx_, GetParam().uuid);
  Op keep;
  uint8_t dummy = 0;
  keep.value_in(0, API_T2T_KEEP).mem(1, TEEC_MEMREF_TEMP_INOUT, &dummy, 1).value_out(2).value_out(3);
  ASSERT_EQ(caller.invoke(API_CMD_T2T, keep), TEEC_SUCCESS);
  EXPECT_EQ(sessions_of(watcher), 2u);
  Op panic;
  panic.value_in(0, API_PANIC_NULL_VALUE);
  EXPECT_EQ(caller.invoke(API_CMD_PROP_PANIC, panic), TEEC_ERROR_TARGET_DEAD);
  caller.close();
  EXPECT_EQ(sessions_of(watcher), 1u);
}

INSTANTIATE_TEST_SUITE_P(Builds, Api, ::testing::ValuesIn(kBuilds),
                         [](const ::testing::TestParamInfo<Build>& i) { return i.param.name; });

// --- instance semantics, loading -----------------------------------------------------------------

class Lifecycle : public ::testing::Test, public ApiTestBase {
 protected:
  void SetUp() override { open_context(); }
  void TearDown() override { close_context(); }
  uint32_t counter(Session& s, uint32_t* sessions = nullptr) {
    Op op;
    op.value_out(0);
    EXPECT_EQ(s.invoke(LIFECYCLE_CMD_COUNTER, op), TEEC_SUCCESS);
    if (sessions != nullptr) *sessions = op.b(0);
    return op.a(0);
  }
};

// OP-TEE: a single-instance TA without TA_FLAG_MULTI_SESSION takes one session at a time; a
// second is TEEC_ERROR_BUSY from the TEE.
TEST_F(Lifecycle, SingleInstanceRefusesASecondSession) {
  auto first = std::make_unique<Session>(&ctx_, kSingle);
  ASSERT_EQ(first->result(), TEEC_SUCCESS);
  Session second(&ctx_, kSingle);
  EXPECT_EQ(second.result(), TEEC_ERROR_BUSY);
  EXPECT_EQ(second.origin(), TEEC_ORIGIN_TEE);
  first.reset();
  Session third(&ctx_, kSingle);
  EXPECT_EQ(third.result(), TEEC_SUCCESS);
}

// GP 4.5: single instance + multi-session: every session reaches the same instance (globals).
TEST_F(Lifecycle, SingleInstanceMultiSessionSharesTheInstance) {
  Session a(&ctx_, kShared), b(&ctx_, kShared);
  ASSERT_EQ(a.result(), TEEC_SUCCESS);
  ASSERT_EQ(b.result(), TEEC_SUCCESS);
  uint32_t sessions = 0;
  EXPECT_EQ(counter(a), 1u);
  EXPECT_EQ(counter(b, &sessions), 2u);
  EXPECT_EQ(sessions, 2u);
}

// GP 4.5: without TA_FLAG_SINGLE_INSTANCE every session gets an instance of its own.
TEST_F(Lifecycle, MultiInstanceGivesEachSessionAnInstance) {
  Session a(&ctx_, kMulti), b(&ctx_, kMulti);
  EXPECT_EQ(counter(a), 1u);
  EXPECT_EQ(counter(a), 2u);
  EXPECT_EQ(counter(b), 1u);
}

// GP 4.5: a single-instance TA without keep-alive goes with its last session; with
// TA_FLAG_INSTANCE_KEEP_ALIVE it stays (and keeps its globals) until the TEE goes.
TEST_F(Lifecycle, KeepAliveInstancesSurviveTheirLastSession) {
  {
    Session s(&ctx_, kShared);
    EXPECT_EQ(counter(s), 1u);
  }
  {
    Session s(&ctx_, kShared);
    EXPECT_EQ(counter(s), 1u) << "a fresh instance";
  }
  uint32_t first = 0;
  {
    Session s(&ctx_, kKeepAlive);
    ASSERT_EQ(s.result(), TEEC_SUCCESS);
    g_keep_alive_instance = true;
    first = counter(s);
  }
  EXPECT_EQ(machine().audit().ta_instances, 1u);
  {
    Session s(&ctx_, kKeepAlive);
    EXPECT_EQ(counter(s), first + 1) << "the same instance";
  }
}

// GP 4.5 / OP-TEE: a panic kills its instance (TARGET_DEAD from the TEE, for every session on
// it) and nothing else; the next session gets a fresh instance, even of a keep-alive TA.
TEST_F(Lifecycle, PanicKillsItsInstanceAndNothingElse) {
  auto a = std::make_unique<Session>(&ctx_, kShared);
  auto b = std::make_unique<Session>(&ctx_, kShared);
  Session bystander(&ctx_, kMulti);
  EXPECT_EQ(counter(*a), 1u);
  EXPECT_EQ(counter(bystander), 1u);
  uint32_t origin = 0;
  EXPECT_EQ(a->invoke(LIFECYCLE_CMD_PANIC, &origin), TEEC_ERROR_TARGET_DEAD);
  EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
  Op op;
  op.value_out(0);
  EXPECT_EQ(b->invoke(LIFECYCLE_CMD_COUNTER, op, &origin), TEEC_ERROR_TARGET_DEAD);
  EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
  EXPECT_EQ(counter(bystander), 2u);
  a.reset();
  b.reset();
  Session fresh(&ctx_, kShared);
  EXPECT_EQ(counter(fresh), 1u);

  {
    Session k(&ctx_, kKeepAlive);
    ASSERT_EQ(k.result(), TEEC_SUCCESS);
    counter(k);
    counter(k);
    EXPECT_EQ(k.invoke(LIFECYCLE_CMD_PANIC), TEEC_ERROR_TARGET_DEAD);
    g_keep_alive_instance = false;
  }
  EXPECT_EQ(machine().audit().ta_instances, 2u) << "the bystander and the fresh shared one";
  {
    Session k(&ctx_, kKeepAlive);
    EXPECT_EQ(counter(k), 1u) << "a dead keep-alive instance is not kept";
    g_keep_alive_instance = true;
  }
}

// A panic in each of the five entry points: the instance dies (TARGET_DEAD from the TEE where
// the client waits for a result), a bystander instance of the same TA keeps working, the next
// session gets a fresh instance, and nothing of the dead one is left (close_context's audit).
TEST_F(Lifecycle, PanicInEveryEntryPointKillsOnlyItsInstance) {
  Session bystander(&ctx_, kMulti);
  ASSERT_EQ(bystander.result(), TEEC_SUCCESS);
  const size_t base_instances = machine().audit().ta_instances;
  auto instances = [&] { return machine().audit().ta_instances - base_instances; };

  // TA_CreateEntryPoint.
  {
    Session s(&ctx_, kCreatePanic);
    EXPECT_EQ(s.result(), TEEC_ERROR_TARGET_DEAD);
    EXPECT_EQ(s.origin(), TEEC_ORIGIN_TEE);
    EXPECT_EQ(instances(), 0u);
  }
  // TA_OpenSessionEntryPoint.
  {
    TEEC_Session raw{};
    Op op;
    op.value_in(0, LIFECYCLE_OPEN_PANIC);
    uint32_t origin = 0;
    EXPECT_EQ(TEEC_OpenSession(&ctx_, &raw, &kMulti, TEEC_LOGIN_PUBLIC, nullptr, op.get(), &origin),
              TEEC_ERROR_TARGET_DEAD);
    EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
    EXPECT_EQ(instances(), 0u);
  }
  // TA_InvokeCommandEntryPoint.
  {
    Session s(&ctx_, kMulti);
    uint32_t origin = 0;
    EXPECT_EQ(s.invoke(LIFECYCLE_CMD_PANIC, &origin), TEEC_ERROR_TARGET_DEAD);
    EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
  }
  EXPECT_EQ(instances(), 0u);
  // TA_CloseSessionEntryPoint (TEEC_CloseSession has no result: the instance just goes).
  {
    Session s(&ctx_, kShared);
    ASSERT_EQ(s.result(), TEEC_SUCCESS);
    EXPECT_EQ(s.invoke(LIFECYCLE_CMD_PANIC_AT_CLOSE), TEEC_SUCCESS);
    EXPECT_EQ(instances(), 1u);
  }
  EXPECT_EQ(instances(), 0u);
  // TA_DestroyEntryPoint, run when the last session of a multi-instance TA closes.
  {
    Session s(&ctx_, kMulti);
    EXPECT_EQ(s.invoke(LIFECYCLE_CMD_PANIC_AT_DESTROY), TEEC_SUCCESS);
  }
  EXPECT_EQ(instances(), 0u);

  EXPECT_EQ(counter(bystander), 1u) << "the bystander's instance never noticed";
  Session fresh(&ctx_, kShared);
  EXPECT_EQ(counter(fresh), 1u);
}

// A TA that does not exist: TEEC_ERROR_ITEM_NOT_FOUND from the TEE.
TEST_F(Lifecycle, MissingTaIsItemNotFound) {
  Session s(&ctx_, kMissing);
  EXPECT_EQ(s.result(), TEEC_ERROR_ITEM_NOT_FOUND);
  EXPECT_EQ(s.origin(), TEEC_ORIGIN_TEE);
}

// GP 4.3 / xtest 1008: TA_CreateEntryPoint's error reaches the client (origin TRUSTED_APP), every
// time, and leaves nothing behind.
TEST_F(Lifecycle, CreateEntryPointFailureReachesTheClient) {
  for (int i = 0; i < 3; ++i) {
    Session s(&ctx_, kCreateFail);
    EXPECT_EQ(s.result(), TEEC_ERROR_GENERIC);
    EXPECT_EQ(s.origin(), TEEC_ORIGIN_TRUSTED_APP);
  }
  EXPECT_EQ(machine().audit().ta_instances, g_keep_alive_instance ? 1u : 0u);
}

// The loader checks the header: a flag outside TA_FLAGS_MASK is a bad format, a header naming
// another UUID than the one asked for a security error, both from the TEE.
TEST_F(Lifecycle, LoaderChecksTheHeader) {
  Session flags(&ctx_, kBadFlags);
  EXPECT_EQ(flags.result(), TEEC_ERROR_BAD_FORMAT);
  EXPECT_EQ(flags.origin(), TEEC_ORIGIN_TEE);
  Session uuid(&ctx_, kWrongUuidFile);
  EXPECT_EQ(uuid.result(), TEEC_ERROR_SECURITY);
  EXPECT_EQ(uuid.origin(), TEEC_ORIGIN_TEE);
}

// OP-TEE: a single-instance TA opening a session to itself gets TEE_ERROR_BUSY from the TEE
// (waiting for itself would never end); a multi-instance TA gets a new instance.
TEST_F(Lifecycle, SelfOpen) {
  Session shared(&ctx_, kShared);
  Op op;
  op.value_out(0);
  ASSERT_EQ(shared.invoke(LIFECYCLE_CMD_SELF_OPEN, op), TEEC_SUCCESS);
  EXPECT_EQ(op.a(0), TEEC_ERROR_BUSY);
  EXPECT_EQ(op.b(0), TEEC_ORIGIN_TEE);
  Session multi(&ctx_, kMulti);
  Op op2;
  op2.value_out(0);
  ASSERT_EQ(multi.invoke(LIFECYCLE_CMD_SELF_OPEN, op2), TEEC_SUCCESS);
  EXPECT_EQ(op2.a(0), TEEC_SUCCESS);
}

// --- the loader's image cache ------------------------------------------------------------------
//
// The secure OS fetches the TA from tee-supplicant for every instance (LOAD_TA, as OP-TEE does);
// the loader keeps copies it already loaded and hands a restored one to the next instance of the
// same bytes. Whatever copy an instance runs in, it must be a fresh instance (GP 4.5): globals as
// initialised, nothing on its heap, no instance data, TA_CreateEntryPoint run.

class ImageCache : public Lifecycle {
 protected:
  void SetUp() override {
    Lifecycle::SetUp();
    loader().set_cache_limits(ta_runtime::ImageCacheLimits{});  // empty, default limits
  }
  // Whether this build's lifecycle TAs may be reused at all: a sanitizer instruments them with
  // constructors of its own, and then every instance gets a load of its own (the safe side).
  static const char* reuse_problem() {
    static const std::vector<uint8_t> bytes =
        read_bytes(std::string(TEEMU_TEST_TA_DIR) + "/1f0c5a70-6b2d-4e8a-9c3f-5d7e9a1b3c01.ta");
    return ta_runtime::DlTaLoader::reuse_problem(bytes);
  }
// Only a sanitized build may skip: there the TAs carry the sanitizer's constructors. Anywhere
// else a TA that cannot be reused is a failure, not a skip.
#ifdef TEEMU_SANITIZED_BUILD
#define SKIP_UNLESS_REUSABLE()                                                    \
  do {                                                                            \
    if (const char* why = reuse_problem())                                        \
      GTEST_SKIP() << "this build's TAs are loaded per instance (" << why << ")"; \
  } while (0)
#else
#define SKIP_UNLESS_REUSABLE() ASSERT_EQ(reuse_problem(), nullptr) << reuse_problem()
#endif
  void TearDown() override {
    loader().set_cache_limits(ta_runtime::ImageCacheLimits{});
    Lifecycle::TearDown();
  }
  static ta_runtime::DlTaLoader& loader() { return machine().ta_loader(); }
  static ta_runtime::ImageCacheStats stats() { return loader().cache_stats(); }

  struct Dirty {
    uint32_t marker = 0, fresh = 0, ctor_runs = 0;
  };
  // LIFECYCLE_CMD_DIRTY: what the instance looked like, then leaves it changed everywhere.
  Dirty dirty(Session& s) {
    Op op;
    op.value_out(0).value_out(1);
    EXPECT_EQ(s.invoke(LIFECYCLE_CMD_DIRTY, op), TEEC_SUCCESS);
    return {op.a(0), op.b(0), op.a(1)};
  }
  void expect_fresh(Session& s, uint32_t marker = LIFECYCLE_DATA_MARKER) {
    ASSERT_EQ(s.result(), TEEC_SUCCESS);
    const Dirty d = dirty(s);
    EXPECT_EQ(d.marker, marker) << "the initialised global (.data)";
    EXPECT_EQ(d.fresh, LIFECYCLE_FRESH_ALL)
        << "bit 0: .bss counter, 1: heap pointer, 2: instance data";
    EXPECT_EQ(counter(s), 101u) << "the counter this instance changed, and only that";
  }
};

// A copy that served one instance serves the next one restored: every later session of the
// multi-instance TA runs in the reused copy (no new load) and finds it fresh.
TEST_F(ImageCache, ReusedCopiesStartAsFreshInstances) {
  SKIP_UNLESS_REUSABLE();
  {
    Session s(&ctx_, kMulti);
    expect_fresh(s);
  }
  const auto before = stats();
  EXPECT_EQ(before.images, 1u);
  EXPECT_EQ(before.idle_copies, 1u);
  for (int i = 0; i < 3; ++i) {
    Session s(&ctx_, kMulti);
    expect_fresh(s);
  }
  const auto after = stats();
  EXPECT_EQ(after.loads, before.loads) << "no new dlopen";
  EXPECT_EQ(after.checks, before.checks) << "the bytes were checked once";
  EXPECT_EQ(after.reuses, before.reuses + 3);
}

// A copy serves one live instance at a time: two sessions at once run in two copies, each fresh
// and each with its own globals; both copies are kept afterwards.
TEST_F(ImageCache, LiveInstancesNeverShareACopy) {
  SKIP_UNLESS_REUSABLE();
  { Session warm(&ctx_, kMulti); }
  const auto before = stats();
  {
    Session a(&ctx_, kMulti), b(&ctx_, kMulti);
    expect_fresh(a);
    expect_fresh(b);
    EXPECT_EQ(counter(a), 102u);
    EXPECT_EQ(counter(b), 102u);
    const auto during = stats();
    EXPECT_EQ(during.reuses, before.reuses + 1) << "the idle copy went to one session";
    EXPECT_EQ(during.loads, before.loads + 1) << "the other got a copy of its own";
    EXPECT_EQ(during.checks, before.checks) << "known bytes are not checked again";
    EXPECT_EQ(during.idle_copies, 0u);
  }
  EXPECT_EQ(stats().idle_copies, 2u);
}

// A panic may leave a copy in any state: it is unloaded, never handed to the next instance, which
// gets a new load (and is fresh).
TEST_F(ImageCache, PanickedInstancesCopyIsNotReused) {
  SKIP_UNLESS_REUSABLE();
  { Session warm(&ctx_, kMulti); }
  ASSERT_EQ(stats().idle_copies, 1u);
  {
    Session s(&ctx_, kMulti);
    ASSERT_EQ(s.result(), TEEC_SUCCESS);
    dirty(s);
    uint32_t origin = 0;
    EXPECT_EQ(s.invoke(LIFECYCLE_CMD_PANIC, &origin), TEEC_ERROR_TARGET_DEAD);
    EXPECT_EQ(origin, TEEC_ORIGIN_TEE);
  }
  const auto after_panic = stats();
  EXPECT_EQ(after_panic.idle_copies, 0u) << "the dead instance's copy was unloaded";
  {
    Session s(&ctx_, kMulti);
    expect_fresh(s);
  }
  EXPECT_EQ(stats().loads, after_panic.loads + 1);
  EXPECT_EQ(stats().reuses, after_panic.reuses);
}

// The cache is keyed by the exact bytes tee-supplicant returns: a TA file replaced on disk is
// checked and loaded anew at the next session (which runs the new code and data); the old bytes
// stay known.
TEST_F(ImageCache, ChangedTaFileIsLoadedAnew) {
  SKIP_UNLESS_REUSABLE();
  ASSERT_FALSE(g_ta_dir.empty());
  const std::string file = g_ta_dir + "/" + kReloadFile;
  const std::vector<uint8_t> original =
      read_bytes(std::string(TEEMU_TEST_TA_DIR) + "/" + kReloadFile);
  ASSERT_FALSE(original.empty());
  ASSERT_TRUE(write_bytes(file, original));
  const auto start = stats();
  for (int i = 0; i < 2; ++i) {
    Session s(&ctx_, kReload);
    expect_fresh(s);
  }
  const auto before = stats();
  EXPECT_EQ(before.loads, start.loads + 1);
  EXPECT_EQ(before.reuses, start.reuses + 1);

  // The same TA with another initial value of its .data global: the marker's 4 bytes, once.
  std::vector<uint8_t> changed = original;
  const uint32_t m = LIFECYCLE_DATA_MARKER, n = 0x5eed5eedu;
  const auto* mb = reinterpret_cast<const uint8_t*>(&m);
  auto at = std::search(changed.begin(), changed.end(), mb, mb + 4);
  ASSERT_NE(at, changed.end());
  ASSERT_EQ(std::search(at + 1, changed.end(), mb, mb + 4), changed.end()) << "marker not unique";
  std::memcpy(&*at, &n, 4);
  ASSERT_TRUE(write_bytes(file, changed));
  for (int i = 0; i < 2; ++i) {
    Session s(&ctx_, kReload);
    expect_fresh(s, n);
  }
  const auto after = stats();
  EXPECT_EQ(after.checks, before.checks + 1) << "new bytes are checked";
  EXPECT_EQ(after.loads, before.loads + 1) << "and loaded";
  EXPECT_EQ(after.reuses, before.reuses + 1) << "then reused";
  EXPECT_EQ(after.images, 2u);

  // Back to the first bytes (the build's file again): the copy kept of them serves.
  ASSERT_EQ(std::remove(file.c_str()), 0);
  {
    Session s(&ctx_, kReload);
    expect_fresh(s);
  }
  EXPECT_EQ(stats().loads, after.loads);
  EXPECT_EQ(stats().reuses, after.reuses + 1);
}

// A TA with constructors of its own: they run when a copy is loaded, so every instance gets a
// copy of its own (loaded, constructors run once for it) and none is kept.
TEST_F(ImageCache, ImagesWithConstructorsAreLoadedPerInstance) {
  const auto bytes = read_bytes(std::string(TEEMU_TEST_TA_DIR) + "/" + kCtorFile);
  ASSERT_FALSE(bytes.empty());
  if (reuse_problem() == nullptr)
    EXPECT_STREQ(ta_runtime::DlTaLoader::reuse_problem(bytes),
                 "constructors or destructors of its own");
  else
    EXPECT_NE(ta_runtime::DlTaLoader::reuse_problem(bytes), nullptr);
  const auto before = stats();
  for (int i = 0; i < 3; ++i) {
    Session s(&ctx_, kCtor);
    ASSERT_EQ(s.result(), TEEC_SUCCESS);
    const Dirty d = dirty(s);
    EXPECT_EQ(d.marker, LIFECYCLE_DATA_MARKER);
    EXPECT_EQ(d.fresh, LIFECYCLE_FRESH_ALL);
    EXPECT_EQ(d.ctor_runs, 1u);
  }
  const auto after = stats();
  EXPECT_EQ(after.loads, before.loads + 3);
  EXPECT_EQ(after.checks, before.checks + 3);
  EXPECT_EQ(after.reuses, before.reuses);
  EXPECT_EQ(after.images, 0u);
}

// The limits: at most max_idle_copies idle copies per image; beyond max_images the least
// recently used image goes, with its copies (its next session loads again).
TEST_F(ImageCache, LimitsBoundWhatIsKept) {
  SKIP_UNLESS_REUSABLE();
  ta_runtime::ImageCacheLimits limits;
  limits.max_images = 1;
  limits.max_idle_copies = 2;
  loader().set_cache_limits(limits);
  {
    Session a(&ctx_, kMulti), b(&ctx_, kMulti), c(&ctx_, kMulti);
    ASSERT_EQ(c.result(), TEEC_SUCCESS);
  }
  EXPECT_EQ(stats().idle_copies, 2u);
  { Session other(&ctx_, kReload); }
  EXPECT_EQ(stats().images, 1u) << "the multi-instance TA's image was dropped";
  EXPECT_EQ(stats().idle_copies, 1u);
  const auto before = stats();
  {
    Session s(&ctx_, kMulti);
    expect_fresh(s);
  }
  EXPECT_EQ(stats().loads, before.loads + 1);
  EXPECT_EQ(stats().checks, before.checks + 1);

  limits.max_images = 0;  // caching off
  loader().set_cache_limits(limits);
  for (int i = 0; i < 2; ++i) {
    Session s(&ctx_, kMulti);
    expect_fresh(s);
  }
  EXPECT_EQ(stats().loads, before.loads + 3);
  EXPECT_EQ(stats().images, 0u);
}

}  // namespace
}  // namespace teemu::test
