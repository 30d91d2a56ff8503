"""Differential check of TextInputReader's CSV/TSV parsing against Python's csv module (the reference).

Writes 3000 random CSV/TSV files with csv.writer (quoted fields, embedded LF / CRLF, delimiters and quotes
inside fields, QUOTE_MINIMAL / QUOTE_ALL, with and without a final newline), reads the `text` column with
csv.DictReader and with our reader, and reports mismatches. Run from the package root:
    python3 scripts/checks/csv_differential.py
(Last run: 3000 files, 0 mismatches.)
"""
import csv
import glob
import io
import json
import os
import random
import re
import subprocess
import tempfile

work = tempfile.mkdtemp(prefix="csvdiff-")
# Build the checker from the IO sources (they import ModelIO only for its JSON scanner; compile them together).
for src in glob.glob("Sources/Featurize/IO/*.swift") + glob.glob("Sources/ModelIO/*.swift"):
    text = open(src).read()
    text = re.sub(r"^import ModelIO$", "", text, flags=re.M)
    open(os.path.join(work, os.path.basename(src)), "w").write(text)
open(os.path.join(work, "main.swift"), "w").write(open("scripts/checks/text_reader_main.swift").read())
tool = os.path.join(work, "text_reader")
subprocess.run(["swiftc", "-O", "-module-name", "TextReaderCheck", "-o", tool]
               + glob.glob(os.path.join(work, "*.swift")), check=True)

random.seed(1)
alphabet = ["a", "b", " ", ",", '"', "\n", "\r\n", "\t", "é", "😀", "'", "\\"]
paths, expected = [], []
for i in range(3000):
    ncols = random.randint(1, 4)
    header = ["text"] + ["c%d" % k for k in range(ncols - 1)]
    random.shuffle(header)
    rows = [["".join(random.choice(alphabet) for _ in range(random.randint(0, 6))) for _ in range(ncols)]
            for _ in range(random.randint(0, 5))]
    delim = random.choice([",", "\t"])
    buf = io.StringIO()
    w = csv.writer(buf, delimiter=delim, lineterminator=random.choice(["\n", "\r\n"]),
                   quoting=random.choice([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    w.writerow(header)
    for r in rows:
        w.writerow(r)
    data = buf.getvalue()
    if random.random() < 0.3:
        data = data.rstrip("\r\n")  # no final newline
    p = os.path.join(work, "f%d.%s" % (i, "csv" if delim == "," else "tsv"))
    open(p, "w", newline="", encoding="utf-8").write(data)
    expected.append([r["text"] for r in csv.DictReader(open(p, newline="", encoding="utf-8"), delimiter=delim)])
    paths.append(p)

out = subprocess.run([tool] + paths, capture_output=True, text=True).stdout.split("\n")
bad = 0
for p, e, o in zip(paths, expected, out):
    got = None if o.startswith("ERROR") else json.loads(o)
    if got != e:
        bad += 1
        if bad <= 5:
            print("MISMATCH", p, repr(e), repr(o)[:200])
print("files", len(paths), "mismatches", bad)
