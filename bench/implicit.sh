#!/bin/sh
# Implicit-feedback ranking benchmark (issue 17): aerec's ranking models and
# the reference implementations (bench/implicit_ref.py: EASE in numpy,
# Mult-VAE/DAE in PyTorch) on the same strong-generalization splits, ratings
# >= 4 as positives, seeds 1-4; then Mult-VAE training speed side by side.
#
#   python3 -m venv target/pyenv && target/pyenv/bin/pip install numpy pandas torch
#   PY=target/pyenv/bin/python sh bench/implicit.sh [DATA_DIR]
#
# Writes target/implicit-bench/{ml-100k,ml-latest-small}/seed-S/ (the split
# files), *.jsonl (one line per seed and model) and prints the tables.
set -eu
PY=${PY:-target/pyenv/bin/python}
DATA=${1:-../shared/data}
OUT=target/implicit-bench
SEEDS=${SEEDS:-"1 2 3 4"}
mkdir -p "$OUT"
cargo build --release --example implicit_bench
BIN=target/release/examples/implicit_bench
date -u; uptime
for set in ml-100k:u.data ml-latest-small:ratings.csv; do
    name=${set%%:*}; file=${set#*:}
    $BIN "$DATA/$name/$file" "$OUT/$name" $SEEDS > "$OUT/$name-aerec.jsonl"
    : > "$OUT/$name-ref.jsonl"
    for s in $SEEDS; do
        $PY bench/implicit_ref.py "$OUT/$name/seed-$s" "$s" >> "$OUT/$name-ref.jsonl"
    done
    echo "## $name"
    $PY bench/implicit_table.py "$OUT/$name-aerec.jsonl" "$OUT/$name-ref.jsonl"
done
# Speed: Mult-VAE batches side by side with PyTorch (bench/implicit_speed.sh).
PY=$PY sh bench/implicit_speed.sh
date -u; uptime
