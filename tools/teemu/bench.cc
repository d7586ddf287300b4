#include "bench.h"

#include <CLI/CLI.hpp>
#include <cstdio>

namespace teemu::tool {

void add_bench_options(CLI::App* cmd, BenchOptions& opts) {
  cmd->add_flag("--quick", opts.quick, "Short run (under 60 s) for smoke testing");
  cmd->add_option("--json", opts.json_file, "Write the metrics as a flat JSON object to FILE");
  cmd->add_option("--plot", opts.plot_dir, "Write charts (gnuplot) into DIR");
}

int run_bench(const BenchOptions&) {
  std::fprintf(stderr, "teemu bench: not implemented yet\n");
  return 1;
}

}  // namespace teemu::tool
