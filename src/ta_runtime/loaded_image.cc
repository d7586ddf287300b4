#include "ta_runtime/loaded_image.h"

#include "base/sanitizer.h"

#include <dlfcn.h>
#include <elf.h>
#include <link.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "ta_runtime/ta_time.h"

namespace teemu::ta_runtime {

namespace {

constexpr uintptr_t kPage = 4096;
uintptr_t page_up(uintptr_t a) { return (a + kPage - 1) & ~(kPage - 1); }

// Zero-filled ranges at least this long that are anonymous memory are reset by dropping their
// pages (the next touch maps a zero page) instead of writing zeros over them.
constexpr size_t kDropPagesFrom = 64 * 1024;

void* find_entry(void* handle, const char* name, const char* gp11_name, bool* gp11) {
  if (void* f = dlsym(handle, name)) return f;
  if (void* f = dlsym(handle, gp11_name)) {
    *gp11 = true;
    return f;
  }
  return nullptr;
}

struct AnonSearch {
  const link_map* lm;
  std::vector<std::pair<uintptr_t, uintptr_t>> out;
};

// The part of each writable PT_LOAD past the page holding its last file byte: glibc maps it as
// private anonymous memory (_dl_map_segments' zero-fill mapping).
int collect_anonymous(dl_phdr_info* info, size_t, void* data) {
  auto* s = static_cast<AnonSearch*>(data);
  if (info->dlpi_addr != s->lm->l_addr || info->dlpi_name == nullptr || s->lm->l_name == nullptr ||
      std::strcmp(info->dlpi_name, s->lm->l_name) != 0)
    return 0;
  for (unsigned i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W)) continue;
    const uintptr_t file_end = page_up(info->dlpi_addr + ph.p_vaddr + ph.p_filesz);
    const uintptr_t end = page_up(info->dlpi_addr + ph.p_vaddr + ph.p_memsz);
    if (end > file_end) s->out.emplace_back(file_end, end);
  }
  return 1;
}

std::vector<std::pair<uintptr_t, uintptr_t>> anonymous_ranges(void* handle) {
  link_map* lm = nullptr;
  if (dlinfo(handle, RTLD_DI_LINKMAP, &lm) != 0 || lm == nullptr) return {};
  AnonSearch search{lm, {}};
  dl_iterate_phdr(&collect_anonymous, &search);
  return search.out;
}

bool all_zero(const uint8_t* p, size_t n) {
  // Every byte equal to the next and the first zero.
  return n == 0 || (p[0] == 0 && std::memcmp(p, p + 1, n - 1) == 0);
}

}  // namespace

std::unique_ptr<LoadedImage> LoadedImage::create(void* handle, int image_fd,
                                                 const tee::TaProperties& props) {
  // The UUID under which the runtime keeps every TA's persistent time is no TA's.
  if (props.uuid == kTimeNamespace) return nullptr;
  std::unique_ptr<LoadedImage> img(new LoadedImage());
  Entries& e = img->entries_;
  e.create = dlsym(handle, "TA_CreateEntryPoint");
  e.destroy = dlsym(handle, "TA_DestroyEntryPoint");
  e.close = dlsym(handle, "TA_CloseSessionEntryPoint");
  bool gp11_open = false, gp11_invoke = false;
  e.open =
      find_entry(handle, "TA_OpenSessionEntryPoint", "__GP11_TA_OpenSessionEntryPoint", &gp11_open);
  e.invoke = find_entry(handle, "TA_InvokeCommandEntryPoint", "__GP11_TA_InvokeCommandEntryPoint",
                        &gp11_invoke);
  if (!e.create || !e.destroy || !e.close || !e.open || !e.invoke || gp11_open != gp11_invoke)
    return nullptr;
  e.gp11 = gp11_open;
  img->segments_ = image_segments(handle);
  img->props_ = props;
  // Owned from here on.
  img->handle_ = handle;
  img->fd_ = image_fd;
  return img;
}

LoadedImage::~LoadedImage() {
  base::image_about_to_be_unmapped();
  if (handle_ != nullptr) dlclose(handle_);
  if (fd_ >= 0) close(fd_);
}

bool LoadedImage::snapshot() {
  ranges_.clear();
  saved_.clear();
  // Without its segments nothing tells what the TA can have written: no snapshot, no reuse.
  if (segments_.empty()) return false;
  const auto anon = anonymous_ranges(handle_);
  auto add = [&](uintptr_t start, uintptr_t end, bool anonymous) {
    if (end <= start) return;
    Range r;
    r.start = start;
    r.size = end - start;
    r.anonymous = anonymous;
    const auto* p = reinterpret_cast<const uint8_t*>(start);
    r.zero = all_zero(p, r.size);
    if (!r.zero) {
      r.saved_at = saved_.size();
      saved_.insert(saved_.end(), p, p + r.size);
    }
    ranges_.push_back(r);
  };
  for (const ImageSegment& s : segments_) {
    if (!s.writable) continue;
    // Cut the segment where anonymous memory starts and ends (page bounds, both sorted).
    uintptr_t pos = s.start;
    for (const auto& [a0, a1] : anon) {
      if (a1 <= pos || a0 >= s.end) continue;
      add(pos, std::max(pos, a0), false);
      const uintptr_t from = std::max(pos, a0), to = std::min(s.end, a1);
      add(from, to, true);
      pos = to;
    }
    add(pos, s.end, false);
  }
  return true;
}

void LoadedImage::restore() {
  for (const Range& r : ranges_) {
    auto* p = reinterpret_cast<uint8_t*>(r.start);
    if (!r.zero) {
      std::memcpy(p, saved_.data() + r.saved_at, r.size);
    } else if (r.anonymous && r.size >= kDropPagesFrom && madvise(p, r.size, MADV_DONTNEED) == 0) {
      // Private anonymous pages: dropped, they read as zeros again.
    } else {
      std::memset(p, 0, r.size);
    }
  }
}

}  // namespace teemu::ta_runtime
