#include "bench.h"

#include <sys/utsname.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_measure.h"
#include "bench_plot.h"
#include "platform/embedded.h"
#include "platform/machine.h"

namespace teemu::tool {

namespace {

using namespace bench;  // NOLINT
using Json = nlohmann::ordered_json;

// ---- the metrics of issue 5 --------------------------------------------------------------

enum class Goal { kAtMost, kAtLeast, kReport };

struct MetricDef {
  const char* key;
  Goal goal;
  double target;
};

constexpr MetricDef kMetrics[] = {
    {"invoke_vs_pipe", Goal::kAtMost, 0.10},
    {"open_close_vs_invoke", Goal::kAtMost, 20},
    {"register_vs_memcpy", Goal::kAtMost, 0.05},
    {"register_ns_per_page", Goal::kReport, 0},
    {"zero_copy_vs_native", Goal::kAtLeast, 0.95},
    {"temp_dynamic_overhead", Goal::kAtMost, 0.10},
    {"static_bounce_vs_dynamic", Goal::kReport, 0},
    {"scaling_2_threads", Goal::kAtLeast, 1.7},
    {"guest_invoke_vs_native", Goal::kAtMost, 1.5},
    {"metadata_bytes_per_page", Goal::kAtMost, 16},
};

struct Figure {
  std::optional<double> value;  // nullopt: not measurable here
  std::string na_reason;
  std::string detail;           // the raw figures it came from, for the table
};

// ---- progress on stderr ------------------------------------------------------------------

// A bar redrawn in place when stderr is a terminal; otherwise one line per step (CI logs).
class Progress {
 public:
  explicit Progress(int total) : total_(total), tty_(isatty(STDERR_FILENO) == 1) {}
  void step(const std::string& what) {
    ++cur_;
    what_ = what;
    if (tty_) {
      draw(0);
    } else {
      std::fprintf(stderr, "teemu bench [%d/%d] %s\n", cur_, total_, what.c_str());
      std::fflush(stderr);
    }
  }
  void tick(double fraction) {
    if (tty_) draw(fraction);
  }
  void finish(double seconds) {
    if (tty_) std::fprintf(stderr, "\r\033[K");
    std::fprintf(stderr, "teemu bench: %d steps in %.1f s\n", total_, seconds);
  }
  Tick ticker() {
    return [this](double f) { tick(f); };
  }

 private:
  void draw(double fraction) {
    constexpr int kWidth = 32;
    const double done = (cur_ - 1 + std::min(1.0, std::max(0.0, fraction))) / total_;
    const int fill = static_cast<int>(done * kWidth + 0.5);
    std::string bar(static_cast<size_t>(fill), '#');
    bar.append(static_cast<size_t>(kWidth - fill), '.');
    std::fprintf(stderr, "\r\033[K[%s] %3d%%  %d/%d %s", bar.c_str(),
                 static_cast<int>(done * 100 + 0.5), cur_, total_, what_.c_str());
    std::fflush(stderr);
  }

  int total_;
  int cur_ = 0;
  bool tty_;
  std::string what_;
};

// ---- child processes ---------------------------------------------------------------------

int run_child_phase(const BenchOptions& opts) {
  const Plan plan = opts.quick ? Plan::quick_run() : Plan::full();
  try {
    nlohmann::json out;
    if (opts.phase == "temp-sum")
      out = phase_temp_sum(plan);
    else if (opts.phase == "invoke")
      out = phase_invoke(plan);
    else if (opts.phase == "guest-scaling")
      out = phase_guest_scaling(plan);
    else if (opts.phase == "metadata")
      out = phase_metadata(plan);
    else
      throw BenchError("unknown phase '" + opts.phase + "'");
    std::printf("%s\n", out.dump().c_str());
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "teemu bench --phase %s: %s\n", opts.phase.c_str(), e.what());
    return 1;
  }
}

// ---- the machine it ran on ---------------------------------------------------------------

std::string first_field(const char* file, const char* key) {
  std::ifstream f(file);
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) == 0) {
      auto colon = line.find(':');
      if (colon == std::string::npos) continue;
      auto v = line.substr(colon + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "unknown";
}

double load_average() {
  double l = -1;
  if (FILE* f = std::fopen("/proc/loadavg", "re")) {
    if (std::fscanf(f, "%lf", &l) != 1) l = -1;
    std::fclose(f);
  }
  return l;
}

std::string host_description() {
  struct utsname u {};
  uname(&u);
  char buf[512];
  std::snprintf(buf, sizeof(buf), "%s, %ld CPUs online, %s RAM, Linux %s",
                first_field("/proc/cpuinfo", "model name").c_str(),
                sysconf(_SC_NPROCESSORS_ONLN), first_field("/proc/meminfo", "MemTotal").c_str(),
                u.release);
  return buf;
}

// ---- formatting --------------------------------------------------------------------------

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// 3 significant digits, plain notation.
std::string num(double v) {
  const double a = std::fabs(v);
  if (a >= 100) return fmt("%.0f", v);
  if (a >= 10) return fmt("%.1f", v);
  if (a >= 1) return fmt("%.2f", v);
  return fmt("%.3f", v);
}

std::string dur(double ns) {
  if (ns >= 1e9) return fmt("%.2f s", ns / 1e9);
  if (ns >= 1e6) return fmt("%.2f ms", ns / 1e6);
  if (ns >= 1e3) return fmt("%.1f µs", ns / 1e3);
  return fmt("%.0f ns", ns);
}

std::string size_name(uint64_t b) {
  if (b >= (1ull << 30) && b % (1ull << 30) == 0) return std::to_string(b >> 30) + " GiB";
  if (b >= (1ull << 20) && b % (1ull << 20) == 0) return std::to_string(b >> 20) + " MiB";
  return std::to_string(b >> 10) + " KiB";
}

std::string target_text(const MetricDef& m) {
  switch (m.goal) {
    case Goal::kAtMost: return "<= " + num(m.target);
    case Goal::kAtLeast: return ">= " + num(m.target);
    case Goal::kReport: return "report";
  }
  return "";
}

std::string verdict(const MetricDef& m, const Figure& f) {
  if (!f.value) return "n/a";
  switch (m.goal) {
    case Goal::kAtMost: return *f.value <= m.target ? "pass" : "miss";
    case Goal::kAtLeast: return *f.value >= m.target ? "pass" : "miss";
    case Goal::kReport: return "-";
  }
  return "";
}

// Display width of UTF-8 text (µ counts once).
size_t width(const std::string& s) {
  size_t w = 0;
  for (unsigned char c : s)
    if ((c & 0xC0) != 0x80) ++w;
  return w;
}

std::string pad(const std::string& s, size_t w) {
  size_t cur = width(s);
  return cur >= w ? s : s + std::string(w - cur, ' ');
}

// ---- the report --------------------------------------------------------------------------

struct Report {
  std::map<std::string, Figure> figures;
  Json raw;  // raw medians and context, in the order measured
};

void print_table(const Plan& plan, const Report& rep, const std::string& host, double load0) {
  std::printf("teemu bench: %s run, %d runs per figure, each figure the median after warm-up\n",
              plan.quick ? "quick (smoke, smaller sizes; not for publishing)" : "full", plan.runs);
  std::printf("host: %s; load average at start %.2f\n\n", host.c_str(), load0);
  const char* const hdr[] = {"metric", "value", "target", "result", "measured"};
  std::printf("%s%s%s%s%s\n", pad(hdr[0], 26).c_str(), pad(hdr[1], 26).c_str(),
              pad(hdr[2], 10).c_str(), pad(hdr[3], 8).c_str(), hdr[4]);
  std::printf("%s\n", std::string(120, '-').c_str());
  for (const MetricDef& m : kMetrics) {
    const Figure& f = rep.figures.at(m.key);
    const std::string value = f.value ? num(*f.value) : "n/a (" + f.na_reason + ")";
    std::printf("%s%s%s%s%s\n", pad(m.key, 26).c_str(), pad(value, 26).c_str(),
                pad(target_text(m), 10).c_str(), pad(verdict(m, f), 8).c_str(), f.detail.c_str());
  }
  std::printf(
      "\nmetadata_bytes_per_page counts, per page of a large registration made a second time on a "
      "fresh machine:\n"
      "  heap growth (glibc mallinfo2: in-use arena bytes + mmap'd chunks, all arenas, all layers;\n"
      "  the child runs without glibc's thread cache so small objects count)\n"
      "  + 8 bytes per frame-table entry the registration uses (hw::PhysMem). Breakdown under\n"
      "  metadata_* in the JSON; the first registration alone and process RSS are given for "
      "comparison.\n");
}

void write_json(const std::string& path, const Report& rep) {
  Json j;
  for (const MetricDef& m : kMetrics) {
    const Figure& f = rep.figures.at(m.key);
    j[m.key] = f.value ? Json(*f.value) : Json(nullptr);
  }
  for (auto it = rep.raw.begin(); it != rep.raw.end(); ++it) j[it.key()] = it.value();
  std::ofstream out(path);
  out << j.dump(2) << '\n';
  out.close();
  if (!out) throw BenchError("cannot write " + path);
}

int run_report(const BenchOptions& opts) {
  const auto start = std::chrono::steady_clock::now();
  const Plan plan = opts.quick ? Plan::quick_run() : Plan::full();
  const bool plot = !opts.plot_dir.empty();
  if (plot && !gnuplot_available()) {
    std::fprintf(stderr, "teemu bench: %s\n", gnuplot_missing_message().c_str());
    return 1;
  }
  if (platform::embedded_machine() == nullptr)
    throw BenchError("the embedded machine did not boot (see the message above)");
  const double load0 = load_average();
  const std::string host = host_description();

  Progress progress(10 + (plot ? 2 : 0));
  const Tick tick = progress.ticker();
  Report rep;
  Json& raw = rep.raw;
  PlotData plots;
  auto set = [&](const char* key, std::optional<double> v, std::string detail) {
    rep.figures[key] = Figure{v, "", std::move(detail)};
  };

  raw["quick"] = plan.quick;
  raw["runs"] = plan.runs;
  raw["load_average_1m_start"] = load0;

  progress.step("empty invoke, pipe ping-pong, open + close session");
  const LatencyFigures lat = measure_latency(plan, tick);
  raw["invoke_ns"] = lat.invoke_ns;
  raw["pipe_roundtrip_ns"] = lat.pipe_ns;
  raw["open_close_ns"] = lat.open_close_ns;
  raw["invoke_process_cpu_ns"] = lat.invoke_cpu_ns;
  raw["open_close_process_cpu_ns"] = lat.open_close_cpu_ns;
  raw["open_close_vs_invoke_cpu"] = lat.open_close_cpu_ns / lat.invoke_cpu_ns;
  raw["smc_calls_per_invoke"] = lat.invoke_counts.smc_calls;
  raw["smc_calls_per_open_close"] = lat.open_close_counts.smc_calls;
  raw["rpcs_per_open_close"] = lat.open_close_counts.rpcs;
  raw["supplicant_requests_per_open_close"] = lat.open_close_counts.supplicant_requests;
  set("invoke_vs_pipe", lat.invoke_ns / lat.pipe_ns,
      "invoke " + dur(lat.invoke_ns) + " / pipe round trip " + dur(lat.pipe_ns));
  set("open_close_vs_invoke", lat.open_close_ns / lat.invoke_ns,
      "open+close " + dur(lat.open_close_ns) + " / invoke " + dur(lat.invoke_ns) +
          " (CPU, all threads: " + dur(lat.open_close_cpu_ns) + " / " + dur(lat.invoke_cpu_ns) +
          " = " + num(lat.open_close_cpu_ns / lat.invoke_cpu_ns) + "); " +
          num(lat.open_close_counts.smc_calls) + " SMCs, " + num(lat.open_close_counts.rpcs) +
          " RPCs (" + num(lat.open_close_counts.supplicant_requests) + " to the supplicant)");

  progress.step("single-call latency samples");
  plots.latency = sample_latency(plan, tick);
  raw["invoke_single_p50_ns"] = percentile(plots.latency.invoke_ns, 0.50);
  raw["invoke_single_p99_ns"] = percentile(plots.latency.invoke_ns, 0.99);
  raw["pipe_single_p50_ns"] = percentile(plots.latency.pipe_ns, 0.50);
  raw["pipe_single_p99_ns"] = percentile(plots.latency.pipe_ns, 0.99);

  progress.step("register + unregister vs memcpy, " + size_name(plan.big_bytes));
  const RegisterFigures reg = measure_register_vs_memcpy(plan, tick);
  raw["register_64mib_ns"] = reg.register_ns;
  raw["memcpy_64mib_ns"] = reg.memcpy_ns;
  set("register_vs_memcpy", reg.register_ns / reg.memcpy_ns,
      "register+unregister " + dur(reg.register_ns) + " / memcpy " + dur(reg.memcpy_ns));

  progress.step("register + unregister, " + size_name(plan.large_bytes));
  const double large_ns = measure_register_large(plan, tick);
  const double large_pages = static_cast<double>(plan.large_bytes / 4096);
  raw["register_large_bytes"] = plan.large_bytes;
  raw["register_large_ns"] = large_ns;
  set("register_ns_per_page", large_ns / large_pages,
      dur(large_ns) + " for " + size_name(plan.large_bytes) + " (" +
          std::to_string(plan.large_bytes / 4096) + " pages)");

  progress.step("zero copy: TA SUM vs the same loop in the client, " +
                size_name(plan.big_bytes));
  const SumFigures sum = measure_zero_copy(plan, tick);
  raw["ta_sum_registered_64mib_ns"] = sum.ta_ns;
  raw["native_sum_64mib_ns"] = sum.native_ns;
  raw["ta_sum_registered_64mib_cpu_ns"] = sum.ta_cpu_ns;
  raw["native_sum_64mib_cpu_ns"] = sum.native_cpu_ns;
  raw["native_sum_64mib_cpu_min_ns"] = sum.native_cpu_min_ns;
  raw["native_sum_64mib_cpu_max_ns"] = sum.native_cpu_max_ns;
  raw["zero_copy_vs_native_wall"] = sum.native_ns / sum.ta_ns;
  raw["rpcs_per_sum"] = sum.rpcs_per_sum;
  // Throughput per CPU second of the calling thread: both loops are compute bound and run on
  // that thread (no RPC), and on a shared machine the wall clock also counts other processes.
  set("zero_copy_vs_native", sum.native_cpu_ns / sum.ta_cpu_ns,
      "CPU: client loop " + dur(sum.native_cpu_ns) + " (" + dur(sum.native_cpu_min_ns) + "-" +
          dur(sum.native_cpu_max_ns) + " by stack placement) / TA SUM " + dur(sum.ta_cpu_ns) +
          " (wall: " + dur(sum.native_ns) + " / " + dur(sum.ta_ns) + ", ratio " +
          num(sum.native_ns / sum.ta_ns) + "; " +
          fmt("%.2f", static_cast<double>(plan.big_bytes) / sum.ta_cpu_ns) + " GB/s in the TA)");

  progress.step("temp memref vs registered SUM, " + size_name(plan.small_bytes));
  const TempFigures tmp = measure_temp_vs_registered(plan, tick);
  raw["temp_sum_1mib_ns"] = tmp.temp_ns;
  raw["registered_sum_1mib_ns"] = tmp.registered_ns;
  set("temp_dynamic_overhead", (tmp.temp_ns - tmp.registered_ns) / tmp.registered_ns,
      "temp " + dur(tmp.temp_ns) + " vs registered " + dur(tmp.registered_ns));

  progress.step("static carve-out vs dynamic SHM, temp SUM " + size_name(plan.small_bytes) +
                " (child processes)");
  // Children alternate (dynamic, static, dynamic, ...) so that a change of the machine's load
  // hits both sides; each side is the median of its children.
  const int pairs = plan.quick ? 1 : 3;
  nlohmann::json dyn, stat;
  std::vector<double> dyn_runs, stat_runs;
  for (int i = 0; i < pairs; ++i) {
    dyn = run_phase("temp-sum", plan.quick, {{"TEEMU_DYNAMIC_SHM", "1"}});
    progress.tick((2.0 * i + 1) / (2 * pairs));
    stat = run_phase("temp-sum", plan.quick, {{"TEEMU_DYNAMIC_SHM", "0"}});
    progress.tick((2.0 * i + 2) / (2 * pairs));
    if (stat.at("dynamic_shm").get<bool>() || !dyn.at("dynamic_shm").get<bool>())
      throw BenchError("the child phases did not get the DYNAMIC_SHM setting they asked for");
    dyn_runs.push_back(dyn.at("temp_sum_ns").get<double>());
    stat_runs.push_back(stat.at("temp_sum_ns").get<double>());
  }
  const double dyn_ns = median(dyn_runs);
  const double stat_ns = median(stat_runs);
  raw["dynamic_temp_sum_1mib_ns"] = dyn_ns;
  raw["static_temp_sum_1mib_ns"] = stat_ns;
  raw["static_bytes_copied_per_call"] = stat.at("bytes_copied_per_call");
  raw["dynamic_bytes_copied_per_call"] = dyn.at("bytes_copied_per_call");
  set("static_bounce_vs_dynamic", stat_ns / dyn_ns,
      "carve-out " + dur(stat_ns) + " (" +
          std::to_string(stat.at("bytes_copied_per_call").get<int64_t>()) +
          " B copied) / dynamic " + dur(dyn_ns) + " (" +
          std::to_string(dyn.at("bytes_copied_per_call").get<int64_t>()) + " B copied)");

  progress.step("empty-invoke throughput against client threads");
  std::vector<int> threads = plan.scaling_threads;
  double spin_cpus = 0;
  const std::vector<ScalingPoint> scaling = measure_scaling(plan, threads, tick, &spin_cpus);
  raw["cpus_available_2_spinning_threads"] = spin_cpus;
  double t1 = 0, t2 = 0, c1 = 0, c2 = 0, u2 = 0;
  for (const ScalingPoint& p : scaling) {
    raw["invoke_throughput_" + std::to_string(p.threads) + "_threads_per_s"] = p.invokes_per_s;
    raw["invoke_cpu_ns_" + std::to_string(p.threads) + "_threads"] = p.cpu_ns_per_invoke;
    raw["cpus_used_" + std::to_string(p.threads) + "_threads"] = p.cpus_used;
    if (p.threads == 1) t1 = p.invokes_per_s, c1 = p.cpu_ns_per_invoke;
    if (p.threads == 2) t2 = p.invokes_per_s, c2 = p.cpu_ns_per_invoke, u2 = p.cpus_used;
  }
  set("scaling_2_threads", t2 / t1,
      fmt("%.0f", t2) + " / " + fmt("%.0f", t1) + " invokes/s; CPU per invoke " +
          dur(c2) + " / " + dur(c1) + "; 2 threads got " + fmt("%.2f", u2) +
          " CPUs, 2 spinning threads " + fmt("%.2f", spin_cpus) + " (of " +
          std::to_string(sysconf(_SC_NPROCESSORS_ONLN)) + "; " +
          std::to_string(platform::embedded_machine()->config().threads) + " secure threads)");
  plots.scaling.push_back({"native client threads", "client threads", scaling});

  progress.step("empty invoke from a guest through the mediator (child processes)");
  std::string why;
  const auto guest = measure_guest(plan, tick, &why);
  if (guest) {
    raw["guest_invoke_ns"] = guest->invoke_ns;
    raw["native_invoke_child_ns"] = guest->native_invoke_ns;
    for (const ScalingPoint& p : guest->by_guests) {
      raw["guest_throughput_" + std::to_string(p.threads) + "_guests_per_s"] = p.invokes_per_s;
      raw["guest_cpu_ns_" + std::to_string(p.threads) + "_guests"] = p.cpu_ns_per_invoke;
    }
    set("guest_invoke_vs_native", guest->invoke_ns / guest->native_invoke_ns,
        "guest " + dur(guest->invoke_ns) + " / no hypervisor " + dur(guest->native_invoke_ns) +
            " (both in child processes)");
    plots.scaling.push_back({"guests (one client thread each)", "guests", guest->by_guests});
  } else {
    raw["guest_invoke_ns"] = nullptr;
    raw["native_invoke_child_ns"] = nullptr;
    rep.figures["guest_invoke_vs_native"] = Figure{std::nullopt, why, ""};
  }

  progress.step("metadata per registered page, " + size_name(plan.large_bytes) +
                " (child process)");
  // Without glibc's per-thread cache a freed small chunk counts as free in mallinfo2, so the
  // small objects of a registration (shm, mobj, ids, table nodes) are counted too.
  std::string tunables = "glibc.malloc.tcache_count=0";
  if (const char* t = std::getenv("GLIBC_TUNABLES"); t != nullptr && *t != '\0')
    tunables = std::string(t) + ":" + tunables;  // the caller's tunables stay
  const auto meta = run_phase("metadata", plan.quick, {{"GLIBC_TUNABLES", tunables}});
  const double heap_steady = meta.at("heap_steady_bytes_per_page").get<double>();
  const double table = meta.at("frame_table_bytes_per_page").get<double>();
  for (const char* k : {"heap_first_bytes_per_page", "heap_retained_after_release_bytes_per_page",
                        "heap_steady_bytes_per_page", "frame_table_bytes_per_page",
                        "rss_first_bytes_per_page", "rss_steady_bytes_per_page"})
    raw[std::string("metadata_") + k] = meta.at(k);
  set("metadata_bytes_per_page", heap_steady + table,
      "heap " + fmt("%.2f", heap_steady) + " (first registration " +
          fmt("%.2f", meta.at("heap_first_bytes_per_page").get<double>()) + ", kept after release " +
          fmt("%.2f", meta.at("heap_retained_after_release_bytes_per_page").get<double>()) +
          ") + frame table " + fmt("%.0f", table));

  if (plot) {
    progress.step("register cost against buffer size");
    plots.sweep = measure_register_sweep(plan, tick);
    progress.step("charts (gnuplot)");
  }
  std::vector<std::string> charts;
  if (plot) charts = write_plots(opts.plot_dir, plots);
  progress.finish(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());

  raw["load_average_1m_end"] = load_average();
  print_table(plan, rep, host, load0);
  if (!opts.json_file.empty()) {
    write_json(opts.json_file, rep);
    std::printf("\nmetrics written to %s\n", opts.json_file.c_str());
  }
  for (const std::string& c : charts) std::printf("chart: %s\n", c.c_str());
  return 0;
}

}  // namespace

void add_bench_options(CLI::App* cmd, BenchOptions& opts) {
  cmd->add_flag("--quick", opts.quick, "Short run (under 60 s) for smoke testing");
  cmd->add_option("--json", opts.json_file, "Write the metrics as a flat JSON object to FILE");
  cmd->add_option("--plot", opts.plot_dir, "Write charts (gnuplot) into DIR");
  cmd->add_option("--phase", opts.phase, "internal: one measurement in a child process")
      ->group("");
}

int run_bench(const BenchOptions& opts) {
  if (!opts.phase.empty()) return run_child_phase(opts);
  try {
    return run_report(opts);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "\nteemu bench: error: %s\n", e.what());
    return 1;
  }
}

}  // namespace teemu::tool
