#!/usr/bin/env bash
# The GPU check (issue 19), one command on a GPU machine, from the folder scripts/gpu-pack.sh staged (no Swift
# toolchain, no network needed):
#   1. devices, and the kernel self-test on every OpenCL device in each compute precision (fp32, fp16, tf32:
#      the self-test says which path runs, e.g. tensor cores or the portable fallback);
#   2. GEMM and attention TFLOP/s per kernel variant (`featurize bench-gemm`) next to CLBlast (`clblast_gemm`,
#      the tuned OpenCL BLAS, carried with its library) at the same shapes on the same device;
#   3. if python3 has torch + transformers (the GPU machine's image has them): random MiniLM-shaped and
#      BERT-base models (seeded), 128 texts x 128 tokens, featurize in fp32/fp16/tf32 next to PyTorch fp32
#      (TF32 off), TF32 and fp16 on the same ids, with the accuracy of every run against PyTorch fp32;
#   4. the same models on a real length-mixed corpus (DIR/corpus.txt, movie-review lines) through
#      `featurize extract` (whole process timed) next to PyTorch tokenising and encoding the same texts in
#      length-sorted batches of 128, with the embeddings' agreement.
# It ends with one table of ratios. Usage:
#   gpu-check.sh [DIR] [--device opencl:N] [--tune] [--out OUT] [--skip-torch] [--batch B] [--seq S]
#                [--corpus-lines N] [--tokens M]
#   DIR defaults to this script's folder. OCL_ICD_VENDORS defaults to DIR/vendors (nvidia.icd naming
#   libnvidia-opencl.so.1); set it yourself to use the system's ICDs (e.g. /etc/OpenCL/vendors).
#   The program cache and tuning files go to $FEATURIZE_CACHE_DIR (default DIR/cache). Logs go to OUT
#   (default $OUT, else /tmp/featurize-gpu-check). PYTHON picks the interpreter (default python3).
#   --tokens M sets the GEMM rows (default 4096). The same script runs on PoCL for a dry run:
#   `OCL_ICD_VENDORS=/etc/OpenCL/vendors gpu-check.sh .gpu --device opencl:0 --tokens 64 --batch 4 --seq 16
#   --corpus-lines 40`.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
dir="$here"
device=""
tune=0
skip_torch=0
batch=128
seq=128
corpus_lines=8192
tokens=4096
out="${OUT:-/tmp/featurize-gpu-check}"
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device="$2"; shift 2 ;;
        --tune) tune=1; shift ;;
        --out) out="$2"; shift 2 ;;
        --skip-torch) skip_torch=1; shift ;;
        --batch) batch="$2"; shift 2 ;;
        --seq) seq="$2"; shift 2 ;;
        --corpus-lines) corpus_lines="$2"; shift 2 ;;
        --tokens) tokens="$2"; shift 2 ;;
        -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
        -*) echo "gpu-check.sh: unknown option $1" >&2; exit 64 ;;
        *) dir="$(cd "$1" && pwd)"; shift ;;
    esac
done
mkdir -p "$out"
out="$(cd "$out" && pwd)"
export OCL_ICD_VENDORS="${OCL_ICD_VENDORS:-$dir/vendors}"
export FEATURIZE_CACHE_DIR="${FEATURIZE_CACHE_DIR:-$dir/cache}"
export LD_LIBRARY_PATH="$dir:${LD_LIBRARY_PATH:-}"
py="${PYTHON:-python3}"
bin="$dir/featurize"
[ -f "$bin.gz" ] && gunzip -f "$bin.gz" && chmod +x "$bin"
for packed in "$dir"/lib*.so*.gz; do [ -f "$packed" ] && gunzip -f "$packed"; done  # gpu-pack.sh ships them gzipped
# The PyTorch side: next to this script when staged by gpu-pack.sh, else in the checkout.
torch_py="$dir/gpu_torch_baseline.py"
[ -f "$torch_py" ] || torch_py="$here/../Benchmarks/gpu_torch_baseline.py"
status=0
summary="$out/summary.md"
: > "$summary"
log() { echo "$@" | tee -a "$out/check.log"; }
run() { "$@" 2>&1 | tee -a "$out/check.log"; return "${PIPESTATUS[0]}"; }

log "== host: $(uname -srm); glibc $(ldd --version 2>/dev/null | head -1 | awk '{print $NF}')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader | tee -a "$out/check.log"
log "== OCL_ICD_VENDORS=$OCL_ICD_VENDORS"
log "== featurize devices"
run "$bin" devices || status=1
if [ -z "$device" ]; then
    device=$("$bin" devices 2>/dev/null | awk '/^opencl:[0-9]+ / {print $1; exit}')
fi
[ -n "$device" ] || { log "no OpenCL device found"; exit 1; }
ordinal="${device#opencl:}"; [ "$ordinal" = "opencl" ] && ordinal=0

# Which compute precisions this build accepts (fp32 always).
precisions="fp32"
if "$bin" bench-encoder --help 2>/dev/null | grep -q -- '--compute-precision'; then
    precisions="fp32 fp16 tf32"
fi

# 1. Self-test per precision.
for p in $precisions; do
    log "== featurize selftest --device $device --compute-precision $p"
    if [ "$p" = fp32 ]; then run "$bin" selftest --device "$device" || status=1
    else run "$bin" selftest --device "$device" --compute-precision "$p" || status=1; fi
done
if [ "$tune" = 1 ]; then
    log "== featurize tune --device $device"
    run "$bin" tune --device "$device" --hidden 384 || status=1
fi

# 2. GEMM and attention next to CLBlast.
log "== featurize bench-gemm --device $device"
run "$bin" bench-gemm --device "$device" --tokens "$tokens" --hidden 384,768 --variant both --repetitions 7 --warmup 3 \
    --attention > "$out/bench-gemm.log" || status=1
if [ -x "$dir/clblast_gemm" ]; then
    log "== CLBlast at the same shapes"
    run "$dir/clblast_gemm" --device "$ordinal" --tokens "$tokens" --hidden 384,768 --batch "$batch" --seq "$seq" --heads 12 \
        --repetitions 7 --warmup 3 > "$out/clblast.log" || status=1
else
    log "(no clblast_gemm in $dir: CLBlast comparison skipped)"
fi
{
    echo "## GEMM and attention on $device (GFLOP/s, median)"
    echo
    echo '```'
    grep -E 'GFLOP|TFLOP' "$out/bench-gemm.log" "$out/clblast.log" 2>/dev/null | sed "s|$out/||"
    echo '```'
    echo
} >> "$summary"

if [ "$skip_torch" = 1 ] || ! "$py" -c 'import torch, transformers' 2>/dev/null; then
    log "(PyTorch comparison skipped: --skip-torch or no torch/transformers in $py)"
    cat "$summary"
    log "== gpu-check finished with status $status"
    exit $status
fi

# 3. Encoder at batch x seq on random models, every precision, next to PyTorch.
work="$out/work"
mkdir -p "$work"
"$py" "$torch_py" make-models "$work" "$dir/tok" > /dev/null 2>&1 || { log "model creation failed"; exit 1; }
"$py" "$torch_py" ids "$work/ids.npy" "$batch" "$seq" > /dev/null
{
    echo "## Encoder, $batch texts x $seq tokens (random weights, seeded), texts/s"
    echo
    echo "| model | engine | precision | texts/s | vs PyTorch fp32 | max abs diff vs PyTorch fp32 (last hidden) | min cosine per token |"
    echo "|---|---|---|---:|---:|---:|---:|"
} >> "$summary"
compare() {  # compare A.npy B.npy -> "maxabs mincos" (rows = last axis vectors)
    "$py" - "$1" "$2" <<'PY'
import sys, numpy as np
a = np.load(sys.argv[1]).astype(np.float64); b = np.load(sys.argv[2]).astype(np.float64)
if a.size != b.size or a.shape[-1] != b.shape[-1]:  # bench-encoder writes [batch * seq, hidden]
    print("n/a", f"shapes-{a.shape}-{b.shape}".replace(" ", "")); sys.exit()
a2 = a.reshape(-1, a.shape[-1]); b2 = b.reshape(-1, b.shape[-1])
cos = (a2 * b2).sum(1) / np.maximum(np.linalg.norm(a2, axis=1) * np.linalg.norm(b2, axis=1), 1e-30)
print(f"{np.abs(a2 - b2).max():.2e} {cos.min():.7f}")
PY
}
rate() { sed -n 's/.* \([0-9.]*\) texts\/s.*/\1/p' | head -1; }
for m in minilm bert-base; do
    "$py" "$torch_py" hidden "$work/$m" "$work/ids.npy" "$work/$m.torch-fp32.npy" fp32 > /dev/null 2>&1
    "$py" "$torch_py" bench "$work/$m" "$work/ids.npy" fp32,tf32,fp16 2>/dev/null | tee -a "$out/check.log" > "$work/$m.torch.jsonl"
    base=$("$py" -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1])][0]['texts_per_s'])" "$work/$m.torch.jsonl" 2>/dev/null)
    for p in fp32 tf32 fp16; do
        t=$("$py" -c "import json,sys; print(f\"{next(json.loads(l)['texts_per_s'] for l in open(sys.argv[1]) if json.loads(l)['precision']==sys.argv[2]):.1f}\")" "$work/$m.torch.jsonl" "$p" 2>/dev/null)
        ratio=$("$py" -c "print(f'{float(\"$t\") / float(\"$base\"):.2f}')" 2>/dev/null)
        echo "| $m | PyTorch | $p | $t | $ratio | | |" >> "$summary"
    done
    for p in $precisions; do
        flag=(); [ "$p" = fp32 ] || flag=(--compute-precision "$p")
        line=$("$bin" bench-encoder --model "$work/$m" --ids "$work/ids.npy" --device "$device" --runs 10 --warmup 3 \
               --hidden-out "$work/$m.ours-$p.npy" "${flag[@]}" 2>&1 | tee -a "$out/check.log" | grep '^bench-encoder')
        [ -n "$line" ] || { status=1; echo "| $m | featurize | $p | failed | | | |" >> "$summary"; continue; }
        t=$(echo "$line" | rate)
        path=$(echo "$line" | grep -o '\[[^]]*\]' | head -1)  # e.g. [tf32, tensor cores]: which path ran
        read -r maxabs mincos <<< "$(compare "$work/$m.ours-$p.npy" "$work/$m.torch-fp32.npy")"
        ratio=$("$py" -c "print(f'{float(\"$t\") / float(\"$base\"):.2f}')" 2>/dev/null)
        echo "| $m | featurize | $p ${path:-} | $t | $ratio | $maxabs | $mincos |" >> "$summary"
    done
done

# 4. A real corpus through `featurize extract` (mean pooling, max length 256, length-sorted batches of 128).
corpus="$dir/corpus.txt"
if [ -f "$corpus" ]; then
    head -n "$corpus_lines" "$corpus" > "$work/corpus.txt"
    n=$(wc -l < "$work/corpus.txt")
    {
        echo
        echo "## \`featurize extract\` on $n movie-review lines (mean pooling, max length 256, batches of 128), texts/s"
        echo
        echo "featurize is timed as a whole process (start-up, model load, tokenizing, encoding, writing);"
        echo "PyTorch from its first tokenization to the last pooled row (model load and CUDA start-up excluded)."
        echo
        echo "| model | engine | precision | texts/s | vs PyTorch fp32 | max abs diff vs PyTorch fp32 | min cosine |"
        echo "|---|---|---|---:|---:|---:|---:|"
    } >> "$summary"
    for m in minilm bert-base; do
        "$py" "$torch_py" corpus "$work/$m" "$work/corpus.txt" "$work/$m.corpus-torch" fp32,tf32,fp16 128 256 2>/dev/null \
            | tee -a "$out/check.log" > "$work/$m.corpus-torch.jsonl"
        base=$("$py" -c "import json,sys; print([json.loads(l) for l in open(sys.argv[1])][0]['texts_per_s'])" "$work/$m.corpus-torch.jsonl" 2>/dev/null)
        for p in fp32 tf32 fp16; do
            t=$("$py" -c "import json,sys; print(f\"{next(json.loads(l)['texts_per_s'] for l in open(sys.argv[1]) if json.loads(l)['precision']==sys.argv[2]):.1f}\")" "$work/$m.corpus-torch.jsonl" "$p" 2>/dev/null)
            read -r maxabs mincos <<< "$(compare "$work/$m.corpus-torch.$p.npy" "$work/$m.corpus-torch.fp32.npy")"
            ratio=$("$py" -c "print(f'{float(\"$t\") / float(\"$base\"):.2f}')" 2>/dev/null)
            echo "| $m | PyTorch | $p | $t | $ratio | $maxabs | $mincos |" >> "$summary"
        done
        # fp32 twice: pipelined batches (the default: batch k+1 enqueued before batch k's download is waited
        # for) and FEATURIZE_PIPELINE=0 (one batch at a time), so the table shows what the overlap gains.
        for run in fp32-nopipe $precisions; do
            p=${run%-nopipe}; pipe=1; label=$p
            [ "$run" = "$p" ] || { pipe=0; label="$p (FEATURIZE_PIPELINE=0)"; }
            flag=(); [ "$p" = fp32 ] || flag=(--compute-precision "$p")
            rm -f "$work/$m.corpus-ours-$run.npy"
            start=$(date +%s.%N)
            FEATURIZE_PIPELINE=$pipe "$bin" extract --model "$work/$m" --input "$work/corpus.txt" --output "$work/$m.corpus-ours-$run.npy" \
                --pooling mean --max-length 256 --batch-size 128 --max-batch-tokens 32768 --device "$device" \
                --overwrite "${flag[@]}" > "$work/extract.err" 2>&1 || { status=1; cat "$work/extract.err" >> "$out/check.log"; echo "| $m | featurize | $label | failed | | | |" >> "$summary"; continue; }
            end=$(date +%s.%N)
            cat "$work/extract.err" >> "$out/check.log"
            path=""; [ "$p" = fp32 ] || path=$(grep -q 'tensor cores (mma.sync' "$work/extract.err" && echo "[tensor cores]" || echo "[portable]")
            t=$("$py" -c "print(f'{$n / ($end - $start):.1f}')")
            read -r maxabs mincos <<< "$(compare "$work/$m.corpus-ours-$run.npy" "$work/$m.corpus-torch.fp32.npy")"
            ratio=$("$py" -c "print(f'{float(\"$t\") / float(\"$base\"):.2f}')" 2>/dev/null)
            echo "| $m | featurize | $label $path | $t | $ratio | $maxabs | $mincos |" >> "$summary"
        done
    done
else
    log "(no $corpus: the corpus comparison skipped)"
fi
"$py" "$torch_py" gemm 2>/dev/null | tee -a "$out/check.log" > "$work/torch-gemm.json"
"$py" - "$work/torch-gemm.json" >> "$summary" <<'PY'
import json, sys
try:
    g = json.load(open(sys.argv[1]))["torch_matmul_fp32"]
    print("\ntorch.matmul fp32 (TF32 off) GFLOP/s: " + ", ".join(f"{r['m']}x{r['n']}x{r['k']}: {r['gflops']:.0f}" for r in g))
except Exception as e:
    print("\ntorch gemm failed:", e)
PY
echo
cat "$summary"
log "== gpu-check finished with status $status"
exit $status
