#!/usr/bin/env python3
"""Builds the short- and long-text extraction corpora (issue #20) from text that Debian installs.

Sources, walked in sorted path order:
  - licence texts: /usr/share/common-licenses/*
  - package documentation: /usr/share/doc/** (plain text, gzipped or not: copyright, README, NEWS, changelogs,
    *.txt; HTML, images, PDFs, JSON/XML and anything with NUL bytes or invalid UTF-8 are skipped)
  - manual pages: English pages of sections 1, 5, 7 and 8 (/usr/share/man/man{1,5,7,8}), every
    --man-every'th page in sorted order, rendered to plain text with `groff -mandoc -Tutf8` and `col -bx`
    (skipped with a note if groff is not installed).
Each file is split into paragraphs (blank-line separated, whitespace collapsed into single spaces), paragraphs
with fewer than --min-letters letters or more than --max-chars characters are dropped, and exact duplicates are removed (first occurrence kept).
Token counts come from the model's `tokenizer.json` (Hugging Face `tokenizers`, special tokens included, no
truncation).

  short: paragraphs of SHORT_RANGE tokens (default 5..34), mean ~20
  long:  paragraphs of LONG_RANGE tokens (default 66..256), mean ~100, none longer than the max length 256

From each pool, --lines (default 5,000) paragraphs are taken in the order of the SHA-1 of their text (a fixed,
content-derived shuffle, so the result depends only on the installed files), and written one per line.

Usage: python3 Benchmarks/make_corpora.py [--out out/corpora] [--model models/all-MiniLM-L6-v2]
Writes OUT/short.txt, OUT/long.txt and OUT/manifest.json (sources, counts, token statistics, SHA-256 of each
file). The corpora are not committed (out/ is git-ignored); the manifest of the run behind the notes is
in Benchmarks/results/corpora-manifest.json.
"""
import argparse, gzip, hashlib, json, os, re, shutil, statistics, subprocess, sys

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
SKIP_EXT = (".html", ".htm", ".png", ".jpg", ".jpeg", ".gif", ".svg", ".pdf", ".css", ".js", ".json", ".xml",
            ".ico", ".woff", ".ttf", ".bz2", ".xz", ".zip", ".py", ".c", ".h", ".sh", ".pl", ".el")


def read_text(path):
    try:
        with open(path, "rb") as f:
            data = f.read()
        if path.endswith(".gz"):
            data = gzip.decompress(data)
    except (OSError, EOFError, gzip.BadGzipFile):
        return None
    if b"\0" in data[:65536]:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


def paragraphs(text, min_letters, max_chars):
    for block in re.split(r"\n\s*\n", text):
        p = " ".join(block.split())
        if len(p) <= max_chars and sum(ch.isalpha() for ch in p) >= min_letters:
            yield p


def licence_files():
    base = "/usr/share/common-licenses"
    if not os.path.isdir(base):
        return []
    return [os.path.join(base, n) for n in sorted(os.listdir(base)) if os.path.isfile(os.path.join(base, n))]


def doc_files():
    out = []
    for root, dirs, files in os.walk("/usr/share/doc"):
        dirs.sort()
        for n in sorted(files):
            path = os.path.join(root, n)
            name = n[:-3] if n.endswith(".gz") else n
            if name.lower().endswith(SKIP_EXT) or not os.path.isfile(path) or os.path.islink(path):
                continue
            out.append(path)
    return out


def man_files(every):
    pages = []
    for section in ("man1", "man5", "man7", "man8"):
        d = os.path.join("/usr/share/man", section)
        if os.path.isdir(d):
            pages += [os.path.join(d, n) for n in sorted(os.listdir(d))
                      if os.path.isfile(os.path.join(d, n)) and not os.path.islink(os.path.join(d, n))]
    return pages[::every]


def render_man(path):
    src = read_text(path)
    if src is None or src.lstrip().startswith(".so "):
        return None  # a link page (".so other.1")
    env = dict(os.environ, LC_ALL="C.UTF-8", MANWIDTH="80")
    try:
        roff = subprocess.run(["groff", "-mandoc", "-Tutf8", "-rLL=80n", "-P-c"], input=src.encode(),
                              capture_output=True, timeout=30, env=env)
        plain = subprocess.run(["col", "-bx"], input=roff.stdout, capture_output=True, timeout=30, env=env)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return plain.stdout.decode("utf-8", "replace")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(ROOT, "out", "corpora"))
    ap.add_argument("--model", default=os.path.join(ROOT, "models", "all-MiniLM-L6-v2"))
    ap.add_argument("--lines", type=int, default=5000)
    ap.add_argument("--short-range", default="5..34")
    ap.add_argument("--long-range", default="66..256")
    ap.add_argument("--min-letters", type=int, default=12)
    ap.add_argument("--max-chars", type=int, default=4000)
    ap.add_argument("--man-every", type=int, default=16, help="render every N-th manual page (sorted order)")
    args = ap.parse_args()
    from tokenizers import Tokenizer

    sources = {"licences": licence_files(), "docs": doc_files()}
    have_groff = shutil.which("groff") is not None and shutil.which("col") is not None
    sources["man"] = man_files(args.man_every) if have_groff else []
    if not have_groff:
        print("note: groff/col not installed: manual pages skipped", file=sys.stderr)

    seen, paras, origin = set(), [], {}
    for kind in ("licences", "docs", "man"):
        count = 0
        for path in sources[kind]:
            text = render_man(path) if kind == "man" else read_text(path)
            if not text:
                continue
            for p in paragraphs(text, args.min_letters, args.max_chars):
                if p not in seen:
                    seen.add(p)
                    paras.append(p)
                    count += 1
        origin[kind] = {"files": len(sources[kind]), "paragraphs": count}
        print(f"{kind}: {len(sources[kind])} files, {count} new paragraphs", file=sys.stderr)

    tok = Tokenizer.from_file(os.path.join(args.model, "tokenizer.json"))
    tok.no_padding()
    tok.no_truncation()
    lengths = []
    for s in range(0, len(paras), 20000):  # chunks: the encodings of all paragraphs at once need GBs
        lengths += [len(e.ids) for e in tok.encode_batch(paras[s:s + 20000])]

    def pick(spec):
        lo, hi = (int(x) for x in spec.split(".."))
        pool = [(hashlib.sha1(p.encode()).hexdigest(), p, n) for p, n in zip(paras, lengths) if lo <= n <= hi]
        pool.sort()
        return pool[: args.lines], len(pool)

    os.makedirs(args.out, exist_ok=True)
    manifest = {"sources": origin, "paragraphs": len(paras), "model": os.path.basename(args.model.rstrip("/")),
                "man_every": args.man_every, "corpora": {}}
    for name, spec in (("short", args.short_range), ("long", args.long_range)):
        chosen, pool = pick(spec)
        if len(chosen) < args.lines:
            print(f"warning: {name}: only {len(chosen)} paragraphs in {spec} tokens", file=sys.stderr)
        path = os.path.join(args.out, f"{name}.txt")
        body = "".join(p + "\n" for _, p, _ in chosen)
        with open(path, "w", encoding="utf-8") as f:
            f.write(body)
        ns = [n for _, _, n in chosen]
        stats = {"range": spec, "pool": pool, "lines": len(chosen), "tokens": sum(ns),
                 "mean": round(statistics.mean(ns), 2), "median": statistics.median(ns),
                 "p90": sorted(ns)[int(0.9 * (len(ns) - 1))], "max": max(ns),
                 "sha256": hashlib.sha256(body.encode()).hexdigest()}
        manifest["corpora"][name] = stats
        print(f"{name}: {stats}", file=sys.stderr)
    with open(os.path.join(args.out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
