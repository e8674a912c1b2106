"""The Python API against the CLI on the same data, side by side:
interleaved rounds, medians, ratios.

    python bench/python_api.py --aerec target/release/aerec --rounds 5 [--out DIR]

* fit: `Model.fit` wall time in Python against the fit time the CLI reports
  (`train --json`, `train_seconds`) for the same preset, epochs, seed and
  training file (ml-latest-small, random 90/10, seed 1).
* predict: `Model.predict` of 1,000,000 (user, item) pairs (numpy arrays in,
  numpy out) against `aerec predict --pairs FILE --out FILE` on the same
  pairs and model file.

Reproduce with a fresh environment:
    python3 -m venv target/pyenv && target/pyenv/bin/pip install ./python
    target/pyenv/bin/python bench/python_api.py --aerec target/release/aerec
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import aerec

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--aerec", default=str(ROOT / "target" / "release" / "aerec"))
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--preset", default="autorec")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--pairs", type=int, default=1_000_000)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    work = Path(args.out or tempfile.mkdtemp(prefix="aerec-pybench-"))
    work.mkdir(parents=True, exist_ok=True)
    data = ROOT / "data" / "ml-latest-small" / "ratings.csv"
    parts = aerec.split(data, test_fraction=0.1, seed=1)
    train_csv, test_csv = work / "train.csv", work / "test.csv"
    for part, path in ((parts.train, train_csv), (parts.test, test_csv)):
        part.to_pandas()[["user", "item", "rating"]].to_csv(path, index=False, header=False)
    model_file = work / "model.aerec"

    def cli_fit() -> float:
        run = subprocess.run([args.aerec, "-q", "--json", "train", "--train", str(train_csv), "--test",
                              str(test_csv), "--preset", args.preset, "--epochs", str(args.epochs),
                              "--seed", "1", "--out", str(model_file)],
                             check=True, capture_output=True, text=True)
        return json.loads(run.stdout.strip().splitlines()[-1])["train_seconds"]

    train = aerec.ratings(train_csv)

    engine = []

    def py_fit() -> float:
        model = aerec.Autoencoder(preset=args.preset, epochs=args.epochs, seed=1)
        t = time.perf_counter()
        model.fit(train, progress=False)
        elapsed = time.perf_counter() - t
        engine.append(model.report["train_seconds"])  # the fit alone, as the CLI reports it
        return elapsed

    rng = np.random.default_rng(7)
    users = rng.choice(np.array(sorted({*parts.train.to_pandas()["user"]}), dtype=object), args.pairs)
    items = rng.choice(np.array(sorted({*parts.train.to_pandas()["item"]}), dtype=object), args.pairs)
    users, items = users.astype(np.int64), items.astype(np.int64)
    pairs_csv, pred_csv = work / "pairs.csv", work / "pred.csv"
    with open(pairs_csv, "w") as f:
        f.write("\n".join(f"{u},{i}" for u, i in zip(users.tolist(), items.tolist())))
        f.write("\n")
    cli_fit()  # writes the model file both predict runs use
    loaded = aerec.load(model_file)

    def cli_predict() -> float:
        t = time.perf_counter()
        subprocess.run([args.aerec, "-q", "predict", "--model", str(model_file), "--pairs", str(pairs_csv),
                        "--out", str(pred_csv)], check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - t

    def py_predict() -> float:
        t = time.perf_counter()
        out = loaded.predict(users, items)
        elapsed = time.perf_counter() - t
        assert out.shape == (args.pairs,)
        return elapsed

    times = {name: [] for name in ("cli_fit", "py_fit", "cli_predict", "py_predict")}
    for _ in range(args.rounds):
        times["cli_fit"].append(cli_fit())
        times["py_fit"].append(py_fit())
        times["cli_predict"].append(cli_predict())
        times["py_predict"].append(py_predict())
    times["py_fit_engine"] = engine[-args.rounds:]
    med = {k: statistics.median(v) for k, v in times.items()}
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load": os.getloadavg(),
        "rounds": args.rounds,
        "preset": args.preset,
        "epochs": args.epochs,
        "median_seconds": med,
        "fit_ratio_py_over_cli": med["py_fit"] / med["cli_fit"],
        "fit_ratio_per_round": [p / c for p, c in zip(times["py_fit"], times["cli_fit"])],
        "predict_ratio_py_over_cli": med["py_predict"] / med["cli_predict"],
        "uptime": subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(),
        "all": times,
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    sys.exit(main())
