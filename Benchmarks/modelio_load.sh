#!/bin/sh
# Time to open a model directory and read every float tensor as float32: ModelIO (release, -O) vs the Python
# safetensors reference (safetensors.numpy.load_file + astype(float32)). Medians of 5 runs, same machine.
# Usage: Benchmarks/modelio_load.sh [model_dir]   (run from the package root)
set -e
MODEL=${1:-models/all-MiniLM-L6-v2}
BIN=${TMPDIR:-/tmp}/modelio_load_bench
swiftc -O -module-name ModelIOBench Sources/ModelIO/*.swift Benchmarks/modelio/main.swift -o "$BIN"
OURS=$("$BIN" "$MODEL")
echo "$OURS"
REF=$(python3 - "$MODEL" <<'PY'
import sys, time, statistics, glob
import numpy as np
from safetensors.numpy import load_file
path = sys.argv[1]
times = []
for _ in range(5):
    t = time.perf_counter()
    files = glob.glob(path + "/*.safetensors")
    n = 0
    for f in files:
        for k, v in load_file(f).items():
            if v.dtype.kind == "f":
                n += v.astype(np.float32).size
    times.append(time.perf_counter() - t)
print("python_safetensors_load_s", statistics.median(times), "floats", n)
PY
)
echo "$REF"
echo "$OURS $REF" | awk '{ printf "ratio python/swift time: %.2fx\n", $6 / $2 }'
