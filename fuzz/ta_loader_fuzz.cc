// Fuzz target (e): corrupt TA images -> the TA loader (ta_runtime::DlTaLoader).
//
// The input is a TA image (the seeds are the real .ta files the build produces). Every input goes
// through the loader's pre-dlopen checks (DlTaLoader::image_problem), which must never crash on
// any bytes. An image the checks accept then goes through DlTaLoader::instantiate (memfd, dlopen,
// symbol lookups, dlclose) when its "code closure" is the one of a real TA: the bytes of its
// executable and writable segments (the dynamic section aside), its relocation, symbol, string and
// version tables, its DT_NEEDED list and its constructor arrays. That is the part of an image
// dlopen does not parse but executes or computes addresses from: changing it runs corrupt TA code
// in-process (the known gap, docs/robustness.md). Everything dlopen itself parses may differ:
// ELF and program headers, the dynamic section's other entries, hash tables, version structures,
// notes, RELRO, segment placement. A crash there is a check the loader is missing.
#include <dirent.h>
#include <elf.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "abi/gp.h"
#include "common.h"
#include "ta_runtime/dl_loader.h"

namespace teemu::fuzz {
namespace {

ta_runtime::DlTaLoader* g_loader = nullptr;
std::set<std::vector<uint8_t>> g_closures;  // code closures of the real TAs
size_t g_checked = 0, g_accepted = 0, g_loaded = 0, g_instantiated = 0;

struct Elf {
  const std::vector<uint8_t>& b;
  std::vector<Elf64_Phdr> loads;
  Elf64_Phdr dyn{};
  bool has_dyn = false;
  std::map<int64_t, uint64_t> tags;
  std::vector<uint64_t> needed;

  template <class T>
  bool read(uint64_t off, T* out) const {
    if (off > b.size() || sizeof(T) > b.size() - off) return false;
    std::memcpy(out, b.data() + off, sizeof(T));
    return true;
  }
  bool file_at(uint64_t vaddr, uint64_t len, uint64_t* off) const {
    for (const auto& s : loads)
      if (vaddr >= s.p_vaddr && vaddr - s.p_vaddr <= s.p_filesz &&
          len <= s.p_filesz - (vaddr - s.p_vaddr)) {
        *off = s.p_offset + (vaddr - s.p_vaddr);
        return *off <= b.size() && len <= b.size() - *off;
      }
    return false;
  }
  bool append(std::vector<uint8_t>& out, uint64_t vaddr, uint64_t len) const {
    uint64_t off = 0;
    if (len > (16u << 20) || !file_at(vaddr, len, &off)) return false;
    out.insert(out.end(), b.begin() + static_cast<long>(off), b.begin() + static_cast<long>(off + len));
    return true;
  }
  bool parse() {
    Elf64_Ehdr eh{};
    if (!read(0, &eh) || eh.e_phnum > 64) return false;
    for (uint32_t i = 0; i < eh.e_phnum; ++i) {
      Elf64_Phdr ph{};
      if (!read(eh.e_phoff + uint64_t{i} * sizeof(ph), &ph)) return false;
      if (ph.p_type == PT_LOAD) loads.push_back(ph);
      if (ph.p_type == PT_DYNAMIC) {
        dyn = ph;
        has_dyn = true;
      }
    }
    if (!has_dyn) return false;
    uint64_t off = 0;
    if (!file_at(dyn.p_vaddr, dyn.p_filesz, &off)) return false;
    for (uint64_t i = 0; i < dyn.p_filesz / sizeof(Elf64_Dyn); ++i) {
      Elf64_Dyn d{};
      read(off + i * sizeof(d), &d);
      if (d.d_tag == DT_NULL) break;
      if (d.d_tag == DT_NEEDED) needed.push_back(d.d_un.d_val);
      tags[d.d_tag] = d.d_un.d_val;
    }
    return true;
  }
  uint64_t tag(int64_t t) const {
    auto it = tags.find(t);
    return it == tags.end() ? 0 : it->second;
  }

  // See the file comment. Empty if the image's layout does not allow computing it.
  std::vector<uint8_t> code_closure() const {
    std::vector<uint8_t> c;
    auto put64 = [&](uint64_t v) {
      for (int i = 0; i < 8; ++i) c.push_back(static_cast<uint8_t>(v >> (8 * i)));
    };
    for (const auto& s : loads) {
      if (s.p_flags & PF_X) {
        if (!append(c, s.p_vaddr, s.p_filesz)) return {};
      } else if (s.p_flags & PF_W) {
        // The writable segment without the dynamic section (which dlopen parses).
        const uint64_t lo = s.p_vaddr, hi = s.p_vaddr + s.p_filesz;
        const uint64_t dlo = std::clamp<uint64_t>(dyn.p_vaddr, lo, hi);
        const uint64_t dhi = std::clamp<uint64_t>(dyn.p_vaddr + dyn.p_filesz, dlo, hi);
        if (!append(c, lo, dlo - lo) || !append(c, dhi, hi - dhi)) return {};
      }
      put64(s.p_flags);
    }
    for (int64_t t : {DT_INIT, DT_FINI, DT_INIT_ARRAY, DT_INIT_ARRAYSZ, DT_FINI_ARRAY,
                      DT_FINI_ARRAYSZ, DT_RELACOUNT, DT_FLAGS_1})
      put64(tag(t));
    for (auto [t, sz] : {std::pair{DT_RELA, DT_RELASZ}, std::pair{DT_JMPREL, DT_PLTRELSZ}})
      if (tags.count(t) && !append(c, tag(t), tag(sz))) return {};
    // The symbol table runs up to the string table in every linker's layout.
    const uint64_t sym = tag(DT_SYMTAB), str = tag(DT_STRTAB), strsz = tag(DT_STRSZ);
    if (str <= sym || str - sym > (1u << 20) || !append(c, sym, str - sym)) return {};
    if (!append(c, str, strsz)) return {};
    if (tags.count(DT_VERSYM) && !append(c, tag(DT_VERSYM), (str - sym) / sizeof(Elf64_Sym) * 2))
      return {};
    for (uint64_t n : needed) put64(n);
    return c;
  }

  // The UUID in ta_head (as the loader will compare it), or zeros.
  abi::Uuid uuid() const {
    abi::Uuid u{};
    const uint64_t sym = tag(DT_SYMTAB), str = tag(DT_STRTAB), strsz = tag(DT_STRSZ);
    uint64_t soff = 0, stroff = 0;
    if (str <= sym || !file_at(sym, str - sym, &soff) || !file_at(str, strsz, &stroff)) return u;
    for (uint64_t i = 1; i < (str - sym) / sizeof(Elf64_Sym); ++i) {
      Elf64_Sym s{};
      read(soff + i * sizeof(s), &s);
      if (s.st_name >= strsz) continue;
      const char* name = reinterpret_cast<const char*>(b.data() + stroff + s.st_name);
      if (std::memchr(name, 0, strsz - s.st_name) == nullptr || std::strcmp(name, "ta_head") != 0)
        continue;
      uint64_t hoff = 0;
      uint8_t h[16];
      if (!file_at(s.st_value, 16, &hoff) || !read(hoff, &h)) return u;
      // TEE_UUID as the dev kit lays it out (little-endian words) -> the 16 wire octets.
      const uint8_t order[16] = {3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15};
      for (int k = 0; k < 16; ++k) u.octets[k] = h[order[k]];
      return u;
    }
    return u;
  }
};

void add_reference(const std::vector<uint8_t>& image) {
  Elf e{image};
  if (!e.parse()) return;
  auto c = e.code_closure();
  if (!c.empty()) g_closures.insert(std::move(c));
}

void add_references(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n.size() > 3 && n.compare(n.size() - 3, 3, ".ta") == 0) add_reference(read_file(dir + "/" + n));
  }
  closedir(d);
}

}  // namespace

void init() {
  static ta_runtime::DlTaLoader loader;
  g_loader = &loader;
  add_references(ta_dir());
  add_references(std::string(TEEMU_FUZZ_SOURCE_DIR) + "/corpus/ta_loader");
  if (g_closures.empty()) finding("no reference TA images (build the TAs; TEEMU_FUZZ_TA_DIR)");
  if (verbose())
    std::atexit([] {
      std::fprintf(stderr, "checked %zu, accepted %zu, dlopen'd %zu, instantiated %zu\n", g_checked,
                   g_accepted, g_loaded, g_instantiated);
    });
}

// Seeds: real TAs of the build (one without dependencies, one with DT_NEEDED and versions).
Seeds seeds() {
  Seeds s;
  for (const char* name : {"f9b9acc0-806d-415c-bade-7aecc600e80f.ta",
                           "3c0e9d0a-5d6c-4b4e-9c1a-2f0b7e6d5a41.ta",
                           "6a4e9d13-2c7b-4f05-9e81-b3c5d7a1f046.ta"}) {
    auto image = read_file(ta_dir() + "/" + name);
    if (!image.empty()) s.push_back({name, image});
  }
  return s;
}

}  // namespace teemu::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace teemu::fuzz;
  const std::vector<uint8_t> image(data, data + size);
  ++g_checked;
  const char* problem = teemu::ta_runtime::DlTaLoader::image_problem(image);
  if (problem != nullptr) return 0;
  ++g_accepted;
  Elf e{image};
  if (!e.parse()) return 0;
  const auto closure = e.code_closure();
  if (closure.empty() || !g_closures.count(closure)) return 0;
  ++g_loaded;
  auto inst = g_loader->instantiate(e.uuid(), image);
  if (inst) ++g_instantiated;
  return 0;  // the instance (if any) is destroyed here: dlclose, memfd closed
}
