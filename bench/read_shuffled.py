"""Reading a file in any row order: aerec on a user-sorted file and on the
same rows shuffled, against polars and pandas on the shuffled file, side by
side in interleaved rounds.

Usage (from the repository root, after `cargo build --release`):
    python3 -m venv target/pyenv && target/pyenv/bin/pip install numpy pandas polars
    target/pyenv/bin/python bench/read_shuffled.py [--rounds 7] [--aerec target/release/aerec]

1. Generates once, under target/bench/: `aerec synth --shape ml20m
   --test-fraction 0.375 --seed 1` (its train part: 12.5M ratings, 138,493
   users, 26,744 items) cut to `user,item,rating`, written sorted by user
   (then item) as `shuffled-sorted.csv` and the same rows in a seeded random
   order as `shuffled-random.csv`.
2. Each round (the order of the runs rotates from round to round) times, each
   in a fresh process: `aerec stats FILE -q` on the sorted and on the
   shuffled file (wall time of the process: read, id maps, duplicate check,
   scale, statistics), polars `read_csv` alone on the shuffled file (the call
   only: no interpreter start, no import, no id indexing) and pandas
   `read_csv` + `astype('category').cat.codes` on both id columns (the calls
   only).
3. Prints per-round times, medians, and the ratios of the medians and per
   round: shuffled / sorted, polars / shuffled, pandas / shuffled.
"""
import argparse
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DIR = os.path.join(ROOT, "target", "bench")
SORTED = os.path.join(DIR, "shuffled-sorted.csv")
RANDOM = os.path.join(DIR, "shuffled-random.csv")

POLARS = """
import sys, time, polars as pl
t = time.perf_counter()
df = pl.read_csv(sys.argv[1])
print(time.perf_counter() - t, df.height)
"""

PANDAS = """
import sys, time, pandas as pd
t = time.perf_counter()
df = pd.read_csv(sys.argv[1])
u = df["user"].astype("category").cat.codes
i = df["item"].astype("category").cat.codes
print(time.perf_counter() - t, len(df), u.max() + 1, i.max() + 1)
"""


def generate(aerec):
    import numpy as np
    import pandas as pd

    if os.path.exists(SORTED) and os.path.exists(RANDOM):
        return
    os.makedirs(DIR, exist_ok=True)
    synth = os.path.join(DIR, "ml20m-synth")
    subprocess.run([aerec, "synth", "--shape", "ml20m", "--test-fraction", "0.375",
                    "--seed", "1", "--out", synth, "-q"], check=True)
    df = pd.read_csv(os.path.join(synth, "train.csv"), usecols=[0, 1, 2])
    df.columns = ["user", "item", "rating"]
    df = df.sort_values(["user", "item"], kind="stable")
    df.to_csv(SORTED + ".tmp", index=False)
    os.replace(SORTED + ".tmp", SORTED)
    order = np.random.default_rng(14).permutation(len(df))
    df.iloc[order].to_csv(RANDOM + ".tmp", index=False)
    os.replace(RANDOM + ".tmp", RANDOM)


def run_aerec(aerec, path):
    t = time.perf_counter()
    subprocess.run([aerec, "stats", path, "-q"], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t


def run_py(code, path):
    out = subprocess.run([sys.executable, "-c", code, path], check=True,
                         capture_output=True, text=True).stdout.split()
    return float(out[0])


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--aerec", default=os.path.join(ROOT, "target", "release", "aerec"))
    ap.add_argument("--no-pandas", action="store_true", help="skip pandas (the slowest run)")
    args = ap.parse_args()
    generate(args.aerec)
    runs = {
        "aerec sorted": lambda: run_aerec(args.aerec, SORTED),
        "aerec shuffled": lambda: run_aerec(args.aerec, RANDOM),
        "polars read_csv shuffled": lambda: run_py(POLARS, RANDOM),
    }
    if not args.no_pandas:
        runs["pandas read_csv+codes shuffled"] = lambda: run_py(PANDAS, RANDOM)
    names = list(runs)
    times = {n: [] for n in names}
    print(f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, load {load()}, "
          f"{os.path.getsize(SORTED)} bytes, {args.rounds} rounds", flush=True)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for n in order:
            times[n].append(runs[n]())
        print(f"round {r + 1}: " + ", ".join(f"{n} {times[n][-1]:.2f}" for n in names)
              + f"; load {load()}", flush=True)
    med = {n: statistics.median(v) for n, v in times.items()}
    for n in names:
        print(f"{n}: median {med[n]:.3f} s (range {min(times[n]):.3f}-{max(times[n]):.3f})")

    def ratio(a, b):
        per = [x / y for x, y in zip(times[a], times[b])]
        return (f"{a} / {b}: {med[a] / med[b]:.2f} of the medians, per round "
                f"median {statistics.median(per):.2f} (range {min(per):.2f}-{max(per):.2f})")

    print(ratio("aerec shuffled", "aerec sorted"))
    print(ratio("polars read_csv shuffled", "aerec shuffled"))
    if not args.no_pandas:
        print(ratio("pandas read_csv+codes shuffled", "aerec shuffled"))
    print(f"end {time.strftime('%H:%M', time.gmtime())} UTC, load {load()}")


if __name__ == "__main__":
    main()
