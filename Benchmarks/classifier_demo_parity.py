#!/usr/bin/env python3
"""Classifier parity on the demo data: `featurize train/evaluate` vs scikit-learn LogisticRegression(lbfgs).

Uses the features `featurize extract` wrote for the demo (out/movie-reviews.npy, from ./scripts/demo.sh) and the
labels of data/demo/movie-reviews.csv. Stratified 80/20 split (seed 7), both sides get the same rows; both
standardise the features (ours inside `featurize train`, sklearn with StandardScaler) and use C=1.
Prints both accuracies, their difference (goal: within 0.5 points) and both training times.

Usage (package root, after ./scripts/demo.sh): python3 Benchmarks/classifier_demo_parity.py [--C 1.0]
Needs: pip install scikit-learn
"""
import argparse, csv, os, subprocess, tempfile, time
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--features", default=os.path.join(ROOT, "out", "movie-reviews.npy"))
    ap.add_argument("--data", default=os.path.join(ROOT, "data", "demo", "movie-reviews.csv"))
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "featurize"))
    ap.add_argument("--C", type=float, default=1.0)
    args = ap.parse_args()
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    X = np.load(args.features).astype(np.float32)
    with open(args.data, newline="", encoding="utf-8") as f:
        y = np.array([r["label"] for r in csv.DictReader(f)])
    assert len(y) == X.shape[0], f"{len(y)} labels for {X.shape[0]} feature rows"
    tr, te = train_test_split(np.arange(len(y)), test_size=0.2, random_state=7, stratify=y)
    tmp = tempfile.mkdtemp(prefix="featurize-clf-parity-")
    paths = {}
    for name, idx in (("train", tr), ("test", te)):
        np.save(os.path.join(tmp, f"{name}.npy"), X[idx])
        with open(os.path.join(tmp, f"{name}.txt"), "w") as f:
            f.write("".join(l + "\n" for l in y[idx]))
        paths[name] = (os.path.join(tmp, f"{name}.npy"), os.path.join(tmp, f"{name}.txt"))

    t0 = time.perf_counter()
    subprocess.run([args.binary, "train", "--features", paths["train"][0], "--labels", paths["train"][1],
                    "--output", os.path.join(tmp, "model.json"), "--C", str(args.C)], check=True)
    ours_seconds = time.perf_counter() - t0
    metrics = os.path.join(tmp, "metrics.json")
    subprocess.run([args.binary, "evaluate", "--model", os.path.join(tmp, "model.json"), "--features",
                    paths["test"][0], "--labels", paths["test"][1], "--json", metrics], check=True, capture_output=True)
    import json
    with open(metrics) as f:
        ours_acc = json.load(f)["accuracy"]

    t0 = time.perf_counter()
    scaler = StandardScaler().fit(X[tr])
    clf = LogisticRegression(solver="lbfgs", C=args.C, max_iter=1000).fit(scaler.transform(X[tr]), y[tr])
    sk_seconds = time.perf_counter() - t0
    sk_acc = float((clf.predict(scaler.transform(X[te])) == y[te]).mean())

    print(f"{X.shape[0]} rows x {X.shape[1]} features, train {len(tr)}, test {len(te)}, C={args.C}")
    print(f"featurize: accuracy {100 * ours_acc:.2f}%, train {ours_seconds:.2f} s (whole process)")
    print(f"sklearn  : accuracy {100 * sk_acc:.2f}%, train {sk_seconds:.2f} s")
    print(f"difference {100 * (ours_acc - sk_acc):+.2f} points; training time sklearn/featurize {sk_seconds / ours_seconds:.2f}x")


if __name__ == "__main__":
    main()
