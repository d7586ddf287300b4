#!/usr/bin/env bash
# Sets up, builds, and runs teemu's demo on the embedded default machine.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/build.sh
exec build/bin/teemu demo "$@"
