#include "ta_runtime/dl_loader.h"

#include <dlfcn.h>
#include <elf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/log.h"
#include "base/sanitizer.h"
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

// --- the image checks made before dlopen ------------------------------------------------------
//
// glibc's dynamic loader trusts the object it maps: a table address, count or index out of range
// is a wild read or write inside the secure OS's process, a segment placed outside the object's
// reservation is mapped over other memory (MAP_FIXED), a RELRO range outside the object is made
// read-only wherever it points, an assert in ld.so aborts the process. So every structure the
// loader reads before it runs any TA code is checked here against the image itself, at the
// addresses the loader will read it from (through the PT_LOAD mappings, not the file layout).
// What remains out of reach is the TA's code and what it computes with: dlopen runs the image's
// constructors (DT_INIT, DT_INIT_ARRAY), and a corrupt constructor or GOT entry it follows is TA
// code misbehaving in-process, outside the entry-point fault guard (docs/robustness.md).

constexpr uint64_t kPage = 4096;
// Bounds on what a TA image may describe: they stop a few header bytes from making the loader
// reserve gigabytes or walk tables for long.
constexpr uint32_t kMaxPhdrs = 64;
constexpr uint64_t kMaxImageSpan = 256ull << 20;
constexpr uint64_t kMaxSymbols = 1u << 20;
constexpr uint64_t kMaxVersionEntries = 256;
constexpr uint64_t kMaxInitFunctions = 1024;

#if defined(__x86_64__)
constexpr uint16_t kMachine = EM_X86_64;
constexpr uint32_t kRelNone = R_X86_64_NONE, kRelAbs64 = R_X86_64_64,
                   kRelGlobDat = R_X86_64_GLOB_DAT, kRelJumpSlot = R_X86_64_JUMP_SLOT,
                   kRelRelative = R_X86_64_RELATIVE;
#elif defined(__aarch64__)
constexpr uint16_t kMachine = EM_AARCH64;
constexpr uint32_t kRelNone = R_AARCH64_NONE, kRelAbs64 = R_AARCH64_ABS64,
                   kRelGlobDat = R_AARCH64_GLOB_DAT, kRelJumpSlot = R_AARCH64_JUMP_SLOT,
                   kRelRelative = R_AARCH64_RELATIVE;
#endif

// DT_FLAGS_1 bits an image may not carry: it would stay loaded for ever (NODELETE), publish its
// symbols to every later TA (GLOBAL), run its constructors before its dependencies' (INITFIRST),
// interpose on the secure OS's own symbols (INTERPOSE), pull in filtees (LOADFLTR), or be an
// executable (PIE).
constexpr uint64_t kRefusedFlags1 = DF_1_NODELETE | DF_1_GLOBAL | DF_1_INITFIRST | DF_1_INTERPOSE |
                                    DF_1_LOADFLTR | 0x08000000 /* DF_1_PIE */;

class ImageChecker {
 public:
  explicit ImageChecker(const std::vector<uint8_t>& image) : b_(image) {}

  // Null if the image may be handed to dlopen, else what is wrong with it.
  const char* problem() {
    if (const char* p = headers()) return p;
    if (const char* p = dynamic()) return p;
    if (const char* p = hash_tables()) return p;
    if (const char* p = versions()) return p;
    if (const char* p = relocations()) return p;
    if (const char* p = symbols()) return p;
    return nullptr;
  }
  // After problem() returned null: why loaded copies of the image must not serve a second
  // instance, null if they may.
  const char* reuse_problem() const { return reuse_problem_; }

 private:
  struct Seg {
    uint64_t vaddr, memsz, offset, filesz;
    uint32_t flags;
  };

  template <class T>
  bool read(uint64_t off, T* out) const {
    if (off > b_.size() || sizeof(T) > b_.size() - off) return false;
    std::memcpy(out, b_.data() + off, sizeof(T));
    return true;
  }
  // The file offset of the bytes the loader will find at [vaddr, vaddr + len): they must lie in
  // the file-backed part of one PT_LOAD (with `flags` among its permissions).
  bool file_at(uint64_t vaddr, uint64_t len, uint64_t* off, uint32_t flags = 0) const {
    for (const Seg& s : loads_) {
      if ((s.flags & flags) != flags) continue;
      if (vaddr < s.vaddr || vaddr - s.vaddr > s.filesz || len > s.filesz - (vaddr - s.vaddr))
        continue;
      *off = s.offset + (vaddr - s.vaddr);
      return true;
    }
    return false;
  }
  // [vaddr, vaddr + len) is mapped memory of one PT_LOAD (its zero-filled tail included).
  bool mapped(uint64_t vaddr, uint64_t len, uint32_t flags = 0) const {
    for (const Seg& s : loads_) {
      if ((s.flags & flags) != flags) continue;
      if (vaddr >= s.vaddr && vaddr - s.vaddr <= s.memsz && len <= s.memsz - (vaddr - s.vaddr))
        return true;
    }
    return false;
  }
  // A NUL-terminated string at `name` in the string table.
  bool string_at(uint64_t name) const {
    if (name >= strsz_) return false;
    return std::memchr(b_.data() + strtab_ + name, 0, strsz_ - name) != nullptr;
  }
  const char* str(uint64_t name) const {
    return reinterpret_cast<const char*>(b_.data() + strtab_ + name);
  }
  // Table `tag` of `count` entries of `entsize` bytes, read by the loader in memory: its file
  // offset (0 = absent).
  const char* table(int64_t tag, uint64_t count, uint64_t entsize, uint64_t* off,
                    const char* what) {
    *off = 0;
    auto it = dyn_.find(tag);
    if (it == dyn_.end()) return nullptr;
    if (count > kMaxSymbols * 64 || entsize == 0) return what;
    if (!file_at(it->second, count * entsize, off)) return what;
    return nullptr;
  }

  // True if the section header table names a section `name` at address `vaddr`. Only used to
  // decide reuse: a missing or malformed table just answers false.
  bool section_starts_at(const char* name, uint64_t vaddr) const {
    Elf64_Ehdr eh{};
    if (!read(0, &eh) || eh.e_shoff == 0 || eh.e_shoff > b_.size() ||
        eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum)
      return false;
    Elf64_Shdr names{};
    if (!read(eh.e_shoff + uint64_t{eh.e_shstrndx} * sizeof(Elf64_Shdr), &names) ||
        names.sh_offset > b_.size() || names.sh_size > b_.size() - names.sh_offset)
      return false;
    const size_t len = std::strlen(name) + 1;  // with its terminating zero
    for (uint64_t i = 0; i < eh.e_shnum; ++i) {
      Elf64_Shdr sh{};
      if (!read(eh.e_shoff + i * sizeof(Elf64_Shdr), &sh)) return false;
      if (sh.sh_addr != vaddr || sh.sh_name > names.sh_size || len > names.sh_size - sh.sh_name)
        continue;
      if (std::memcmp(b_.data() + names.sh_offset + sh.sh_name, name, len) == 0) return true;
    }
    return false;
  }

  const char* headers() {
    Elf64_Ehdr eh{};
    if (!read(0, &eh)) return "smaller than an ELF header";
    if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0) return "not an ELF file";
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        eh.e_ident[EI_VERSION] != EV_CURRENT || eh.e_version != EV_CURRENT)
      return "not a 64-bit little-endian ELF of version 1";
    if (eh.e_type != ET_DYN) return "not a shared object";
    if (eh.e_machine != kMachine) return "built for another machine";
    if (eh.e_ehsize != sizeof(Elf64_Ehdr)) return "ELF header size";
    // Program headers must lie inside the image.
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 || eh.e_phnum > kMaxPhdrs)
      return "program header count or size";
    const uint64_t size = b_.size();
    if (eh.e_phoff > size || uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr) > size - eh.e_phoff ||
        eh.e_phoff % 8 != 0)
      return "program headers outside the image";
    phoff_ = eh.e_phoff;
    phnum_ = eh.e_phnum;
    std::vector<Elf64_Phdr> others;
    bool stack_seen = false;
    for (uint32_t i = 0; i < eh.e_phnum; ++i) {
      Elf64_Phdr ph{};
      read(eh.e_phoff + uint64_t{i} * sizeof(ph), &ph);
      // Every segment's file contents lie in the file: the dynamic loader maps them and touches
      // their last page, which past the end of the file is a SIGBUS that takes the whole process
      // (the secure OS) down. A truncated image from the normal world is refused here.
      if (ph.p_offset > size || ph.p_filesz > size - ph.p_offset) return "segment outside the file";
      if (ph.p_memsz > kMaxImageSpan || ph.p_vaddr > kMaxImageSpan)
        return "segment address or size too large";
      switch (ph.p_type) {
        case PT_LOAD: {
          // As glibc requires, and in ascending address order with page ranges that do not
          // overlap: the mappings then stay inside the reservation made for the first to the last.
          if (ph.p_filesz > ph.p_memsz) return "PT_LOAD file size above its memory size";
          // Writable means readable too: the image cache snapshots and restores the readable
          // writable segments, and a write-only one would carry one instance's data to the next.
          if ((ph.p_flags & PF_W) && !(ph.p_flags & PF_R)) return "PT_LOAD writable but not readable";
          if (ph.p_align < kPage || (ph.p_align & (ph.p_align - 1)) != 0 ||
              (ph.p_vaddr - ph.p_offset) % ph.p_align != 0)
            return "PT_LOAD alignment";
          if (!loads_.empty()) {
            const Seg& prev = loads_.back();
            const uint64_t prev_end = (prev.vaddr + prev.memsz + kPage - 1) & ~(kPage - 1);
            if ((ph.p_vaddr & ~(kPage - 1)) < prev_end) return "PT_LOAD out of order or overlapping";
          }
          loads_.push_back({ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, ph.p_flags});
          break;
        }
        case PT_DYNAMIC:
          if (dyn_seen_) return "two PT_DYNAMIC";
          dyn_seen_ = true;
          dyn_vaddr_ = ph.p_vaddr;
          dyn_size_ = ph.p_filesz;
          dyn_flags_ = ph.p_flags;
          break;
        case PT_INTERP: return "PT_INTERP (an executable, not a TA)";
        case PT_TLS: return "PT_TLS (TAs have no thread-local storage)";
        case PT_GNU_STACK:
          // An executable stack request would make every thread stack of the process executable.
          if (ph.p_flags & PF_X) return "executable stack";
          stack_seen = true;
          break;
        default: others.push_back(ph); break;
      }
    }
    if (!stack_seen) return "no PT_GNU_STACK (the loader would assume an executable stack)";
    if (loads_.empty()) return "no PT_LOAD";
    if (loads_.back().vaddr + loads_.back().memsz - (loads_.front().vaddr & ~(kPage - 1)) >
        kMaxImageSpan)
      return "image span too large";
    // Segments the loader reads or protects in memory lie inside a mapping.
    for (const Elf64_Phdr& ph : others) {
      uint64_t off = 0;
      switch (ph.p_type) {
        case PT_GNU_RELRO:
          // mprotect'ed read-only after relocation, wherever it points: only what linkers put
          // there, relocated data in the file-backed part of a writable segment. Over the
          // zero-filled tail it would make the TA's .bss read-only, and the TA's own destructor
          // writing there at dlclose (outside any fault guard) takes the process down.
          if (!file_at(ph.p_vaddr, ph.p_memsz, &off, PF_W))
            return "PT_GNU_RELRO outside the writable file contents";
          break;
        case PT_NOTE:
        case PT_GNU_PROPERTY:
        case PT_GNU_EH_FRAME:
          if (!file_at(ph.p_vaddr, ph.p_memsz, &off)) return "segment not in loaded file contents";
          break;
        case PT_PHDR:
          // The loader publishes e_phnum program headers from here (dl_iterate_phdr, which the
          // runtime reads the image's segments from): they must be the real ones, aligned.
          if (ph.p_vaddr % 8 != 0 ||
              !file_at(ph.p_vaddr, uint64_t{phnum_} * sizeof(Elf64_Phdr), &off) || off != phoff_)
            return "PT_PHDR is not the program header table";
          break;
        default: break;
      }
    }
    if (!dyn_seen_) return "no PT_DYNAMIC";
      // The loader reads the dynamic section at its load address: it must be file-backed data. A
    // PT_DYNAMIC marked writable is rewritten in place (its addresses relocated by the load
    // base), so it must then lie in a writable mapping.
    if (dyn_size_ < sizeof(Elf64_Dyn) || dyn_size_ % sizeof(Elf64_Dyn) != 0 ||
        !file_at(dyn_vaddr_, dyn_size_, &dyn_off_, dyn_flags_ & PF_W))
      return "PT_DYNAMIC not in loaded file contents";
    return nullptr;
  }

  const char* dynamic() {
    // Read as glibc does: up to DT_NULL, the last entry of a tag wins.
    bool terminated = false;
    for (uint64_t i = 0; i < dyn_size_ / sizeof(Elf64_Dyn); ++i) {
      Elf64_Dyn d{};
      read(dyn_off_ + i * sizeof(d), &d);
      if (d.d_tag == DT_NULL) {
        terminated = true;
        break;
      }
      switch (d.d_tag) {
        case DT_NEEDED: needed_.push_back(d.d_un.d_val); break;
        case DT_RPATH:
        case DT_RUNPATH:
        case DT_SONAME: names_.push_back(d.d_un.d_val); break;
        // What a TA has no use for and the loader would act on: text relocations, TLS, REL and
        // RELR relocation formats, filtees and auditors, pre-init arrays.
        case DT_TEXTREL: return "DT_TEXTREL";
        case DT_REL:
        case DT_RELSZ:
        case DT_RELENT: return "DT_REL relocations";
        case DT_RELR:
        case DT_RELRSZ:
        case DT_RELRENT: return "DT_RELR relocations";
        case DT_PREINIT_ARRAY:
        case DT_PREINIT_ARRAYSZ: return "DT_PREINIT_ARRAY";
        case DT_AUXILIARY:
        case DT_FILTER:
        case DT_AUDIT:
        case DT_DEPAUDIT: return "filtee or auditor";
        case DT_TLSDESC_PLT:
        case DT_TLSDESC_GOT: return "TLS descriptors";
        default: dyn_[d.d_tag] = d.d_un.d_val; break;
      }
    }
    if (!terminated) return "dynamic section without DT_NULL";
    auto get = [&](int64_t tag, uint64_t dflt) {
      auto it = dyn_.find(tag);
      return it == dyn_.end() ? dflt : it->second;
    };
    if (get(DT_FLAGS, 0) & (DF_TEXTREL | DF_STATIC_TLS)) return "DT_FLAGS";
    if (get(DT_FLAGS_1, 0) & kRefusedFlags1) return "DT_FLAGS_1";
    if (!dyn_.count(DT_STRTAB) || !dyn_.count(DT_STRSZ) || !dyn_.count(DT_SYMTAB))
      return "no string or symbol table";
    if (get(DT_SYMENT, sizeof(Elf64_Sym)) != sizeof(Elf64_Sym)) return "DT_SYMENT";
    strsz_ = dyn_[DT_STRSZ];
    if (strsz_ == 0 || strsz_ > kMaxImageSpan || !file_at(dyn_[DT_STRTAB], strsz_, &strtab_))
      return "string table outside the loaded image";
    for (uint64_t n : needed_) {
      if (!string_at(n)) return "DT_NEEDED name";
      // A TA links only against what the secure OS itself has loaded: naming anything else
      // would make the secure OS load (and run the constructors of) another host library.
      if (std::strchr(str(n), '/') != nullptr) return "DT_NEEDED with a path";
      void* h = dlopen(str(n), RTLD_LAZY | RTLD_NOLOAD);
      if (h == nullptr) return "DT_NEEDED names a library the secure OS has not loaded";
      dlclose(h);
    }
    for (uint64_t n : names_)
      if (!string_at(n)) return "DT_SONAME/RPATH/RUNPATH name";
    // Constructors and destructors: code in an executable segment, arrays in loaded data.
    for (int64_t tag : {DT_INIT, DT_FINI})
      if (dyn_.count(tag) && !mapped(dyn_[tag], 1, PF_X)) return "DT_INIT/DT_FINI outside code";
    // The linker points DT_INIT/DT_FINI at crti's _init/_fini, the start of the .init/.fini
    // sections, which run nothing of the TA's. Anywhere else (-Wl,-init=...) they are an
    // initialiser or finaliser of the TA's own, which would run once per loaded copy, not once
    // per instance. (Without readable section headers nothing tells: no reuse either.)
    if ((dyn_.count(DT_INIT) && !section_starts_at(".init", dyn_[DT_INIT])) ||
        (dyn_.count(DT_FINI) && !section_starts_at(".fini", dyn_[DT_FINI])))
      reuse_problem_ = "an initialiser or finaliser of its own (DT_INIT/DT_FINI)";
    for (auto [arr, sz] : {std::pair{DT_INIT_ARRAY, DT_INIT_ARRAYSZ},
                           std::pair{DT_FINI_ARRAY, DT_FINI_ARRAYSZ}}) {
      if (!dyn_.count(arr) && !dyn_.count(sz)) continue;
      const uint64_t bytes = get(sz, 0);
      if (!dyn_.count(arr) || bytes % 8 != 0 || bytes / 8 > kMaxInitFunctions ||
          !mapped(dyn_[arr], bytes))
        return "DT_INIT_ARRAY/DT_FINI_ARRAY";
      // The compiler's own entry (crtbegin's frame_dummy / __do_global_dtors_aux) touches
      // nothing outside the image; more are the TA's constructors or destructors, which run
      // once per loaded copy.
      if (bytes / 8 > 1) reuse_problem_ = "constructors or destructors of its own";
    }
    if (dyn_.count(DT_PLTGOT) && !mapped(dyn_[DT_PLTGOT], 3 * 8, PF_W)) return "DT_PLTGOT";
    return nullptr;
  }

  // The symbol count, from the hash tables glibc looks symbols up with: every chain they lead
  // to must end inside the table, and every symbol they name must exist.
  const char* hash_tables() {
    uint64_t off = 0;
    if (!dyn_.count(DT_GNU_HASH) && !dyn_.count(DT_HASH)) return "no hash table";
    if (dyn_.count(DT_HASH)) {
      uint32_t hdr[2] = {};
      if (!file_at(dyn_[DT_HASH], sizeof(hdr), &off) || !read(off, &hdr)) return "DT_HASH";
      const uint64_t nbucket = hdr[0], nchain = hdr[1];
      // glibc divides by nbucket and indexes the chains with what the buckets hold.
      if (nbucket == 0 || nchain > kMaxSymbols ||
          !file_at(dyn_[DT_HASH], (2 + nbucket + nchain) * 4, &off))
        return "DT_HASH size";
      for (uint64_t i = 0; i < nbucket + nchain; ++i) {
        uint32_t v = 0;
        read(off + 8 + i * 4, &v);
        if (v >= nchain) return "DT_HASH index";
      }
      nsyms_ = std::max<uint64_t>(nsyms_, nchain);
    }
    if (dyn_.count(DT_GNU_HASH)) {
      uint32_t hdr[4] = {};
      if (!file_at(dyn_[DT_GNU_HASH], sizeof(hdr), &off) || !read(off, &hdr)) return "DT_GNU_HASH";
      const uint64_t nbuckets = hdr[0], symoffset = hdr[1], bloom = hdr[2];
      // The bloom filter is indexed with (size - 1) as a mask, the buckets modulo their count.
      if (nbuckets == 0 || nbuckets > kMaxSymbols || bloom == 0 || (bloom & (bloom - 1)) != 0 ||
          bloom > kMaxSymbols || symoffset > kMaxSymbols)
        return "DT_GNU_HASH header";
      const uint64_t buckets_at = dyn_[DT_GNU_HASH] + 16 + bloom * 8;
      if (!file_at(buckets_at, nbuckets * 4, &off)) return "DT_GNU_HASH buckets";
      const uint64_t chains_at = buckets_at + nbuckets * 4;
      uint64_t max_sym = symoffset;  // one past the last symbol reachable
      for (uint64_t i = 0; i < nbuckets; ++i) {
        uint32_t start = 0;
        read(off + i * 4, &start);
        if (start == 0) continue;
        if (start < symoffset) return "DT_GNU_HASH bucket";
        // Each chain runs until an entry with the low bit set.
        for (uint64_t s = start;; ++s) {
          if (s - symoffset > kMaxSymbols) return "DT_GNU_HASH chain";
          uint64_t coff = 0;
          uint32_t h = 0;
          if (!file_at(chains_at + (s - symoffset) * 4, 4, &coff) || !read(coff, &h))
            return "DT_GNU_HASH chain outside the image";
          max_sym = std::max(max_sym, s + 1);
          if (h & 1) break;
        }
      }
      nsyms_ = std::max(nsyms_, max_sym);
    }
    if (nsyms_ == 0 || nsyms_ > kMaxSymbols) return "symbol count";
    if (!file_at(dyn_[DT_SYMTAB], nsyms_ * sizeof(Elf64_Sym), &symtab_))
      return "symbol table outside the loaded image";
    for (uint64_t i = 0; i < nsyms_; ++i) {
      Elf64_Sym s{};
      read(symtab_ + i * sizeof(s), &s);
      if (i != 0 && !string_at(s.st_name)) return "symbol name";
      // Resolving an IFUNC runs TA code at load time; a unique symbol pins the image.
      if (ELF64_ST_TYPE(s.st_info) == STT_GNU_IFUNC && s.st_shndx != SHN_UNDEF) return "IFUNC symbol";
      if (ELF64_ST_BIND(s.st_info) == STB_GNU_UNIQUE) return "unique symbol";
      if (ELF64_ST_TYPE(s.st_info) == STT_TLS) return "TLS symbol";
    }
    return nullptr;
  }

  // Symbol versions: glibc indexes its version array with every DT_VERSYM entry, and asserts
  // that each DT_VERNEED file is one of the image's DT_NEEDED.
  const char* versions() {
    uint64_t off = 0;
    uint64_t max_index = 1;  // 0 (local) and 1 (global) always exist
    if (dyn_.count(DT_VERNEED)) {
      const uint64_t num = dyn_.count(DT_VERNEEDNUM) ? dyn_[DT_VERNEEDNUM] : 0;
      if (num == 0 || num > kMaxVersionEntries) return "DT_VERNEEDNUM";
      uint64_t at = dyn_[DT_VERNEED];
      for (uint64_t i = 0;; ++i) {
        Elf64_Verneed vn{};
        if (i >= kMaxVersionEntries || !file_at(at, sizeof(vn), &off) || !read(off, &vn))
          return "DT_VERNEED entry";
        if (vn.vn_version != VER_NEED_CURRENT || !string_at(vn.vn_file)) return "DT_VERNEED entry";
        if (std::none_of(needed_.begin(), needed_.end(),
                         [&](uint64_t n) { return std::strcmp(str(n), str(vn.vn_file)) == 0; }))
          return "DT_VERNEED file not in DT_NEEDED";
        uint64_t aux = at + vn.vn_aux;
        for (uint64_t j = 0; j < vn.vn_cnt; ++j) {
          Elf64_Vernaux va{};
          if (j >= kMaxVersionEntries || !file_at(aux, sizeof(va), &off) || !read(off, &va))
            return "DT_VERNEED aux entry";
          if (!string_at(va.vna_name)) return "DT_VERNEED version name";
          max_index = std::max<uint64_t>(max_index, va.vna_other & 0x7fff);
          if (va.vna_next == 0) break;
          aux += va.vna_next;
        }
        if (vn.vn_next == 0) break;
        at += vn.vn_next;
      }
    }
    if (dyn_.count(DT_VERDEF)) {
      const uint64_t num = dyn_.count(DT_VERDEFNUM) ? dyn_[DT_VERDEFNUM] : 0;
      if (num == 0 || num > kMaxVersionEntries) return "DT_VERDEFNUM";
      uint64_t at = dyn_[DT_VERDEF];
      for (uint64_t i = 0;; ++i) {
        Elf64_Verdef vd{};
        if (i >= kMaxVersionEntries || !file_at(at, sizeof(vd), &off) || !read(off, &vd))
          return "DT_VERDEF entry";
        if (vd.vd_version != VER_DEF_CURRENT) return "DT_VERDEF entry";
        max_index = std::max<uint64_t>(max_index, vd.vd_ndx & 0x7fff);
        Elf64_Verdaux va{};
        if (vd.vd_cnt == 0 || !file_at(at + vd.vd_aux, sizeof(va), &off) || !read(off, &va) ||
            !string_at(va.vda_name))
          return "DT_VERDEF name";
        if (vd.vd_next == 0) break;
        at += vd.vd_next;
      }
    }
    if (dyn_.count(DT_VERSYM)) {
      if (!dyn_.count(DT_VERNEED) && !dyn_.count(DT_VERDEF)) return "DT_VERSYM without versions";
      if (!file_at(dyn_[DT_VERSYM], nsyms_ * 2, &off)) return "DT_VERSYM outside the image";
      for (uint64_t i = 0; i < nsyms_; ++i) {
        uint16_t v = 0;
        read(off + i * 2, &v);
        if ((v & 0x7fff) > max_index) return "DT_VERSYM index";
      }
    }
    return nullptr;
  }

  // Relocations write where they say: only into writable loaded memory, only of the kinds a TA
  // needs (no COPY, IRELATIVE, TLS or text relocations), naming only symbols that exist.
  const char* relocations() {
    // glibc reads DT_RELAENT whenever DT_RELA is present (a missing one is a null dereference)
    // and DT_PLTREL whenever it is present, before looking at DT_JMPREL.
    if (dyn_.count(DT_RELA) && !dyn_.count(DT_RELAENT)) return "DT_RELA without DT_RELAENT";
    const uint64_t relaent = dyn_.count(DT_RELAENT) ? dyn_[DT_RELAENT] : sizeof(Elf64_Rela);
    if (relaent != sizeof(Elf64_Rela)) return "DT_RELAENT";
    if (dyn_.count(DT_PLTREL) && dyn_[DT_PLTREL] != DT_RELA) return "DT_PLTREL";
    if (dyn_.count(DT_JMPREL) && !dyn_.count(DT_PLTREL)) return "DT_PLTREL";
    for (auto [tag, sz] : {std::pair{DT_RELA, DT_RELASZ}, std::pair{DT_JMPREL, DT_PLTRELSZ}}) {
      if (!dyn_.count(tag) && !dyn_.count(sz)) continue;
      const uint64_t bytes = dyn_.count(sz) ? dyn_[sz] : 0;
      if (!dyn_.count(tag) || bytes % sizeof(Elf64_Rela) != 0) return "relocation table size";
      uint64_t off = 0;
      if (const char* p = table(tag, bytes / sizeof(Elf64_Rela), sizeof(Elf64_Rela), &off,
                                "relocation table outside the image"))
        return p;
      for (uint64_t i = 0; i < bytes / sizeof(Elf64_Rela); ++i) {
        Elf64_Rela r{};
        read(off + i * sizeof(r), &r);
        const uint32_t type = ELF64_R_TYPE(r.r_info);
        const uint64_t sym = ELF64_R_SYM(r.r_info);
        // Whatever the type (glibc applies the first DT_RELACOUNT entries as relative ones
        // without looking, and reads the version of every entry's symbol).
        if (r.r_offset % 8 != 0 || !mapped(r.r_offset, 8, PF_W)) return "relocation target";
        if (sym >= nsyms_) return "relocation symbol";
        if (type == kRelNone) continue;
        if (type != kRelAbs64 && type != kRelGlobDat && type != kRelJumpSlot && type != kRelRelative)
          return "relocation type";
        if ((type == kRelGlobDat || type == kRelJumpSlot) && sym == 0) return "relocation symbol";
      }
    }
    return nullptr;
  }

  // What the runtime reads or calls by name: ta_head and ta_data_size in mapped memory, the entry
  // points in code.
  const char* symbols() {
    bool head = false;
    for (uint64_t i = 1; i < nsyms_; ++i) {
      Elf64_Sym s{};
      read(symtab_ + i * sizeof(s), &s);
      if (s.st_shndx == SHN_UNDEF) {
        // Exit handlers registered with the image's __dso_handle run when it is unloaded: once
        // per instance only if every instance has its own copy.
        if (is_exit_registration(str(s.st_name))) reuse_problem_ = "registers exit handlers";
        continue;
      }
      const char* name = str(s.st_name);
      if (std::strcmp(name, "ta_head") == 0) {
        if (!mapped(s.st_value, 32)) return "ta_head outside the image";
        head = true;
      } else if (std::strcmp(name, "ta_data_size") == 0) {
        if (!mapped(s.st_value, 4)) return "ta_data_size outside the image";
      } else if (std::strncmp(name, "TA_", 3) == 0 || std::strncmp(name, "__GP11_TA_", 10) == 0) {
        if (!mapped(s.st_value, 1, PF_X)) return "entry point outside code";
      }
    }
    return head ? nullptr : "no ta_head";
  }

  static bool is_exit_registration(const char* name) {
    for (const char* f : {"__cxa_atexit", "atexit", "on_exit", "__cxa_thread_atexit",
                          "__cxa_thread_atexit_impl", "at_quick_exit", "__cxa_at_quick_exit"})
      if (std::strcmp(name, f) == 0) return true;
    return false;
  }

  const std::vector<uint8_t>& b_;
  const char* reuse_problem_ = nullptr;
  uint64_t phoff_ = 0;
  uint32_t phnum_ = 0;
  std::vector<Seg> loads_;
  bool dyn_seen_ = false;
  uint64_t dyn_vaddr_ = 0, dyn_size_ = 0, dyn_off_ = 0;
  uint32_t dyn_flags_ = 0;
  std::map<int64_t, uint64_t> dyn_;
  std::vector<uint64_t> needed_, names_;
  uint64_t strtab_ = 0, strsz_ = 0, symtab_ = 0, nsyms_ = 0;
};

}  // namespace

const char* DlTaLoader::image_problem(const std::vector<uint8_t>& image) {
  return ImageChecker(image).problem();
}

const char* DlTaLoader::reuse_problem(const std::vector<uint8_t>& image) {
  ImageChecker c(image);
  if (const char* p = c.problem()) return p;
  return c.reuse_problem();
}

// --- pools of loaded copies ---------------------------------------------------------------------

std::unique_ptr<LoadedImage> ImagePool::take() {
  std::unique_ptr<LoadedImage> copy;
  {
    base::MutexLock lock(lock_);
    if (idle_.empty()) return nullptr;
    copy = std::move(idle_.back());
    idle_.pop_back();
  }
  copy->restore();
  return copy;
}

void ImagePool::give_back(std::unique_ptr<LoadedImage> copy) {
  {
    base::MutexLock lock(lock_);
    if (!retired_ && idle_.size() < max_idle_) {
      idle_.push_back(std::move(copy));
      return;
    }
  }
  copy.reset();  // unloaded outside the lock
}

void ImagePool::retire() {
  std::vector<std::unique_ptr<LoadedImage>> unload;
  {
    base::MutexLock lock(lock_);
    retired_ = true;
    unload.swap(idle_);
  }
}

size_t ImagePool::idle() const {
  base::MutexLock lock(lock_);
  return idle_.size();
}

// --- the loader -------------------------------------------------------------------------------

DlTaLoader::DlTaLoader(std::unique_ptr<storage::StorageService> storage)
    : storage_(std::move(storage)) {}

DlTaLoader::DlTaLoader() = default;

DlTaLoader::~DlTaLoader() { set_cache_limits(ImageCacheLimits{0, 0, 0}); }

void DlTaLoader::set_cache_limits(const ImageCacheLimits& limits) {
  std::list<std::shared_ptr<ImagePool>> dropped;
  {
    base::MutexLock lock(cache_lock_);
    limits_ = limits;
    dropped.swap(pools_);
    pooled_bytes_ = 0;
  }
  for (auto& pool : dropped) pool->retire();
}

ImageCacheStats DlTaLoader::cache_stats() const {
  ImageCacheStats st;
  st.loads = loads_.load();
  st.checks = checks_.load();
  st.reuses = reuses_.load();
  std::vector<std::shared_ptr<ImagePool>> pools;
  {
    base::MutexLock lock(cache_lock_);
    pools.assign(pools_.begin(), pools_.end());
  }
  st.images = pools.size();
  for (const auto& p : pools) st.idle_copies += p->idle();
  return st;
}

namespace {
bool same_image(const ImagePool& p, const abi::Uuid& uuid, const std::vector<uint8_t>& image) {
  return p.uuid() == uuid && p.bytes().size() == image.size() &&
         std::memcmp(p.bytes().data(), image.data(), image.size()) == 0;
}
}  // namespace

std::shared_ptr<ImagePool> DlTaLoader::find_pool(const abi::Uuid& uuid,
                                                 const std::vector<uint8_t>& image) {
  // Candidates by UUID and size under the lock; the bytes are compared outside it (every byte:
  // an image is the same only if it is equal, no digest collision can make two images one).
  std::vector<std::shared_ptr<ImagePool>> candidates;
  {
    base::MutexLock lock(cache_lock_);
    for (const auto& p : pools_)
      if (p->uuid() == uuid && p->bytes().size() == image.size()) candidates.push_back(p);
  }
  for (auto& p : candidates) {
    if (std::memcmp(p->bytes().data(), image.data(), image.size()) != 0) continue;
    base::MutexLock lock(cache_lock_);
    for (auto it = pools_.begin(); it != pools_.end(); ++it) {
      if (*it == p) {
        pools_.splice(pools_.begin(), pools_, it);  // most recently used
        return p;
      }
    }
    return nullptr;  // dropped meanwhile: load anew
  }
  return nullptr;
}

std::shared_ptr<ImagePool> DlTaLoader::remember(const abi::Uuid& uuid,
                                                const std::vector<uint8_t>& image) {
  std::list<std::shared_ptr<ImagePool>> evicted;
  std::shared_ptr<ImagePool> pool;
  {
    base::MutexLock lock(cache_lock_);
    if (limits_.max_images == 0 || limits_.max_idle_copies == 0 || image.size() > limits_.max_bytes)
      return nullptr;
    // Another thread may have loaded the same bytes at the same time.
    for (const auto& p : pools_)
      if (same_image(*p, uuid, image)) return p;
    pool = std::make_shared<ImagePool>(uuid, image, limits_.max_idle_copies);
    pools_.push_front(pool);
    pooled_bytes_ += image.size();
    while (pools_.size() > limits_.max_images || pooled_bytes_ > limits_.max_bytes) {
      pooled_bytes_ -= pools_.back()->bytes().size();
      evicted.splice(evicted.begin(), pools_, std::prev(pools_.end()));
    }
  }
  for (auto& p : evicted) p->retire();  // unloads outside the cache lock
  return pool;
}

Result<std::unique_ptr<LoadedImage>> DlTaLoader::load(const abi::Uuid& uuid,
                                                      const std::vector<uint8_t>& image) {
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
  // copy's life so that no other copy can be loaded under the same /proc/self/fd/N.
  void* handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    close(fd);
    TEEMU_LOG_WARN("ta", "cannot load TA image: {}", dlerror());
    return fail(abi::TEE_ERROR_BAD_FORMAT);
  }
  base::image_mapped();
  loads_.fetch_add(1, std::memory_order_relaxed);
  auto fail_loaded = [&](uint32_t code) {
    base::image_about_to_be_unmapped();
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
  auto copy = LoadedImage::create(handle, fd, props);
  if (!copy) return fail_loaded(abi::TEE_ERROR_BAD_FORMAT);
  return copy;
}

Result<std::unique_ptr<tee::TaInstance>> DlTaLoader::instantiate(
    const abi::Uuid& uuid, const std::vector<uint8_t>& image) {
  std::shared_ptr<ImagePool> pool = find_pool(uuid, image);
  if (pool != nullptr) {
    // These bytes passed every check and loaded before: an idle copy, reset, if there is one.
    if (auto copy = pool->take()) {
      reuses_.fetch_add(1, std::memory_order_relaxed);
      return std::unique_ptr<tee::TaInstance>(
          std::make_unique<DlTaInstance>(std::move(copy), std::move(pool), storage_.get()));
    }
  }
  bool reusable = pool != nullptr;
  if (pool == nullptr) {
    checks_.fetch_add(1, std::memory_order_relaxed);
    ImageChecker checker(image);
    if (const char* p = checker.problem()) {
      TEEMU_LOG_INFO("ta", "TA image refused before loading: {}", p);
      return fail(abi::TEE_ERROR_BAD_FORMAT);
    }
    reusable = checker.reuse_problem() == nullptr;
  }
  auto copy = load(uuid, image);
  if (!copy) return tl::unexpected(copy.error());
  // Remembered only once the bytes have loaded and passed the header checks for this UUID.
  if (reusable && pool == nullptr) pool = remember(uuid, image);
  // Before any entry point runs: what a later instance in this copy starts from.
  if (pool != nullptr && !(*copy)->snapshot()) pool = nullptr;
  return std::unique_ptr<tee::TaInstance>(
      std::make_unique<DlTaInstance>(std::move(*copy), std::move(pool), storage_.get()));
}

}  // namespace teemu::ta_runtime
