#!/usr/bin/env bash
# Sets up, builds, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
# A test that hangs fails after 10 minutes instead of holding the run.
ctest --test-dir build --output-on-failure -j "$(nproc)" --timeout 600 "$@"
