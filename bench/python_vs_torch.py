"""The tutorial model (U-AutoRec, 700 tanh, input dropout 0.7, batch 128)
trained from aerec's Python API against a sparse PyTorch implementation
(EmbeddingBag encoder, gathered decoder rows, SparseAdam) on the
Beauty-shaped set, side by side: interleaved rounds, medians.

    aerec synth --shape beauty --out target/beauty
    python bench/python_vs_torch.py target/beauty/train.csv --rounds 3 --torch-batches 200

aerec trains whole epochs; PyTorch, whose epoch is much longer, trains a
fixed number of batches (after warm-up) and its epoch time is that time
scaled to the epoch's batch count (printed with the measurement). PyTorch's
peer differs from the preset in its optimiser (SparseAdam, as sparse
PyTorch code is written; the preset uses SGD with momentum) and has no L2
term (SparseAdam takes no weight decay): both make its step cheaper, not
dearer.

Reproduce with a fresh environment:
    python3 -m venv target/pyenv && target/pyenv/bin/pip install ./python torch pandas
"""

import argparse
import json
import os
import statistics
import sys
import time

import numpy as np
import pandas as pd
import torch
from torch import nn

import aerec

HIDDEN, BATCH, KEEP = 700, 128, 0.3


class SparseAutoRec(nn.Module):
    """U-AutoRec over sparse rows: the encoder sums the rows of W that a
    user's rated items select (EmbeddingBag, weighted by the centred
    ratings), the decoder scores only the observed cells."""

    def __init__(self, n_items: int) -> None:
        super().__init__()
        self.encoder = nn.EmbeddingBag(n_items, HIDDEN, mode="sum", sparse=True)
        self.hidden_bias = nn.Parameter(torch.zeros(HIDDEN))
        self.decoder = nn.Embedding(n_items, HIDDEN, sparse=True)
        self.output_bias = nn.Embedding(n_items, 1, sparse=True)
        for table in (self.encoder.weight, self.decoder.weight):
            nn.init.uniform_(table, -(6 / (n_items + HIDDEN)) ** 0.5, (6 / (n_items + HIDDEN)) ** 0.5)
        nn.init.zeros_(self.output_bias.weight)

    def forward(self, idx, offsets, weights, rows, cols):
        h = torch.tanh(self.encoder(idx, offsets, per_sample_weights=weights) + self.hidden_bias)
        return (h[rows] * self.decoder(cols)).sum(1) + self.output_bias(cols).squeeze(1)


def torch_batches(indptr, indices, values, n_batches, seed=0):
    """Trains `n_batches` batches; returns (seconds, batches in one epoch)."""
    n_users = len(indptr) - 1
    active = np.flatnonzero(np.diff(indptr) > 0)
    rng = np.random.default_rng(seed)
    order = rng.permutation(active)
    per_epoch = -(-len(active) // BATCH)
    model = SparseAutoRec(int(indices.max()) + 1)
    sparse_opt = torch.optim.SparseAdam(
        [model.encoder.weight, model.decoder.weight, model.output_bias.weight], lr=1e-3)
    dense_opt = torch.optim.Adam([model.hidden_bias], lr=1e-3)
    warmup, start = 10, None
    for b in range(n_batches + warmup):
        if b == warmup:
            start = time.perf_counter()
        users = order[(b * BATCH) % len(order):][:BATCH]
        lens = indptr[users + 1] - indptr[users]
        pos = np.repeat(indptr[users] - np.cumsum(np.r_[0, lens[:-1]]), lens) + np.arange(lens.sum())
        cols = torch.from_numpy(indices[pos].astype(np.int64))
        target = torch.from_numpy(values[pos])
        rows = torch.from_numpy(np.repeat(np.arange(len(users)), lens))
        keep = torch.rand(len(pos)) < KEEP
        weights = target * keep / KEEP
        offsets = torch.from_numpy(np.r_[0, np.cumsum(lens)[:-1]].astype(np.int64))
        pred = model(cols, offsets, weights, rows, cols)
        loss = ((pred - target) ** 2).mean()
        sparse_opt.zero_grad()
        dense_opt.zero_grad()
        loss.backward()
        sparse_opt.step()
        dense_opt.step()
    return time.perf_counter() - start, per_epoch


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("train_csv")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--torch-batches", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(os.cpu_count() or 1)
    # synth writes `user,item,rating,timestamp` with a header.
    frame = pd.read_csv(args.train_csv, usecols=["user", "item", "rating"],
                        dtype={"user": str, "item": str})
    u, _ = pd.factorize(frame["user"])
    i, _ = pd.factorize(frame["item"])
    v = frame["rating"].to_numpy(np.float32)
    v = v - v.mean()  # centred, as the preset
    order = np.lexsort((i, u))
    indptr = np.r_[0, np.cumsum(np.bincount(u, minlength=u.max() + 1))]
    indices, values = i[order], v[order]
    train = aerec.ratings(args.train_csv)
    aerec_s, torch_epoch_s = [], []
    for r in range(args.rounds):
        model = aerec.Autoencoder(preset="tutorial", epochs=1, seed=r + 1)
        t = time.perf_counter()
        model.fit(train, progress=False)
        aerec_s.append(time.perf_counter() - t)
        seconds, per_epoch = torch_batches(indptr, indices, values, args.torch_batches, seed=r)
        torch_epoch_s.append(seconds / args.torch_batches * per_epoch)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": os.getloadavg(),
        "ratings": len(frame),
        "users": int(indptr.size - 1),
        "items": int(indices.max() + 1),
        "torch_batches_timed": args.torch_batches,
        "torch_batches_per_epoch": per_epoch,
        "aerec_epoch_seconds": aerec_s,
        "torch_epoch_seconds_scaled": torch_epoch_s,
        "speedup_median": statistics.median(torch_epoch_s) / statistics.median(aerec_s),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
