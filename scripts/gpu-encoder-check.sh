#!/usr/bin/env bash
# Whole-encoder check on a GPU machine, after scripts/gpu-pack.sh staged DIR (default .gpu) and with the
# machine's python3 holding torch + transformers: random MiniLM-shaped and BERT-base models (seeded), 128
# texts x 128 tokens, featurize on OpenCL vs PyTorch fp32 (TF32 off) on the same GPU, parity of the last
# hidden state, and torch.matmul fp32 GFLOP/s at the encoder's GEMM shapes. Prints one table last.
# Usage: scripts/gpu-encoder-check.sh [DIR] [OUT]
set -uo pipefail
cd "$(dirname "$0")/.."
dir="$(cd "${1:-.gpu}" && pwd)"
out="${2:-${OUT:-/tmp/featurize-gpu-out}}"
mkdir -p "$out"
export OCL_ICD_VENDORS="${OCL_ICD_VENDORS:-$dir/vendors}" FEATURIZE_CACHE_DIR="${FEATURIZE_CACHE_DIR:-$dir/cache}"
export LD_LIBRARY_PATH="$dir:${LD_LIBRARY_PATH:-}"
bin="$dir/featurize"
[ -f "$bin.gz" ] && gunzip -f "$bin.gz" && chmod +x "$bin"
py="python3 Benchmarks/gpu_torch_baseline.py"
work=$(mktemp -d)
$py make-models "$work" "$dir/tok" > /dev/null 2>&1 || { echo "model creation failed"; exit 1; }
$py ids "$work/ids.npy" "${BATCH:-128}" "${SEQ:-128}" > /dev/null
rows=()
for m in minilm bert-base; do
    ours=$("$bin" bench-encoder --model "$work/$m" --ids "$work/ids.npy" --device opencl:0 --runs 10 --warmup 3 \
           --hidden-out "$work/$m.ours.npy" 2>&1 | tee -a "$out/encoder.log" | grep '^bench-encoder' )
    torch=$($py bench "$work/$m" "$work/ids.npy" 2>/dev/null | tail -1)
    $py hidden "$work/$m" "$work/ids.npy" "$work/$m.torch.npy" > /dev/null 2>&1
    diff=$(python3 -c "
import numpy as np
a = np.load('$work/$m.ours.npy').reshape(-1); b = np.load('$work/$m.torch.npy').reshape(-1)
print(f'{np.abs(a - b).max():.2e}')" 2>&1)
    echo "$ours" ; echo "$torch"
    rows+=("$m|$ours|$torch|$diff")
done
$py gemm > "$work/gemm.json" 2>/dev/null; cat "$work/gemm.json" >> "$out/encoder.log"
echo
echo "| model (128 x 128) | featurize OpenCL texts/s | featurize GFLOP/s | PyTorch fp32 texts/s | ratio | max abs diff vs PyTorch |"
echo "|---|---:|---:|---:|---:|---:|"
for r in "${rows[@]}"; do
    IFS='|' read -r m ours torch diff <<< "$r"
    python3 - "$m" "$ours" "$torch" "$diff" <<'PY'
import json, re, sys
m, ours, torch, diff = sys.argv[1:]
o = re.search(r"([0-9.]+) texts/s, [0-9]+ tokens/s, ([0-9.]+) GFLOP/s", ours)
t = json.loads(torch) if torch.startswith("{") else {}
ot, og = (float(o.group(1)), float(o.group(2))) if o else (float("nan"), float("nan"))
tt = t.get("texts_per_s", float("nan"))
print(f"| {m} | {ot:.1f} | {og:.0f} | {tt:.1f} | {ot / tt:.2f} | {diff} |")
PY
done
python3 - "$work/gemm.json" <<'PY'
import json, sys
try:
    g = json.load(open(sys.argv[1]))["torch_matmul_fp32"]
    print("\ntorch.matmul fp32 (TF32 off) GFLOP/s: " + ", ".join(f"{r['m']}x{r['n']}x{r['k']}: {r['gflops']:.0f}" for r in g))
except Exception as e:
    print("torch gemm failed:", e)
PY
