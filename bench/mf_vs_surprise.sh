#!/usr/bin/env bash
# MF fit time, aerec vs Surprise's SVD, side by side on ML-100K u1 (u1.test =
# the first 20,000 lines of u.data, u1.base the rest), same epochs and
# factors (Surprise's defaults: 100 factors, 20 epochs, lr 0.005, reg 0.02).
#
#   bench/mf_vs_surprise.sh [FACTORS] [EPOCHS]
#
# Surprise is installed with pip into a venv under target/ on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
FACTORS=${1:-100}
EPOCHS=${2:-20}
DATA=${AEREC_DATA:-../shared/data}/ml-100k/u.data
VENV=target/surprise-venv
if ! "$VENV/bin/python" -c "import surprise" 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet scikit-surprise
fi
cargo build --release --quiet --example base_u1
# aerec first, then Surprise, back to back on the same machine state.
echo "== aerec mf (factors=$FACTORS, epochs=$EPOCHS)"
./target/release/examples/base_u1 "model = \"mf\"\nfactors = $FACTORS\nepochs = $EPOCHS"


echo "== Surprise SVD (n_factors=$FACTORS, n_epochs=$EPOCHS)"
"$VENV/bin/python" - "$DATA" "$FACTORS" "$EPOCHS" <<'PY'
import os, sys, time
from surprise import SVD, Dataset, Reader, accuracy
from surprise.model_selection import PredefinedKFold
path, factors, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
lines = open(path).read().splitlines(keepends=True)
os.makedirs("target/u1", exist_ok=True)
open("target/u1/u1.test", "w").writelines(lines[:20000])
open("target/u1/u1.base", "w").writelines(lines[20000:])
data = Dataset.load_from_folds([("target/u1/u1.base", "target/u1/u1.test")], Reader("ml-100k"))
train, test = next(PredefinedKFold().split(data))
algo = SVD(n_factors=factors, n_epochs=epochs, random_state=42)
t = time.perf_counter()
algo.fit(train)
fit = time.perf_counter() - t
rmse = accuracy.rmse(algo.test(test), verbose=False)
print(f"surprise_fit_seconds {fit:.3f} test_rmse {rmse:.4f}")
PY

