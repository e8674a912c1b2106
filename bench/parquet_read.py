"""Reading Parquet: aerec vs polars and pandas `read_parquet`, side by side.

Usage (from the repository root):
    python3 -m venv target/pyenv
    target/pyenv/bin/pip install numpy pandas pyarrow polars
    target/pyenv/bin/python bench/parquet_read.py [--rounds N] [--warmup N]

1. Makes (once, then reuses) the ML-20M-shaped `ratings.csv` of
   `bench/read_vs_pandas.py` (20,000,263 ratings, 138,493 users, 26,744
   movies) and writes it as Parquet with polars: snappy (the codec pandas,
   Spark and DuckDB write by default), int64 ids and times, float64 ratings,
   polars' default row groups.
2. In each of `--rounds` interleaved rounds (default 5, after `--warmup`
   untimed ones), each in a fresh process:
   - aerec: `cargo bench --bench read_ml20m -- FILE` (`read_ratings`: the
     table with dense ids in first-seen order, then the CSR by user; both
     times are reported, `read_seconds` is the Parquet read alone);
   - polars `pl.read_parquet(FILE)`: the four columns as Arrow arrays;
   - pandas `pd.read_parquet(FILE)` (pyarrow engine), and the same
     followed by `factorize` of both id columns (dense ids, aerec's work).
3. Prints each run's median and range, and the ratios of the medians.
"""
import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DATA = os.path.join(ROOT, "target", "bench-data")


def peer(kind, path):
    """One timed Python read in this process; prints a JSON line."""
    start = time.perf_counter()
    if kind == "polars":
        import polars as pl

        rows = pl.read_parquet(path).height
    else:
        import pandas as pd

        df = pd.read_parquet(path)
        rows = len(df)
        if kind == "pandas+ids":
            pd.factorize(df["userId"])
            pd.factorize(df["movieId"])
    print(json.dumps({"kind": kind, "rows": rows, "seconds": time.perf_counter() - start}))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--peer", help=argparse.SUPPRESS)
    ap.add_argument("--path", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.peer:
        return peer(args.peer, args.path)
    csv = os.path.join(DATA, "ml20m-shaped-ratings.csv")
    parquet = os.path.join(DATA, "ml20m-shaped-ratings.parquet")
    if not os.path.exists(csv):
        spec = importlib.util.spec_from_file_location(
            "read_vs_pandas", os.path.join(ROOT, "bench", "read_vs_pandas.py"))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        os.makedirs(DATA, exist_ok=True)
        module.generate(csv, module.RATINGS)
    if not os.path.exists(parquet):
        import polars as pl

        pl.read_csv(csv).write_parquet(parquet + ".tmp", compression="snappy")
        os.replace(parquet + ".tmp", parquet)
    subprocess.run(["cargo", "bench", "--no-run", "-q", "--bench", "read_ml20m"], cwd=ROOT, check=True)
    runs = {}

    def aerec():
        out = subprocess.run(["cargo", "bench", "-q", "--bench", "read_ml20m", "--", parquet],
                             cwd=ROOT, check=True, capture_output=True, text=True).stdout
        j = json.loads(out.strip().splitlines()[-1])
        return {"aerec read": j["read_seconds"], "aerec read+CSR": j["seconds"]}

    def python(kind):
        out = subprocess.run([sys.executable, __file__, "--peer", kind, "--path", parquet],
                             check=True, capture_output=True, text=True).stdout
        return {kind: json.loads(out.strip().splitlines()[-1])["seconds"]}

    tasks = [aerec, lambda: python("polars"), lambda: python("pandas"), lambda: python("pandas+ids")]
    for r in range(args.warmup + args.rounds):
        for task in tasks:
            for name, s in task().items():
                if r >= args.warmup:
                    runs.setdefault(name, []).append(s)
    print(f"{parquet}: {os.path.getsize(parquet) / 1e6:.0f} MB, "
          f"{args.rounds} interleaved rounds after {args.warmup} warm-up")
    med = {k: statistics.median(v) for k, v in runs.items()}
    for k, v in runs.items():
        print(f"  {k:16} median {med[k]:.2f} s  (range {min(v):.2f}-{max(v):.2f})")
    for peer_name in ["polars", "pandas", "pandas+ids"]:
        print(f"  {peer_name} / aerec read: {med[peer_name] / med['aerec read']:.2f}x")


if __name__ == "__main__":
    main()
