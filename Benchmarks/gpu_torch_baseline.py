#!/usr/bin/env python3
"""PyTorch side of the GPU check (runs on the lent GPU machine, offline; also works on CPU).

  make-models OUT TOKENIZER_DIR   random-initialised BERT models (seeded) in HF layout with safetensors:
                                  OUT/minilm (6 layers, 384 hidden, 12 heads: all-MiniLM-L6-v2's shape) and
                                  OUT/bert-base (12 layers, 768 hidden, 12 heads); tokenizer files copied in.
  ids OUT.npy BATCH SEQ           deterministic random token ids [BATCH, SEQ] (int32, no padding).
  bench MODEL IDS.npy [P,...]     encoder throughput in each precision P (fp32 = TF32 off, the default; tf32 =
                                  TF32 matmuls on; fp16 = model.half()), median of timed runs after warm-up;
                                  one process, one JSON line per precision.
  hidden MODEL IDS.npy OUT.npy [P]
                                  last hidden state [BATCH, SEQ, H] (as float32) for parity, precision P.
  corpus MODEL TEXTS.txt OUT_PREFIX [P,...] [BATCH] [MAX_LEN]
                                  what `featurize extract --pooling mean` does to a file of one text per line:
                                  the model's fast tokenizer, texts sorted by length, batches of BATCH (128) texts
                                  padded to the batch's longest (MAX_LEN 256), mean pooling, rows back in input
                                  order; timed from the first tokenization to the last row on the host (model
                                  load excluded), median of 3 after one warm-up pass. Writes OUT_PREFIX.P.npy
                                  [N, H] float32 per precision.
  gemm                            fp32 torch.matmul GFLOP/s at the encoder's GEMM shapes (TF32 off).
Prints one JSON object per command on stdout.
"""
import json, os, shutil, sys, time
import numpy as np
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
DEV = "cuda" if torch.cuda.is_available() else "cpu"
PRECISIONS = ("fp32", "tf32", "fp16")


def set_precision(precision):
    """TF32 matmuls only for tf32; fp16 is applied to the model in load()."""
    if precision not in PRECISIONS:
        sys.exit(f"unknown precision {precision!r} (expected one of {', '.join(PRECISIONS)})")
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"

SHAPES = {
    "minilm": dict(num_hidden_layers=6, hidden_size=384, num_attention_heads=12, intermediate_size=1536),
    "bert-base": dict(num_hidden_layers=12, hidden_size=768, num_attention_heads=12, intermediate_size=3072),
}


def make_models(out, tokdir):
    from transformers import BertConfig, BertModel
    for name, shape in SHAPES.items():
        torch.manual_seed(1234)
        cfg = BertConfig(vocab_size=30522, max_position_embeddings=512, type_vocab_size=2, hidden_act="gelu", **shape)
        model = BertModel(cfg, add_pooling_layer=False).eval()
        d = os.path.join(out, name)
        model.save_pretrained(d, safe_serialization=True)
        for f in ("tokenizer.json", "vocab.txt", "tokenizer_config.json", "special_tokens_map.json"):
            if os.path.exists(os.path.join(tokdir, f)):
                shutil.copy(os.path.join(tokdir, f), d)
    print(json.dumps({"models": sorted(SHAPES)}))


def load(model_dir, precision="fp32"):
    from transformers import BertModel
    set_precision(precision)
    model = BertModel.from_pretrained(model_dir, add_pooling_layer=False, attn_implementation="eager").to(DEV).eval()
    return model.half() if precision == "fp16" else model


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


def bench(model_dir, ids_path, precision="fp32", runs=10):
    ids = torch.from_numpy(np.load(ids_path).astype(np.int64)).to(DEV)
    model = load(model_dir, precision)
    mask = torch.ones_like(ids)
    times = []
    with torch.inference_mode():
        for _ in range(3):
            model(input_ids=ids, attention_mask=mask)
        sync()
        for _ in range(runs):
            t0 = time.perf_counter()
            model(input_ids=ids, attention_mask=mask)
            sync()
            times.append(time.perf_counter() - t0)
    med = float(np.median(times))
    print(json.dumps({"model": os.path.basename(model_dir.rstrip("/")), "device": torch.cuda.get_device_name() if DEV == "cuda" else "cpu",
                      "precision": precision, "batch": ids.shape[0], "seq": ids.shape[1], "median_s": med,
                      "texts_per_s": ids.shape[0] / med}))


def hidden(model_dir, ids_path, out, precision="fp32"):
    ids = torch.from_numpy(np.load(ids_path).astype(np.int64)).to(DEV)
    with torch.inference_mode():
        h = load(model_dir, precision)(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    np.save(out, h.float().cpu().numpy())
    print(json.dumps({"hidden": list(h.shape), "precision": precision}))


def corpus(model_dir, texts_path, out, precision="fp32", batch=128, max_length=256, runs=3):
    from transformers import AutoTokenizer
    with open(texts_path, encoding="utf-8") as f:
        texts = f.read().split("\n")
    if texts and texts[-1] == "":
        texts.pop()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = load(model_dir, precision)

    def one_pass():
        enc = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"]
        order = sorted(range(len(texts)), key=lambda i: (-len(enc[i]), i))
        rows = [None] * len(texts)
        tokens = 0
        with torch.inference_mode():
            for start in range(0, len(order), batch):
                part = order[start:start + batch]
                width = max(len(enc[i]) for i in part)
                ids = torch.zeros((len(part), width), dtype=torch.long)
                mask = torch.zeros((len(part), width), dtype=torch.long)
                for r, i in enumerate(part):
                    ids[r, :len(enc[i])] = torch.tensor(enc[i]); mask[r, :len(enc[i])] = 1
                    tokens += len(enc[i])
                ids, mask = ids.to(DEV), mask.to(DEV)
                h = model(input_ids=ids, attention_mask=mask).last_hidden_state.float()
                m = mask.unsqueeze(-1).float()
                pooled = ((h * m).sum(1) / m.sum(1).clamp(min=1e-9)).cpu().numpy()
                for r, i in enumerate(part):
                    rows[i] = pooled[r]
        return np.stack(rows), tokens

    one_pass()
    sync()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        emb, tokens = one_pass()
        sync()
        times.append(time.perf_counter() - t0)
    np.save(out, emb.astype(np.float32))
    med = float(np.median(times))
    print(json.dumps({"model": os.path.basename(model_dir.rstrip("/")), "precision": precision, "texts": len(texts),
                      "tokens": tokens, "batch": batch, "median_s": med, "texts_per_s": len(texts) / med}))


def gemm():
    res = []
    for (m, n, k) in [(16384, 1152, 384), (16384, 384, 384), (16384, 1536, 384), (16384, 384, 1536),
                      (16384, 2304, 768), (16384, 768, 768), (16384, 3072, 768), (16384, 768, 3072)]:
        a = torch.randn(m, k, device=DEV); b = torch.randn(n, k, device=DEV)
        for _ in range(3):
            a @ b.T
        sync()
        ts = []
        for _ in range(10):
            t0 = time.perf_counter(); a @ b.T; sync(); ts.append(time.perf_counter() - t0)
        med = float(np.median(ts))
        res.append({"m": m, "n": n, "k": k, "gflops": 2 * m * n * k / med / 1e9})
    print(json.dumps({"torch_matmul_fp32": res}))


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "make-models":
        make_models(sys.argv[2], sys.argv[3])
    elif cmd == "ids":
        rng = np.random.default_rng(7)
        b, s = int(sys.argv[3]), int(sys.argv[4])
        ids = rng.integers(1000, 29000, size=(b, s)).astype(np.int32)
        ids[:, 0] = 101; ids[:, -1] = 102
        np.save(sys.argv[2], ids)
        print(json.dumps({"ids": [b, s]}))
    elif cmd == "bench":
        for p in (sys.argv[4] if len(sys.argv) > 4 else "fp32").split(","):
            bench(sys.argv[2], sys.argv[3], p)
    elif cmd == "hidden":
        hidden(sys.argv[2], sys.argv[3], sys.argv[4], *sys.argv[5:6])
    elif cmd == "corpus":
        extra = [int(x) for x in sys.argv[6:8]]
        for p in (sys.argv[5] if len(sys.argv) > 5 else "fp32").split(","):
            corpus(sys.argv[2], sys.argv[3], f"{sys.argv[4]}.{p}.npy", p, *extra)
    elif cmd == "gemm":
        gemm()
    else:
        sys.exit(__doc__)
