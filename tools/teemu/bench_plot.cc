#include "bench_plot.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace teemu::tool::bench {

namespace fs = std::filesystem;

namespace {

const char* const kTerminal =
    "set terminal svg size 860,520 dynamic enhanced font 'Helvetica,13' background '#ffffff'\n"
    "set encoding utf8\n"
    "set grid lw 0.5 lc rgb '#dddddd'\n"
    "set key top left box opaque\n";

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream f(p);
  f << text;
  f.close();
  if (!f) throw BenchError("cannot write " + p.string());
}

// Runs `gnuplot script` inside `dir`.
void run_gnuplot(const fs::path& dir, const std::string& script) {
  pid_t pid = fork();
  if (pid < 0) throw BenchError(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    if (chdir(dir.c_str()) != 0) _exit(126);
    execlp("gnuplot", "gnuplot", script.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    throw BenchError("gnuplot failed on " + (dir / script).string() +
                     (WIFEXITED(status) && WEXITSTATUS(status) == 127
                          ? " (" + gnuplot_missing_message() + ")"
                          : std::string()));
}

std::string register_chart(const fs::path& dir, const std::vector<SweepPoint>& sweep) {
  std::ostringstream d;
  d << "# bytes pages register_ns_per_page release_ns_per_page total_ns_per_page total_us\n";
  for (const SweepPoint& p : sweep) {
    const double pages = static_cast<double>(p.bytes / 4096);
    d << p.bytes << ' ' << p.bytes / 4096 << ' ' << p.register_ns / pages << ' '
      << p.release_ns / pages << ' ' << (p.register_ns + p.release_ns) / pages << ' '
      << (p.register_ns + p.release_ns) / 1e3 << '\n';
  }
  write_file(dir / "register_cost.dat", d.str());
  const uint64_t max_bytes = sweep.empty() ? (1ull << 30) : sweep.back().bytes;
  std::ostringstream g;
  g << kTerminal << "set output 'register_cost.svg'\n"
    << "set title 'Register + release cost per 4 KiB page against buffer size (teemu bench)'\n"
    << "set logscale xy\n"
    << "set xrange [4096:" << max_bytes << "]\n"
    << "set yrange [1:20000]\n"
    << "set xtics ('4K' 4096, '16K' 16384, '64K' 65536, '256K' 262144, '1M' 1048576, "
       "'4M' 4194304, '16M' 16777216, '64M' 67108864, '256M' 268435456, '1G' 1073741824)\n"
    << "set xlabel 'buffer size (bytes)'\n"
    << "set ylabel 'ns per 4 KiB page'\n"
    << "set key top right box opaque\n"
    << "set arrow from 16777216, graph 0 to 16777216, graph 1 nohead dt 3 lc rgb '#888888'\n"
    << "set label '≤ 4096 pages: MADV\\_POPULATE\\_WRITE;  above: one /proc/self/maps scan' "
       "at 15000000, graph 0.03 right font ',10' tc rgb '#666666'\n"
    << "plot '+' using 1:(234):(1445) with filledcurves fs transparent solid 0.12 "
       "lc rgb '#1f77b4' title 'OP-TEE mapping registered memory, 60–370 µs/MiB (published)', \\\n"
    << "     '+' using 1:(700):(3600) with filledcurves fs transparent solid 0.12 "
       "lc rgb '#d62728' title 'Linux pin\\_user\\_pages, 0.7–3.6 µs/page (published)', \\\n"
    << "     'register_cost.dat' using 1:3 with linespoints pt 7 ps 0.6 lw 2 lc rgb '#2ca02c' "
       "title 'teemu register', \\\n"
    << "     'register_cost.dat' using 1:4 with linespoints pt 5 ps 0.6 lw 2 lc rgb '#9467bd' "
       "title 'teemu release', \\\n"
    << "     'register_cost.dat' using 1:5 with linespoints pt 9 ps 0.7 lw 2 lc rgb '#000000' "
       "title 'teemu register + release'\n";
  write_file(dir / "register_cost.gp", g.str());
  return "register_cost";
}

// The empirical CDF, at most `points` quantiles of it.
std::string cdf(std::vector<double> v, size_t points) {
  std::sort(v.begin(), v.end());
  std::ostringstream d;
  if (v.empty()) return d.str();
  const size_t step = std::max<size_t>(1, v.size() / points);
  for (size_t i = 0; i < v.size(); i += step)
    d << v[i] << ' ' << static_cast<double>(i + 1) / static_cast<double>(v.size()) << '\n';
  d << v.back() << " 1\n";
  return d.str();
}

std::string latency_chart(const fs::path& dir, const LatencySamples& s) {
  write_file(dir / "invoke_latency.dat",
             "# ns cumulative_fraction (single empty invokes, INC on the shm-test TA)\n" +
                 cdf(s.invoke_ns, 2000));
  write_file(dir / "pipe_latency.dat",
             "# ns cumulative_fraction (single 1-byte pipe ping-pong round trips)\n" +
                 cdf(s.pipe_ns, 2000));
  std::ostringstream g;
  g << kTerminal << "set output 'invoke_latency.svg'\n"
    << "set title 'Latency distribution (CDF) of single calls (teemu bench)'\n"
    << "set logscale x\n"
    << "set format x '10^{%L}'\n"
    << "set xlabel 'round trip (ns, log scale; includes one clock read)'\n"
    << "set ylabel 'fraction of calls ≤ x'\n"
    << "set yrange [0:1.02]\n"
    << "set key bottom right box opaque\n"
    << "set arrow from 10000, graph 0 to 10000, graph 1 nohead dt 2 lc rgb '#d62728'\n"
    << "set label 'OP-TEE invoke on boards: tens of µs (published)' at 11000, graph 0.5 "
       "left font ',10' tc rgb '#d62728'\n"
    << "plot 'invoke_latency.dat' using 1:2 with lines lw 2 lc rgb '#2ca02c' "
       "title 'empty invoke through the GP API (teemu)', \\\n"
    << "     'pipe_latency.dat' using 1:2 with lines lw 2 lc rgb '#1f77b4' "
       "title 'pipe ping-pong between two threads'\n";
  write_file(dir / "invoke_latency.gp", g.str());
  return "invoke_latency";
}

std::string scaling_chart(const fs::path& dir, const std::vector<ScalingSeries>& series) {
  std::ostringstream g;
  g << kTerminal << "set output 'throughput.svg'\n"
    << "set title 'Aggregate empty-invoke throughput (teemu bench, " << sysconf(_SC_NPROCESSORS_ONLN)
    << " CPUs)'\n"
    << "set xlabel 'client threads (each with its own context and session) / guests'\n"
    << "set ylabel 'invokes per second'\n"
    << "set format y '%.0f'\n"
    << "set yrange [0:*]\n"
    << "set xtics 1\n";
  int max_x = 1;
  std::string plot;
  const char* const colors[] = {"#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"};
  for (size_t i = 0; i < series.size(); ++i) {
    const ScalingSeries& s = series[i];
    std::ostringstream d;
    d << "# " << s.x_label << " invokes_per_s\n";
    for (const ScalingPoint& p : s.points) {
      d << p.threads << ' ' << p.invokes_per_s << '\n';
      max_x = std::max(max_x, p.threads);
    }
    const std::string file = "throughput_" + std::to_string(i) + ".dat";
    write_file(dir / file, d.str());
    if (!plot.empty()) plot += ", \\\n     ";
    plot += "'" + file + "' using 1:2 with linespoints pt 7 lw 2 lc rgb '" +
            colors[i % 4] + "' title '" + s.title + "'";
    if (i == 0 && !s.points.empty() && s.points.front().threads == 1)
      plot += ", \\\n     (x >= 1 ? x * " + std::to_string(s.points.front().invokes_per_s) +
              " : 1/0) with lines dt 2 lc rgb '#aaaaaa' title 'linear scaling from 1 thread'";
  }
  g << "set xrange [0.8:" << max_x << ".2]\n";
  g << "plot " << plot << "\n";
  write_file(dir / "throughput.gp", g.str());
  return "throughput";
}

}  // namespace

bool gnuplot_available() {
  const char* path = std::getenv("PATH");
  std::string p = path != nullptr ? path : "/usr/bin:/bin";
  std::stringstream ss(p);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) dir = ".";
    if (access((fs::path(dir) / "gnuplot").c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string gnuplot_missing_message() {
  return "--plot needs gnuplot, which is not installed: install the Debian package gnuplot-nox "
         "(apt-get install gnuplot-nox, or scripts/setup.sh --with-tools)";
}

std::vector<std::string> write_plots(const std::string& dir_name, const PlotData& data) {
  const fs::path dir(dir_name);
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) throw BenchError("cannot create " + dir_name + ": " + ec.message());
  std::vector<std::string> charts;
  if (!data.sweep.empty()) charts.push_back(register_chart(dir, data.sweep));
  if (!data.latency.invoke_ns.empty()) charts.push_back(latency_chart(dir, data.latency));
  if (!data.scaling.empty()) charts.push_back(scaling_chart(dir, data.scaling));
  std::vector<std::string> out;
  for (const std::string& c : charts) {
    run_gnuplot(dir, c + ".gp");
    out.push_back((dir / (c + ".svg")).string());
  }
  return out;
}

}  // namespace teemu::tool::bench
