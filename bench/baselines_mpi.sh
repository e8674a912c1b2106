#!/usr/bin/env bash
# Biases (ALS) and MF (SGD, 100 factors, 20 epochs) on ML-100K u1, one
# process against 2 MPI ranks of one thread each: test RMSE, and wall
# seconds as medians of interleaved rounds (1 rank, 2 ranks, 1 rank, …),
# so a machine shared with others disturbs both alike; the load is printed
# beside them. The 2-rank wall time includes MPI's start (~0.5 s here).
#
#   cargo build --release --features mpi
#   bench/baselines_mpi.sh                     # ROUNDS=5 by default
#
# Needs OpenMPI (mpirun), python3 and ../shared/data/ml-100k/u.data.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${BIN:-target/release/aerec}")
DATA=${DATA:-../shared/data/ml-100k/u.data}
ROUNDS=${ROUNDS:-5}
MPIRUN=(mpirun --allow-run-as-root --oversubscribe -np 2)
echo "date: $(date -u +%FT%TZ); load: $(uptime | sed 's/.*load average: //'); $ROUNDS rounds"
run() { # ranks model -> "rmse seconds"
    local ranks=$1 model=$2 start end out
    local cmd=("$BIN" --threads 1 train --data "$DATA" --method ml100k-u1 --model "$model"
               --seed 1 --k 0 --json -q)
    start=$(date +%s.%N)
    if [ "$ranks" = 1 ]; then out=$("${cmd[@]}"); else out=$("${MPIRUN[@]}" "${cmd[@]}"); fi
    end=$(date +%s.%N)
    echo "$out" | tail -1 | python3 -c \
        "import json,sys; print(json.loads(sys.stdin.read())['test_rmse'], $end - $start)"
}
for model in biases mf; do
    : > "target/baselines-mpi-$model.txt"
    for _ in $(seq "$ROUNDS"); do
        for ranks in 1 2; do
            echo "$ranks $(run "$ranks" "$model")" >> "target/baselines-mpi-$model.txt"
        done
    done
    python3 - "$model" "target/baselines-mpi-$model.txt" <<'EOF'
import statistics, sys
model, path = sys.argv[1], sys.argv[2]
rows = [l.split() for l in open(path)]
for ranks in ("1", "2"):
    mine = [(float(r), float(s)) for k, r, s in rows if k == ranks]
    rmse = {r for r, _ in mine}
    print(f"{model} {ranks} rank(s): test RMSE {sorted(rmse)}, "
          f"wall median {statistics.median(s for _, s in mine):.2f} s "
          f"(min {min(s for _, s in mine):.2f}, max {max(s for _, s in mine):.2f})")
EOF
done
echo "load after: $(uptime | sed 's/.*load average: //')"
