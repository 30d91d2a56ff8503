#!/usr/bin/env python3
"""Scheduler benchmark: length-sorted, token-budget batches vs plain fixed-size batches in input order.

Same binary, model, texts and threads; only the batching differs:
  fixed   : --no-sort --batch-size 32 (batches of 32 in input order, padded to their longest text)
  budget  : the default scheduler (windows sorted by token length, cut by --max-batch-tokens)
Runs interleaved (fixed, budget, fixed, ...), reports medians of texts/s and tokens/s, the padding
efficiency each achieved (real / padded tokens, from --stats) and the ratio.

Usage (package root): swift build -c release && python3 Benchmarks/scheduler_bench.py [--texts 5000] [--device cpu]
"""
import argparse, csv, json, os, statistics, subprocess, sys, tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--max-batch-tokens", type=int, default=None)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "featurize"))
    args = ap.parse_args()

    tmp = tempfile.mkdtemp(prefix="featurize-sched-bench-")
    with open(os.path.join(ROOT, "data", "demo", "movie-reviews.csv"), newline="", encoding="utf-8") as f:
        texts = [row["text"] for row in csv.DictReader(f)][: args.texts]
    inp = os.path.join(tmp, "texts.txt")
    with open(inp, "w", encoding="utf-8") as f:
        f.write("".join(t.replace("\n", " ") + "\n" for t in texts))

    configs = {
        "fixed": ["--no-sort", "--batch-size", "32", "--max-batch-tokens", "100000000"],
        "budget": [] if args.max_batch_tokens is None else ["--max-batch-tokens", str(args.max_batch_tokens)],
    }
    results = {k: [] for k in configs}
    for run in range(args.runs):
        for name, extra in configs.items():
            out, stats = os.path.join(tmp, f"{name}.npy"), os.path.join(tmp, f"{name}.json")
            cmd = [args.binary, "extract", "--model", args.model, "--input", inp, "--output", out, "--overwrite",
                   "--quiet", "--device", args.device, "--stats", stats] + extra
            subprocess.run(cmd, check=True)
            with open(stats) as f:
                s = json.load(f)
            results[name].append(s)
            print(f"run {run + 1} {name:6s}: {s['texts'] / s['totalSeconds']:7.1f} texts/s, "
                  f"padding efficiency {100 * s['paddingEfficiency']:.1f}%, {s['scheduler']['batches']} batches",
                  file=sys.stderr)

    def med(name, key):
        return statistics.median(key(s) for s in results[name])

    print(f"\n{args.texts} texts, {args.device}, medians of {args.runs} interleaved runs (whole process wall time)")
    print(f"{'batching':10s} {'texts/s':>9s} {'tokens/s':>10s} {'padding eff.':>13s} {'batches':>8s}")
    for name in configs:
        tps = med(name, lambda s: s["texts"] / s["totalSeconds"])
        tok = med(name, lambda s: s["tokens"] / s["totalSeconds"])
        eff = med(name, lambda s: s["paddingEfficiency"])
        nb = med(name, lambda s: s["scheduler"]["batches"])
        print(f"{name:10s} {tps:9.1f} {tok:10.0f} {100 * eff:12.1f}% {nb:8.0f}")
    ratio = med("budget", lambda s: s["texts"] / s["totalSeconds"]) / med("fixed", lambda s: s["texts"] / s["totalSeconds"])
    print(f"budget / fixed throughput: {ratio:.2f}x")


if __name__ == "__main__":
    main()
