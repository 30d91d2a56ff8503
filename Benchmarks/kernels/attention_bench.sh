#!/usr/bin/env bash
# The CPU attention kernel (Sources/CPUKernels/attention_avx2.c) at a git revision next to the working tree,
# side by side: the same harness (attention_heads.c: job-like batches, cold caches, the sequence's rows touched
# first) built against each, run in interleaved rounds; prints microseconds per head, the median of each and
# their ratio. Token lengths: one count per text (default: the demo corpus's first 5,000 texts through the
# model's tokenizer, written by this script with the Python `tokenizers` package).
# Usage: Benchmarks/kernels/attention_bench.sh [--base REV] [--lengths FILE] [--runs N]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
base=HEAD; lengths=""; runs=5
while [ $# -gt 0 ]; do
    case "$1" in
        --base) base="$2"; shift 2 ;;
        --lengths) lengths="$2"; shift 2 ;;
        --runs) runs="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
work="$(mktemp -d)"; trap 'rm -rf "$work"' EXIT
if [ -z "$lengths" ]; then
    lengths="$work/lengths.txt"
    python3 - "$root" "$lengths" <<'PY'
import csv, sys
from tokenizers import Tokenizer
root, out = sys.argv[1], sys.argv[2]
tok = Tokenizer.from_file(f"{root}/models/all-MiniLM-L6-v2/tokenizer.json")
tok.no_padding(); tok.enable_truncation(256)
with open(f"{root}/data/demo/movie-reviews.csv", newline="") as f:
    texts = [row["text"] for _, row in zip(range(5000), csv.DictReader(f))]
open(out, "w").write(" ".join(str(len(e.ids)) for e in tok.encode_batch(texts)))
PY
fi
k="$root/Sources/CPUKernels"
build() {  # $1: output binary, $2: attention_avx2.c to build
    clang -O3 -I"$k/include" -I"$k" -DHEAD=fz_avx2_attention_head -o "$1" "$root/Benchmarks/kernels/attention_heads.c" \
        "$2" "$k/touch.c" "$k/math_avx2.c" -lm
}
git -C "$root" show "$base:Sources/CPUKernels/attention_avx2.c" > "$work/attention_base.c"
cp "$k"/*.h "$work/"
build "$work/base" "$work/attention_base.c"
build "$work/current" "$k/attention_avx2.c"
for i in $(seq "$runs"); do
    for v in base current; do echo "$v $("$work/$v" "$lengths" 2)"; done
done | tee "$work/log"
python3 - "$work/log" "$base" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    v, us = line.split()[:2]
    t.setdefault(v, []).append(float(us))
b, c = statistics.median(t["base"]), statistics.median(t["current"])
print(f"median us/head: {sys.argv[2]} {b:.3f}, working tree {c:.3f}; working tree is {b / c:.2f}x as fast")
PY
