// The TA loader's image checks (DlTaLoader::image_problem): a real TA image passes, and each
// corruption the dynamic loader would crash on, or act on against the secure OS, is refused
// before dlopen sees it. Cases found by the ta_loader fuzzer carry the name of its finding.
#include <elf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ta_runtime/dl_loader.h"

namespace teemu::ta_runtime {
namespace {

const char* const kShmTestTa = TEEMU_TEST_TA_DIR "/f9b9acc0-806d-415c-bade-7aecc600e80f.ta";

std::vector<uint8_t> read_image() {
  std::ifstream in(kShmTestTa, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

// The file offset of the dynamic section (PT_DYNAMIC's p_offset) and its entry count.
struct DynamicSection {
  uint64_t offset = 0, count = 0;
};

DynamicSection dynamic_section(const std::vector<uint8_t>& image) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof eh);
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_DYNAMIC) return {ph.p_offset, ph.p_filesz / sizeof(Elf64_Dyn)};
  }
  return {};
}

// Rewrites the first dynamic entry with tag `from` to (`to`, `value`); false if there is none.
bool rewrite_dynamic(std::vector<uint8_t>& image, int64_t from, int64_t to, uint64_t value) {
  const DynamicSection dyn = dynamic_section(image);
  for (uint64_t i = 0; i < dyn.count; ++i) {
    Elf64_Dyn d;
    uint8_t* at = image.data() + dyn.offset + i * sizeof d;
    std::memcpy(&d, at, sizeof d);
    if (d.d_tag == DT_NULL) break;
    if (d.d_tag != from) continue;
    d.d_tag = to;
    d.d_un.d_val = value;
    std::memcpy(at, &d, sizeof d);
    return true;
  }
  return false;
}

// Passes every program header of the image to `edit`, which returns true if it changed it (then
// written back); stops after `most` changed ones. Returns how many were changed.
template <class F>
int edit_program_headers(std::vector<uint8_t>& image, F edit, int most = 1 << 30) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, image.data(), sizeof eh);
  int edited = 0;
  for (unsigned i = 0; i < eh.e_phnum && edited < most; ++i) {
    Elf64_Phdr ph;
    uint8_t* at = image.data() + eh.e_phoff + i * sizeof ph;
    std::memcpy(&ph, at, sizeof ph);
    if (!edit(ph)) continue;
    std::memcpy(at, &ph, sizeof ph);
    ++edited;
  }
  return edited;
}

class TaLoaderChecks : public ::testing::Test {
 protected:
  void SetUp() override {
    image_ = read_image();
    ASSERT_GT(image_.size(), sizeof(Elf64_Ehdr)) << kShmTestTa;
  }
  std::vector<uint8_t> image_;
};

TEST_F(TaLoaderChecks, RealTaPasses) { EXPECT_EQ(DlTaLoader::image_problem(image_), nullptr); }

// A loaded copy of an image serves a later instance only if nothing of the image acts outside it
// once per load (DlTaLoader::reuse_problem): the real TA's copies may be reused.
TEST_F(TaLoaderChecks, RealTaCopiesAreReusable) {
#ifdef TEEMU_SANITIZED_BUILD
  // The sanitizer's own module constructors are in every TA: loaded per instance, the safe side.
  EXPECT_STREQ(DlTaLoader::reuse_problem(image_), "constructors or destructors of its own");
#else
  EXPECT_EQ(DlTaLoader::reuse_problem(image_), nullptr);
#endif
}

// An image importing an exit-handler registration (here the weak import __cxa_finalize renamed
// in the dynamic string table) may load, but each instance gets a copy of its own: the handlers
// run when a copy is unloaded.
TEST_F(TaLoaderChecks, ExitHandlersPreventReuse) {
  const std::string from("__cxa_finalize"), to("__cxa_atexit\0\0", 14);
  auto at = std::search(image_.begin(), image_.end(), from.begin(), from.end());
  ASSERT_NE(at, image_.end());
  std::copy(to.begin(), to.end(), at);
  EXPECT_EQ(DlTaLoader::image_problem(image_), nullptr);
  EXPECT_STREQ(DlTaLoader::reuse_problem(image_), "registers exit handlers");
}

// More than the compiler's one init (or fini) array entry: constructors of the TA's own.
TEST_F(TaLoaderChecks, OwnConstructorsPreventReuse) {
  ASSERT_TRUE(rewrite_dynamic(image_, DT_INIT_ARRAYSZ, DT_INIT_ARRAYSZ, 16));
  EXPECT_EQ(DlTaLoader::image_problem(image_), nullptr);
  EXPECT_STREQ(DlTaLoader::reuse_problem(image_), "constructors or destructors of its own");
}

// DT_INIT/DT_FINI elsewhere than at the start of .init/.fini (as -Wl,-init=... makes them): an
// initialiser or finaliser of the TA's own, run once per loaded copy.
TEST_F(TaLoaderChecks, OwnInitOrFiniPreventsReuse) {
  const auto real_reuse = DlTaLoader::reuse_problem(image_);
  // Sanitized builds put the sanitizer's constructors in every TA, which already rules reuse
  // out (RealTaCopiesAreReusable); then only "not reusable" can be checked.
  auto expect_own_init_or_fini = [&](const std::vector<uint8_t>& image) {
    if (real_reuse != nullptr)
      EXPECT_NE(DlTaLoader::reuse_problem(image), nullptr);
    else
      EXPECT_STREQ(DlTaLoader::reuse_problem(image),
                   "an initialiser or finaliser of its own (DT_INIT/DT_FINI)");
  };
  const DynamicSection dyn = dynamic_section(image_);
  uint64_t init = 0, fini = 0;
  for (uint64_t i = 0; i < dyn.count; ++i) {
    Elf64_Dyn d;
    std::memcpy(&d, image_.data() + dyn.offset + i * sizeof d, sizeof d);
    if (d.d_tag == DT_INIT) init = d.d_un.d_ptr;
    if (d.d_tag == DT_FINI) fini = d.d_un.d_ptr;
  }
  ASSERT_NE(init, 0u);
  ASSERT_NE(fini, 0u);
  auto own_init = image_;
  ASSERT_TRUE(rewrite_dynamic(own_init, DT_INIT, DT_INIT, fini));  // still code, not .init
  EXPECT_EQ(DlTaLoader::image_problem(own_init), nullptr);
  expect_own_init_or_fini(own_init);
  auto own_fini = image_;
  ASSERT_TRUE(rewrite_dynamic(own_fini, DT_FINI, DT_FINI, init));
  expect_own_init_or_fini(own_fini);
  // Without section headers nothing tells where _init is: loaded per instance.
  auto stripped = image_;
  Elf64_Ehdr eh;
  std::memcpy(&eh, stripped.data(), sizeof eh);
  eh.e_shoff = 0;
  eh.e_shnum = 0;
  eh.e_shstrndx = 0;
  std::memcpy(stripped.data(), &eh, sizeof eh);
  EXPECT_EQ(DlTaLoader::image_problem(stripped), nullptr);
  expect_own_init_or_fini(stripped);
  // The image as built is unaffected.
  EXPECT_STREQ(DlTaLoader::reuse_problem(image_), real_reuse);
}

// Cut anywhere before the end of the loaded contents. (What lies past them, section headers and
// non-loaded sections, the loader never reads: an image without them is still a valid TA.)
TEST_F(TaLoaderChecks, TruncatedImageRefused) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, image_.data(), sizeof eh);
  uint64_t loaded_end = 0;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image_.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_LOAD) loaded_end = std::max(loaded_end, ph.p_offset + ph.p_filesz);
  }
  ASSERT_GT(loaded_end, sizeof(Elf64_Ehdr));
  std::vector<uint8_t> without_sections(image_.begin(), image_.begin() + static_cast<long>(loaded_end));
  EXPECT_EQ(DlTaLoader::image_problem(without_sections), nullptr);
  for (size_t keep : {size_t{0}, size_t{16}, sizeof(Elf64_Ehdr), size_t(loaded_end / 2),
                      size_t(loaded_end - 1)}) {
    std::vector<uint8_t> cut(image_.begin(), image_.begin() + static_cast<long>(keep));
    EXPECT_NE(DlTaLoader::image_problem(cut), nullptr) << "kept " << keep << " bytes";
  }
}

// ta_loader fuzzer finding (fuzz/regressions/ta_loader/dt-rela-without-relaent): glibc reads
// DT_RELAENT whenever DT_RELA is present, through a null pointer when it is missing.
TEST_F(TaLoaderChecks, RelaWithoutRelaentRefused) {
  ASSERT_TRUE(rewrite_dynamic(image_, DT_RELAENT, DT_DEBUG, 0)) << "the TA has no DT_RELAENT";
  ASSERT_NE(DlTaLoader::image_problem(image_), nullptr);
  EXPECT_STREQ(DlTaLoader::image_problem(image_), "DT_RELA without DT_RELAENT");
}

// glibc asserts (aborting the process) that DT_PLTREL names REL or RELA whenever it is present.
TEST_F(TaLoaderChecks, PltrelOtherThanRelaRefused) {
  ASSERT_TRUE(rewrite_dynamic(image_, DT_PLTREL, DT_PLTREL, 0x1234));
  EXPECT_STREQ(DlTaLoader::image_problem(image_), "DT_PLTREL");
}

// ta_loader fuzzer finding (fuzz/regressions/ta_loader/misaligned-pt-phdr): the loader hands
// out PT_PHDR's address as the program header table; a misaligned or foreign one was read by the
// runtime's segment walk (a misaligned Elf64_Phdr under UBSan, wrong segments otherwise).
TEST_F(TaLoaderChecks, PtPhdrMustBeTheProgramHeaderTable) {
  Elf64_Ehdr eh;
  std::memcpy(&eh, image_.data(), sizeof eh);
  // Turn a segment the loader only reads (a note or the unwind table) into a PT_PHDR at the
  // table's own address (the first PT_LOAD maps the file from offset 0 at address 0), then at
  // addresses off by 4 (misaligned) and by 8 (not the table).
  int spare = -1;
  for (unsigned i = 0; i < eh.e_phnum && spare < 0; ++i) {
    Elf64_Phdr ph;
    std::memcpy(&ph, image_.data() + eh.e_phoff + i * sizeof ph, sizeof ph);
    if (ph.p_type == PT_NOTE || ph.p_type == PT_GNU_EH_FRAME || ph.p_type == PT_GNU_PROPERTY)
      spare = static_cast<int>(i);
  }
  ASSERT_GE(spare, 0) << "the TA has no note or unwind segment to rewrite";
  auto with_phdr_at = [&](uint64_t vaddr) {
    std::vector<uint8_t> img = image_;
    Elf64_Phdr ph{};
    ph.p_type = PT_PHDR;
    ph.p_flags = PF_R;
    ph.p_offset = vaddr;
    ph.p_vaddr = ph.p_paddr = vaddr;
    ph.p_filesz = ph.p_memsz = uint64_t{eh.e_phnum} * sizeof(Elf64_Phdr);
    ph.p_align = 8;
    std::memcpy(img.data() + eh.e_phoff + spare * sizeof ph, &ph, sizeof ph);
    return img;
  };
  EXPECT_EQ(DlTaLoader::image_problem(with_phdr_at(eh.e_phoff)), nullptr);
  for (uint64_t shift : {uint64_t{4}, uint64_t{8}})
    EXPECT_STREQ(DlTaLoader::image_problem(with_phdr_at(eh.e_phoff + shift)),
                 "PT_PHDR is not the program header table")
        << "shifted by " << shift;
}

TEST_F(TaLoaderChecks, TextRelocationsRefused) {
  ASSERT_TRUE(rewrite_dynamic(image_, DT_DEBUG, DT_TEXTREL, 0) ||
              rewrite_dynamic(image_, DT_RELACOUNT, DT_TEXTREL, 0));
  EXPECT_STREQ(DlTaLoader::image_problem(image_), "DT_TEXTREL");
}

// A writable segment must be readable: the image cache resets the readable writable segments of
// a reused copy, and a write-only one would keep the last instance's data.
TEST_F(TaLoaderChecks, WriteOnlySegmentRefused) {
  const int found = edit_program_headers(
      image_,
      [](Elf64_Phdr& ph) {
        if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W)) return false;
        ph.p_flags &= ~PF_R;
        return true;
      },
      1);
  ASSERT_EQ(found, 1) << "the TA has no writable PT_LOAD";
  EXPECT_STREQ(DlTaLoader::image_problem(image_), "PT_LOAD writable but not readable");
}

// ta_loader fuzzer finding (fuzz/regressions/ta_loader/relro-over-bss): a PT_GNU_RELRO reaching
// past the file contents made the TA's .bss read-only, and its destructor's write there at
// dlclose crashed the process.
TEST_F(TaLoaderChecks, RelroOverBssRefused) {
  edit_program_headers(image_, [](Elf64_Phdr& ph) {
    if (ph.p_type != PT_LOAD || !(ph.p_flags & PF_W)) return false;
    ph.p_memsz += 0x30000;  // a large zero-filled tail
    return true;
  });
  const int found = edit_program_headers(image_, [](Elf64_Phdr& ph) {
    if (ph.p_type != PT_GNU_RELRO) return false;
    ph.p_memsz += 0x20000;  // reaching into it
    return true;
  });
  ASSERT_GT(found, 0) << "the TA has no PT_GNU_RELRO";
  EXPECT_STREQ(DlTaLoader::image_problem(image_), "PT_GNU_RELRO outside the writable file contents");
}

TEST_F(TaLoaderChecks, ExecutableStackRefused) {
  const int found = edit_program_headers(image_, [](Elf64_Phdr& ph) {
    if (ph.p_type != PT_GNU_STACK) return false;
    ph.p_flags |= PF_X;
    return true;
  });
  ASSERT_GT(found, 0);
  EXPECT_STREQ(DlTaLoader::image_problem(image_), "executable stack");
}

}  // namespace
}  // namespace teemu::ta_runtime
