// tee-supplicant's REE file system service (OPTEE_RPC_CMD_FS): the normal-world half of OP-TEE's
// REE FS trusted storage. The secure world names files relative to the storage root and reads
// and writes them by descriptor; everything it stores is already encrypted and authenticated, so
// this side only moves bytes. It keeps the real daemon's parameter layouts and result codes
// (tee_supp_fs.c), with two hardenings the real daemon lacks: names must stay inside the root
// ("..", absolute names and unterminated names are refused with TEEC_ERROR_BAD_PARAMETERS, never
// followed), and descriptors and directory handles are only those this service handed out.
//
// Request layouts (params as tee-supplicant receives them, without the META parameter):
//   OPEN/CREATE  value_in(a=op)               memref_in(name)  value_out(a=fd)
//   CLOSE        value_in(a=op, b=fd)
//   READ         value_in(a=op, b=fd, c=off)  memref_out(buffer; size = bytes read)
//   WRITE        value_in(a=op, b=fd, c=off)  memref_in(bytes)
//   TRUNCATE     value_in(a=op, b=fd, c=len)
//   REMOVE       value_in(a=op)               memref_in(name)
//   RENAME       value_in(a=op, b=overwrite)  memref_in(old)   memref_in(new)
//   OPENDIR      value_in(a=op)               memref_in(name)  value_out(a=dir handle)
//   CLOSEDIR     value_in(a=op, b=handle)
//   READDIR      value_in(a=op, b=handle)     memref_out(name; size = strlen + 1)
#pragma once

#include <dirent.h>

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "abi/tee_uapi.h"
#include "base/thread_annotations.h"

namespace teemu::supplicant {

class ReeFs {
 public:
  // `root` is the storage directory; it is created (with its parents) on the first request.
  explicit ReeFs(std::string root);
  ~ReeFs();
  ReeFs(const ReeFs&) = delete;
  ReeFs& operator=(const ReeFs&) = delete;

  // Maps a memref param to bytes of the supplicant's own shared memory: false if it names no
  // such range; for an output param with no buffer (NULL memref) true with a null buffer.
  using Resolver =
      std::function<bool(const abi::tee_ioctl_param& p, bool output, void** buf, uint64_t* size)>;

  // Serves one FS request in place (outputs are written into `params`); returns a TEEC result.
  uint32_t handle(std::vector<abi::tee_ioctl_param>& params, const Resolver& resolve)
      EXCLUDES(lock_);

  // Closes every descriptor and directory the secure world left open.
  void close_all() EXCLUDES(lock_);
  // Descriptors plus directory handles currently open (for tests and audits).
  size_t open_count() const EXCLUDES(lock_);

  const std::string& root() const { return root_; }

  // At most this many descriptors and as many directory handles at a time: a secure world
  // that opens without closing cannot exhaust the daemon's descriptor table.
  static constexpr size_t kMaxOpen = 512;

  // A name the secure world may use: NUL-terminated inside its buffer, relative, no ".."
  // component, shorter than PATH_MAX. Exposed for tests.
  static bool valid_name(const char* buf, uint64_t size);

 private:
  using Params = std::vector<abi::tee_ioctl_param>;
  bool ensure_root_locked() REQUIRES(lock_);
  // The absolute path of the name in param `p` (a memref input), or false.
  bool name_of(const abi::tee_ioctl_param& p, const Resolver& resolve, std::string* path) const;
  bool own_fd_locked(uint64_t fd) const REQUIRES(lock_);

  uint32_t open(Params& p, const Resolver& r, bool create) REQUIRES(lock_);
  uint32_t close(Params& p) REQUIRES(lock_);
  uint32_t read(Params& p, const Resolver& r) REQUIRES(lock_);
  uint32_t write(Params& p, const Resolver& r) REQUIRES(lock_);
  uint32_t truncate(Params& p) REQUIRES(lock_);
  uint32_t remove(Params& p, const Resolver& r) REQUIRES(lock_);
  uint32_t rename(Params& p, const Resolver& r) REQUIRES(lock_);
  uint32_t opendir(Params& p, const Resolver& r) REQUIRES(lock_);
  uint32_t closedir(Params& p) REQUIRES(lock_);
  uint32_t readdir(Params& p, const Resolver& r) REQUIRES(lock_);

  const std::string root_;
  mutable base::Mutex lock_;
  bool root_ready_ GUARDED_BY(lock_) = false;
  std::set<int> fds_ GUARDED_BY(lock_);
  std::map<uint64_t, DIR*> dirs_ GUARDED_BY(lock_);
  uint64_t next_dir_ GUARDED_BY(lock_) = 1;
};

}  // namespace teemu::supplicant
