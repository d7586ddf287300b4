// teemu: the command-line tool. `teemu run` runs a client program against teemu's libteec,
// `teemu info` prints the machine's capabilities, `teemu demo` shows what dynamic shared memory
// buys on real numbers (`teemu demo --tour`: runs the examples).
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "abi/optee_smc.h"
#include "bench.h"
#include "demo_guests.h"
#include "demo_tour.h"
#include "run.h"
#include "soak.h"
#include "abi/tee_uapi.h"
#include "hw/phys_mem.h"
#include "hyp/hypervisor.h"
#include "platform/config.h"
#include "platform/embedded.h"
#include "platform/machine.h"
#include "ree/kernel.h"
#include "tee/secure_os.h"
// The GP header defines TEE_ERROR_* macros: it comes after every teemu header.
#include "tee_client_api.h"

namespace fs = std::filesystem;
using namespace teemu;

namespace {

const TEEC_UUID kShmTestUuid = {0xf9b9acc0, 0x806d, 0x415c,
                                {0xba, 0xde, 0x7a, 0xec, 0xc6, 0x00, 0xe8, 0x0f}};
constexpr uint32_t kCmdSum = 0;

std::string self_exe() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return "teemu";
  buf[n] = 0;
  return buf;
}

// ---- info ---------------------------------------------------------------------------------

std::string caps_string(uint32_t caps) {
  static const char* const kNames[] = {"HAVE_RESERVED_SHM", "UNREGISTERED_SHM", "DYNAMIC_SHM",
                                       "VIRTUALIZATION",    "MEMREF_NULL",      "ASYNC_NOTIF",
                                       "RPC_ARG",           "RPMB_PROBE"};
  std::string s;
  for (unsigned i = 0; i < 8; ++i)
    if (caps & (1u << i)) s += (s.empty() ? "" : " ") + std::string(kNames[i]);
  return s.empty() ? "none" : s;
}

// The hypervisor's part of `teemu info`: guests, what each holds, the mediator's quotas.
void print_hypervisor(platform::Machine& m, const platform::MachineConfig& config) {
  hyp::Hypervisor& hyp = *m.hypervisor();
  const std::vector<uint16_t> ids = hyp.guest_ids();
  std::printf("hypervisor       %zu guests behind the OP-TEE mediator; clients of this process "
              "use guest %u\n",
              ids.size(), config.guest);
  const hyp::GuestConfig defaults;
  const hyp::MediatorLimits& l = defaults.limits;
  std::printf("guest RAM        %llu pages each (IPA from 1 GiB, scattered over machine frames)\n",
              static_cast<unsigned long long>(defaults.ram_pages));
  const std::string calls = l.max_calls == 0 ? "calls up to the guest's share of secure threads"
                                             : std::to_string(l.max_calls) + " concurrent calls";
  std::printf("guest quotas     %u pages per buffer, %u buffers, %llu pinned pages, %s\n",
              l.max_buffer_pages, l.max_buffers,
              static_cast<unsigned long long>(l.max_pinned_pages), calls.c_str());
  for (uint16_t id : ids) {
    hyp::Guest* g = hyp.guest(id);
    if (g == nullptr) continue;
    std::printf("  guest %-3u      %s (its own kernel, /dev/tee0 and /dev/teepriv0, and tee-supplicant)\n",
                id, g->alive() ? "running" : "stopped");
  }
}

int cmd_info(uint32_t guests, uint32_t guest) {
  if (!tool::set_guest_env("info", guests, guest)) return 2;
  auto config = platform::load_config();
  if (!config) {
    std::fprintf(stderr, "teemu: configuration error: %s\n", config.error().message.c_str());
    return 2;
  }
  std::string err;
  auto m = platform::Machine::create(*config, &err);
  if (!m) {
    std::fprintf(stderr, "teemu: cannot boot the machine: %s\n", err.c_str());
    return 1;
  }
  ree::Kernel& k = m->kernel();
  int fd = k.sys_open("/dev/tee0");
  abi::tee_ioctl_version_data v{};
  k.sys_ioctl(fd, abi::TEE_IOC_VERSION, &v);
  k.sys_close(fd);
  abi::SmcRegs in, out;
  in[0] = abi::OPTEE_SMC_CALL_GET_OS_REVISION;
  out = m->secure_os().smc(in);
  std::printf("teemu %s: an OP-TEE-compatible TEE in software\n", "0.1.0");
  std::printf("secure OS        OP-TEE API 2.0, OS revision %u.%u, %u secure threads\n",
              out.w(0), out.w(1), config->threads);
  std::printf("secure caps      %s\n", caps_string(m->secure_os().sec_caps()).c_str());
  std::printf("tee uapi         impl_id %u (OP-TEE), gen_caps 0x%x:%s%s%s\n", v.impl_id,
              v.gen_caps, (v.gen_caps & abi::TEE_GEN_CAP_GP) ? " GP" : "",
              (v.gen_caps & abi::TEE_GEN_CAP_REG_MEM) ? " REG_MEM" : "",
              (v.gen_caps & abi::TEE_GEN_CAP_MEMREF_NULL) ? " MEMREF_NULL" : "");
  if (config->static_shm_size != 0)
    std::printf("static shm       %llu KiB at PA 0x%llx%s\n",
                static_cast<unsigned long long>(config->static_shm_size >> 10),
                static_cast<unsigned long long>(m->mem().static_shm_base().value),
                m->hypervisor() != nullptr ? " (not for guests: the mediator refuses GET_SHM_CONFIG)"
                                           : "");
  else
    std::printf("static shm       none\n");
  std::printf("dynamic shm      %s\n", config->dynamic_shm ? "on (client memory registered in place, page lists)" : "off");
  if (m->hypervisor() != nullptr) print_hypervisor(*m, *config);
  std::printf("TA path         ");
  for (const auto& d : config->ta_path) std::printf(" %s", d.c_str());
  std::printf("\n");
  for (const auto& d : config->ta_path) {
    std::error_code ec;
    std::vector<std::string> tas;
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.path().extension() == ".ta") tas.push_back(e.path().stem().string());
    std::sort(tas.begin(), tas.end());
    for (const auto& ta : tas) std::printf("  TA %s\n", ta.c_str());
  }
  return 0;
}

// ---- demo ---------------------------------------------------------------------------------

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// One demo phase, run in its own process so it gets its own embedded machine. Prints a JSON
// line with what it measured.
int cmd_demo_phase(const std::string& phase, uint64_t size) {
  TEEC_Context ctx;
  TEEC_Session sess;
  uint32_t origin = 0;
  nlohmann::json out;
  out["phase"] = phase;
  if (TEEC_InitializeContext(nullptr, &ctx) != TEEC_SUCCESS) {
    std::fprintf(stderr, "teemu demo: no TEE\n");
    return 1;
  }
  TEEC_Result r = TEEC_OpenSession(&ctx, &sess, &kShmTestUuid, TEEC_LOGIN_PUBLIC, nullptr,
                                   nullptr, &origin);
  if (r != TEEC_SUCCESS) {
    std::fprintf(stderr, "teemu demo: cannot open the shm-test TA: 0x%x origin %u\n", r, origin);
    TEEC_FinalizeContext(&ctx);
    return 1;
  }
  std::vector<uint8_t> data(size);
  uint64_t expect = 0;
  for (uint64_t i = 0; i < size; ++i) {
    data[i] = static_cast<uint8_t>(i * 7 + (i >> 12));
    expect += data[i];
  }
  auto* m = platform::embedded_machine();
  const auto copied0 = m->stats().payload_bytes_copied.get();
  const auto pl0 = m->stats().page_list_pages.get();
  const auto pinned0 = m->stats().pages_pinned.get();
  TEEC_SharedMemory shm{};
  shm.buffer = data.data();
  shm.size = size;
  shm.flags = TEEC_MEM_INPUT;
  double t0 = now_s();
  r = TEEC_RegisterSharedMemory(&ctx, &shm);
  double t1 = now_s();
  uint64_t sum = 0;
  double t2 = t1, t3 = t1;
  if (r == TEEC_SUCCESS) {
    TEEC_Operation op{};
    op.paramTypes = TEEC_PARAM_TYPES(TEEC_MEMREF_WHOLE, TEEC_VALUE_OUTPUT, TEEC_NONE, TEEC_NONE);
    op.params[0].memref.parent = &shm;
    t2 = now_s();
    r = TEEC_InvokeCommand(&sess, kCmdSum, &op, &origin);
    t3 = now_s();
    sum = (uint64_t{op.params[1].value.b} << 32) | op.params[1].value.a;
    TEEC_ReleaseSharedMemory(&shm);
  }
  out["result"] = r;
  out["sum_ok"] = r == TEEC_SUCCESS && sum == expect;
  out["register_ms"] = (t1 - t0) * 1e3;
  out["invoke_ms"] = (t3 - t2) * 1e3;
  out["bytes_copied"] = m->stats().payload_bytes_copied.get() - copied0;
  out["page_list_pages"] = m->stats().page_list_pages.get() - pl0;
  out["pages_pinned"] = m->stats().pages_pinned.get() - pinned0;
  out["world_switches"] = m->stats().world_switches.get();
  TEEC_CloseSession(&sess);
  TEEC_FinalizeContext(&ctx);
  std::printf("%s\n", out.dump().c_str());
  return 0;
}

nlohmann::json run_phase(const std::string& phase, uint64_t size, bool dynamic) {
  int pipefd[2];
  if (pipe(pipefd) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(pipefd[1], 1);
    close(pipefd[0]);
    setenv("TEEMU_DYNAMIC_SHM", dynamic ? "1" : "0", 1);
    std::string exe = self_exe();
    std::string sz = std::to_string(size);
    execl(exe.c_str(), exe.c_str(), "demo-phase", phase.c_str(), sz.c_str(), nullptr);
    _exit(127);
  }
  close(pipefd[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = read(pipefd[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  close(pipefd[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  try {
    return nlohmann::json::parse(text);
  } catch (...) {
    return {};
  }
}

const char* tee_result_name(uint32_t r) {
  switch (r) {
    case TEEC_SUCCESS: return "TEEC_SUCCESS";
    case TEEC_ERROR_OUT_OF_MEMORY: return "TEEC_ERROR_OUT_OF_MEMORY";
    case TEEC_ERROR_BAD_PARAMETERS: return "TEEC_ERROR_BAD_PARAMETERS";
    default: return "error";
  }
}

int cmd_demo(uint64_t size_mib) {
  const uint64_t size = size_mib << 20;
  auto config = platform::load_config();
  const uint64_t carve = config ? config->static_shm_size : (2u << 20);
  std::printf("teemu demo: dynamic shared memory, the point of the 2017 series, on real numbers\n\n");
  std::printf("[1/3] Dynamic SHM: the client registers its own %llu MiB buffer; the TA sums it in place\n",
              static_cast<unsigned long long>(size_mib));
  auto dyn = run_phase("dynamic", size, true);
  if (dyn.is_null()) {
    std::fprintf(stderr, "teemu demo: the dynamic phase failed\n");
    return 1;
  }
  std::printf("      register %.2f ms (%llu pages pinned, %llu page-list pages), TA sum %.2f ms, sum %s\n",
              dyn["register_ms"].get<double>(), dyn["pages_pinned"].get<unsigned long long>(),
              dyn["page_list_pages"].get<unsigned long long>(), dyn["invoke_ms"].get<double>(),
              dyn["sum_ok"].get<bool>() ? "correct" : "WRONG");
  std::printf("      payload bytes copied anywhere in the stack: %llu\n\n",
              dyn["bytes_copied"].get<unsigned long long>());

  std::printf("[2/3] Static carve-out only (TEEMU_DYNAMIC_SHM=0, %llu KiB carve-out)\n",
              static_cast<unsigned long long>(carve >> 10));
  auto big = run_phase("static-big", size, false);
  if (!big.is_null())
    std::printf("      the same %llu MiB buffer: %s (it cannot fit the carve-out)\n",
                static_cast<unsigned long long>(size_mib),
                tee_result_name(big["result"].get<uint32_t>()));
  const uint64_t fit = carve > (64u << 10) ? carve / 2 : carve;
  auto small = run_phase("static-fit", fit, false);
  if (!small.is_null())
    std::printf("      a %llu KiB buffer that fits: %s, %llu payload bytes copied (bounce through the carve-out)\n\n",
                static_cast<unsigned long long>(fit >> 10),
                tee_result_name(small["result"].get<uint32_t>()),
                small["bytes_copied"].get<unsigned long long>());

  std::printf("[3/3] The page-list shape of a registered buffer\n");
  const uint64_t pages = size / 4096 + 1;
  const uint64_t lists = (pages + 510) / 511;
  std::printf("      %llu MiB at an unaligned address spans %llu pages: %llu list pages of 511 entries,\n"
              "      chained through slot 511; frame numbers are scattered, so the secure world sees\n"
              "      non-contiguous memory and still works in place.\n",
              static_cast<unsigned long long>(size_mib), static_cast<unsigned long long>(pages),
              static_cast<unsigned long long>(lists));
  return dyn["sum_ok"].get<bool>() && dyn["bytes_copied"].get<uint64_t>() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"teemu: a TrustZone-style TEE stack (OP-TEE compatible) in software"};
  app.require_subcommand(1);

  auto* run = app.add_subcommand("run", "Run a client program against teemu's libteec");
  std::vector<std::string> ta_dirs, cmd;
  run->add_option("--ta-dir", ta_dirs, "Directory with extra TAs (<uuid>.ta), searched first");
  uint32_t run_guests = 0, run_guest = 1;
  run->add_option("--guests", run_guests, "Run a hypervisor with N guests")
      ->check(CLI::Range(0u, platform::kMaxGuests));
  run->add_option("--guest", run_guest, "Run the program in guest K (1..N)");
  run->add_option("command", cmd, "Command and its arguments (after --)")->required();
  run->allow_extras(false);

  auto* info = app.add_subcommand("info", "Boot a machine and print its capabilities");
  uint32_t info_guests = 0, info_guest = 1;
  info->add_option("--guests", info_guests, "Boot a hypervisor with N guests")
      ->check(CLI::Range(0u, platform::kMaxGuests));
  info->add_option("--guest", info_guest, "Describe the machine as guest K (1..N) sees it");

  auto* demo = app.add_subcommand(
      "demo", "Show zero-copy dynamic shared memory against the carve-out, or tour the examples");
  uint64_t demo_mib = 64;
  auto* demo_size_opt = demo->add_option("--size-mib", demo_mib, "Buffer size in MiB")
                            ->check(CLI::Range(1, 4096));
  uint32_t demo_guests = 0;
  double demo_seconds = 4;
  auto* demo_guests_opt =
      demo->add_option("--guests", demo_guests,
                       "Run the workload in N guests at once and destroy one mid-call")
          ->check(CLI::Range(0u, 256u));
  auto* demo_seconds_opt = demo->add_option("--seconds", demo_seconds,
                                            "How long the guest workload runs")
                               ->check(CLI::Range(0.5, 3600.0));
  bool demo_tour = false;
  std::vector<std::string> tour_names;
  std::string tour_all;
  for (const auto& name : tool::tour_example_names()) tour_all += " " + name;
  auto* tour_opt = demo->add_flag("--tour", demo_tour,
                                  "Run the example programs, each with what it shows")
                       ->excludes(demo_size_opt, demo_guests_opt, demo_seconds_opt);
  demo->add_option("example", tour_names,
                   "With --tour: the examples to run (default: all of" + tour_all + ")")
      ->needs(tour_opt);

  auto* bench = app.add_subcommand("bench", "Measure teemu end to end and report the metrics");
  tool::BenchOptions bench_opts;
  tool::add_bench_options(bench, bench_opts);

  auto* soak = app.add_subcommand("soak", "Randomized soak of the whole stack, then the audit");
  tool::SoakOptions soak_opts;
  soak->add_option("--seconds", soak_opts.seconds, "How long")->check(CLI::Range(0.5, 86400.0));
  soak->add_option("--threads", soak_opts.threads, "Client threads (per guest)")
      ->check(CLI::Range(1u, 64u));
  soak->add_option("--guests", soak_opts.guests, "Run under a hypervisor with N guests")
      ->check(CLI::Range(0u, 64u));
  soak->add_option("--seed", soak_opts.seed, "Random seed");
  bool soak_no_churn = false;
  soak->add_flag("--no-churn", soak_no_churn, "With --guests: keep every guest alive");

  auto* phase = app.add_subcommand("demo-phase", "");
  phase->group("");  // internal
  std::string phase_name;
  uint64_t phase_size = 0;
  phase->add_option("name", phase_name)->required();
  phase->add_option("size", phase_size)->required();

  CLI11_PARSE(app, argc, argv);
  if (*run) return tool::run_program(ta_dirs, cmd, run_guests, run_guest);
  if (*info) return cmd_info(info_guests, info_guest);
  if (*demo && demo_tour) return tool::run_tour(tour_names);
  if (*demo) return demo_guests != 0 ? tool::run_guest_demo(demo_guests, demo_seconds)
                                     : cmd_demo(demo_mib);
  if (*bench) return tool::run_bench(bench_opts);
  if (*soak) {
    soak_opts.churn_guest = !soak_no_churn;
    return tool::run_soak(soak_opts);
  }
  if (*phase) return cmd_demo_phase(phase_name, phase_size);
  return 2;
}
