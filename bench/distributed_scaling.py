#!/usr/bin/env python3
"""The scaling model of docs/distributed.md: time and memory per rank of one
data-parallel epoch of an AutoRec-style autoencoder, from the per-step
exchange formula (tests/distributed.rs checks it against the collective's
byte counter) and a measured compute rate. Standard library only.

    python3 bench/distributed_scaling.py [--gflops 29] [--hidden 500] [--batch 256]

Model, per step of a global batch of B rows (rows are users; the item
tables, input and output weights, are indexed by item):
  union |U| of touched items <= min(n_items, B * mean row length)   (upper bound),
      or, given item popularity (--netflix-counts), its expectation
      E|U| = sum_j 1 - (1 - p_j)^B, p_j the share of users who rated item j
  payload per rank  = 4 * (2 + |U|/N)                      all-gather of columns
                    + 4 * (D + |U| * (2H + 1))             all-reduce of gradients
                    + 8                                    the loss
  wire per rank     = 2 (N - 1) / N * all-reduce payload   (ring all-reduce)
                    + (N - 1) / N * 4 * |U|                (all-gather)
  compute per rank  = 10 * nnz * H / N flop per epoch at the measured rate
Weak scaling (global batch B = b * N) is printed beside strong scaling
(B fixed): the first keeps each rank's batch, the second the recipe.
"""

import argparse
import csv
import math

SHAPES = {
    # name: (rows = users, item columns, ratings)
    "netflix": (480_189, 17_770, 100_480_507),
    "amazon-full": (40_000_000, 15_000_000, 230_000_000),
}
LINKS_GBIT = (10, 25, 100)
RANKS = (1, 2, 4, 8, 16, 32, 64)


def expected_union(counts, rows, batch):
    """Expected number of distinct items a batch of `batch` rows drawn
    without replacement from `rows` touches, item j being in `counts[j]`
    rows: sum over j of 1 - C(rows - c_j, batch) / C(rows, batch)."""
    if batch <= 0:
        return 0.0
    base = math.lgamma(rows + 1) - math.lgamma(rows - batch + 1)
    total = 0.0
    for c in counts:
        free = rows - c
        missed = 0.0 if free < batch else math.exp(
            math.lgamma(free + 1) - math.lgamma(free - batch + 1) - base)
        total += 1.0 - missed
    return total


def item_counts(path):
    """Ratings per item of a `user,item,...` CSV with a header (aerec synth's)."""
    counts = {}
    with open(path, newline="") as f:
        rows = csv.reader(f)
        next(rows, None)
        for row in rows:
            counts[row[1]] = counts.get(row[1], 0) + 1
    return list(counts.values())


def item_shares(path):
    """Share of the users that rated each item, from a ratings CSV."""
    counts, users = {}, set()
    with open(path, newline="") as f:
        rows = csv.reader(f)
        next(rows, None)
        for row in rows:
            users.add(row[0])
            counts[row[1]] = counts.get(row[1], 0) + 1
    return [c / len(users) for c in counts.values()]


def union_of(shares, batch):
    """Expected distinct items among `batch` users drawn from a large
    population, item j rated by a share p_j of it: sum of 1 - (1 - p_j)^b."""
    return sum(1.0 - (1.0 - p) ** batch for p in shares)


def step_bytes(n_items, mean_row, hidden, batch, ranks, dense=0, shares=None):
    """(payload, wire) bytes one rank sends in one step: the touched-item
    union from the item shares when given, else its upper bound."""
    if shares is None:
        union = min(n_items, batch * mean_row)
        mine = union / ranks
    else:
        union = union_of(shares, batch)
        mine = union_of(shares, batch / ranks)
    reduce_payload = 4 * (dense + union * (2 * hidden + 1))
    gather_payload = 4 * (2 + mine)
    payload = gather_payload + reduce_payload + 8
    if ranks == 1:
        return payload, 0.0
    wire = 2 * (ranks - 1) / ranks * reduce_payload + (ranks - 1) / ranks * 4 * union
    return payload, wire


def epoch(shape, hidden, batch, ranks, gflops, link_gbit, weak, shares=None):
    users, items, nnz = SHAPES[shape]
    mean_row = nnz / users
    global_batch = batch * ranks if weak else batch
    steps = users / global_batch
    payload, wire = step_bytes(items, mean_row, hidden, global_batch, ranks, shares=shares)
    compute = 10 * nnz * hidden / ranks / (gflops * 1e9)
    comm = steps * wire / (link_gbit * 1e9 / 8)
    return compute, comm, steps * payload


def memory_per_rank(shape, hidden, ranks, adam=True):
    """Bytes: weights (+ 2 Adam moments) replicated, ratings split by row owner."""
    users, items, nnz = SHAPES[shape]
    params = items * (2 * hidden + 1)
    tables = params * 4 * (3 if adam else 2)
    ratings = nnz * 8 / ranks  # CSR: u32 column + f32 value per rating
    return tables, ratings


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gflops", type=float, default=29.0,
                    help="measured single-machine rate (BENCHMARKS.md: 29 GFLOP/s, I-AutoRec 500)")
    ap.add_argument("--hidden", type=int, default=500)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--netflix-counts", metavar="CSV",
                    help="a Netflix-shaped ratings file (bench/distributed.sh's train.csv) whose "
                         "item popularity gives the expected union of a batch, instead of the "
                         "bound that takes min(items, batch x mean row) as touched")
    a = ap.parse_args()
    netflix_shares = item_shares(a.netflix_counts) if a.netflix_counts else None
    for shape in SHAPES:
        shares = netflix_shares if shape == "netflix" else None
        users, items, nnz = SHAPES[shape]
        print(f"\n## {shape}: {users:,} users x {items:,} items, {nnz:,} ratings; "
              f"U-AutoRec H={a.hidden}, batch {a.batch}/rank, {a.gflops:g} GFLOP/s")
        tables, _ = memory_per_rank(shape, a.hidden, 1)
        print(f"item tables with Adam moments: {tables / 2**30:.1f} GiB on every rank")
        head = "| ranks | ratings/rank GiB | compute s | " + " | ".join(
            f"exchange s @{g} Gb/s" for g in LINKS_GBIT) + " | payload GB/epoch/rank |"
        for weak in (True, False):
            print(f"\n{'weak scaling (global batch = batch x ranks)' if weak else 'strong scaling (global batch fixed)'}\n")
            print(head)
            print("|" + "---|" * (4 + len(LINKS_GBIT)))
            for n in RANKS:
                row = []
                for g in LINKS_GBIT:
                    compute, comm, payload = epoch(shape, a.hidden, a.batch, n, a.gflops, g, weak,
                                                   shares)
                    row.append(f"{comm:,.0f}")
                _, ratings = memory_per_rank(shape, a.hidden, n)
                print(f"| {n} | {ratings / 2**30:.2f} | {compute:,.0f} | " + " | ".join(row)
                      + f" | {payload / 1e9:,.0f} |")


if __name__ == "__main__":
    main()
