#include "ta_runtime/dl_loader.h"

#include <dlfcn.h>
#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/log.h"
#include "ta_runtime/entry.h"
#include "ta_runtime/storage_service.h"

namespace teemu::ta_runtime {

namespace {

// OP-TEE's struct ta_head and TEE_UUID, as the dev kit's user_ta_header.c emits them.
struct TeeUuid {
  uint32_t timeLow;
  uint16_t timeMid;
  uint16_t timeHiAndVersion;
  uint8_t clockSeqAndNode[8];
};
struct TaHead {
  TeeUuid uuid;
  uint32_t stack_size;
  uint32_t flags;
  uint64_t depr_entry;
};
static_assert(sizeof(TaHead) == 32);

constexpr uint32_t kTaFlagsMask = 0x3fff;

abi::Uuid to_octets(const TeeUuid& u) {
  abi::Uuid o;
  o.octets[0] = static_cast<uint8_t>(u.timeLow >> 24);
  o.octets[1] = static_cast<uint8_t>(u.timeLow >> 16);
  o.octets[2] = static_cast<uint8_t>(u.timeLow >> 8);
  o.octets[3] = static_cast<uint8_t>(u.timeLow);
  o.octets[4] = static_cast<uint8_t>(u.timeMid >> 8);
  o.octets[5] = static_cast<uint8_t>(u.timeMid);
  o.octets[6] = static_cast<uint8_t>(u.timeHiAndVersion >> 8);
  o.octets[7] = static_cast<uint8_t>(u.timeHiAndVersion);
  std::memcpy(o.octets + 8, u.clockSeqAndNode, 8);
  return o;
}

bool plausible_elf(const std::vector<uint8_t>& image) {
  if (image.size() < sizeof(Elf64_Ehdr)) return false;
  Elf64_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof(eh));
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return false;
  if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_type != ET_DYN) return false;
#if defined(__x86_64__)
  if (eh.e_machine != EM_X86_64) return false;
#elif defined(__aarch64__)
  if (eh.e_machine != EM_AARCH64) return false;
#endif
  // Program headers must lie inside the image.
  const uint64_t size = image.size();
  if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0) return false;
  if (eh.e_phoff > size || uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > size - eh.e_phoff)
    return false;
  // So must every segment's file contents: the dynamic loader maps them from the file and
  // touches their last page, which past the end of the file is a SIGBUS that takes the whole
  // process (the secure OS) down. A truncated image from the normal world must be refused here.
  std::vector<Elf64_Phdr> loads;
  Elf64_Phdr dyn{};
  bool has_dyn = false;
  for (uint32_t i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + uint64_t{i} * sizeof(ph), sizeof(ph));
    if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset) return false;
    if (ph.p_type == PT_LOAD) {
      if (ph.p_filesz > ph.p_memsz) return false;
      loads.push_back(ph);
    } else if (ph.p_type == PT_DYNAMIC) {
      dyn = ph;
      has_dyn = true;
    }
  }
  if (loads.empty()) return false;
  // The loader reads the dynamic section at its load address: it must be file-backed loaded data.
  if (has_dyn &&
      std::none_of(loads.begin(), loads.end(), [&](const Elf64_Phdr& l) {
        return dyn.p_vaddr >= l.p_vaddr && dyn.p_filesz <= l.p_filesz &&
               dyn.p_vaddr - l.p_vaddr <= l.p_filesz - dyn.p_filesz;
      }))
    return false;
  return true;
}

}  // namespace

DlTaLoader::DlTaLoader(std::unique_ptr<storage::StorageService> storage)
    : storage_(std::move(storage)) {}

DlTaLoader::DlTaLoader() = default;
DlTaLoader::~DlTaLoader() = default;

Result<std::unique_ptr<tee::TaInstance>> DlTaLoader::instantiate(
    const abi::Uuid& uuid, const std::vector<uint8_t>& image) {
  if (!plausible_elf(image)) return fail(abi::TEE_ERROR_BAD_FORMAT);
  int fd = memfd_create("teemu-ta", MFD_CLOEXEC);
  if (fd < 0) return fail(abi::TEE_ERROR_OUT_OF_MEMORY);
  size_t done = 0;
  while (done < image.size()) {
    ssize_t n = write(fd, image.data() + done, image.size() - done);
    if (n <= 0) {
      close(fd);
      return fail(abi::TEE_ERROR_OUT_OF_MEMORY);
    }
    done += static_cast<size_t>(n);
  }
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
  // The loader recognises an object it already has by its path name: the memfd stays open for the
  // instance's life so that no other instance can be loaded under the same /proc/self/fd/N.
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    close(fd);
    TEEMU_LOG_WARN("ta", "cannot load TA image: {}", dlerror());
    return fail(abi::TEE_ERROR_BAD_FORMAT);
  }
  auto fail_loaded = [&](uint32_t code) {
    dlclose(handle);
    close(fd);
    return fail(code);
  };
  auto* head = static_cast<const TaHead*>(dlsym(handle, "ta_head"));
  if (head == nullptr) return fail_loaded(abi::TEE_ERROR_BAD_FORMAT);
  tee::TaProperties props;
  props.uuid = to_octets(head->uuid);
  props.flags = head->flags;
  props.stack_size = head->stack_size;
  if (auto* ds = static_cast<const uint32_t*>(dlsym(handle, "ta_data_size"))) props.data_size = *ds;
  if (!(props.uuid == uuid)) return fail_loaded(abi::TEE_ERROR_SECURITY);
  if (props.flags & ~kTaFlagsMask) return fail_loaded(abi::TEE_ERROR_BAD_FORMAT);
  auto inst = DlTaInstance::create(handle, fd, props, storage_.get());
  if (!inst) return fail_loaded(abi::TEE_ERROR_BAD_FORMAT);
  return std::unique_ptr<tee::TaInstance>(std::move(inst));
}

}  // namespace teemu::ta_runtime
