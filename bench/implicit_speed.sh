#!/bin/sh
# Mult-VAE training speed, aerec against the PyTorch reference
# (bench/implicit_ref.py: the paper's dense batch rows), side by side:
# ROUNDS interleaved rounds of the same number of 500-user batches on a
# random click matrix of each shape; one JSON line per run (seconds of the
# batches alone, not the initialisation), then medians and ratios.
#
#   python3 -m venv target/pyenv && target/pyenv/bin/pip install numpy pandas torch
#   PY=target/pyenv/bin/python sh bench/implicit_speed.sh
#
# ML-20M shape: 26,744 items, 72 positives a user (ratings >= 4: ~10M over
# 138k users), 277 batches an epoch; Beauty shape: 133,212 items, 3 a user
# (1.07M over 321k users), 643 batches an epoch.
set -eu
PY=${PY:-target/pyenv/bin/python}
ROUNDS=${ROUNDS:-3}
OUT=target/implicit-bench
mkdir -p "$OUT"
# BIN=path: an implicit_bench binary already built (no cargo build).
if [ -z "${BIN:-}" ]; then
    cargo build --release --example implicit_bench
    BIN=target/release/examples/implicit_bench
fi
date -u; uptime
for shape in "26744 2000 72 4" "133212 1500 3 3"; do
    for round in $(seq "$ROUNDS"); do
        $BIN speed $shape
        $PY bench/implicit_ref.py speed $shape
        # torch's own f32 and bf16 products of the output layer's shapes.
        $PY bench/implicit_ref.py gemm "${shape%% *}"
    done
done | tee "$OUT/speed.jsonl"
date -u; uptime
$PY bench/implicit_speed_table.py "$OUT/speed.jsonl"
