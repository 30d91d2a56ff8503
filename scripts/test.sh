#!/usr/bin/env bash
# Featurize's test command (the README's second command; CI runs exactly this).
# Sets up what is missing (system packages, the default model), then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
# -Xcc -O3: the C kernels (CPUKernels) optimised in the debug test build too (Package.swift has no unsafe flags).
swift build --build-tests -Xcc -O3
swift test --skip-build 2>&1 | tee /tmp/featurize-test.log
