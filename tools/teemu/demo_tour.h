// `teemu demo --tour`: runs the example programs (examples/ in the sources, installed in
// lib/teemu/examples) one after the other, each with a word on what it shows.
#pragma once

#include <string>
#include <vector>

namespace teemu::tool {

// The examples of the tour, in its order.
std::vector<std::string> tour_example_names();

// Runs the named examples (all of them when names is empty) as `teemu run --ta-dir` runs a
// client, shows their output and a summary. Returns 0 when every one succeeded, 1 when one
// failed or is missing, 2 for a name that is not an example.
int run_tour(const std::vector<std::string>& names);

}  // namespace teemu::tool
