#!/usr/bin/env bash
# Replays the committed fuzz inputs (seed corpora Fuzz/corpus/<target>/ and past crashes
# Fuzz/regressions/<target>/) through the FeaturizeFuzz executable built normally (no fuzzer, no sanitizer):
# a cheap CI check that every input that once crashed is now handled.
#
#   scripts/fuzz-replay.sh [TARGET...]       default: every target with a corpus or regression folder
set -uo pipefail
cd "$(dirname "$0")/.."
swift build --product FeaturizeFuzz > /tmp/featurize-fuzz-replay-build.log 2>&1 || {
    tail -20 /tmp/featurize-fuzz-replay-build.log; exit 2; }
BIN=$(swift build --product FeaturizeFuzz --show-bin-path)/FeaturizeFuzz
TARGETS=("$@")
if [ ${#TARGETS[@]} -eq 0 ]; then
    TARGETS=($( (ls Fuzz/corpus; ls Fuzz/regressions 2>/dev/null) | sort -u))
fi
status=0
for target in "${TARGETS[@]}"; do
    dirs=()
    for d in "Fuzz/corpus/$target" "Fuzz/regressions/$target"; do [ -d "$d" ] && dirs+=("$d"); done
    if SWIFT_BACKTRACE=enable=no FUZZ_TARGET=$target "$BIN" "${dirs[@]}"; then :; else
        echo "FAILED: $target"; status=1
    fi
done
exit $status
