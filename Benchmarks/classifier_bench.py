#!/usr/bin/env python3
"""Time Featurize's logistic regression (`featurize train`, release build) against scikit-learn
LogisticRegression(solver='lbfgs') on the same data, same C / tol / max_iter, and print the ratio.

Data: 10,000 rows of random-projection-like features (a low-rank latent signal projected to D dims plus noise),
float32, binary labels (like the demo's movie reviews) and one 5-class case. sklearn is timed for
StandardScaler + fit (ours standardises inside `train`); ours is the training time `featurize train` reports
(standardisation + L-BFGS, excluding .npy loading). Both use the machine's cores (numpy's OpenBLAS threads;
our 2-chunk-or-more parallel gradient). Each timing is the median of --repeats runs, interleaved.

Usage: swift build -c release --product featurize
       python3 Benchmarks/classifier_bench.py [--dims 384,1536,4608] [--repeats 3] [--bin .build/release/featurize]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import numpy as np

try:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler
except ImportError:
    sys.exit("scikit-learn is missing: pip install scikit-learn")


def make_data(rows, dim, classes, seed):
    rng = np.random.RandomState(seed)
    latent = rng.randn(rows, 32)
    projection = rng.randn(32, dim) / np.sqrt(32)
    x = latent @ projection + 0.5 * rng.randn(rows, dim) + rng.uniform(-1, 1, dim)
    w = rng.randn(32, classes)
    logits = latent @ w * 0.7 + rng.gumbel(size=(rows, classes))
    y = logits.argmax(axis=1)
    names = np.array([f"class{k}" for k in range(classes)]) if classes > 2 else np.array(["neg", "pos"])
    return x.astype(np.float32), names[y]


def time_sklearn(x, y, C, tol, max_iter):
    start = time.perf_counter()
    xs = StandardScaler().fit_transform(x.astype(np.float64))
    clf = LogisticRegression(solver="lbfgs", C=C, tol=tol, max_iter=max_iter).fit(xs, y)
    seconds = time.perf_counter() - start
    return seconds, int(clf.n_iter_[0]), float((clf.predict(xs) == y).mean())


def time_ours(binary, xpath, ypath, C, tol, max_iter, out):
    result = subprocess.run([binary, "train", "--features", xpath, "--labels", ypath, "--output", out,
                             "--C", str(C), "--tol", str(tol), "--max-iter", str(max_iter)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"featurize train failed:\n{result.stdout}\n{result.stderr}")
    seconds = float(re.search(r"time: ([0-9.]+) s", result.stdout).group(1))
    iterations = int(re.search(r"iterations: (\d+)", result.stdout).group(1))
    accuracy = float(re.search(r"training accuracy: ([0-9.]+)%", result.stdout).group(1)) / 100
    return seconds, iterations, accuracy


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser = argparse.ArgumentParser()
    parser.add_argument("--bin", default=os.path.join(root, ".build", "release", "featurize"))
    parser.add_argument("--rows", type=int, default=10000)
    parser.add_argument("--dims", default="384,1536,4608")
    parser.add_argument("--multiclass-dim", type=int, default=768, help="dimension of the 5-class case (0: skip)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--C", type=float, default=1.0)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=1000)
    args = parser.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} not found: swift build -c release --product featurize")

    cases = [(int(d), 2) for d in args.dims.split(",") if d]
    if args.multiclass_dim:
        cases.append((args.multiclass_dim, 5))
    print(f"{'rows':>6} {'dim':>5} {'K':>2} | {'sklearn s':>9} {'iters':>5} {'acc':>6} | "
          f"{'ours s':>7} {'iters':>5} {'acc':>6} | {'sklearn/ours':>12}")
    with tempfile.TemporaryDirectory() as tmp:
        for dim, classes in cases:
            x, y = make_data(args.rows, dim, classes, seed=dim + classes)
            xpath, ypath = os.path.join(tmp, "x.npy"), os.path.join(tmp, "y.txt")
            np.save(xpath, x)
            with open(ypath, "w") as f:
                f.write("\n".join(y) + "\n")
            sk, ours = [], []
            for _ in range(args.repeats):
                sk.append(time_sklearn(x, y, args.C, args.tol, args.max_iter))
                ours.append(time_ours(args.bin, xpath, ypath, args.C, args.tol, args.max_iter,
                                      os.path.join(tmp, "m.json")))
            s = sorted(sk)[len(sk) // 2]
            o = sorted(ours)[len(ours) // 2]
            print(f"{args.rows:>6} {dim:>5} {classes:>2} | {s[0]:>9.2f} {s[1]:>5} {s[2]:>6.4f} | "
                  f"{o[0]:>7.2f} {o[1]:>5} {o[2]:>6.4f} | {s[0] / o[0]:>11.2f}x", flush=True)


if __name__ == "__main__":
    main()
