#!/usr/bin/env bash
# Configures and builds teemu in build/ (release flags with debug info).
# Usage: scripts/build.sh [extra cmake args]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja "$@" >/dev/null
ninja -C build
