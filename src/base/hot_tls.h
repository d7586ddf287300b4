// Thread-locals on the call path.
#pragma once

// libteemu is a shared library: by default every access to one of its thread_locals calls
// __tls_get_addr (the general-dynamic TLS model), which was about 10% of an empty invoke. With
// the initial-exec model an access is one %fs-relative load. The price: these variables live in
// the static TLS block, so a program that dlopen()s libteec (and with it libteemu) needs them to
// fit in glibc's static TLS surplus; they total under 100 bytes (about 220 under TSan, whose
// jump buffer is a sigjmp_buf) and glibc keeps at least 512 (glibc.rtld.optional_static_tls).
#define TEEMU_HOT_TLS __attribute__((tls_model("initial-exec")))
