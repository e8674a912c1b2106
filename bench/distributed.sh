#!/usr/bin/env bash
# One epoch of U-AutoRec (500 sigmoid, Adam, batch 256) on a Netflix-shaped
# synthetic set, on 1 process and on 2 MPI ranks of this machine: peak
# memory (/usr/bin/time -v) of the process and of each rank, seconds, and
# the bytes rank 0 handed to the collective against the scaling model's
# prediction (bench/distributed_scaling.py's formula, |U| = min(items, B·r̄)).
#
#   cargo build --release --features mpi
#   bench/distributed.sh                 # 1/10 Netflix: 48,019 users, all 17,770 items, 10M ratings
#   FULL=1 bench/distributed.sh          # the whole shape: 480,189 users, 100,480,507 ratings
#
# The 1/10 shape keeps the items and the mean ratings per user, so a step
# exchanges what a full-Netflix step does; only the number of steps is 1/10.
# Needs OpenMPI (mpirun), python3 and GNU time (/usr/bin/time).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$(realpath "${BIN:-target/release/aerec}")
if [ "${FULL:-0}" = 1 ]; then USERS=480189 RATINGS=100480507; else USERS=48019 RATINGS=10048051; fi
ITEMS=17770
DIR=${DIR:-target/bench-distributed/netflix-$USERS}
THREADS=${THREADS:-$(nproc)}
mkdir -p "$DIR"
if [ ! -f "$DIR/train.csv" ]; then
    "$BIN" synth --shape custom --users "$USERS" --items "$ITEMS" --ratings "$RATINGS" \
        --test-fraction 0.02 --out "$DIR" -q
fi
RECIPE=(train --train "$DIR/train.csv" --test "$DIR/test.csv" --based user --layers 500
        --activation sigmoid --optimizer adam --lr 1e-3 --batch-size 256 --epochs 1
        --k 0 --json -q)
echo "date: $(date -u +%FT%TZ); load: $(uptime | sed 's/.*load average: //')"
echo "shape: $USERS users x $ITEMS items, $RATINGS ratings; $THREADS threads in all"

peak() { grep "Maximum resident" "$1" | awk '{printf "%.0f", $NF / 1024}'; }
/usr/bin/time -v -o "$DIR/time.single" "$BIN" --threads "$THREADS" "${RECIPE[@]}" > "$DIR/single.json"
# Each rank under its own GNU time; half the threads each.
HALF=$(( (THREADS + 1) / 2 ))
mpirun --allow-run-as-root --oversubscribe -np 2 sh -c \
    "exec /usr/bin/time -v -o $DIR/time.rank\$OMPI_COMM_WORLD_RANK $BIN --threads $HALF ${RECIPE[*]}" \
    > "$DIR/ranks.json"
python3 - "$DIR" "$USERS" "$ITEMS" "$RATINGS" <<'EOF'
import json, re, sys
d, users, items, ratings = sys.argv[1], *map(int, sys.argv[2:])
last = lambda p: json.loads(open(p).read().strip().splitlines()[-1])
one, two = last(f"{d}/single.json"), last(f"{d}/ranks.json")
peak = lambda p: int(re.search(r"Maximum resident set size \(kbytes\): (\d+)", open(p).read()).group(1)) / 1024
p1, r0, r1 = peak(f"{d}/time.single"), peak(f"{d}/time.rank0"), peak(f"{d}/time.rank1")
sent = next(int(m.group(1)) for n in two["notes"] if (m := re.search(r"handed (\d+) bytes", n)))
train = two["train_ratings"]
H, B, N = 500, 256, 2
rows = users  # rows with a training rating: every synthetic user has some
D = H  # one hidden layer: the input bias is the only dense parameter
# Expected touched-row union of a batch of b users drawn without
# replacement: item j (rated by c_j of the rows) is missed with probability
# C(rows - c_j, b) / C(rows, b) (bench/distributed_scaling.py).
sys.path.insert(0, "bench")
from distributed_scaling import expected_union, item_counts
counts = item_counts(f"{d}/train.csv")
steps, last = divmod(rows, B)
batches = [B] * steps + ([last] if last else [])
union = {b: expected_union(counts, rows, b) for b in set(batches)}
mine = {b: expected_union(counts, rows, b // N) for b in set(batches)}
step = lambda b: 4 * (2 + mine[b]) + 4 * (D + union[b] * (2 * H + 1)) + 8
predicted = sum(step(b) for b in batches) + 4 * rows / N + 24
U = union[B]
bound = len(batches) * (4 * (2 + min(items, B * train / rows) / N)
                        + 4 * (D + min(items, B * train / rows) * (2 * H + 1)) + 8)
print(f"1 process: {one['train_seconds']:.1f} s, peak {p1:.0f} MiB, test RMSE {one['test_rmse']:.4f}")
print(f"2 ranks:   {two['train_seconds']:.1f} s, peak rank 0 {r0:.0f} MiB ({100*r0/p1:.0f} %), "
      f"rank 1 {r1:.0f} MiB ({100*r1/p1:.0f} %), test RMSE {two['test_rmse']:.4f}")
print(f"bytes rank 0 handed to the collective in the epoch: {sent/1e9:.2f} GB; "
      f"scaling model (E|U| = {U:.0f} of {items} items a batch, from the item counts): "
      f"{predicted/1e9:.2f} GB; measured/model = {sent/predicted:.3f} "
      f"(the old bound, every item touched: {bound/1e9:.2f} GB)")
EOF
