#!/usr/bin/env bash
# Builds teemu with clang's sanitizers and runs the tests under them:
#   asan   the whole suite under ASan + UBSan (clang, -Wthread-safety -Werror), in build-asan
#   tsan   the concurrency tests under TSan (clang), in build-tsan
# Any sanitizer report fails the test it happens in (UBSan does not recover; ASan's leak check is
# on at exit), so a green run means no report at all.
#
# Usage: scripts/sanitizers.sh [asan|tsan]...   (default: both)
#   TEEMU_SANITIZER_JOBS   parallel build and test jobs (default: nproc)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v clang++ >/dev/null || ! compgen -G "/usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.tsan-*.a" >/dev/null; then
  scripts/setup.sh --with-tools
fi
scripts/setup.sh

jobs=${TEEMU_SANITIZER_JOBS:-$(nproc)}
modes=("$@")
((${#modes[@]})) || modes=(asan tsan)

# Tests a sanitized build cannot run as they are: the install test builds the examples with the
# host compiler against the (sanitized) installed libteec, which an unsanitized executable cannot
# load; the benchmark smoke run measures nothing useful under a sanitizer.
not_sanitizable='^install_and_examples$|^bench_quick'

# The concurrency tests: several client, secure or supplicant threads at once, cancellation,
# teardown under calls, the soaks, and the suites built around races (uapi ids, driver call
# queue, secure threads and RPC, guests). The suite's other registrations of the same tests
# (.no_carveout, .one_thread, .in_guest) add configurations, not concurrency.
concurrency='^(soak_|uapi_test\.|driver_rpc_test\.|secure_entry_test\.|virt_test\.|virt_smoke_test\.|ta_isolation_test\.)'
concurrency+='|Concurren|Race|Thread|Cancel|Finaliz|Supplicant|Release|Destroy|Wait|Stress|Many'
variants='\.(no_carveout|one_thread|in_guest)$'

stage() {
  local name=$1
  shift
  local start=$SECONDS
  echo "== sanitizers: $name"
  "$@"
  echo "   $name: $((SECONDS - start)) s"
}

build() {
  local preset=$1
  cmake --preset "$preset" >/dev/null
  ninja -C "build-$preset" -j "$jobs"
}

for mode in "${modes[@]}"; do
  case $mode in
    asan)
      stage "asan+ubsan build (clang, -Wthread-safety -Werror)" build asan
      stage "asan+ubsan: whole suite" env ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
        UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        ctest --test-dir build-asan --output-on-failure -j "$jobs" --timeout 600 -E "$not_sanitizable"
      ;;
    tsan)
      stage "tsan build" build tsan
      stage "tsan: concurrency tests" env TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1 \
        ctest --test-dir build-tsan --output-on-failure -j "$jobs" --timeout 600 -R "$concurrency" \
        -E "$not_sanitizable|$variants"
      ;;
    *)
      echo "usage: scripts/sanitizers.sh [asan|tsan]..." >&2
      exit 2
      ;;
  esac
done
