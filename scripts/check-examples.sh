#!/usr/bin/env bash
# Builds every example in examples/ with its own plain Makefiles against an installed teemu, as a
# user would, runs it under `teemu run`, and checks its documented output.
# Usage: scripts/check-examples.sh PREFIX [example...]
set -euo pipefail
prefix=$(cd "${1:?usage: check-examples.sh PREFIX [example...]}" && pwd)
shift
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
devkit="$prefix/lib/teemu/ta_dev_kit"

declare -A expect=(
  [hello_world]='TA incremented value to 43'
  [random]='TA generated UUID value = 0x[0-9a-f]{32}'
)
examples=("$@")
((${#examples[@]})) || examples=("${!expect[@]}")

failed=0
for ex in "${examples[@]}"; do
  cp -r "$here/examples/$ex" "$work/$ex"
  if ! make -s -C "$work/$ex" TEEC_EXPORT="$prefix" TA_DEV_KIT_DIR="$devkit" >"$work/$ex.build" 2>&1; then
    echo "FAIL $ex: build"; cat "$work/$ex.build"; failed=1; continue
  fi
  bin=$(find "$work/$ex/host" -maxdepth 1 -type f -executable -name 'teemu_example_*' | head -n1)
  out=$("$prefix/bin/teemu" run --ta-dir "$work/$ex/ta" -- "$bin" 2>&1) || { echo "FAIL $ex: exit $?"; echo "$out"; failed=1; continue; }
  if grep -Eq "${expect[$ex]}" <<<"$out"; then
    echo "ok   $ex"
  else
    echo "FAIL $ex: output does not match '${expect[$ex]}'"; echo "$out"; failed=1
  fi
done
exit $failed
