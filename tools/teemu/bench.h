// `teemu bench`: the end-to-end performance report through the public GP API (issue 5).
//
// Measures every metric of docs/performance.md on this process's embedded machine (figures that
// need another machine configuration run in a child process: `teemu bench --phase NAME`), prints
// a table on stdout and progress on stderr, and optionally writes the metrics as one flat JSON
// object and gnuplot charts. Exit status: 0 when every figure was measured (missed targets are
// reported as "miss", never an error), 1 on an error (a call failed, a child failed, gnuplot is
// missing with --plot, a file cannot be written), 2 on a bad command line.
#pragma once

#include <string>

namespace CLI {
class App;
}

namespace teemu::tool {

struct BenchOptions {
  bool quick = false;        // --quick: under 60 s, no timing asserts (CI smoke run)
  std::string json_file;     // --json FILE
  std::string plot_dir;      // --plot DIR
  std::string phase;         // --phase NAME (internal): one child-process measurement, JSON out
};

// Adds the options of `teemu bench` to its subcommand.
void add_bench_options(CLI::App* cmd, BenchOptions& opts);
// Runs the report; returns the process exit status.
int run_bench(const BenchOptions& opts);

}  // namespace teemu::tool
