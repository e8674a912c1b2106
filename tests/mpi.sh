#!/usr/bin/env bash
# The MPI tests: the binary built with `--features mpi` under
# `mpirun --allow-run-as-root --oversubscribe -np 2` (run by .ci/run; needs
# OpenMPI's mpirun and python3). Checks:
#  1. ml-latest-small (embedded: I-AutoRec, biases, MF) and ML-100K u1
#     (../shared/data, skipped with a printed reason when absent): 2 ranks
#     reach a test RMSE within 0.005 of 1 rank with the same recipe and
#     epoch count (the training and the evaluation both split over ranks);
#  2. the model file written by 2 ranks loads, recommends, predicts and
#     serves like any other; `recommend --all-users` and `predict` split over
#     2 ranks write the file one process writes (or, `--per-rank`, its parts);
#  3. every rank prints its own error, prefixed with its rank, and the job
#     exits non-zero;
#  4. a rank killed mid-epoch makes the job exit non-zero with a message
#     naming the failure, and leaves no model file (nor a temporary one).
# Usage: tests/mpi.sh [path/to/aerec]   (default: target/debug/aerec)
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${1:-target/debug/aerec}")
SHARED=$(realpath -m ../shared/data)
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
# One thread per rank: two ranks share this machine's cores.
MPIRUN=(mpirun --allow-run-as-root --oversubscribe -np 2)
fail() { echo "FAIL: $*" >&2; exit 1; }
field() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['$1'])"; }

# 1. Same recipe, same epochs, 1 rank and 2 ranks.
compare() {
    local name=$1; shift
    local one two
    one=$("$BIN" --threads 1 train "$@" --json -q | field test_rmse)
    two=$("${MPIRUN[@]}" "$BIN" --threads 1 train "$@" --json -q --out "$WORK/$name.aerec" | field test_rmse)
    echo "$name: test RMSE 1 rank $one, 2 ranks $two"
    python3 -c "import sys; d=abs($one-$two); sys.exit(0 if d <= 0.005 else 1)" \
        || fail "$name: 2 ranks differ from 1 rank by more than 0.005"
}
compare ml-latest-small --preset autorec --layers 200 --lr 1e-3 --epochs 8 --seed 1
# The baselines: ALS biases sum the item step over the ranks; MF's SGD
# merges the item rows every block of users (docs/distributed.md).
compare biases-ml-latest-small --model biases --seed 1
compare mf-ml-latest-small --model mf --epochs 10 --seed 1
if [ -f "$SHARED/ml-100k/u.data" ]; then
    compare ml100k-u1 --data "$SHARED/ml-100k/u.data" --method ml100k-u1 \
        --config examples/configs/engine-ml100k-u1-iautorec.toml --epochs 15 --seed 1
else
    echo "skipping ML-100K u1: $SHARED/ml-100k/u.data is absent"
fi

# 1b. Distributed reading: each of 2 ranks reads half of the file and draws
# its rows of the split; the training set, id maps and split counts are one
# whole read's (the model file's id maps and training matrix byte for byte),
# and the test RMSE is within 0.005 of 1 rank's.
same_tensors() {
    python3 - "$1" "$2" <<'PY'
import json, struct, sys
def tensors(path):
    b = open(path, 'rb').read()
    n = struct.unpack('<Q', b[:8])[0]
    head = json.loads(b[8:8 + n])
    return {k: b[8 + n + v['data_offsets'][0]:8 + n + v['data_offsets'][1]]
            for k, v in head.items() if k != '__metadata__'}
a, b = tensors(sys.argv[1]), tensors(sys.argv[2])
for k in ['ids.users', 'ids.items', 'train.indptr', 'train.indices', 'train.values']:
    if a[k] != b[k]:
        sys.exit(f'{k} differs')
PY
}
if [ -f "$SHARED/ml-latest-small/ratings.csv" ]; then
    RECIPE=(--data "$SHARED/ml-latest-small/ratings.csv" --preset autorec --layers 200 --lr 1e-3 --epochs 8 --seed 1 --json -q)
    whole=$("$BIN" --threads 1 train "${RECIPE[@]}" --out "$WORK/whole.aerec" | tail -n 1)
    parts=$("${MPIRUN[@]}" "$BIN" --threads 1 train "${RECIPE[@]}" --distributed-read --out "$WORK/parts.aerec" | tail -n 1)
    python3 -c "
import json, sys
a, b = json.loads(sys.argv[1]), json.loads(sys.argv[2])
for k in ['train_ratings', 'test_ratings', 'cold_start_test']:
    assert a[k] == b[k], f'{k}: {a[k]} (1 whole read) vs {b[k]} (2 ranks, distributed read)'
d = abs(a['test_rmse'] - b['test_rmse'])
print(f\"distributed read: test RMSE 1 rank {a['test_rmse']:.7f}, 2 ranks {b['test_rmse']:.7f}\")
sys.exit(0 if d <= 0.005 else 1)" "$whole" "$parts" || fail "2 ranks with --distributed-read differ from 1 rank"
    same_tensors "$WORK/whole.aerec" "$WORK/parts.aerec" \
        || fail "the id maps or training matrix of the 2-rank distributed-read model differ"
    echo "distributed read: same id maps, split and training matrix as one whole read"
else
    echo "skipping distributed read: $SHARED/ml-latest-small/ratings.csv is absent"
fi

# 2. The 2-rank model behaves like any other.
MODEL="$WORK/ml-latest-small.aerec"
"$BIN" info "$MODEL" >/dev/null || fail "info cannot read the 2-rank model"
n=$("$BIN" recommend --model "$MODEL" --user 1 -n 5 --json | python3 -c \
    "import json,sys; print(len(json.loads(sys.stdin.read().strip().splitlines()[-1])['items']))")
[ "$n" = 5 ] || fail "recommend gave $n items, not 5"
printf 'user,item\n1,1\n2,50\n' > "$WORK/pairs.csv"
"$BIN" predict --model "$MODEL" --pairs "$WORK/pairs.csv" --out "$WORK/pred.csv" -q
[ "$(wc -l < "$WORK/pred.csv")" -ge 3 ] || fail "predict wrote no predictions"
PORT=$((20000 + RANDOM % 20000))
"$BIN" serve --model "$MODEL" --addr "127.0.0.1:$PORT" -q & SERVER=$!
answer=""
for _ in $(seq 50); do
    answer=$(python3 -c "import urllib.request; print(urllib.request.urlopen('http://127.0.0.1:$PORT/v1/users/1/recommendations?n=3').read().decode())" 2>/dev/null) && break
    sleep 0.2
done
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true
echo "$answer" | grep -q '"item"' || fail "the service did not answer from the 2-rank model: $answer"
echo "the 2-rank model loads, recommends, predicts and serves"

# 2b. Scoring split over the ranks writes what one process writes.
"$BIN" recommend --model "$MODEL" --all-users -n 5 --out "$WORK/recs1.csv" -q
"${MPIRUN[@]}" "$BIN" recommend --model "$MODEL" --all-users -n 5 --out "$WORK/recs2.csv" -q
cmp "$WORK/recs1.csv" "$WORK/recs2.csv" || fail "recommend --all-users on 2 ranks differs from 1 process"
"${MPIRUN[@]}" "$BIN" recommend --model "$MODEL" --all-users -n 5 --out "$WORK/parts.csv" --per-rank -q
cat "$WORK/parts.rank-0.csv" <(tail -n +2 "$WORK/parts.rank-1.csv") | cmp - "$WORK/recs1.csv" \
    || fail "the per-rank parts of recommend --all-users are not the whole file"
python3 -c "import csv; rows=list(csv.reader(open('$WORK/recs1.csv')))[1:]; \
  print('user,item'); [print(f'{r[0]},{r[2]}') for r in rows[::7]]" > "$WORK/many-pairs.csv"
"$BIN" predict --model "$MODEL" --pairs "$WORK/many-pairs.csv" --out "$WORK/p1.csv" -q
"${MPIRUN[@]}" "$BIN" predict --model "$MODEL" --pairs "$WORK/many-pairs.csv" --out "$WORK/p2.csv" -q
cmp "$WORK/p1.csv" "$WORK/p2.csv" || fail "predict on 2 ranks differs from 1 process"
echo "recommend --all-users and predict on 2 ranks write what 1 process writes ($(wc -l < "$WORK/recs1.csv") and $(wc -l < "$WORK/p1.csv") lines)"

# 3. Each rank prints its own error.
if "${MPIRUN[@]}" "$BIN" train --data "$WORK/absent.csv" --model mf -q > "$WORK/err.out" 2>&1; then
    fail "a job whose ranks all failed exited 0"
fi
grep -q "rank 0 of 2: error:" "$WORK/err.out" && grep -q "rank 1 of 2: error:" "$WORK/err.out" \
    || fail "the ranks did not each print their error: $(cat "$WORK/err.out")"
echo "each rank prints its own error; the job exits non-zero"

# 4. Kill rank 1 mid-epoch.
OUT="$WORK/killed.aerec"
"${MPIRUN[@]}" "$BIN" --threads 1 train --preset autorec --layers 500 --lr 1e-3 --epochs 200 \
    --out "$OUT" -q > "$WORK/kill.out" 2>&1 & JOB=$!
ranks=""
for _ in $(seq 100); do
    ranks=$(ps -o pid= --ppid "$JOB" | tr -d ' ' || true)
    [ "$(echo "$ranks" | wc -w)" -ge 2 ] && break
    sleep 0.1
done
[ "$(echo "$ranks" | wc -w)" -ge 2 ] || fail "mpirun started no ranks"
sleep 4  # past reading, into the epochs
kill -9 "$(echo "$ranks" | tail -1)"
if wait "$JOB"; then fail "the job exited 0 after a rank was killed"; fi
grep -Eqi "signal 9|killed|exited on signal|non-zero" "$WORK/kill.out" \
    || fail "no message names the killed rank: $(cat "$WORK/kill.out")"
if ls -A "$WORK" | grep -q "killed\.aerec"; then fail "a model file was left: $(ls "$WORK")"; fi
echo "a killed rank ends the job non-zero with no model file: $(grep -Ei 'signal|killed' "$WORK/kill.out" | head -1)"
echo "mpi tests: all passed"
