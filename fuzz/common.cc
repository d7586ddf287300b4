#include "common.h"

#include <dirent.h>
#include <ftw.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdarg>
#include <fstream>
#include <iterator>

namespace teemu::fuzz {

namespace {

// Writes seeds() into `dir` as seed-<name>, one file each; returns the exit status.
int write_seeds(const std::string& dir) {
  mkdir(dir.c_str(), 0755);
  int written = 0;
  for (const auto& [name, bytes] : seeds()) {
    const std::string path = dir + "/seed-" + name;
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    f.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    if (!f) {
      std::fprintf(stderr, "cannot write %s\n", path.c_str());
      return 1;
    }
    ++written;
  }
  std::printf("wrote %d seeds to %s\n", written, dir.c_str());
  return 0;
}

std::vector<std::string>& scratch_dirs() {
  static std::vector<std::string> dirs;
  return dirs;
}

int remove_entry(const char* path, const struct stat*, int, struct FTW*) {
  return ::remove(path);
}

void remove_tree(const std::string& dir) {
  nftw(dir.c_str(), remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

}  // namespace

void finding(const char* fmt, ...) {
  std::fprintf(stderr, "==FUZZ FINDING== ");
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fprintf(stderr, "\n");
  std::fflush(stderr);
  std::abort();
}

bool verbose() {
  static const bool v = [] {
    const char* e = std::getenv("TEEMU_FUZZ_VERBOSE");
    return e != nullptr && *e != '\0' && *e != '0';
  }();
  return v;
}

void trace(const char* fmt, ...) {
  if (!verbose()) return;
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
  std::fputc('\n', stderr);
}

std::string ta_dir() {
  if (const char* e = std::getenv("TEEMU_FUZZ_TA_DIR"); e != nullptr && *e != '\0') return e;
  return TEEMU_FUZZ_TA_DIR;
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}

std::string scratch_dir(const char* what) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/teemu-fuzz-" +
                      what + "-XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (mkdtemp(buf.data()) == nullptr) finding("cannot make a scratch directory in %s", templ.c_str());
  std::string dir(buf.data());
  if (scratch_dirs().empty()) std::atexit([] {
      for (const auto& d : scratch_dirs()) remove_tree(d);
    });
  scratch_dirs().push_back(dir);
  return dir;
}

void clear_dir(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(dir + "/" + n);
  }
  closedir(d);
  for (const auto& n : names) remove_tree(n);
}

}  // namespace teemu::fuzz

// libFuzzer ignores arguments that start with "--", so a target's own options live there:
//   --write-seeds=DIR   write the target's seed corpus into DIR and exit.
extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  // Hostile input makes the layers log warnings by the thousand; only errors are of interest.
  setenv("TEEMU_LOG", "error", 0);
  for (int i = 1; i < *argc; ++i) {
    const std::string a = (*argv)[i];
    if (a.rfind("--write-seeds=", 0) == 0) std::exit(teemu::fuzz::write_seeds(a.substr(14)));
  }
  teemu::fuzz::init();
  return 0;
}
