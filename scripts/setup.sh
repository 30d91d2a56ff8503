#!/usr/bin/env bash
# Idempotent set-up of a fresh Debian 12 machine for Featurize: system packages, the default model and the
# demo data set. Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# slurmctld slurmd slurm-client munge: the single-node Slurm cluster of SlurmClusterTests (scripts/slurm-cluster.sh);
# the same daemons as the slurm-wlm metapackage without its optional plugins (hdf5, rrd, ipmi, ...) and -dev packages.
packages=(ocl-icd-opencl-dev opencl-headers pocl-opencl-icd clinfo libopenblas-dev pkg-config unzip librsvg2-bin
          slurmctld slurmd slurm-client munge)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

python3 scripts/fetch_assets.py model data
