#!/usr/bin/env python3
"""featurize extract (CPU, release) vs sentence-transformers vs ONNX Runtime on the same texts.

Workload: the first N (default 5,000) texts of data/demo/movie-reviews.csv, all-MiniLM-L6-v2, max length 256,
2 threads everywhere, L2-normalised mean pooling (the model's sentence-transformers default). The baselines run
batches of 32 (length-sorted for ONNX Runtime); featurize runs with its default token-budget batching
(`--ours-batch-32` adds a featurize run with `--batch-size 32` as well).
Each engine runs 3 times, interleaved (ours, ST, ORT, ours, ...); medians are reported with ratios.

  ours: wall time of the whole `featurize extract` process (model load, tokenization, encoding, writing .npy).
  sentence-transformers: `SentenceTransformer.encode` (tokenization + torch forward + pooling), model preloaded.
  ONNX Runtime: the same BertModel exported with torch.onnx.export, HF fast tokenizer, length-sorted batches
  of 32, mean pooling + normalisation in numpy; session preloaded.

Also checks agreement: per-row cosine of ours vs sentence-transformers (and ORT vs sentence-transformers).

Also prints the useful work in GFLOP/s (linear layers 2*L*(4H^2 + 2*H*I) per token plus attention 4*L*H*n^2
per text of n tokens; padding not counted) so runs can be compared with the sgemm ceiling of the machine.

Options: --model DIR (any BERT/DistilBERT dir; e.g. a random BERT-base from
`python3 Benchmarks/gpu_torch_baseline.py make-models models/random models/all-MiniLM-L6-v2`), --max-length,
--corpus demo|short|long (demo: data/demo/movie-reviews.csv; short/long: out/corpora/{short,long}.txt from
`Benchmarks/make_corpora.py`, Debian licence, documentation and manual-page paragraphs of mean ~20 and ~100
tokens), --input FILE (one text per line, instead of --corpus), --baseline-gemm (also run featurize with
FEATURIZE_CPU_GEMM=openblas, the OpenBLAS path, as a fourth engine), --baseline-binary PATH (also run another
featurize build, e.g. the previous release, as engine `featurize-baseline`), --skip-st, --skip-onnx,
--ort-unfused (plain exported graph instead of ONNX Runtime's BERT fusions).

ONNX Runtime runs, by default, the graph after `onnxruntime.transformers.optimizer.optimize_model(model_type="bert")`
(fused Attention, SkipLayerNormalization, BiasGelu, EmbedLayerNormalization), saved and loaded before timing.
With --skip-st the agreement check compares featurize with ONNX Runtime instead of sentence-transformers.

Usage (from the package root): swift build -c release && python3 Benchmarks/extract_bench.py [--texts N]
Needs: pip install onnxruntime onnx (plus torch, transformers, sentence-transformers, numpy).
"""
import json
import argparse, csv, os, statistics, subprocess, sys, tempfile, time
import numpy as np

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--texts", type=int, default=5000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--max-length", type=int, default=256)
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "featurize"))
    ap.add_argument("--skip-onnx", action="store_true")
    ap.add_argument("--skip-st", action="store_true")
    ap.add_argument("--baseline-gemm", action="store_true")
    ap.add_argument("--input", default=None)
    ap.add_argument("--corpus", choices=["demo", "short", "long"], default="demo")
    ap.add_argument("--baseline-binary", default=None)
    ap.add_argument("--ort-unfused", action="store_true")
    ap.add_argument("--ours-batch-32", action="store_true",
                    help="also run featurize with --batch-size 32 (the other engines' batching) as an extra engine; "
                         "the main featurize run uses its own token-budget batching")
    args = ap.parse_args()

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import torch
    torch.set_num_threads(args.threads)
    from tokenizers import Tokenizer

    if args.input is None and args.corpus != "demo":
        args.input = os.path.join(ROOT, "out", "corpora", f"{args.corpus}.txt")
        if not os.path.exists(args.input):
            sys.exit(f"{args.input} missing: run python3 Benchmarks/make_corpora.py first")
    if args.input:
        with open(args.input, encoding="utf-8") as f:
            texts = [line.rstrip("\n") for line in f][: args.texts]
    else:
        with open(os.path.join(ROOT, "data", "demo", "movie-reviews.csv"), newline="", encoding="utf-8") as f:
            texts = [" ".join(r["text"].split("\n")) for r in csv.DictReader(f)][: args.texts]
    with open(os.path.join(args.model, "config.json")) as f:
        cfg = json.load(f)
    hidden = cfg.get("hidden_size", cfg.get("dim"))
    inter = cfg.get("intermediate_size", cfg.get("hidden_dim"))
    layers = cfg.get("num_hidden_layers", cfg.get("n_layers"))
    work = tempfile.mkdtemp(prefix="featurize-bench-")
    input_path = os.path.join(work, "texts.txt")
    with open(input_path, "w", encoding="utf-8") as f:
        for t in texts:
            f.write(t.replace("\r", " ") + "\n")

    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=args.max_length)
    lengths = [len(e.ids) for e in tok.encode_batch(texts)]
    total_tokens = sum(lengths)
    flops = total_tokens * 2 * layers * (4 * hidden * hidden + 2 * hidden * inter) + \
        sum(4 * layers * hidden * n * n for n in lengths)
    print(f"{len(texts)} texts, {total_tokens} tokens (max length {args.max_length}), batch {args.batch_size}, "
          f"{args.threads} threads; model {os.path.basename(args.model.rstrip('/'))} ({layers} x {hidden}, "
          f"intermediate {inter}); useful work {flops / 1e12:.3f} TFLOP")

    # --- ours
    out_path = os.path.join(work, "ours.npy")
    cmd = [args.binary, "extract", "--model", args.model, "--input", input_path, "--output", out_path,
           "--max-length", str(args.max_length), "--threads", str(args.threads),
           "--device", "cpu", "--quiet", "--overwrite"]

    def run_ours():
        t = time.perf_counter()
        subprocess.run(cmd, check=True)
        return time.perf_counter() - t

    def run_ours_batch32():
        t = time.perf_counter()
        subprocess.run([c if c != out_path else out_path + ".b32.npy" for c in cmd] + ["--batch-size", str(args.batch_size)],
                       check=True)
        return time.perf_counter() - t

    def run_ours_openblas():
        t = time.perf_counter()
        openblas_cmd = [c if c != out_path else out_path + ".openblas.npy" for c in cmd]
        subprocess.run(openblas_cmd, check=True, env=dict(os.environ, FEATURIZE_CPU_GEMM="openblas"))
        return time.perf_counter() - t

    def run_baseline_binary():
        t = time.perf_counter()
        subprocess.run([args.baseline_binary] + [c if c != out_path else out_path + ".baseline.npy" for c in cmd[1:]],
                       check=True)
        return time.perf_counter() - t

    # --- sentence-transformers
    st = None

    def run_st():
        nonlocal st
        if st is None:
            from sentence_transformers import SentenceTransformer  # only when timed: --skip-st needs no install
            st = SentenceTransformer(args.model, device="cpu")
            st.max_seq_length = args.max_length
        t = time.perf_counter()
        emb = st.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
        run_st.last = emb
        return time.perf_counter() - t

    # --- ONNX Runtime
    run_ort = None
    if not args.skip_onnx:
        import onnxruntime as ort
        from transformers import AutoModel
        onnx_path = os.path.join(work, "model.onnx")
        model = AutoModel.from_pretrained(args.model, attn_implementation="eager").eval()

        class Wrapper(torch.nn.Module):
            def __init__(self, m):
                super().__init__()
                self.m = m

            def forward(self, input_ids, attention_mask, token_type_ids):
                return self.m(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

        dummy = torch.ones(2, 16, dtype=torch.long)
        names = ["input_ids", "attention_mask", "token_type_ids"]
        torch.onnx.export(Wrapper(model), (dummy, dummy, torch.zeros_like(dummy)), onnx_path, input_names=names,
                          output_names=["last_hidden_state"], opset_version=17, dynamo=False,
                          dynamic_axes={n: {0: "batch", 1: "seq"} for n in names + ["last_hidden_state"]})
        if not args.ort_unfused:
            from onnxruntime.transformers.optimizer import optimize_model
            heads = cfg.get("num_attention_heads", cfg.get("n_heads"))
            fused = optimize_model(onnx_path, model_type="bert", num_heads=heads, hidden_size=hidden)
            print("ONNX Runtime fusions: " + ", ".join(f"{k} {v}" for k, v in fused.get_fused_operator_statistics().items() if v),
                  flush=True)
            onnx_path = os.path.join(work, "model-fused.onnx")
            fused.save_model_to_file(onnx_path)
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        session = ort.InferenceSession(onnx_path, so, providers=["CPUExecutionProvider"])

        def run_ort():
            t = time.perf_counter()
            encs = tok.encode_batch(texts)
            order = sorted(range(len(texts)), key=lambda i: -len(encs[i].ids))
            out = np.zeros((len(texts), hidden), dtype=np.float32)
            for s in range(0, len(order), args.batch_size):
                idx = order[s:s + args.batch_size]
                seq = max(len(encs[i].ids) for i in idx)
                ids = np.zeros((len(idx), seq), dtype=np.int64)
                mask = np.zeros((len(idx), seq), dtype=np.int64)
                for k, i in enumerate(idx):
                    n = len(encs[i].ids)
                    ids[k, :n] = encs[i].ids
                    mask[k, :n] = 1
                h = session.run(None, {"input_ids": ids, "attention_mask": mask,
                                       "token_type_ids": np.zeros_like(ids)})[0]
                m = mask[:, :, None].astype(np.float32)
                pooled = (h * m).sum(1) / np.clip(m.sum(1), 1e-9, None)
                pooled /= np.clip(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12, None)
                out[idx] = pooled
            run_ort.last = out
            return time.perf_counter() - t

    times = {"featurize": [], "featurize-baseline": [], "featurize-batch32": [], "featurize-openblas": [],
             "sentence-transformers": [], "onnxruntime": []}
    # CPU seconds (user + system, all threads) of every run as well: on a shared machine the wall times swing with
    # the neighbours' load, CPU time much less (it still counts spin-waiting, e.g. ONNX Runtime's thread pool).
    cpu = {k: [] for k in times}
    import resource

    def timed(name, fn):
        child0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self0 = resource.getrusage(resource.RUSAGE_SELF)
        times[name].append(fn())
        child1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        self1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu[name].append(sum(getattr(b, f) - getattr(a, f) for a, b in ((child0, child1), (self0, self1))
                             for f in ("ru_utime", "ru_stime")))

    for r in range(args.runs):
        timed("featurize", run_ours)
        if args.baseline_binary:
            timed("featurize-baseline", run_baseline_binary)
        if args.ours_batch_32:
            timed("featurize-batch32", run_ours_batch32)
        if args.baseline_gemm:
            timed("featurize-openblas", run_ours_openblas)
        if not args.skip_st:
            timed("sentence-transformers", run_st)
        if run_ort:
            timed("onnxruntime", run_ort)
        print(f"run {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s ({cpu[k][-1]:.2f} s CPU)" for k, v in times.items() if v),
              flush=True)

    ours = np.load(out_path)
    if args.skip_st and run_ort:
        ref, ref_name = run_ort.last, "onnxruntime"
    else:
        if args.skip_st:
            run_st()
        ref, ref_name = run_st.last, "sentence-transformers"
    cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    mine = ours
    if ref_name == "onnxruntime":
        # The ONNX Runtime path always L2-normalises (the MiniLM default); a plain Hugging Face directory gives
        # featurize's un-normalised mean pooling, so compare unit rows.
        mine = ours / np.clip(np.linalg.norm(ours, axis=1, keepdims=True), 1e-12, None)
    print(f"agreement: featurize vs {ref_name} min cosine {cos.min():.7f}, "
          f"max abs diff {np.abs(mine - ref).max():.2e}{' (L2-normalised rows)' if mine is not ours else ''}")
    if args.baseline_binary:
        base = np.load(out_path + ".baseline.npy")
        print(f"featurize vs featurize-baseline: bit-identical {np.array_equal(ours, base)}, "
              f"max abs diff {np.abs(ours - base).max():.2e}")
    if run_ort and ref_name != "onnxruntime":
        o = run_ort.last
        cos2 = (o * ref).sum(1) / (np.linalg.norm(o, axis=1) * np.linalg.norm(ref, axis=1))
        print(f"agreement: onnxruntime vs sentence-transformers min cosine {cos2.min():.7f}")

    med = {k: statistics.median(v) for k, v in times.items() if v}
    print(f"\n{'engine':24s} {'median s':>9s} {'min s':>7s} {'texts/s':>9s} {'tokens/s':>10s} {'GFLOP/s':>8s} "
          f"{'CPU s':>7s}  (all runs, s)")
    for k, v in med.items():
        runs = " ".join(f"{x:.2f}" for x in times[k])
        print(f"{k:24s} {v:9.2f} {min(times[k]):7.2f} {len(texts) / v:9.1f} {total_tokens / v:10.0f} "
              f"{flops / v / 1e9:8.1f} {statistics.median(cpu[k]):7.2f}  ({runs})")
    for k, v in med.items():
        if k != "featurize":
            rounds = " ".join(f"{b / a:.2f}" for a, b in zip(times["featurize"], times[k]))
            print(f"featurize speed-up vs {k}: {v / med['featurize']:.2f}x (medians), "
                  f"{min(times[k]) / min(times['featurize']):.2f}x (minimums), per round {rounds}; "
                  f"CPU time ratio {statistics.median(cpu[k]) / statistics.median(cpu['featurize']):.2f}x")


if __name__ == "__main__":
    main()
