// libteec: the GlobalPlatform TEE Client API on top of the REE model's uapi, as OP-TEE's libteec
// does it on Linux (same structures, same ioctls, same errors). One step further: temporary
// memrefs are registered in place for the call whenever the kernel can register memory, so no
// payload byte is copied between the worlds; shadow buffers (counted in payload_bytes_copied)
// remain only for kernels without TEE_GEN_CAP_REG_MEM and memory that cannot be pinned.
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <mutex>
#include <unordered_map>

#include "abi/tee_uapi.h"
#include "base/checked.h"
#include "hw/machine_stats.h"
#include "platform/embedded.h"
#include "ree/kernel.h"
// The GP header defines TEE_ERROR_* macros: it comes after every teemu header.
#include "tee_client_api.h"
#include "tee_client_api_extensions.h"

#define TEEC_API extern "C" __attribute__((visibility("default")))

namespace {

using namespace teemu::abi;  // NOLINT

// imp.flags bits of TEEC_SharedMemory.
constexpr uint32_t kShmBufferAlloced = 1u << 0;  // buffer allocated by the library (free it)
constexpr uint32_t kShmMapped = 1u << 1;         // buffer or shadow is an mmap of an SHM_ALLOC fd

// TEEC_Operation.imp.session: written by the thread that starts the operation, read by one that
// cancels it (libteec guards it with a process-wide mutex; an atomic access does the same job
// without making every call of every thread take one lock).
void set_operation_session(TEEC_Operation* op, TEEC_Session* session) {
  std::atomic_ref<TEEC_Session*>(op->imp.session).store(session, std::memory_order_release);
}
TEEC_Session* operation_session(TEEC_Operation* op) {
  return std::atomic_ref<TEEC_Session*>(op->imp.session).load(std::memory_order_acquire);
}

// What the library created for each shared-memory object, per context, so that
// TEEC_FinalizeContext can release what a client forgot (GP requires clients to release their
// shared memory first; a client that does not must not leave pinned pages behind).
struct Owned {
  int ctx_fd = -1;
  int fd = -1;                // registration descriptor, or -1
  void* map = nullptr;        // SHM_ALLOC mapping, or null
  size_t map_len = 0;
  void* heap = nullptr;       // buffer or shadow the library allocated, or null
};
std::mutex g_owned_mutex;
std::unordered_map<uintptr_t, Owned> g_owned;

uintptr_t owned_key(const TEEC_SharedMemory* shm) {
  if (shm->imp.registered_fd >= 0) return static_cast<uintptr_t>(shm->imp.registered_fd);
  return reinterpret_cast<uintptr_t>(shm->imp.shadow_buffer != nullptr ? shm->imp.shadow_buffer
                                                                        : shm->buffer);
}

void track(const TEEC_Context* ctx, const TEEC_SharedMemory* shm, void* map, size_t map_len,
           void* heap) {
  std::lock_guard<std::mutex> lock(g_owned_mutex);
  g_owned[owned_key(shm)] = Owned{ctx->imp.fd, shm->imp.registered_fd, map, map_len, heap};
}

void release_owned(teemu::ree::Kernel* k, const Owned& o) {
  // Unregister first, then give the memory back.
  if (o.fd >= 0) k->sys_close(o.fd);
  if (o.map != nullptr) k->sys_munmap(o.map, o.map_len);
  std::free(o.heap);
}

// The kernel a descriptor belongs to: a process may hold contexts on several guests' kernels.
teemu::ree::Kernel* kernel_of(int fd) {
  teemu::platform::Machine* m = teemu::platform::embedded_machine();
  return m != nullptr ? m->kernel_for_fd(fd) : nullptr;
}

// Context names teemu understands besides OP-TEE's: "teemu-guest:<id>" opens the device of
// guest <id>'s kernel (a teemu extension; OP-TEE's libteec refuses unknown names the same way).
constexpr char kGuestNamePrefix[] = "teemu-guest:";

void count_copy(size_t n) {
  if (n == 0) return;
  if (auto* m = teemu::platform::embedded_machine())
    m->stats().payload_bytes_copied.add(static_cast<int64_t>(n));
}

void copy_payload(void* dst, const void* src, size_t n) {
  std::memcpy(dst, src, n);
  count_copy(n);
}

TEEC_Result errno_to_teec(int err) {
  switch (err) {
    case ENOMEM: return TEEC_ERROR_OUT_OF_MEMORY;
    case EINVAL: return TEEC_ERROR_BAD_PARAMETERS;
    default: return TEEC_ERROR_GENERIC;
  }
}

void uuid_to_octets(uint8_t d[16], const TEEC_UUID* s) {
  d[0] = static_cast<uint8_t>(s->timeLow >> 24);
  d[1] = static_cast<uint8_t>(s->timeLow >> 16);
  d[2] = static_cast<uint8_t>(s->timeLow >> 8);
  d[3] = static_cast<uint8_t>(s->timeLow);
  d[4] = static_cast<uint8_t>(s->timeMid >> 8);
  d[5] = static_cast<uint8_t>(s->timeMid);
  d[6] = static_cast<uint8_t>(s->timeHiAndVersion >> 8);
  d[7] = static_cast<uint8_t>(s->timeHiAndVersion);
  std::memcpy(d + 8, s->clockSeqAndNode, 8);
}

void shm_init(TEEC_SharedMemory* shm) {
  shm->imp.id = -1;
  shm->imp.alloced_size = 0;
  shm->imp.shadow_buffer = nullptr;
  shm->imp.registered_fd = -1;
  shm->imp.flags = 0;
}

// Registers `buf` of `size` bytes (size > 0). Returns the fd or -errno; fills the id.
int register_memory(teemu::ree::Kernel* k, int ctx_fd, void* buf, size_t size, int* id) {
  tee_ioctl_shm_register_data d{reinterpret_cast<uint64_t>(buf), size, 0, 0};
  int fd = k->sys_ioctl(ctx_fd, TEE_IOC_SHM_REGISTER, &d);
  if (fd >= 0) *id = d.id;
  return fd;
}

// SHM_ALLOC + mmap. Returns the mapping or nullptr with *err set.
void* alloc_mapped(teemu::ree::Kernel* k, int ctx_fd, size_t size, int* id, size_t* alloced,
                   int* err) {
  tee_ioctl_shm_alloc_data d{size, 0, 0};
  int fd = k->sys_ioctl(ctx_fd, TEE_IOC_SHM_ALLOC, &d);
  if (fd < 0) {
    *err = -fd;
    return nullptr;
  }
  void* p = k->sys_mmap(d.size, fd, 0, err);
  // The mapping keeps the shm alive; the descriptor is not needed any more.
  k->sys_close(fd);
  if (p == nullptr) return nullptr;
  *id = d.id;
  *alloced = d.size;
  return p;
}

TEEC_Result check_shm_args(TEEC_Context* ctx, TEEC_SharedMemory* shm) {
  if (ctx == nullptr || shm == nullptr) return TEEC_ERROR_BAD_PARAMETERS;
  if (shm->flags == 0 || (shm->flags & ~(TEEC_MEM_INPUT | TEEC_MEM_OUTPUT)) != 0)
    return TEEC_ERROR_BAD_PARAMETERS;
  return TEEC_SUCCESS;
}

// --- operations ---------------------------------------------------------------------------

struct OpBuffers {
  TEEC_SharedMemory tmp[TEEC_CONFIG_PAYLOAD_REF_COUNT];
  OpBuffers() {
    for (auto& s : tmp) {
      std::memset(&s, 0, sizeof(s));
      shm_init(&s);
    }
  }
  ~OpBuffers() {
    for (auto& s : tmp) TEEC_ReleaseSharedMemory(&s);
  }
};

TEEC_Result pre_tmpref(TEEC_Context* ctx, uint32_t type, TEEC_TempMemoryReference* tmpref,
                       tee_ioctl_param* p, TEEC_SharedMemory* shm) {
  p->attr = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT + (type - TEEC_MEMREF_TEMP_INPUT);
  switch (type) {
    case TEEC_MEMREF_TEMP_INPUT: shm->flags = TEEC_MEM_INPUT; break;
    case TEEC_MEMREF_TEMP_OUTPUT: shm->flags = TEEC_MEM_OUTPUT; break;
    default: shm->flags = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT; break;
  }
  if (tmpref->buffer == nullptr) {
    if (tmpref->size != 0) return TEEC_ERROR_BAD_PARAMETERS;
    if (ctx->imp.memref_null) {
      p->a = 0;
      p->b = 0;
      p->c = TEE_MEMREF_NULL;
      return TEEC_SUCCESS;
    }
    shm->size = 8;
    TEEC_Result r = TEEC_AllocateSharedMemory(ctx, shm);
    if (r != TEEC_SUCCESS) return r;
    p->a = 0;
    p->b = 0;
    p->c = static_cast<uint64_t>(shm->imp.id);
    return TEEC_SUCCESS;
  }
  shm->buffer = tmpref->buffer;
  shm->size = tmpref->size;
  TEEC_Result r = TEEC_RegisterSharedMemory(ctx, shm);
  if (r != TEEC_SUCCESS) return r;
  if (shm->imp.shadow_buffer != nullptr && type != TEEC_MEMREF_TEMP_OUTPUT)
    copy_payload(shm->imp.shadow_buffer, tmpref->buffer, tmpref->size);
  p->a = 0;
  p->b = tmpref->size;
  p->c = static_cast<uint64_t>(shm->imp.id);
  return TEEC_SUCCESS;
}

TEEC_Result pre_whole(TEEC_RegisteredMemoryReference* memref, tee_ioctl_param* p) {
  TEEC_SharedMemory* parent = memref->parent;
  if (parent == nullptr) return TEEC_ERROR_BAD_PARAMETERS;
  const uint32_t flags = parent->flags & (TEEC_MEM_INPUT | TEEC_MEM_OUTPUT);
  if (flags == (TEEC_MEM_INPUT | TEEC_MEM_OUTPUT))
    p->attr = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INOUT;
  else if (flags == TEEC_MEM_INPUT)
    p->attr = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT;
  else if (flags == TEEC_MEM_OUTPUT)
    p->attr = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT;
  else
    return TEEC_ERROR_BAD_PARAMETERS;
  if (parent->imp.shadow_buffer != nullptr && (flags & TEEC_MEM_INPUT))
    copy_payload(parent->imp.shadow_buffer, parent->buffer, parent->size);
  p->a = 0;
  p->b = parent->size;
  p->c = static_cast<uint64_t>(parent->imp.id);
  return TEEC_SUCCESS;
}

TEEC_Result pre_partial(uint32_t type, TEEC_RegisteredMemoryReference* memref,
                        tee_ioctl_param* p) {
  TEEC_SharedMemory* parent = memref->parent;
  if (parent == nullptr) return TEEC_ERROR_BAD_PARAMETERS;
  uint32_t req;
  switch (type) {
    case TEEC_MEMREF_PARTIAL_INPUT: req = TEEC_MEM_INPUT; break;
    case TEEC_MEMREF_PARTIAL_OUTPUT: req = TEEC_MEM_OUTPUT; break;
    default: req = TEEC_MEM_INPUT | TEEC_MEM_OUTPUT; break;
  }
  if ((parent->flags & req) != req) return TEEC_ERROR_BAD_PARAMETERS;
  if (!teemu::base::range_within<uint64_t>(memref->offset, memref->size, parent->size))
    return TEEC_ERROR_BAD_PARAMETERS;
  if (parent->imp.shadow_buffer != nullptr && type != TEEC_MEMREF_PARTIAL_OUTPUT)
    copy_payload(static_cast<uint8_t*>(parent->imp.shadow_buffer) + memref->offset,
                 static_cast<uint8_t*>(parent->buffer) + memref->offset, memref->size);
  p->attr = TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT + (type - TEEC_MEMREF_PARTIAL_INPUT);
  p->a = memref->offset;
  p->b = memref->size;
  p->c = static_cast<uint64_t>(parent->imp.id);
  return TEEC_SUCCESS;
}

TEEC_Result pre_process(TEEC_Context* ctx, TEEC_Operation* op, tee_ioctl_param* params,
                        OpBuffers& bufs) {
  std::memset(params, 0, sizeof(tee_ioctl_param) * TEEC_CONFIG_PAYLOAD_REF_COUNT);
  if (op == nullptr) return TEEC_SUCCESS;
  for (unsigned i = 0; i < TEEC_CONFIG_PAYLOAD_REF_COUNT; ++i) {
    const uint32_t type = TEEC_PARAM_TYPE_GET(op->paramTypes, i);
    TEEC_Result r = TEEC_SUCCESS;
    switch (type) {
      case TEEC_NONE: params[i].attr = TEE_IOCTL_PARAM_ATTR_TYPE_NONE; break;
      case TEEC_VALUE_INPUT:
      case TEEC_VALUE_OUTPUT:
      case TEEC_VALUE_INOUT:
        params[i].attr = type;
        params[i].a = op->params[i].value.a;
        params[i].b = op->params[i].value.b;
        break;
      case TEEC_MEMREF_TEMP_INPUT:
      case TEEC_MEMREF_TEMP_OUTPUT:
      case TEEC_MEMREF_TEMP_INOUT:
        r = pre_tmpref(ctx, type, &op->params[i].tmpref, &params[i], &bufs.tmp[i]);
        break;
      case TEEC_MEMREF_WHOLE: r = pre_whole(&op->params[i].memref, &params[i]); break;
      case TEEC_MEMREF_PARTIAL_INPUT:
      case TEEC_MEMREF_PARTIAL_OUTPUT:
      case TEEC_MEMREF_PARTIAL_INOUT:
        r = pre_partial(type, &op->params[i].memref, &params[i]);
        break;
      default: r = TEEC_ERROR_BAD_PARAMETERS; break;
    }
    if (r != TEEC_SUCCESS) return r;
  }
  return TEEC_SUCCESS;
}

void post_process(TEEC_Operation* op, const tee_ioctl_param* params, OpBuffers& bufs) {
  if (op == nullptr) return;
  for (unsigned i = 0; i < TEEC_CONFIG_PAYLOAD_REF_COUNT; ++i) {
    const uint32_t type = TEEC_PARAM_TYPE_GET(op->paramTypes, i);
    const tee_ioctl_param& p = params[i];
    switch (type) {
      case TEEC_VALUE_OUTPUT:
      case TEEC_VALUE_INOUT:
        op->params[i].value.a = static_cast<uint32_t>(p.a);
        op->params[i].value.b = static_cast<uint32_t>(p.b);
        break;
      case TEEC_MEMREF_TEMP_OUTPUT:
      case TEEC_MEMREF_TEMP_INOUT: {
        TEEC_TempMemoryReference& t = op->params[i].tmpref;
        const TEEC_SharedMemory& shm = bufs.tmp[i];
        if (shm.imp.shadow_buffer != nullptr && t.buffer != nullptr)
          copy_payload(t.buffer, shm.imp.shadow_buffer, std::min<size_t>(p.b, t.size));
        t.size = p.b;
        break;
      }
      case TEEC_MEMREF_WHOLE: {
        TEEC_RegisteredMemoryReference& m = op->params[i].memref;
        TEEC_SharedMemory* parent = m.parent;
        if (parent->flags & TEEC_MEM_OUTPUT) {
          if (parent->imp.shadow_buffer != nullptr && p.b <= parent->size)
            copy_payload(parent->buffer, parent->imp.shadow_buffer, p.b);
          m.size = p.b;
        }
        break;
      }
      case TEEC_MEMREF_PARTIAL_OUTPUT:
      case TEEC_MEMREF_PARTIAL_INOUT: {
        TEEC_RegisteredMemoryReference& m = op->params[i].memref;
        TEEC_SharedMemory* parent = m.parent;
        if (parent->imp.shadow_buffer != nullptr && p.b <= m.size)
          copy_payload(static_cast<uint8_t*>(parent->buffer) + m.offset,
                       static_cast<uint8_t*>(parent->imp.shadow_buffer) + m.offset, p.b);
        m.size = p.b;
        break;
      }
      default: break;
    }
  }
}

}  // namespace

TEEC_API TEEC_Result TEEC_InitializeContext(const char* name, TEEC_Context* ctx) {
  if (ctx == nullptr) return TEEC_ERROR_BAD_PARAMETERS;
  teemu::platform::Machine* m = teemu::platform::embedded_machine();
  if (m == nullptr) return TEEC_ERROR_ITEM_NOT_FOUND;
  teemu::ree::Kernel* k = &m->kernel();
  bool optee_tz = false;
  if (name != nullptr) {
    if (std::strcmp(name, "optee-tz") == 0) {
      optee_tz = true;
    } else if (std::strncmp(name, kGuestNamePrefix, sizeof(kGuestNamePrefix) - 1) == 0) {
      char* end = nullptr;
      const unsigned long id = std::strtoul(name + sizeof(kGuestNamePrefix) - 1, &end, 10);
      k = (end != nullptr && *end == '\0') ? m->guest_kernel(static_cast<uint32_t>(id)) : nullptr;
      if (k == nullptr) return TEEC_ERROR_ITEM_NOT_FOUND;
    } else {
      return TEEC_ERROR_ITEM_NOT_FOUND;
    }
  }
  int fd = k->sys_open("/dev/tee0");
  if (fd < 0) return TEEC_ERROR_ITEM_NOT_FOUND;
  tee_ioctl_version_data v{};
  if (k->sys_ioctl(fd, TEE_IOC_VERSION, &v) != 0 || !(v.gen_caps & TEE_GEN_CAP_GP) ||
      (optee_tz && (v.impl_id != TEE_IMPL_ID_OPTEE || !(v.impl_caps & TEE_OPTEE_CAP_TZ)))) {
    k->sys_close(fd);
    return TEEC_ERROR_ITEM_NOT_FOUND;
  }
  ctx->imp.fd = fd;
  ctx->imp.reg_mem = v.gen_caps & TEE_GEN_CAP_REG_MEM;
  ctx->imp.memref_null = v.gen_caps & TEE_GEN_CAP_MEMREF_NULL;
  return TEEC_SUCCESS;
}

TEEC_API void TEEC_FinalizeContext(TEEC_Context* ctx) {
  if (ctx == nullptr) return;
  std::vector<Owned> leftovers;
  {
    std::lock_guard<std::mutex> lock(g_owned_mutex);
    for (auto it = g_owned.begin(); it != g_owned.end();) {
      if (it->second.ctx_fd == ctx->imp.fd) {
        leftovers.push_back(it->second);
        it = g_owned.erase(it);
      } else {
        ++it;
      }
    }
  }
  if (teemu::ree::Kernel* k = kernel_of(ctx->imp.fd)) {
    for (const Owned& o : leftovers) release_owned(k, o);
    k->sys_close(ctx->imp.fd);
  }
  ctx->imp.fd = -1;
  teemu::platform::embedded_context_finalized();
}

TEEC_API TEEC_Result TEEC_OpenSession(TEEC_Context* ctx, TEEC_Session* session,
                                      const TEEC_UUID* destination, uint32_t connection_method,
                                      const void* connection_data, TEEC_Operation* operation,
                                      uint32_t* ret_origin) {
  uint32_t origin = TEEC_ORIGIN_API;
  TEEC_Result res = TEEC_SUCCESS;
  teemu::ree::Kernel* k = ctx != nullptr ? kernel_of(ctx->imp.fd) : nullptr;
  struct {
    tee_ioctl_open_session_arg hdr;
    tee_ioctl_param params[TEEC_CONFIG_PAYLOAD_REF_COUNT];
  } buf{};
  OpBuffers bufs;
  if (ctx == nullptr || session == nullptr || destination == nullptr || k == nullptr) {
    res = TEEC_ERROR_BAD_PARAMETERS;
    goto out;
  }
  uuid_to_octets(buf.hdr.uuid, destination);
  buf.hdr.clnt_login = connection_method;
  if (connection_method == TEEC_LOGIN_GROUP || connection_method == TEEC_LOGIN_GROUP_APPLICATION) {
    if (connection_data == nullptr) {
      res = TEEC_ERROR_BAD_PARAMETERS;
      goto out;
    }
    std::memcpy(buf.hdr.clnt_uuid, connection_data, sizeof(uint32_t));
  }
  buf.hdr.num_params = TEEC_CONFIG_PAYLOAD_REF_COUNT;
  res = pre_process(ctx, operation, buf.params, bufs);
  if (res != TEEC_SUCCESS) goto out;
  {
    tee_ioctl_buf_data bd{reinterpret_cast<uint64_t>(&buf), sizeof(buf)};
    int rc = k->sys_ioctl(ctx->imp.fd, TEE_IOC_OPEN_SESSION, &bd);
    if (rc != 0) {
      origin = TEEC_ORIGIN_COMMS;
      res = errno_to_teec(-rc);
      goto out;
    }
  }
  res = buf.hdr.ret;
  origin = buf.hdr.ret_origin;
  if (res == TEEC_SUCCESS) {
    session->imp.ctx = ctx;
    session->imp.session_id = buf.hdr.session;
  }
  post_process(operation, buf.params, bufs);
out:
  if (ret_origin != nullptr) *ret_origin = origin;
  return res;
}

TEEC_API void TEEC_CloseSession(TEEC_Session* session) {
  if (session == nullptr || session->imp.ctx == nullptr) return;
  teemu::ree::Kernel* k = kernel_of(session->imp.ctx->imp.fd);
  if (k == nullptr) return;
  tee_ioctl_close_session_arg a{session->imp.session_id};
  k->sys_ioctl(session->imp.ctx->imp.fd, TEE_IOC_CLOSE_SESSION, &a);
}

TEEC_API TEEC_Result TEEC_InvokeCommand(TEEC_Session* session, uint32_t cmd,
                                        TEEC_Operation* operation, uint32_t* ret_origin) {
  uint32_t origin = TEEC_ORIGIN_API;
  TEEC_Result res = TEEC_SUCCESS;
  TEEC_Context* ctx = session != nullptr ? session->imp.ctx : nullptr;
  teemu::ree::Kernel* k = ctx != nullptr ? kernel_of(ctx->imp.fd) : nullptr;
  struct {
    tee_ioctl_invoke_arg hdr;
    tee_ioctl_param params[TEEC_CONFIG_PAYLOAD_REF_COUNT];
  } buf{};
  OpBuffers bufs;
  if (ctx == nullptr || k == nullptr) {
    res = TEEC_ERROR_BAD_PARAMETERS;
    goto out;
  }
  if (operation != nullptr) set_operation_session(operation, session);
  buf.hdr.func = cmd;
  buf.hdr.session = session->imp.session_id;
  buf.hdr.num_params = TEEC_CONFIG_PAYLOAD_REF_COUNT;
  res = pre_process(ctx, operation, buf.params, bufs);
  if (res != TEEC_SUCCESS) goto out;
  {
    tee_ioctl_buf_data bd{reinterpret_cast<uint64_t>(&buf), sizeof(buf)};
    int rc = k->sys_ioctl(ctx->imp.fd, TEE_IOC_INVOKE, &bd);
    if (rc != 0) {
      origin = TEEC_ORIGIN_COMMS;
      res = errno_to_teec(-rc);
      goto out;
    }
  }
  res = buf.hdr.ret;
  origin = buf.hdr.ret_origin;
  post_process(operation, buf.params, bufs);
out:
  if (ret_origin != nullptr) *ret_origin = origin;
  return res;
}

TEEC_API void TEEC_RequestCancellation(TEEC_Operation* operation) {
  if (operation == nullptr) return;
  TEEC_Session* session = operation_session(operation);
  if (session == nullptr || session->imp.ctx == nullptr) return;
  teemu::ree::Kernel* k = kernel_of(session->imp.ctx->imp.fd);
  if (k == nullptr) return;
  tee_ioctl_cancel_arg a{0, session->imp.session_id};
  k->sys_ioctl(session->imp.ctx->imp.fd, TEE_IOC_CANCEL, &a);
}

TEEC_API TEEC_Result TEEC_RegisterSharedMemory(TEEC_Context* ctx, TEEC_SharedMemory* shm) {
  if (TEEC_Result r = check_shm_args(ctx, shm); r != TEEC_SUCCESS) return r;
  if (shm->buffer == nullptr) return TEEC_ERROR_BAD_PARAMETERS;
  teemu::ree::Kernel* k = kernel_of(ctx->imp.fd);
  if (k == nullptr) return TEEC_ERROR_BAD_PARAMETERS;
  const size_t s = shm->size != 0 ? shm->size : 8;
  shm_init(shm);
  if (ctx->imp.reg_mem) {
    int id = -1;
    int fd = register_memory(k, ctx->imp.fd, shm->buffer, s, &id);
    if (fd >= 0) {
      shm->imp.id = id;
      shm->imp.registered_fd = fd;
      shm->imp.alloced_size = s;
      track(ctx, shm, nullptr, 0, nullptr);
      return TEEC_SUCCESS;
    }
    // Memory that cannot be pinned (read-only, say): register a shadow buffer instead.
    const size_t rounded = teemu::base::page_round_up(s);
    void* shadow = nullptr;
    if (posix_memalign(&shadow, 4096, rounded) != 0) return TEEC_ERROR_OUT_OF_MEMORY;
    fd = register_memory(k, ctx->imp.fd, shadow, s, &id);
    if (fd < 0) {
      std::free(shadow);
      return errno_to_teec(-fd) == TEEC_ERROR_BAD_PARAMETERS ? TEEC_ERROR_BAD_PARAMETERS
                                                             : TEEC_ERROR_OUT_OF_MEMORY;
    }
    shm->imp.shadow_buffer = shadow;
    shm->imp.id = id;
    shm->imp.registered_fd = fd;
    shm->imp.alloced_size = s;
    shm->imp.flags = 0;
    track(ctx, shm, nullptr, 0, shadow);
    return TEEC_SUCCESS;
  }
  int id = -1, err = 0;
  size_t alloced = 0;
  void* shadow = alloc_mapped(k, ctx->imp.fd, s, &id, &alloced, &err);
  if (shadow == nullptr) return TEEC_ERROR_OUT_OF_MEMORY;
  shm->imp.shadow_buffer = shadow;
  shm->imp.id = id;
  shm->imp.alloced_size = alloced;
  shm->imp.flags = kShmMapped;
  track(ctx, shm, shadow, alloced, nullptr);
  return TEEC_SUCCESS;
}

TEEC_API TEEC_Result TEEC_AllocateSharedMemory(TEEC_Context* ctx, TEEC_SharedMemory* shm) {
  if (TEEC_Result r = check_shm_args(ctx, shm); r != TEEC_SUCCESS) return r;
  teemu::ree::Kernel* k = kernel_of(ctx->imp.fd);
  if (k == nullptr) return TEEC_ERROR_BAD_PARAMETERS;
  const size_t s = shm->size != 0 ? shm->size : 8;
  if (s > SIZE_MAX - 4096) return TEEC_ERROR_OUT_OF_MEMORY;
  shm_init(shm);
  if (ctx->imp.reg_mem) {
    const size_t rounded = teemu::base::page_round_up(s);
    void* buf = nullptr;
    if (posix_memalign(&buf, 4096, rounded) != 0) return TEEC_ERROR_OUT_OF_MEMORY;
    int id = -1;
    int fd = register_memory(k, ctx->imp.fd, buf, s, &id);
    if (fd < 0) {
      std::free(buf);
      return TEEC_ERROR_OUT_OF_MEMORY;
    }
    shm->buffer = buf;
    shm->imp.id = id;
    shm->imp.registered_fd = fd;
    shm->imp.alloced_size = s;
    shm->imp.flags = kShmBufferAlloced;
    track(ctx, shm, nullptr, 0, buf);
    return TEEC_SUCCESS;
  }
  int id = -1, err = 0;
  size_t alloced = 0;
  void* buf = alloc_mapped(k, ctx->imp.fd, s, &id, &alloced, &err);
  if (buf == nullptr) return TEEC_ERROR_OUT_OF_MEMORY;
  shm->buffer = buf;
  shm->imp.id = id;
  shm->imp.alloced_size = alloced;
  shm->imp.flags = kShmMapped;
  track(ctx, shm, buf, alloced, nullptr);
  return TEEC_SUCCESS;
}

TEEC_API void TEEC_ReleaseSharedMemory(TEEC_SharedMemory* shm) {
  if (shm == nullptr || shm->imp.id == -1) return;
  Owned owned;
  bool found = false;
  {
    std::lock_guard<std::mutex> lock(g_owned_mutex);
    auto it = g_owned.find(owned_key(shm));
    if (it != g_owned.end()) {
      owned = it->second;
      g_owned.erase(it);
      found = true;
    }
  }
  // Not found: the context was finalized first and already released it.
  if (found) {
    if (teemu::ree::Kernel* k = kernel_of(owned.ctx_fd)) release_owned(k, owned);
  }
  shm->imp.id = -1;
  shm->imp.shadow_buffer = nullptr;
  shm->imp.registered_fd = -1;
  shm->imp.flags = 0;
  shm->buffer = nullptr;
}

TEEC_API TEEC_Result TEEC_RegisterSharedMemoryFileDescriptor(TEEC_Context* ctx,
                                                             TEEC_SharedMemory* shm, int fd) {
  (void)ctx;
  (void)shm;
  (void)fd;
  return TEEC_ERROR_BAD_PARAMETERS;
}
