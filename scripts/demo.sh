#!/usr/bin/env bash
# Featurize's main job end to end (the README's first command): set up a fresh machine, build, extract
# features of the demo movie-review data with the default model, and run the pooling × layer ablation.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
swift build -c release --product featurize 2>&1 | grep -E "error|warning: unre|Compiling|Build" | grep -v "^\[" || true
bin=$(swift build -c release --show-bin-path)/featurize
model=models/all-MiniLM-L6-v2
data=data/demo/movie-reviews.csv
mkdir -p out

echo "== tokenize: $data"
"$bin" tokenize --model "$model" --input "$data" --output out/tokens.jsonl --overwrite
echo "== extract: sentence embeddings of $data with $model"
"$bin" extract --model "$model" --input "$data" --output out/movie-reviews.npy --overwrite
echo "== ablate: which pooling and layers classify the reviews best"
"$bin" ablate --model "$model" --train "$data" --test-fraction 0.2 --seed 7 --cv 5 --C auto \
  --pooling cls,mean,max --layers 2,4,6 --report out/ablation --overwrite
echo "Report: out/ablation/report.html (also report.md, results.csv/json, heatmap.svg, forest.svg, length.svg)"
