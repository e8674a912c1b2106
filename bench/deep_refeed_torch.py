"""PyTorch peer of `aerec train --preset deep`: NVIDIA DeepRecommender's
recipe (Kuchaiev & Ginsburg 2017, github.com/NVIDIA/DeepRecommender), written
here from its paper and run.py: dense batches, dense re-feeding.

User-based: each row is one user's ratings over every item, densified per
batch (`to_dense()`, as DeepRecommender's data layer hands them over).
Layers [items, 512, 512, 1024] SELU, mirrored decoder with tied weights
(`is_constrained`), activation on the last layer, dropout 0.8 on the code,
masked MSE (sum over rated cells / their count), SGD lr 0.005 momentum 0.9,
batch 128, re-feeding 1 (`aug_step`: the step's dense output, detached,
becomes the input and the target of a second step).

Usage:
    python3 -m venv target/pyenv && target/pyenv/bin/pip install torch numpy pandas
    target/pyenv/bin/python bench/deep_refeed_torch.py --train FILE.csv [--epochs 3] [--threads 2]

Prints one JSON object: rows, items, batches per epoch, each epoch's
seconds (reading and indexing the file excluded), the median, and the
counted GFLOP of one epoch (multiply-adds × 2 of every dense product).
"""
import argparse
import json
import statistics
import time

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F


class DeepAutoencoder(torch.nn.Module):
    def __init__(self, n_items, layers, dropout):
        super().__init__()
        sizes = [n_items] + layers
        self.w = torch.nn.ParameterList()
        self.enc_b = torch.nn.ParameterList()
        for a, b in zip(sizes[:-1], sizes[1:]):
            w = torch.empty(b, a)
            torch.nn.init.xavier_uniform_(w)
            self.w.append(torch.nn.Parameter(w))
            self.enc_b.append(torch.nn.Parameter(torch.zeros(b)))
        self.dec_b = torch.nn.ParameterList(
            [torch.nn.Parameter(torch.zeros(a)) for a in reversed(sizes[:-1])]
        )
        self.dropout = dropout

    def forward(self, x):
        for w, b in zip(self.w, self.enc_b):
            x = F.selu(F.linear(x, w, b))
        if self.dropout > 0:
            x = F.dropout(x, self.dropout, self.training)
        for w, b in zip(reversed(self.w), self.dec_b):
            # Tied: the decoder uses each encoder weight transposed; the
            # last layer keeps its activation (last_layer_activations).
            x = F.selu(F.linear(x, w.t(), b))
        return x


def masked_mse(out, target):
    mask = target != 0
    n = mask.sum()
    return ((out * mask - target) ** 2).sum() / n.clamp(min=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--train", required=True)
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    df = pd.read_csv(args.train, usecols=[0, 1, 2], dtype={0: str, 1: str})
    users = df.iloc[:, 0].astype("category").cat.codes.to_numpy()
    items = df.iloc[:, 1].astype("category").cat.codes.to_numpy()
    ratings = df.iloc[:, 2].to_numpy(dtype=np.float32)
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    order = np.argsort(users, kind="stable")
    users, items, ratings = users[order], items[order], ratings[order]
    ptr = np.zeros(n_users + 1, dtype=np.int64)
    np.add.at(ptr, users + 1, 1)
    ptr = np.cumsum(ptr)
    layers = [512, 512, 1024]
    model = DeepAutoencoder(n_items, layers, 0.8)
    opt = torch.optim.SGD(model.parameters(), lr=0.005, momentum=0.9)
    rng = np.random.default_rng(args.seed)
    rows = np.nonzero(np.diff(ptr) > 0)[0]
    batches = (len(rows) + args.batch - 1) // args.batch
    seconds = []
    for _ in range(args.epochs):
        model.train()
        rng.shuffle(rows)
        t0 = time.perf_counter()
        for k in range(batches):
            chunk = rows[k * args.batch:(k + 1) * args.batch]
            dense = torch.zeros(len(chunk), n_items)
            for b, r in enumerate(chunk):
                s, e = ptr[r], ptr[r + 1]
                dense[b, torch.from_numpy(items[s:e].astype(np.int64))] = torch.from_numpy(ratings[s:e])
            opt.zero_grad()
            out = model(dense)
            loss = masked_mse(out, dense)
            loss.backward()
            opt.step()
            # Re-feeding (aug_step 1): the dense output is input and target.
            refeed = out.detach()
            opt.zero_grad()
            out = model(refeed)
            loss = masked_mse(out, refeed)
            loss.backward()
            opt.step()
        seconds.append(time.perf_counter() - t0)
    # Per dense step: forward Σ n_in·n_out, backward 2× that less the
    # input-gradient of the first layer; two steps a batch.
    sizes = [n_items] + layers + layers[-2::-1] + [n_items]
    macs = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    per_row = 2 * (3 * macs - n_items * layers[0])
    gflop = 2 * per_row * len(rows) / 1e9
    print(json.dumps({
        "peer": "pytorch",
        "torch": torch.__version__,
        "threads": args.threads,
        "rows": int(len(rows)),
        "items": int(n_items),
        "batches": int(batches),
        "epoch_seconds": seconds,
        "epoch_seconds_median": statistics.median(seconds),
        "epoch_gflop": gflop,
    }))


if __name__ == "__main__":
    main()
