// `teemu bench --plot DIR`: the data files, the gnuplot scripts that draw them, and the SVG charts
// gnuplot makes from them, all in DIR (so a chart can be redrawn or restyled by hand).
#pragma once

#include <string>
#include <vector>

#include "bench_measure.h"

namespace teemu::tool::bench {

// One line of the throughput chart: native client threads now, guests once a hypervisor exists.
struct ScalingSeries {
  std::string title;
  std::string x_label;  // what the x value counts ("client threads", "guests")
  std::vector<ScalingPoint> points;
};

struct PlotData {
  std::vector<SweepPoint> sweep;
  LatencySamples latency;
  std::vector<ScalingSeries> scaling;
};

// True if a `gnuplot` executable is on PATH.
bool gnuplot_available();
// The message for a missing gnuplot, naming the Debian package.
std::string gnuplot_missing_message();

// Writes the data and scripts into `dir` (created if needed) and runs gnuplot on each script.
// Returns the chart files made. Throws BenchError on I/O errors or a failing gnuplot.
std::vector<std::string> write_plots(const std::string& dir, const PlotData& data);

}  // namespace teemu::tool::bench
