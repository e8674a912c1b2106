"""Reading speed: aerec vs pandas on a 20M-rating ML-20M-shaped CSV, side by side.

Usage (from the repository root; needs numpy and pandas, e.g. in a venv):
    python3 bench/read_vs_pandas.py [--rounds N] [--warmup N] [--rows N] [--csv PATH]

1. Generates (once, then reuses) an ML-20M-shaped `ratings.csv`: header
   `userId,movieId,rating,timestamp`, 138,493 users, 26,744 movies with ids
   spread over 1..131,262 as in ML-20M, skewed (power-law-like) user
   activity and item popularity, ratings 0.5-5 in halves, Unix timestamps, rows sorted by user
   then movie, no repeated (user, movie) pair, CRLF-free LF lines.
2. Runs, after `--warmup` untimed rounds (default 1: the first run of a
   freshly built binary pays one-time costs), in each of `--rounds`
   interleaved rounds (default 5):
   `cargo bench --bench read_ml20m -- PATH` (read + id maps + CSR by user:
   with timestamps, without, and keeping the table next to the matrix
   instead of handing its columns over), then pandas `read_csv` +
   `astype('category').cat.codes` on both id columns in a fresh process.
3. Reports each run's median seconds, range, MB/s and peak RSS, the speed-up
   of the medians, within each round, and of the fastest runs. In a VM that
   hands freed memory back to its host, a run's first touch of fresh memory
   costs 1-2 s more in some runs than in others (pandas touches 1.9 GB, aerec
   0.45 GB): the fastest runs are the ones that did not pay it.
"""
import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
USERS, ITEMS, RATINGS, MAX_MOVIE_ID = 138_493, 26_744, 20_000_263, 131_262


def generate(path, rows, seed=20):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    # Power laws by inverse transform (no per-draw weight tables, so this
    # stays fast): index = floor(n * x^a) for uniform x puts most draws on
    # low indices; a permutation then scatters the busy users and popular
    # movies over the id range.
    n = int(rows * 1.12) + 1000
    users = rng.permutation(USERS)[(USERS * rng.random(n) ** 1.6).astype(np.int64)]
    items = rng.permutation(ITEMS)[(ITEMS * rng.random(n) ** 2.0).astype(np.int64)]
    codes = np.unique(users * ITEMS + items)  # sorted by user, then movie; no repeats
    if codes.size < rows:
        raise SystemExit(f"only {codes.size} distinct pairs; raise the oversampling")
    codes = np.sort(rng.choice(codes, rows, replace=False))
    movie_ids = np.sort(rng.choice(np.arange(1, MAX_MOVIE_ID + 1), ITEMS, replace=False))
    df = pd.DataFrame({
        "userId": codes // ITEMS + 1,
        "movieId": movie_ids[codes % ITEMS],
        "rating": rng.choice(np.arange(1, 11), rows, p=[.01, .03, .02, .07, .05, .21, .11, .27, .08, .15]) / 2.0,
        "timestamp": rng.integers(789_652_009, 1_427_784_002, rows),
    })
    tmp = path + ".tmp"
    df.to_csv(tmp, index=False, float_format="%.1f", chunksize=1_000_000)
    os.replace(tmp, path)


def pandas_run(path):
    import pandas as pd

    t = time.perf_counter()
    df = pd.read_csv(path)
    users = df["userId"].astype("category").cat.codes
    items = df["movieId"].astype("category").cat.codes
    seconds = time.perf_counter() - t
    assert len(users) == len(items) == len(df)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(json.dumps({"seconds": seconds, "peak_rss_bytes": peak, "rows": len(df)}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=RATINGS)
    ap.add_argument("--csv", default=os.path.join(ROOT, "target", "bench-data", "ml20m-shaped-ratings.csv"))
    ap.add_argument("--rounds", type=int, default=5, help="interleaved rounds of the four runs")
    ap.add_argument("--warmup", type=int, default=1,
                    help="untimed rounds first (a freshly built binary's first run pays one-time costs)")
    ap.add_argument("--pandas-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pandas_only:
        return pandas_run(args.csv)
    if not os.path.exists(args.csv):
        os.makedirs(os.path.dirname(args.csv), exist_ok=True)
        t = time.perf_counter()
        generate(args.csv, args.rows)
        print(f"generated {args.csv} in {time.perf_counter() - t:.0f} s", file=sys.stderr)
    size = os.path.getsize(args.csv)
    print(f"file: {args.csv} ({size / 1e6:.0f} MB), cores: {os.cpu_count()}, "
          f"rounds: {args.rounds} (after {args.warmup} untimed)")
    # The bench binary is built once, outside the timed runs.
    subprocess.run(["cargo", "bench", "--no-run", "-q", "--bench", "read_ml20m"], cwd=ROOT, check=True)
    variants = [  # label, AEREC_BENCH_TIMESTAMPS, AEREC_BENCH_KEEP_TABLE
        ("aerec (timestamps kept)", "1", "0"),
        ("aerec (no timestamps)", "0", "0"),
        ("aerec (table kept too)", "1", "1"),
    ]
    runs = {label: [] for label, _, _ in variants}
    runs["pandas read_csv + cat.codes"] = []
    # Rounds interleave the three runs, so that a slow spell of the machine
    # (in a VM, first-touch page faults vary 3x from run to run) hits all
    # of them alike; the table reports medians and ranges.
    for round_no in range(args.warmup + args.rounds):
        timed = round_no >= args.warmup
        for label, times, keep in variants:
            out = subprocess.run(
                ["cargo", "bench", "-q", "--bench", "read_ml20m", "--", args.csv],
                cwd=ROOT, env={**os.environ, "AEREC_BENCH_TIMESTAMPS": times,
                               "AEREC_BENCH_KEEP_TABLE": keep},
                check=True, capture_output=True, text=True,
            ).stdout
            if timed:
                runs[label].append(json.loads(out.strip().splitlines()[-1]))
        out = subprocess.run([sys.executable, __file__, "--csv", args.csv, "--pandas-only"],
                             check=True, capture_output=True, text=True).stdout
        if timed:
            runs["pandas read_csv + cat.codes"].append(json.loads(out.strip().splitlines()[-1]))
    med = {label: statistics.median(r["seconds"] for r in rs) for label, rs in runs.items()}
    base = med["pandas read_csv + cat.codes"]
    print(f"{'run':32} {'median s':>9} {'min-max s':>12} {'MB/s':>6} {'peak RSS MB':>12} {'vs pandas':>10}")
    for label, rs in runs.items():
        secs = [r["seconds"] for r in rs]
        peak = max(r["peak_rss_bytes"] for r in rs)
        print(f"{label:32} {med[label]:9.2f} {min(secs):5.2f}-{max(secs):<6.2f} "
              f"{size / 1e6 / med[label]:6.0f} {peak / 1e6:12.0f} {base / med[label]:9.1f}x")
    ratios = [p["seconds"] / a["seconds"]
              for a, p in zip(runs["aerec (timestamps kept)"], runs["pandas read_csv + cat.codes"])]
    print("speed-up per round (timestamps kept): " + " ".join(f"{r:.1f}x" for r in ratios))
    best = {label: min(r["seconds"] for r in rs) for label, rs in runs.items()}
    print("speed-up of the fastest runs (timestamps kept): "
          f"{best['pandas read_csv + cat.codes'] / best['aerec (timestamps kept)']:.1f}x")


if __name__ == "__main__":
    main()
