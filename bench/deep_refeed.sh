#!/bin/bash
# `--preset deep` (dense re-feeding) vs its PyTorch peer, side by side:
# interleaved rounds, each tool's epoch seconds (median of EPOCHS epochs, default 3) per round.
#
# Usage (from the repository root):
#   target/release/aerec synth --shape ml20m --test-fraction 0.375 --out target/bench/ml20m
#   (then a subset of whole users, e.g. 2,560 random ones, as SUB.csv / SUB_test.csv)
#   python3 -m venv target/pyenv && target/pyenv/bin/pip install torch numpy pandas
#   bench/deep_refeed.sh SUB.csv SUB_test.csv ROUNDS [AEREC_BINARY ...]
# PY names the Python with torch (default target/pyenv/bin/python).
set -euo pipefail
train=$1
test=$2
rounds=${3:-3}
shift 3 || true
bins=("$@")
[ ${#bins[@]} -eq 0 ] && bins=(target/release/aerec)
py=${PY:-target/pyenv/bin/python}
median() { "$py" -c 'import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])["epoch_seconds_median"])'; }
echo "date $(date -u '+%F %H:%M') UTC; load $(cut -d' ' -f1-3 /proc/loadavg)"
epochs=${EPOCHS:-3}
for r in $(seq 1 "$rounds"); do
  for b in "${bins[@]}"; do
    s=$("$b" train --train "$train" --test "$test" --preset deep --epochs "$epochs" --k 0 \
        --threads 2 --seed 1 --json -q | median)
    echo "round $r: $(basename "$b") $s s per epoch; load $(cut -d' ' -f1 /proc/loadavg)"
  done
  s=$("$py" bench/deep_refeed_torch.py --train "$train" --epochs "$epochs" --threads 2 | median)
  echo "round $r: pytorch $s s per epoch; load $(cut -d' ' -f1 /proc/loadavg)"
done
