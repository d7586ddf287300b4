#!/usr/bin/env bash
# Installs the Debian 12 packages teemu needs to build and test, if any is missing.
# Usage: scripts/setup.sh [--with-tools]   (--with-tools adds clang, gnuplot and friends)
set -euo pipefail

packages=(build-essential cmake ninja-build pkg-config
          libboost-context-dev libexpected-dev libfmt-dev libcli11-dev nlohmann-json3-dev
          libtomlplusplus-dev libssl-dev libgtest-dev libgmock-dev libbenchmark-dev)
if [[ ${1:-} == --with-tools ]]; then
  packages+=(clang clang-format clang-tidy libclang-rt-14-dev gnuplot-nox valgrind)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "teemu setup: installing ${missing[*]}"
sudo=()
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || { echo "teemu setup: need root or sudo to install packages" >&2; exit 1; }
  sudo=(sudo)
fi
export DEBIAN_FRONTEND=noninteractive
if ! "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"; then
  "${sudo[@]}" apt-get update
  "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
fi
