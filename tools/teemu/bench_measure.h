// `teemu bench` measurements: each function drives the embedded machine of this process through
// the public GP Client API (the shm-test TA) and returns medians over repeated runs after a
// warm-up. Every figure that is compared with another is measured side by side with it, run
// after run (interleaved), because the machines this runs on are shared and noisy.
//
// Errors (a GP call failing, a wrong result, no TEE) throw BenchError; the caller reports them and
// exits non-zero. Missing a target is never an error.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace teemu::tool::bench {

// Repetitions and sizes of one report: the full run or --quick.
struct Plan {
  bool quick = false;
  int runs = 21;                       // repeated runs per figure; a figure is their median
  double min_batch_ns = 50e6;          // one run times a batch of operations at least this long
  uint64_t large_bytes = 1ull << 30;   // register_ns_per_page
  uint64_t big_bytes = 64ull << 20;    // register_vs_memcpy, zero_copy_vs_native
  uint64_t small_bytes = 1ull << 20;   // temp_dynamic_overhead, static_bounce_vs_dynamic
  int latency_samples = 20000;         // single-call timings for the latency distribution
  int scaling_runs = 7;
  double scaling_window_ns = 300e6;    // one throughput run
  std::vector<int> scaling_threads = {1, 2, 3, 4};
  double sweep_batch_ns = 10e6;        // register-cost sweep (plots only)
  int sweep_runs = 11;

  static Plan full();
  static Plan quick_run();
};

struct BenchError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

double median(std::vector<double> v);
// p in [0, 1], nearest rank.
double percentile(std::vector<double> v, double p);

// Reports the fraction [0, 1] of the current step that is done (for the progress bar).
using Tick = std::function<void(double)>;

// The machine's counters (hw::MachineStats) per operation, averaged over a few untimed ones:
// where an operation goes besides its own code.
struct PathCounts {
  double smc_calls = 0, rpcs = 0, supplicant_requests = 0;
};

// Empty invoke (INC on the shm-test TA), 1-byte pipe ping-pong between two threads, open +
// close session: interleaved run by run. ns per operation.
struct LatencyFigures {
  double invoke_ns = 0, pipe_ns = 0, open_close_ns = 0;
  PathCounts invoke_counts, open_close_counts;
  // Process CPU time (every thread: the client's, tee-supplicant's) per invoke and per open +
  // close, from the same batches: far less sensitive to a busy machine than the wall clock.
  double invoke_cpu_ns = 0, open_close_cpu_ns = 0;
};
LatencyFigures measure_latency(const Plan& plan, const Tick& tick);

// Single-call timings (each includes one clock read, ~20-30 ns), for the distribution chart.
struct LatencySamples {
  std::vector<double> invoke_ns, pipe_ns;
};
LatencySamples sample_latency(const Plan& plan, const Tick& tick);

// Register + unregister of big_bytes (TEEC_RegisterSharedMemory + TEEC_ReleaseSharedMemory)
// against one memcpy of big_bytes. ns per operation.
struct RegisterFigures {
  double register_ns = 0, memcpy_ns = 0;
};
RegisterFigures measure_register_vs_memcpy(const Plan& plan, const Tick& tick);

// Register + unregister of large_bytes, ns per operation.
double measure_register_large(const Plan& plan, const Tick& tick);

// Register and release timed separately, over buffer sizes from 4 KiB to large_bytes.
struct SweepPoint {
  uint64_t bytes = 0;
  double register_ns = 0, release_ns = 0;
};
std::vector<SweepPoint> measure_register_sweep(const Plan& plan, const Tick& tick);

// TA SUM over a registered big_bytes buffer against the same loop in the client on the same
// bytes. ns per SUM, wall clock and CPU time of the calling thread (the TA runs on it, as a
// secure-thread fiber; a SUM makes no RPC, so nothing runs elsewhere: rpcs_per_sum says so).
// Throws if the two sums differ.
struct SumFigures {
  double ta_ns = 0, native_ns = 0;
  double ta_cpu_ns = 0, native_cpu_ns = 0;
  double native_cpu_min_ns = 0, native_cpu_max_ns = 0;  // over the client's stack placements
  double rpcs_per_sum = 0;
};
SumFigures measure_zero_copy(const Plan& plan, const Tick& tick);

// TA SUM of small_bytes through a temporary memref against one over an already registered
// buffer of the same size. ns per SUM.
struct TempFigures {
  double temp_ns = 0, registered_ns = 0;
};
TempFigures measure_temp_vs_registered(const Plan& plan, const Tick& tick);

// Aggregate empty-invoke throughput with N client threads, each with its own context and
// session. One point per entry of `threads`.
struct ScalingPoint {
  int threads = 0;
  double invokes_per_s = 0;
  // Process CPU time (all threads) per invoke: flat when the threads do not get in each other's
  // way, so a throughput that does not scale with a flat CPU cost means the CPUs were busy.
  double cpu_ns_per_invoke = 0;
  // Process CPU time / wall time in the window: below `threads`, the threads were waiting (a
  // lock) or the machine had no CPU free for them.
  double cpus_used = 0;
};
// `spin_cpus` (if not null) gets the median CPUs used by two threads that only spin, measured
// after each round of windows: what the machine could give the process at that time (below 2, a
// shared machine was busy elsewhere).
std::vector<ScalingPoint> measure_scaling(const Plan& plan, const std::vector<int>& threads,
                                          const Tick& tick, double* spin_cpus = nullptr);

// Guests through the hypervisor's OP-TEE mediator: the empty invoke from a guest (child process
// with TEEMU_GUESTS=1) against the same phase without hypervisor (TEEMU_GUESTS=0), alternating,
// and the throughput against the number of guests (one client thread in each). nullopt (with
// `why`) if the guest figures cannot be had.
struct GuestFigures {
  double invoke_ns = 0;
  double native_invoke_ns = 0;  // the same phase on a machine without hypervisor
  std::vector<ScalingPoint> by_guests;  // `threads` = number of guests, one client thread each
};
std::optional<GuestFigures> measure_guest(const Plan& plan, const Tick& tick, std::string* why);

// --- phases that need a machine of their own: run in a child process (teemu bench --phase) ---

// Runs `teemu bench --phase NAME [--quick]` in a child process with `env` set on top of this
// process's environment and returns the JSON it printed. Throws BenchError if it fails.
nlohmann::json run_phase(const std::string& phase, bool quick,
                         const std::vector<std::pair<std::string, std::string>>& env);

// invoke: the empty-invoke median on this process's default context. Keys: invoke_ns, guests.
nlohmann::json phase_invoke(const Plan& plan);
// guest-scaling: throughput with 1..TEEMU_GUESTS guests, one client thread in each (context
// "teemu-guest:<i>"). Key: points [{guests, invokes_per_s, cpu_ns_per_invoke, cpus_used}].
nlohmann::json phase_guest_scaling(const Plan& plan);

// temp-sum: the temp-memref SUM of small_bytes on this process's machine (configured by the
// environment, e.g. TEEMU_DYNAMIC_SHM=0). Keys: temp_sum_ns, bytes_copied_per_call, dynamic_shm.
nlohmann::json phase_temp_sum(const Plan& plan);
// metadata: heap (mallinfo2) and frame-table growth around registering large_bytes on a fresh
// machine. See docs/performance.md for what is counted.
nlohmann::json phase_metadata(const Plan& plan);

}  // namespace teemu::tool::bench
