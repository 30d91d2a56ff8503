#!/usr/bin/env python3
"""Tokenizer throughput: `featurize tokenize` (release build) vs Hugging Face `tokenizers` encode_batch.

Same texts and tokenizer.json for both, no truncation, no padding:
  wordpiece: the MiniLM tokenizer on the 24,000-line corpus fixture (Tests/TokenizerTests/Fixtures/corpus.txt.gz);
  bpe:       the byte-level BPE fixture (tokenizer-bpe.json.gz: ByteLevel + BPE + RobertaProcessing, vocab 8,000,
             from scripts/fixtures/gen_bpe_tokenizer_fixtures.py) on the same corpus plus the 6,000 multilingual
             lines (multilingual.txt.gz), 30,000 lines;
  unigram:   the SentencePiece-Unigram fixture in the Hub's XLM-R arrangement (tokenizer-unigram-xlmr4.json.gz:
             Precompiled + Replace + Metaspace + Unigram, vocab 4,000, from
             scripts/fixtures/gen_unigram_tokenizer_fixtures.py) on the same corpus plus the 12,000 multilingual
             lines (unigram-multilingual.txt.gz), 36,000 lines.
At 1 and 2 threads (RAYON_NUM_THREADS for HF, --threads for ours), 3 runs each, interleaved (ours, HF, ours, HF,
...), median reported.

What is timed: the tokenize phase only, excluding process start, model load and file I/O.
  ours: the "tokenize X s" that `featurize tokenize` prints to stderr (TextTokenizer.encodeBatch of all lines);
  HF:   time.perf_counter() around Tokenizer.encode_batch(lines) in a fresh process per run.
Usage: python3 Benchmarks/tokenizer_bench.py [--runs 3] [--binary .build/release/featurize] [--tokenizers wordpiece,bpe,unigram]
"""
import argparse, gzip, os, re, statistics, subprocess, sys, tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
FIXTURES = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures")
CORPUS = os.path.join(FIXTURES, "corpus.txt.gz")
MULTILINGUAL = os.path.join(FIXTURES, "multilingual.txt.gz")
BPE_TOKENIZER = os.path.join(FIXTURES, "tokenizer-bpe.json.gz")
UNIGRAM_TOKENIZER = os.path.join(FIXTURES, "tokenizer-unigram-xlmr4.json.gz")
UNIGRAM_MULTILINGUAL = os.path.join(FIXTURES, "unigram-multilingual.txt.gz")

HF_CHILD = r"""
import sys, time
from tokenizers import Tokenizer
tok = Tokenizer.from_file(sys.argv[1]); tok.no_truncation(); tok.no_padding()
lines = open(sys.argv[2], encoding="utf-8").read().split("\n")[:-1]
start = time.perf_counter()
encodings = tok.encode_batch(lines)
seconds = time.perf_counter() - start
print(sum(len(e.ids) for e in encodings), seconds)
"""


def run_ours(binary, model, path, threads):
    result = subprocess.run([binary, "tokenize", "--model", model, "--input", path, "--output", "/dev/null",
                             "--no-truncation", "--threads", str(threads)], capture_output=True, text=True, check=True)
    m = re.search(r"(\d+) texts, (\d+) tokens.*tokenize ([0-9.]+) s", result.stderr)
    if not m:
        sys.exit("cannot parse featurize summary: " + result.stderr)
    return int(m.group(2)), float(m.group(3))


def run_hf(model, path, threads):
    env = dict(os.environ, RAYON_NUM_THREADS=str(threads), TOKENIZERS_PARALLELISM="true")
    result = subprocess.run([sys.executable, "-c", HF_CHILD, os.path.join(model, "tokenizer.json"), path],
                            capture_output=True, text=True, check=True, env=env)
    tokens, seconds = result.stdout.split()
    return int(tokens), float(seconds)


def bench(name, binary, model, text, thread_counts, runs):
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as f:
        f.write(text)
        path = f.name
    print("%s: %d lines; timing the tokenize phase only (no process start, model load or I/O)" % (name, text.count("\n")))
    print("%-8s %14s %14s %8s" % ("threads", "ours tok/s", "HF tok/s", "ratio"))
    try:
        for threads in thread_counts:
            ours, hf = [], []
            for _ in range(runs):
                tokens_ours, s_ours = run_ours(binary, model, path, threads)
                tokens_hf, s_hf = run_hf(model, path, threads)
                if tokens_ours != tokens_hf:
                    sys.exit("token counts differ: ours %d, HF %d" % (tokens_ours, tokens_hf))
                ours.append(tokens_ours / s_ours)
                hf.append(tokens_hf / s_hf)
            mo, mh = statistics.median(ours), statistics.median(hf)
            print("%-8d %14.0f %14.0f %7.2fx   (runs ours %s; HF %s)" % (
                threads, mo, mh, mo / mh, [round(x) for x in ours], [round(x) for x in hf]))
    finally:
        os.remove(path)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build", "release", "featurize"))
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--tokenizers", default="wordpiece,bpe,unigram")
    args = parser.parse_args()
    if not os.path.exists(args.binary):
        subprocess.run(["swift", "build", "-c", "release", "--product", "featurize"], cwd=ROOT, check=True)
    threads = [int(t) for t in args.threads.split(",")]
    corpus = gzip.open(CORPUS, "rt", encoding="utf-8").read()
    kinds = args.tokenizers.split(",")
    if "wordpiece" in kinds:
        bench("wordpiece (MiniLM)", args.binary, MODEL, corpus, threads, args.runs)
    fixtures = {"bpe": ("byte-level BPE (RoBERTa arrangement)", BPE_TOKENIZER, MULTILINGUAL),
                "unigram": ("SentencePiece Unigram (XLM-R Hub arrangement)", UNIGRAM_TOKENIZER, UNIGRAM_MULTILINGUAL)}
    for kind in ("bpe", "unigram"):
        if kind not in kinds:
            continue
        label, tokenizer_gz, multilingual_gz = fixtures[kind]
        # A model directory holding only the fixture's tokenizer.json; the corpus plus its multilingual lines.
        with tempfile.TemporaryDirectory() as model:
            with open(os.path.join(model, "tokenizer.json"), "wb") as f:
                f.write(gzip.open(tokenizer_gz).read())
            text = corpus + gzip.open(multilingual_gz, "rt", encoding="utf-8").read()
            bench(label, args.binary, model, text, threads, args.runs)

if __name__ == "__main__":
    main()
