#!/usr/bin/env bash
# OpenCL GEMM throughput (`featurize bench-gemm`, device event timings) next to OpenBLAS through numpy on the
# host CPU, at the encoder's GEMM shapes; prints each ratio. The OpenBLAS column is the CPU ceiling, the
# fair comparison for a CPU OpenCL device (PoCL); on a GPU it shows the speed-up over the host.
# Usage: Benchmarks/opencl_gemm.sh [--device opencl:N] [--tokens M] [--hidden 384,768] [--binary PATH]
set -euo pipefail
cd "$(dirname "$0")/.."
device=opencl; tokens=1024; hidden=384; bin=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device="$2"; shift 2 ;;
        --tokens) tokens="$2"; shift 2 ;;
        --hidden) hidden="$2"; shift 2 ;;
        --binary) bin="$2"; shift 2 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$bin" ]; then
    swift build -c release --product featurize >/dev/null
    bin="$(swift build -c release --show-bin-path)/featurize"
fi
ours="$("$bin" bench-gemm --device "$device" --tokens "$tokens" --hidden "$hidden" --variant both --repetitions 5 --warmup 2)"
echo "$ours"
echo "$ours" | python3 -c '
import re, sys, time
import numpy as np
print("shape                          tiled    cpu-variant   OpenBLAS(numpy)  best-OpenCL/OpenBLAS")
for line in sys.stdin:
    m = re.match(r"\s+M=(\d+) N=(\d+) K=(\d+)\s+tiled: ([\d.]+) GFLOP/s\s+cpu: ([\d.]+) GFLOP/s", line)
    if not m: continue
    M, N, K = map(int, m.groups()[:3]); tiled, cpu = float(m.group(4)), float(m.group(5))
    a = np.random.rand(M, K).astype(np.float32); w = np.random.rand(N, K).astype(np.float32)
    times = []
    for i in range(7):
        t = time.perf_counter(); c = a @ w.T; times.append(time.perf_counter() - t)
    blas = 2 * M * N * K / sorted(times)[3] / 1e9
    print(f"M={M} N={N} K={K}".ljust(30), f"{tiled:8.1f} {cpu:12.1f} {blas:14.1f} {max(tiled, cpu) / blas:18.2f}x")
'
