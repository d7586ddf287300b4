#include "demo_tour.h"

#include <fcntl.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string_view>

#include "run.h"

namespace fs = std::filesystem;

namespace teemu::tool {

namespace {

struct Example {
  const char* name;    // its directory in examples/ and in lib/teemu/examples
  const char* title;
  const char* shows;   // what the client and its TA do
  const char* client;  // the GP TEE Client API it uses
  const char* ta;      // the GP TEE Internal Core API its TA uses
};

// Every example in examples/ (CMake builds them all), in the order of the tour: from the first
// session to crypto with keys that never leave the TA.
constexpr Example kExamples[] = {
    {"hello_world", "the smallest client and TA",
     "The client opens a session with the TA and passes 42 in a value parameter; the TA adds "
     "one in place.",
     "TEEC_InitializeContext, TEEC_OpenSession, TEEC_InvokeCommand with a TEEC_VALUE_INOUT "
     "parameter, TEEC_CloseSession, TEEC_FinalizeContext",
     "TA_CreateEntryPoint, TA_OpenSessionEntryPoint, TA_InvokeCommandEntryPoint, "
     "TEE_PARAM_TYPES, IMSG (GP 1.1)"},
    {"random", "random numbers from the TEE",
     "The TA fills a 16-byte client buffer, passed by temporary memory reference, from the "
     "TEE's random generator.",
     "TEEC_InvokeCommand with a TEEC_MEMREF_TEMP_OUTPUT parameter",
     "TEE_GenerateRandom, TEE_Malloc, TEE_MemMove, TEE_Free (GP 1.1)"},
    {"secure_storage", "trusted storage",
     "The TA stores a 7000-byte object, encrypted and visible to that TA only, reads it back "
     "(once into a buffer too small), deletes it and checks that it is gone. The tour keeps "
     "trusted storage in a scratch directory.",
     "TEEC_MEMREF_TEMP_INPUT and TEEC_MEMREF_TEMP_OUTPUT parameters, TEEC_ERROR_SHORT_BUFFER "
     "with the size needed",
     "TEE_CreatePersistentObject, TEE_WriteObjectData, TEE_OpenPersistentObject, "
     "TEE_GetObjectInfo1, TEE_ReadObjectData, TEE_CloseAndDeletePersistentObject1 (GP 1.1)"},
    {"aes", "AES with a key kept in the TA",
     "AES-256-CTR under a key the TA generates and never hands out: the client has 4 KiB "
     "encrypted, then decrypted in the same session, and compares.",
     "TEEC_VALUE_INPUT, TEEC_MEMREF_TEMP_INPUT and TEEC_MEMREF_TEMP_OUTPUT parameters",
     "TEE_AllocateTransientObject, TEE_GenerateKey, TEE_AllocateOperation, "
     "TEE_SetOperationKey, TEE_CipherInit, TEE_CipherUpdate (GP 1.3.1)"},
    {"ecdsa", "ECDSA P-256 sign and verify",
     "A key pair that lives in the TA: the client gets the public key, has a message signed "
     "and the signature verified, and sees a changed message rejected.",
     "TEEC_MEMREF_TEMP_INPUT and TEEC_MEMREF_TEMP_OUTPUT parameters, TEEC_ERROR_SHORT_BUFFER",
     "TEE_GenerateKey with TEE_ATTR_ECC_CURVE, TEE_GetObjectBufferAttribute, "
     "TEE_DigestDoFinal, TEE_AsymmetricSignDigest, TEE_AsymmetricVerifyDigest (GP 1.3.1)"},
    {"hotp", "one-time passwords (RFC 4226)",
     "The client registers the RFC's key once; each call has the TA compute HMAC-SHA-1 over "
     "its counter. The ten values are checked against RFC 4226 appendix D.",
     "TEEC_MEMREF_TEMP_INPUT and TEEC_VALUE_OUTPUT parameters",
     "TEE_AllocateTransientObject, TEE_InitRefAttribute, TEE_PopulateTransientObject, "
     "TEE_AllocateOperation, TEE_SetOperationKey, TEE_MACInit, TEE_MACComputeFinal (GP 1.1)"},
};

constexpr const char* kIndent = "      ";
constexpr size_t kWidth = 100;

// Prints text after label (the first line) and kIndent + the label's width (the others),
// broken between words to stay within kWidth columns.
void print_wrapped(const std::string& label, std::string_view text) {
  const std::string hang(label.size(), ' ');
  std::string line = label;
  bool empty = true;
  while (!text.empty()) {
    const size_t sp = text.find(' ');
    const std::string_view word = text.substr(0, sp);
    text = sp == std::string_view::npos ? std::string_view{} : text.substr(sp + 1);
    if (!empty && line.size() + 1 + word.size() > kWidth) {
      std::printf("%s\n", line.c_str());
      line = hang;
      empty = true;
    }
    if (!empty) line += ' ';
    line += word;
    empty = false;
  }
  std::printf("%s\n", line.c_str());
}

// The client program of an installed example (its file name): the executable in its directory
// that is not a TA.
std::string find_client(const fs::path& dir) {
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec))
    if (e.is_regular_file(ec) && e.path().extension() != ".ta" &&
        access(e.path().c_str(), X_OK) == 0)
      return e.path().filename().string();
  return {};
}

// Where a client's output goes: a pseudo-terminal, so that its stdout is line buffered as on the
// user's terminal and its lines come in order with the TA's log lines (stderr); a pipe when there
// is no pseudo-terminal to have.
struct Output {
  int read_fd = -1;
  int write_fd = -1;
};

Output open_output() {
  const int master = posix_openpt(O_RDWR | O_NOCTTY);
  if (master >= 0) {
    const char* name = grantpt(master) == 0 && unlockpt(master) == 0 ? ptsname(master) : nullptr;
    const int slave = name != nullptr ? open(name, O_RDWR | O_NOCTTY) : -1;
    termios t{};
    if (slave >= 0 && tcgetattr(slave, &t) == 0) {
      t.c_oflag &= ~static_cast<tcflag_t>(OPOST);  // "\n" stays "\n"
      if (tcsetattr(slave, TCSANOW, &t) == 0) return {master, slave};
    }
    if (slave >= 0) close(slave);
    close(master);
  }
  int pipefd[2];
  if (pipe(pipefd) != 0) return {};
  return {pipefd[0], pipefd[1]};
}

// Runs `teemu run --ta-dir . -- ./client` in dir, the client's output (stdout and stderr) shown
// indented. Returns "" when it exits with 0, else what went wrong.
std::string run_example(const fs::path& dir, const std::string& client) {
  const Output out = open_output();
  if (out.read_fd < 0) return std::string("no pipe: ") + std::strerror(errno);
  std::fflush(stdout);
  const pid_t pid = fork();
  if (pid < 0) return std::string("fork: ") + std::strerror(errno);
  if (pid == 0) {
    dup2(out.write_fd, 1);
    dup2(out.write_fd, 2);
    close(out.read_fd);
    close(out.write_fd);
    if (chdir(dir.c_str()) != 0) {
      std::fprintf(stderr, "teemu demo --tour: cannot enter %s: %s\n", dir.c_str(),
                   std::strerror(errno));
      _exit(127);
    }
    _exit(run_program({"."}, {"./" + client}, 0, 1));
  }
  close(out.write_fd);
  std::string pending;
  char buf[4096];
  ssize_t n;
  // The end: 0 from a pipe, EIO from a pseudo-terminal that nobody holds open any more.
  while ((n = read(out.read_fd, buf, sizeof(buf))) > 0 || (n < 0 && errno == EINTR)) {
    if (n < 0) continue;
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      std::printf("%s| %s\n", kIndent, pending.substr(0, nl).c_str());
      pending.erase(0, nl + 1);
    }
  }
  if (!pending.empty()) std::printf("%s| %s\n", kIndent, pending.c_str());
  close(out.read_fd);
  int status = 0;
  if (waitpid(pid, &status, 0) < 0) return std::string("waitpid: ") + std::strerror(errno);
  if (WIFEXITED(status))
    return WEXITSTATUS(status) == 0 ? "" : "exit status " + std::to_string(WEXITSTATUS(status));
  return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
         strsignal(WTERMSIG(status)) + ")";
}

std::string names_list() {
  std::string s;
  for (const auto& name : tour_example_names()) s += (s.empty() ? "" : ", ") + name;
  return s;
}

}  // namespace

std::vector<std::string> tour_example_names() {
  std::vector<std::string> names;
  for (const auto& ex : kExamples) names.emplace_back(ex.name);
  return names;
}

int run_tour(const std::vector<std::string>& names) {
  std::vector<const Example*> tour;
  for (const auto& name : names) {
    const Example* found = nullptr;
    for (const auto& ex : kExamples)
      if (name == ex.name) found = &ex;
    if (found == nullptr) {
      std::fprintf(stderr, "teemu demo --tour: no example '%s' (the examples: %s)\n",
                   name.c_str(), names_list().c_str());
      return 2;
    }
    tour.push_back(found);
  }
  if (names.empty())
    for (const auto& ex : kExamples) tour.push_back(&ex);

  std::error_code ec;
  const fs::path examples = fs::weakly_canonical(fs::path(lib_dir()) / "teemu" / "examples", ec);
  if (!fs::is_directory(examples)) {
    std::fprintf(stderr,
                 "teemu demo --tour: no examples in %s (teemu was built with "
                 "TEEMU_BUILD_EXAMPLES=OFF?)\n",
                 examples.c_str());
    return 1;
  }
  // The examples' trusted storage (secure_storage) goes to a scratch directory, not the user's.
  const char* tmp = std::getenv("TMPDIR");
  std::string storage = std::string(tmp != nullptr && *tmp == '/' ? tmp : "/tmp") +
                        "/teemu-tour-XXXXXX";
  if (mkdtemp(storage.data()) == nullptr) {
    std::fprintf(stderr, "teemu demo --tour: cannot create a scratch directory %s: %s\n",
                 storage.c_str(), std::strerror(errno));
    return 1;
  }
  setenv("TEEMU_STORAGE_DIR", storage.c_str(), 1);

  print_wrapped("", "teemu demo --tour: the examples of teemu's sources (examples/<name>/), each "
                    "a client program and its TA, run as `teemu run` runs a client program.");
  std::vector<std::string> failed;
  for (size_t i = 0; i < tour.size(); ++i) {
    const Example& ex = *tour[i];
    std::printf("\n[%zu/%zu] %s: %s\n", i + 1, tour.size(), ex.name, ex.title);
    print_wrapped(kIndent, ex.shows);
    print_wrapped(std::string(kIndent) + "client  ", ex.client);
    print_wrapped(std::string(kIndent) + "TA      ", ex.ta);
    const fs::path dir = examples / ex.name;
    const std::string client = find_client(dir);
    if (client.empty()) {
      std::printf("%sFAIL: not installed (no client program in %s)\n", kIndent, dir.c_str());
      failed.emplace_back(ex.name);
      continue;
    }
    std::printf("%s$ cd %s\n%s$ teemu run --ta-dir . -- ./%s\n", kIndent, dir.c_str(), kIndent,
                client.c_str());
    const auto t0 = std::chrono::steady_clock::now();
    const std::string error = run_example(dir, client);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (error.empty()) {
      std::printf("%sok (%.2f s)\n", kIndent, s);
    } else {
      std::printf("%sFAIL: %s\n", kIndent, error.c_str());
      failed.emplace_back(ex.name);
    }
  }
  fs::remove_all(storage, ec);

  std::printf("\nteemu demo --tour: %zu of %zu examples ran successfully", tour.size() - failed.size(),
              tour.size());
  if (!failed.empty()) {
    std::string list;
    for (const auto& f : failed) list += (list.empty() ? "" : ", ") + f;
    std::printf("; failed: %s", list.c_str());
  }
  std::printf("\n");
  return failed.empty() ? 0 : 1;
}

}  // namespace teemu::tool
