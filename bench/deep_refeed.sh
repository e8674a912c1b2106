#!/bin/bash
# `--preset deep` (dense re-feeding) vs its PyTorch peer, side by side:
# interleaved rounds, each tool's epoch seconds (median of EPOCHS epochs, default 3) per round.
#
# Usage (from the repository root):
#   target/release/aerec synth --shape ml20m --test-fraction 0.375 --out target/bench/ml20m-synth
#   python3 -m venv target/pyenv && target/pyenv/bin/pip install torch numpy pandas
#   target/pyenv/bin/python bench/deep_subset.py target/bench/ml20m-synth target/bench/deep-sub 2560 1
#   bench/deep_refeed.sh target/bench/deep-sub.csv target/bench/deep-sub_test.csv ROUNDS [AEREC_BINARY ...]
# PY names the Python with torch (default target/pyenv/bin/python).
#
# Each line also gives GFLOP/s: the multiply-adds × 2 of every dense product
# of an epoch, counted for what each tool computes (rows R users, n items,
# hidden chain H = 512·512 + 512·1024 + 1024·512 + 512·512 multiply-adds):
#   PyTorch, two dense steps a batch: R·(5120·n + 6·H) multiply-adds.
#   aerec: the sparse step (≈ 3·H; its sparse input and output layers are
#   negligible), the dense output that re-feeding reads (H + 512·n), the
#   dense step (5·512·n + 3·H; no gradient w.r.t. its input):
#   R·(3072·n + 7·H).
set -euo pipefail
train=$1
test=$2
rounds=${3:-3}
shift 3 || true
bins=("$@")
[ ${#bins[@]} -eq 0 ] && bins=(target/release/aerec)
py=${PY:-target/pyenv/bin/python}
median() { "$py" -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["epoch_seconds_median"])'; }
# Rows (users with a training rating) and items of the training file.
read -r rows items < <("$py" -c 'import pandas as pd,sys; d=pd.read_csv(sys.argv[1]); print(d.iloc[:,0].nunique(), d.iloc[:,1].nunique())' "$train")
hidden=$((512 * 512 + 512 * 1024 + 1024 * 512 + 512 * 512))
gflop_aerec=$("$py" -c "print(2 * $rows * (3072 * $items + 7 * $hidden) / 1e9)")
gflop_torch=$("$py" -c "print(2 * $rows * (5120 * $items + 6 * $hidden) / 1e9)")
rate() { "$py" -c "print(f'{$1 / $2:.1f}')"; }
echo "rows $rows, items $items; GFLOP an epoch: aerec $gflop_aerec, pytorch $gflop_torch"
echo "date $(date -u '+%F %H:%M') UTC; load $(cut -d' ' -f1-3 /proc/loadavg)"
epochs=${EPOCHS:-3}
for r in $(seq 1 "$rounds"); do
  for b in "${bins[@]}"; do
    s=$("$b" train --train "$train" --test "$test" --preset deep --epochs "$epochs" --k 0 \
        --threads 2 --seed 1 --json -q | median)
    echo "round $r: $(basename "$b") $s s per epoch, $(rate "$gflop_aerec" "$s") GFLOP/s; load $(cut -d' ' -f1 /proc/loadavg)"
  done
  s=$("$py" bench/deep_refeed_torch.py --train "$train" --epochs "$epochs" --threads 2 | median)
  echo "round $r: pytorch $s s per epoch, $(rate "$gflop_torch" "$s") GFLOP/s; load $(cut -d' ' -f1 /proc/loadavg)"
done
