#!/usr/bin/env bash
# Runs the test suites under Swift's sanitizers (issue 7).
#
#   scripts/sanitize.sh [SANITIZER...] [-- FILTER...]
#     SANITIZER: address (default), thread, undefined;  FILTER: swift test --filter patterns
#     (default: ModelIOTests SchedulerTests CLITests)
#
# Each sanitizer builds into its own scratch folder (.build-san-<name>, git-ignored by .build-*) so the
# normal .build stays valid. Linked with lld (the gold linker crashes on sanitizer builds here).
# Prints per sanitizer and filter: pass/fail and seconds; exit status 1 if any run failed.
set -uo pipefail
cd "$(dirname "$0")/.."
SANITIZERS=()
FILTERS=()
while [ $# -gt 0 ]; do
    if [ "$1" = "--" ]; then shift; FILTERS=("$@"); break; fi
    SANITIZERS+=("$1"); shift
done
[ ${#SANITIZERS[@]} -eq 0 ] && SANITIZERS=(address)
[ ${#FILTERS[@]} -eq 0 ] && FILTERS=(ModelIOTests SchedulerTests CLITests)

# Reports go to the log; halt on the first error so a finding fails the run.
# use_sigaltstack=0: pocl (the CPU OpenCL driver the OpenCL tests load) calls LLVM's RemoveFileOnSignal, which
# replaces ASan's per-thread signal stack with a malloc'd one; when that thread exits, ASan munmaps it and dies
# with "AddressSanitizer: CHECK failed: ... unable to unmmap" (not a finding in this code). Without its own
# signal stacks ASan still reports every memory error; only a stack overflow is a plain SIGSEGV (still a failure).
# allocator_may_return_null=1: tests ask for impossible allocations on purpose and expect an out-of-memory
# error (posix_memalign returning nonzero), which ASan would otherwise turn into an abort.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:halt_on_error=1:use_sigaltstack=0:allocator_may_return_null=1}
export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:allocator_may_return_null=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}
export SWIFT_BACKTRACE=enable=no

status=0
mkdir -p .build-san-logs
for san in "${SANITIZERS[@]}"; do
    scratch=.build-san-$san
    flags=(--sanitize="$san" --scratch-path "$scratch" -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld)
    start=$(date +%s)
    if ! swift build --build-tests "${flags[@]}" > ".build-san-logs/$san-build.log" 2>&1; then
        echo "$san: BUILD FAILED after $(( $(date +%s) - start ))s (see .build-san-logs/$san-build.log)"
        tail -20 ".build-san-logs/$san-build.log"
        status=1
        continue
    fi
    echo "$san: built tests in $(( $(date +%s) - start ))s"
    for filter in "${FILTERS[@]}"; do
        start=$(date +%s)
        log=.build-san-logs/$san-$filter.log
        if swift test --skip-build "${flags[@]}" --filter "$filter" > "$log" 2>&1; then
            result=PASS
        else
            result=FAIL
        fi
        # A report from a child process (the CLI binary the tests run, built with the same sanitizer) fails the
        # run even when the test did not look at that child's exit status (e.g. one it kills on purpose).
        if grep -qE "WARNING: ThreadSanitizer|ERROR: AddressSanitizer|runtime error:" "$log"; then result=FAIL; fi
        [ "$result" = FAIL ] && status=1
        summary=$(grep -E "Test run with|Executed [1-9][0-9]* tests" "$log" | tr '\n' ' ')
        echo "$san $filter: $result in $(( $(date +%s) - start ))s  $summary"
        if [ "$result" = FAIL ]; then grep -E "Sanitizer|WARNING: ThreadSanitizer|runtime error|failed" "$log" | head -20; fi
    done
done
exit $status
