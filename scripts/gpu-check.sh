#!/usr/bin/env bash
# Runs the OpenCL checks on a GPU machine from a folder staged by scripts/gpu-pack.sh (no Swift toolchain, no
# network needed): lists devices, runs the kernel parity self-test on every OpenCL device (or the one given),
# and measures GEMM throughput at the encoder's shapes (MiniLM hidden 384, BERT-base 768; M = 4096 tokens) and
# the attention core's TFLOP/s with the fused kernel (flash_attention.cl) and the unfused path side by side.
# Usage: gpu-check.sh [DIR] [--device opencl:N] [--tune]
#   DIR defaults to this script's folder. OCL_ICD_VENDORS defaults to DIR/vendors (nvidia.icd naming
#   libnvidia-opencl.so.1); set it yourself to use the system's ICDs (e.g. /etc/OpenCL/vendors).
#   The program cache and tuning files go to $FEATURIZE_CACHE_DIR (default DIR/cache).
set -uo pipefail
dir="$(cd "$(dirname "$0")" && pwd)"
device=""
tune=0
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device="$2"; shift 2 ;;
        --tune) tune=1; shift ;;
        *) dir="$(cd "$1" && pwd)"; shift ;;
    esac
done
export OCL_ICD_VENDORS="${OCL_ICD_VENDORS:-$dir/vendors}"
export FEATURIZE_CACHE_DIR="${FEATURIZE_CACHE_DIR:-$dir/cache}"
bin="$dir/featurize"
[ -f "$bin.gz" ] && gunzip -f "$bin.gz" && chmod +x "$bin"
status=0
echo "== host: $(uname -srm); glibc $(ldd --version 2>/dev/null | head -1 | awk '{print $NF}')"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
echo "== OCL_ICD_VENDORS=$OCL_ICD_VENDORS"
echo "== featurize devices"
"$bin" devices || status=1
if [ -z "$device" ]; then
    devices=$("$bin" devices 2>/dev/null | awk '/^opencl:[0-9]+ / {print $1}')
else
    devices="$device"
fi
[ -n "$devices" ] || { echo "no OpenCL device found"; exit 1; }
for d in $devices; do
    echo "== featurize selftest --device $d"
    "$bin" selftest --device "$d" || status=1
    if [ "$tune" = 1 ]; then
        echo "== featurize tune --device $d"
        "$bin" tune --device "$d" --hidden 384 || status=1
    fi
    echo "== featurize bench-gemm --device $d (GEMM GFLOP/s per variant; attention TFLOP/s fused vs unfused)"
    "$bin" bench-gemm --device "$d" --tokens 4096 --hidden 384,768 --variant both --repetitions 7 --warmup 3 --attention || status=1
done
echo "== gpu-check finished with status $status"
exit $status
