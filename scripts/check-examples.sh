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
# Trusted storage of the examples (secure_storage) stays in the scratch directory.
export TEEMU_STORAGE_DIR="$work/storage"
devkit="$prefix/lib/teemu/ta_dev_kit"

# The documented output of each example: extended regular expressions, one per line, that must
# all match.
declare -A expect=(
  [hello_world]='TA incremented value to 43'
  [random]='TA generated UUID value = 0x[0-9a-f]{32}'
  [secure_storage]='Content read-out correctly
Read into a 10-byte buffer: TEEC_ERROR_SHORT_BUFFER, the object needs 7000 bytes
Reading it again: TEEC_ERROR_ITEM_NOT_FOUND, the object is gone'
  [aes]='Cipher text starts with [0-9a-f]{32}
Clear text and decoded text match'
  [ecdsa]='Public key X: [0-9a-f]{64}
Signature \(r \|\| s\): [0-9a-f]{128}
Signature verified by the TA
rejected: signature invalid'
  [hotp]='HOTP counter 0: 755224 \(RFC 4226: ok\)
HOTP counter 9: 520489 \(RFC 4226: ok\)
10 of 10 values match RFC 4226 appendix D'
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
  missing=
  while IFS= read -r pattern; do
    grep -Eq -- "$pattern" <<<"$out" || missing+="  $pattern"$'\n'
  done <<<"${expect[$ex]}"
  if [[ -z $missing ]]; then
    echo "ok   $ex"
  else
    echo "FAIL $ex: output does not match"; printf '%s' "$missing"; echo "$out"; failed=1
  fi
done
exit $failed
