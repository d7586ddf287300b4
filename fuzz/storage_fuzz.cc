// Fuzz target (f): corrupt trusted-storage files -> the storage layer's parsing and verification
// (ta_runtime/storage_format, the object model's attribute restore, tee-supplicant's REE FS).
//
// The first byte picks what the rest of the input is:
//   0  a storage file as the normal world could leave it: unseal() under a fixed key (device key,
//      manifest or object record), then the payload decoder of its kind if it opens;
//   1  a manifest payload: sealed, unsealed (must round-trip), decoded; if it decodes, encoding
//      and decoding again must give the same manifest;
//   2  an object payload, the same way;
//   3  serialized attributes of a persistent object: CryptoObject::restore for a type of the input,
//      then building its OpenSSL key; what restores must serialize and restore to the same;
//   4  a program of REE FS requests (tee-supplicant's half of storage) with names, descriptors,
//      offsets and buffers of the input, in a scratch root: nothing may appear outside the root,
//      and every descriptor is closed by close_all().
#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "abi/gp.h"
#include "abi/optee_msg.h"
#include "abi/tee_uapi.h"
#include "common.h"
#include "supplicant/ree_fs.h"
#include "ta_runtime/crypto_object.h"
#include "ta_runtime/storage_format.h"

namespace teemu::fuzz {
namespace {

using namespace teemu::ta_runtime::storage;  // NOLINT: the formats are this file's vocabulary
using teemu::ta_runtime::crypto::CryptoObject;

std::string g_parent;  // contains only the REE FS root
std::string g_root;

const std::vector<uint8_t>& key() {
  static const std::vector<uint8_t> k(kKeySize, 0x42);
  return k;
}

FileKind kind_of(uint8_t b) {
  switch (b % 3) {
    case 0: return FileKind::kDeviceKey;
    case 1: return FileKind::kManifest;
    default: return FileKind::kObject;
  }
}

bool same(const Manifest& a, const Manifest& b) {
  if (a.generation != b.generation || a.next_file_no != b.next_file_no ||
      a.entries.size() != b.entries.size())
    return false;
  for (size_t i = 0; i < a.entries.size(); ++i) {
    const ManifestEntry& x = a.entries[i];
    const ManifestEntry& y = b.entries[i];
    if (x.id != y.id || x.file_no != y.file_no || x.version != y.version || x.hash != y.hash ||
        x.type != y.type || x.object_size != y.object_size ||
        x.max_object_size != y.max_object_size || x.usage != y.usage || x.data_size != y.data_size)
      return false;
  }
  return true;
}

void file_mode(Reader& r) {
  const FileKind kind = kind_of(r.u8());
  const auto file = r.bytes(r.left());
  FileHeader h;
  SecretBytes payload;
  if (!unseal(key(), kind, file, &h, &payload)) return;
  Manifest m;
  ObjectContent o;
  if (kind == FileKind::kManifest) (void)decode_manifest(payload, &m);
  if (kind == FileKind::kObject) (void)decode_object(payload, &o);
}

// Seals `payload`, opens it again (which must work and give it back).
SecretBytes seal_roundtrip(Reader& r, FileKind kind, const std::vector<uint8_t>& payload) {
  FileHeader h;
  h.kind = kind;
  for (auto& b : h.ta) b = r.u8();
  h.file_no = r.u32();
  h.version = r.u64();
  const Bytes file = seal(key(), h, payload);
  if (file.empty()) finding("seal failed");
  FileHeader h2;
  SecretBytes back;
  if (!unseal(key(), kind, file, &h2, &back)) finding("a sealed record does not unseal");
  if (!std::equal(back.begin(), back.end(), payload.begin(), payload.end()) ||
      h2.file_no != h.file_no || h2.version != h.version || h2.ta != h.ta)
    finding("unseal(seal(x)) != x");
  return back;
}

void manifest_mode(Reader& r) {
  const auto payload = r.bytes(r.left() > 48 ? r.left() - 48 : 0);
  const SecretBytes p = seal_roundtrip(r, FileKind::kManifest, payload);
  Manifest m;
  if (!decode_manifest(p, &m)) return;
  const SecretBytes again = encode_manifest(m);
  Manifest m2;
  if (!decode_manifest(again, &m2) || !same(m, m2)) finding("manifest does not round-trip");
}

void object_mode(Reader& r) {
  const auto payload = r.bytes(r.left() > 48 ? r.left() - 48 : 0);
  const SecretBytes p = seal_roundtrip(r, FileKind::kObject, payload);
  ObjectContent o;
  if (!decode_object(p, &o)) return;
  ObjectContent o2;
  if (!decode_object(encode_object(o), &o2) || o2.type != o.type ||
      o2.object_size != o.object_size || o2.max_object_size != o.max_object_size ||
      o2.usage != o.usage || o2.attributes != o.attributes || o2.data != o.data)
    finding("object does not round-trip");
}

void attributes_mode(Reader& r) {
  // Object types storage keeps (tee_api_defines.h): secrets, RSA, ECDSA/ECDH, Ed25519, X25519,
  // data.
  const uint32_t type = r.pick<uint32_t>({0xA0000010, 0xA0000002, 0xA0000004, 0xA0000000,
                                          0xA0000011, 0xA1000030, 0xA0000030, 0xA1000041,
                                          0xA0000041, 0xA1000042, 0xA1000043, 0xA1000044,
                                          0xA00000BF, 0xA1000031, 0xA0000031});
  const uint32_t max_size = r.pick_or<uint32_t>({256, 128, 2048, 521, 0}, [&] { return r.u32(); });
  const uint32_t object_size = r.flag() ? max_size : r.u32();
  const uint32_t usage = r.u32();
  const auto serialized = r.bytes(r.left());
  if (!CryptoObject::check_allocation(type, max_size).is_ok()) return;
  CryptoObject obj(type, max_size);
  if (!obj.restore(object_size, usage, serialized).is_ok()) return;
  (void)obj.pkey();
  const SecretBytes s = obj.serialize_attributes();
  CryptoObject again(type, max_size);
  if (!again.restore(obj.object_size(), obj.usage(), s).is_ok() ||
      again.serialize_attributes() != s)
    finding("restored attributes do not round-trip (type %#x)", type);
}

// --- the REE FS -----------------------------------------------------------------------------------

void ree_fs_mode(Reader& r) {
  using abi::tee_ioctl_param;
  supplicant::ReeFs fs(g_root);
  // The supplicant's shared buffers: the memrefs name one of these by id (c), offset (a), size (b).
  std::vector<std::vector<uint8_t>> bufs(3, std::vector<uint8_t>(512, 0));
  auto resolve = [&](const tee_ioctl_param& p, bool, void** buf, uint64_t* size) {
    if (p.c == abi::TEE_MEMREF_NULL) {
      *buf = nullptr;
      *size = p.b;
      return true;
    }
    if (p.c >= bufs.size() || p.a > bufs[p.c].size() || p.b > bufs[p.c].size() - p.a) return false;
    *buf = bufs[p.c].data() + p.a;
    *size = p.b;
    return true;
  };
  const char* names[] = {"dirf.db", "a/b", "../escape", "/etc/passwd", "a/../../x", "", ".",
                         "..", "a//b", "x/./y", "ok/name.tmp"};
  std::vector<uint64_t> fds;
  for (int i = 0; i < 32 && !r.empty(); ++i) {
    // A name in buffer 0 or 1 (maybe without its NUL, maybe of the input's bytes).
    for (int b = 0; b < 2; ++b) {
      std::fill(bufs[b].begin(), bufs[b].end(), 0);
      std::string n = r.u8() % 4 == 3 ? [&] {
        auto raw = r.blob(300);
        return std::string(raw.begin(), raw.end());
      }()
                                       : names[r.below(std::size(names))];
      std::memcpy(bufs[b].data(), n.data(), std::min(n.size(), bufs[b].size()));
    }
    const uint32_t op = r.below(12);
    std::vector<tee_ioctl_param> p(3);
    p[0].attr = abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT;
    p[0].a = op;
    const uint8_t sel = r.u8();
    p[0].b = !fds.empty() && sel % 4 != 3 ? fds[(sel / 4) % fds.size()] : r.u32();
    p[0].c = r.u8() % 4 == 3 ? r.u64() : r.u16();
    for (int k = 1; k < 3; ++k) {
      // memref in/out/inout, value in/out/inout, NULL memref, or any attribute.
      const uint8_t kind = r.u8() % 8;
      if (kind < 3) {
        p[k].attr = abi::TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_INPUT + kind;
        p[k].c = k == 1 ? 0 : r.below(3);
      } else if (kind < 6) {
        p[k].attr = abi::TEE_IOCTL_PARAM_ATTR_TYPE_VALUE_INPUT + (kind - 3);
      } else if (kind == 6) {
        p[k].attr = abi::TEE_IOCTL_PARAM_ATTR_TYPE_MEMREF_OUTPUT;
        p[k].c = abi::TEE_MEMREF_NULL;
      } else {
        p[k].attr = r.u8();
        p[k].c = r.below(4);
      }
      p[k].a = r.u8() % 8 == 7 ? r.u16() : 0;
      p[k].b = r.u8() % 8 == 7 ? r.u16() : 300;
    }
    // WRITE: the data comes from buffer 1.
    if (op == abi::OPTEE_RPC_FS_WRITE) {
      auto data = r.blob(256);
      std::copy(data.begin(), data.end(), bufs[1].begin());
      p[1].c = 1;
      p[1].b = data.size();
    }
    const uint32_t ret = fs.handle(p, resolve);
    trace("fs op %u -> %#x", op, ret);
    if (ret == abi::TEE_SUCCESS && (op == abi::OPTEE_RPC_FS_OPEN || op == abi::OPTEE_RPC_FS_CREATE ||
                                    op == abi::OPTEE_RPC_FS_OPENDIR))
      fds.push_back(p[2].a);
  }
  fs.close_all();
  if (fs.open_count() != 0) finding("REE FS keeps %zu descriptors after close_all", fs.open_count());
  // Nothing outside the root.
  DIR* d = opendir(g_parent.c_str());
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != ".." && n != "root") finding("REE FS created %s outside its root", n.c_str());
  }
  closedir(d);
  clear_dir(g_root);
}

}  // namespace

void init() {
  g_parent = scratch_dir("reefs");
  g_root = g_parent + "/root";
}

// Seeds: sealed records of each kind with payloads the encoders make, attributes of real keys,
// and REE FS sessions like tee-supplicant serves them.
Seeds seeds() {
  Seeds s;
  Manifest m;
  m.generation = 3;
  m.next_file_no = 4;
  for (uint32_t i = 1; i < 4; ++i) {
    ManifestEntry e;
    e.id = {static_cast<uint8_t>('a' + i), 'b'};
    e.file_no = i;
    e.version = i * 10;
    e.type = 0xA00000BF;
    e.data_size = 100;
    m.entries.push_back(e);
  }
  const SecretBytes mp = encode_manifest(m);
  ObjectContent o;
  o.type = 0xA0000010;
  o.object_size = 128;
  o.max_object_size = 128;
  o.usage = 0xffffffff;
  CryptoObject aes(0xA0000010, 128);
  const std::vector<uint8_t> keybytes(16, 7);
  ta_runtime::crypto::AttrRef a{0xC0000000, keybytes};
  (void)aes.populate(std::span<const ta_runtime::crypto::AttrRef>(&a, 1));
  o.attributes = aes.serialize_attributes();
  o.data = {1, 2, 3, 4};
  const SecretBytes op = encode_object(o);
  FileHeader h;
  h.kind = FileKind::kManifest;
  {
    Writer w;
    w.u8(0).u8(1).raw(seal(key(), h, mp));
    s.push_back({"sealed-manifest", w.data()});
  }
  {
    h.kind = FileKind::kObject;
    Writer w;
    w.u8(0).u8(2).raw(seal(key(), h, op));
    s.push_back({"sealed-object", w.data()});
  }
  {
    Writer w;
    w.u8(1).raw(std::vector<uint8_t>(mp.begin(), mp.end())).raw(std::vector<uint8_t>(48, 0));
    s.push_back({"manifest", w.data()});
  }
  {
    Writer w;
    w.u8(2).raw(std::vector<uint8_t>(op.begin(), op.end())).raw(std::vector<uint8_t>(48, 0));
    s.push_back({"object", w.data()});
  }
  {
    Writer w;
    w.u8(3).u8(0).u8(1).u8(1).u32(0xffffffff).raw(std::vector<uint8_t>(o.attributes.begin(), o.attributes.end()));
    s.push_back({"attributes-aes", w.data()});
  }
  {  // CREATE a file, WRITE, READ, CLOSE, RENAME, OPENDIR, READDIR, CLOSEDIR, REMOVE
    Writer w;
    w.u8(4);
    // name0, name1 (indices into the names), op, the descriptor (fresh: a u32), memrefs/values
    const auto fs_op = [&](uint8_t name0, uint8_t name1, uint8_t op, bool first,
                           uint8_t kind1, uint8_t kind2) {
      w.u8(0).u8(name0).u8(0).u8(name1).u8(op).u8(0);
      if (first) w.u32(0);
      w.u8(0).u16(0);
      w.u8(kind1).u8(0).u8(0);
      w.u8(kind2);
      if (kind2 < 3) w.u8(2);
      w.u8(0).u8(0);
    };
    fs_op(10, 0, abi::OPTEE_RPC_FS_CREATE, true, 0, 4);
    fs_op(10, 0, abi::OPTEE_RPC_FS_WRITE, false, 0, 5);
    w.blob({'d', 'a', 't', 'a'});
    fs_op(10, 0, abi::OPTEE_RPC_FS_READ, false, 1, 5);
    fs_op(10, 0, abi::OPTEE_RPC_FS_CLOSE, false, 5, 5);
    fs_op(10, 0, abi::OPTEE_RPC_FS_RENAME, false, 0, 0);
    fs_op(1, 0, abi::OPTEE_RPC_FS_OPENDIR, false, 0, 4);
    fs_op(1, 0, abi::OPTEE_RPC_FS_READDIR, false, 1, 5);
    fs_op(1, 0, abi::OPTEE_RPC_FS_CLOSEDIR, false, 5, 5);
    fs_op(0, 0, abi::OPTEE_RPC_FS_REMOVE, false, 0, 5);
    s.push_back({"ree-fs", w.data()});
  }
  return s;
}

}  // namespace teemu::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace teemu::fuzz;
  Reader r(data, size);
  switch (r.u8() % 5) {
    case 0: file_mode(r); break;
    case 1: manifest_mode(r); break;
    case 2: object_mode(r); break;
    case 3: attributes_mode(r); break;
    default: ree_fs_mode(r); break;
  }
  return 0;
}
