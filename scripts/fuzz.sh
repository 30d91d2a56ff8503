#!/usr/bin/env bash
# Runs the libFuzzer targets of the FeaturizeFuzz executable (issue 7).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]      default: 60 seconds each, every target
#
# Builds FeaturizeFuzz with -sanitize=fuzzer,address (release, lld) into .build-fuzz, then runs each target
# for SECONDS over its committed seed corpus Fuzz/corpus/<target>/ plus a fresh working corpus in a temp dir
# (the committed corpus is never modified). Crash / timeout / OOM inputs are written to
# Fuzz/artifacts/<target>/ (git-ignored); turn each into a regression test (see docs/fuzzing.md).
# Prints per target: seconds, executions, new corpus size, findings. Exit status 1 if any target found one.
#
# Environment: FUZZ_JOBS=N runs N targets at once (default 1); FUZZ_NO_BUILD=1 skips the build;
# FUZZ_BIN=path uses another binary; FUZZ_RSS_MB (default 2048) and FUZZ_TIMEOUT_S (default 10) are the
# per-input memory and time limits. FUZZ_DETECT_LEAKS=1 turns LeakSanitizer on (off by default: it reports a
# 4 KB leak inside FoundationEssentials' readBytesFromFile for an empty file, FileManager.contents(atPath:)).
set -uo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH=${1:-60}
shift || true
ALL_TARGETS=(safetensors config json model-dir txt jsonl csv npy-header scheduler-text manifest shard-record tokenizer-json tokenize tokenizer-dir)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")
JOBS=${FUZZ_JOBS:-1}
BIN=${FUZZ_BIN:-.build-fuzz/release/FeaturizeFuzz}

if [ -z "${FUZZ_NO_BUILD:-}" ] && [ -z "${FUZZ_BIN:-}" ]; then
    echo "== building FeaturizeFuzz with libFuzzer + AddressSanitizer (release) =="
    swift build --product FeaturizeFuzz --scratch-path .build-fuzz -c release \
        -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING \
        -Xswiftc -Xclang-linker -Xswiftc -fuse-ld=lld || exit 2
fi
[ -x "$BIN" ] || { echo "no fuzz binary at $BIN" >&2; exit 2; }

# Per-target input size limit (bytes).
max_len() {
    case "$1" in
        safetensors) echo 16384 ;;
        model-dir|config|json) echo 4096 ;;
        txt|jsonl|csv) echo 8192 ;;
        npy-header) echo 1024 ;;
        scheduler-text) echo 64 ;;
        tokenizer-json) if [ -n "${FUZZ_TOKENIZER_FULL:-}" ]; then echo 600000; else echo 65536; fi ;;
        tokenize) echo 4096 ;;
        tokenizer-dir) echo 8192 ;;
        *) echo 4096 ;;
    esac
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/featurize-fuzz.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# Run a copy, so a rebuild during a long run does not replace the binary under the fuzzers.
RUN_BIN=$WORK/FeaturizeFuzz
cp "$BIN" "$RUN_BIN"

run_one() {
    local target=$1
    local seeds=Fuzz/corpus/$target
    local corpus=$WORK/$target
    local artifacts=Fuzz/artifacts/$target/
    mkdir -p "$corpus" "$artifacts"
    local extra=()
    if [ "$target" = tokenizer-json ] && [ -n "${FUZZ_TOKENIZER_FULL:-}" ] && [ -f models/all-MiniLM-L6-v2/tokenizer.json ]; then
        # FUZZ_TOKENIZER_FULL=1: the real 466 KB tokenizer.json is a seed too (about 2 executions/s under ASan,
        # so by default only the committed ~6 KB cut-down versions are used, at about 100x the rate).
        mkdir -p "$WORK/seeds-$target" && cp models/all-MiniLM-L6-v2/tokenizer.json "$WORK/seeds-$target/"
        extra=("$WORK/seeds-$target")
    fi
    local dict=()
    [ -f "Fuzz/dict/$target.dict" ] && dict=(-dict="Fuzz/dict/$target.dict")
    local start end
    start=$(date +%s)
    local leaks=${FUZZ_DETECT_LEAKS:-0}
    ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=$leaks} SWIFT_BACKTRACE=enable=no FUZZ_TARGET=$target "$RUN_BIN" "$corpus" "$seeds" "${extra[@]}" "${dict[@]}" \
        -max_total_time="$SECONDS_EACH" -max_len="$(max_len "$target")" \
        -rss_limit_mb="${FUZZ_RSS_MB:-2048}" -timeout="${FUZZ_TIMEOUT_S:-10}" \
        -detect_leaks="$leaks" -print_final_stats=1 -artifact_prefix="$artifacts" -close_fd_mask=3 \
        > "$WORK/$target.log" 2>&1
    local rc=$?
    end=$(date +%s)
    local execs units findings
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$WORK/$target.log" | grep -o '[0-9]*$' | tail -1)
    units=$(find "$corpus" -type f | wc -l)
    findings=$(grep -cE '^==[0-9]+==ERROR|^SUMMARY: libFuzzer|deadly signal|Fatal error|runtime failure' "$WORK/$target.log")
    printf '%-15s %6ss  execs %-10s corpus %-6s rc %-3s findings %s\n' "$target" "$((end - start))" \
        "${execs:-?}" "$units" "$rc" "$findings"
    if [ "$rc" -ne 0 ]; then
        echo "---- $target: last lines of the libFuzzer log ----"
        tail -40 "$WORK/$target.log"
        ls -1 "$artifacts"
        echo "----"
        cp "$WORK/$target.log" "Fuzz/artifacts/$target.log"
        return 1
    fi
}

echo "== fuzzing ${TARGETS[*]} for ${SECONDS_EACH}s each, $JOBS at a time =="
status=0
running=0
for target in "${TARGETS[@]}"; do
    run_one "$target" &
    running=$((running + 1))
    if [ "$running" -ge "$JOBS" ]; then
        wait -n || status=1
        running=$((running - 1))
    fi
done
while [ "$running" -gt 0 ]; do
    wait -n || status=1
    running=$((running - 1))
done
exit $status
