// `teemu bench`: the end-to-end performance report through the public GP API.
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
};

// Adds the options of `teemu bench` to its subcommand.
void add_bench_options(CLI::App* cmd, BenchOptions& opts);
// Runs the report; returns the process exit status.
int run_bench(const BenchOptions& opts);

}  // namespace teemu::tool
