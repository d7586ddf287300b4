#!/usr/bin/env bash
# Builds every libFuzzer target (clang, in build-fuzz) and runs each for SECONDS, then replays the
# saved inputs of fuzz/regressions/. Fails on any crash, leak, hang, sanitizer report or harness
# finding, and prints a table of executions per target.
#
# Usage: fuzz/run.sh SECONDS [TARGET...]
#   TEEMU_FUZZ_BUILD_DIR   build directory (default: build-fuzz)
#   TEEMU_FUZZ_JOBS        parallel build jobs (default: ninja's)
#   TEEMU_FUZZ_SEED        libFuzzer's random seed (default: a new one each run; CI fixes it so
#                          that its short run is repeatable)
# New corpus entries are kept in $build/corpus/<target>; crashing inputs go to
# $build/artifacts/<target>/ (reproduce with: $build/fuzz/<target> <file>).
set -uo pipefail
cd "$(dirname "$0")/.."

if [[ $# -lt 1 || ! $1 =~ ^[0-9]+$ ]]; then
  echo "usage: fuzz/run.sh SECONDS [TARGET...]" >&2
  exit 2
fi
seconds=$1
shift
all_targets=(secure_entry_fuzz uapi_fuzz mediator_fuzz driver_rpc_fuzz ta_loader_fuzz storage_fuzz)
targets=("$@")
((${#targets[@]} == 0)) && targets=("${all_targets[@]}")
build=${TEEMU_FUZZ_BUILD_DIR:-build-fuzz}

# clang and its fuzzer runtime (Debian: clang, libclang-rt-14-dev).
if ! command -v clang++ >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.fuzzer-*.a" >/dev/null; then
  scripts/setup.sh --with-tools || exit 1
fi
scripts/setup.sh || exit 1

echo "== fuzz: building the targets in $build"
build_start=$SECONDS
CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTEEMU_FUZZ=ON -DTEEMU_SANITIZE=fuzzer-no-link,address,undefined -DTEEMU_WERROR=OFF \
  -DTEEMU_BUILD_TESTS=OFF -DTEEMU_BUILD_BENCH=OFF >/dev/null || exit 1
ninja -C "$build" ${TEEMU_FUZZ_JOBS:+-j "$TEEMU_FUZZ_JOBS"} "${targets[@]}" >"$build/fuzz-build.log" 2>&1 || {
  tail -40 "$build/fuzz-build.log"
  echo "fuzz: build failed (full log: $build/fuzz-build.log)" >&2
  exit 1
}
echo "   built in $((SECONDS - build_start)) s"

# Every report ends the run; UBSan is fatal (-fno-sanitize-recover) and prints its stack.
# Leaks are checked per input (libFuzzer runs LeakSanitizer after every input that freed less than
# it allocated); the check at exit is off: LeakSanitizer itself can crash scanning the threads of
# a process that ran fibers with alternate signal stacks for minutes.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:leak_check_at_exit=0:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export TEEMU_LOG=${TEEMU_LOG:-error}

failed=0
rows=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  seeds="fuzz/corpus/${t%_fuzz}"
  log="$build/fuzz-$t.log"
  mkdir -p "$corpus" "$artifacts"
  [[ -d $seeds ]] || seeds=
  echo "== fuzz: $t for $seconds s"
  "$build/fuzz/$t" -max_total_time="$seconds" -print_final_stats=1 -timeout=60 \
    ${TEEMU_FUZZ_SEED:+-seed="$TEEMU_FUZZ_SEED"} \
    -rss_limit_mb=4096 -artifact_prefix="$artifacts/" "$corpus" ${seeds:+"$seeds"} >"$log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  units=$(find "$corpus" -type f | wc -l)
  result=ok
  if ((rc != 0)) || grep -qE "ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error:|==FUZZ FINDING==" "$log"; then
    result="FAILED (rc $rc)"
    failed=1
    grep -E "ERROR:|runtime error:|==FUZZ FINDING==|SUMMARY:|Test unit written" "$log" | head -8 | sed 's/^/   /'
    echo "   full log: $log"
  fi
  # The saved inputs of earlier findings: fixed ones must pass, known ones stay quiet.
  regressions="fuzz/regressions/${t%_fuzz}"
  if [[ -d $regressions ]] && compgen -G "$regressions/*" >/dev/null; then
    if ! "$build/fuzz/$t" -runs=1 "$regressions"/* >"$build/fuzz-$t-regressions.log" 2>&1; then
      result="FAILED (regression inputs)"
      failed=1
      grep -E "ERROR:|runtime error:|==FUZZ FINDING==|Running:" "$build/fuzz-$t-regressions.log" | tail -6 | sed 's/^/   /'
    fi
  fi
  rows+=("$(printf '%-20s %12s %10s %8s  %s' "$t" "${runs:-0}" "${rate:-0}" "$units" "$result")")
done

echo
printf '%-20s %12s %10s %8s  %s\n' target executions "exec/s" corpus result
for r in "${rows[@]}"; do echo "$r"; done
exit $failed
