#!/usr/bin/env python3
"""PyTorch side of the GPU check (runs on the lent GPU machine, offline; also works on CPU).

  make-models OUT TOKENIZER_DIR   random-initialised BERT models (seeded) in HF layout with safetensors:
                                  OUT/minilm (6 layers, 384 hidden, 12 heads: all-MiniLM-L6-v2's shape) and
                                  OUT/bert-base (12 layers, 768 hidden, 12 heads); tokenizer files copied in.
  ids OUT.npy BATCH SEQ           deterministic random token ids [BATCH, SEQ] (int32, no padding).
  bench MODEL IDS.npy             float32 encoder throughput (TF32 off), median of timed runs after warm-up.
  hidden MODEL IDS.npy OUT.npy    last hidden state [BATCH, SEQ, H] for parity.
  gemm                            fp32 torch.matmul GFLOP/s at the encoder's GEMM shapes (TF32 off).
Prints one JSON object per command on stdout.
"""
import json, os, shutil, sys, time
import numpy as np
import torch

torch.backends.cuda.matmul.allow_tf32 = False
torch.backends.cudnn.allow_tf32 = False
DEV = "cuda" if torch.cuda.is_available() else "cpu"

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


def load(model_dir):
    from transformers import BertModel
    return BertModel.from_pretrained(model_dir, add_pooling_layer=False, attn_implementation="eager").to(DEV).eval()


def sync():
    if DEV == "cuda":
        torch.cuda.synchronize()


def bench(model_dir, ids_path, runs=10):
    ids = torch.from_numpy(np.load(ids_path).astype(np.int64)).to(DEV)
    model = load(model_dir)
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
                      "batch": ids.shape[0], "seq": ids.shape[1], "median_s": med, "texts_per_s": ids.shape[0] / med}))


def hidden(model_dir, ids_path, out):
    ids = torch.from_numpy(np.load(ids_path).astype(np.int64)).to(DEV)
    with torch.inference_mode():
        h = load(model_dir)(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state
    np.save(out, h.float().cpu().numpy())
    print(json.dumps({"hidden": list(h.shape)}))


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
        bench(sys.argv[2], sys.argv[3])
    elif cmd == "hidden":
        hidden(sys.argv[2], sys.argv[3], sys.argv[4])
    elif cmd == "gemm":
        gemm()
    else:
        sys.exit(__doc__)
