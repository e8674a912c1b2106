"""Whole users drawn from an `aerec synth` train/test pair, for the
`--preset deep` benchmark (bench/deep_refeed.sh): a full ML-20M-shaped
epoch with dense re-feeding takes many minutes on two cores, so the
benchmark times epochs over a seeded sample of users (the catalogue keeps
the items those users rated).

    python3 bench/deep_subset.py SYNTH_DIR OUT_PREFIX [USERS] [SEED]

writes OUT_PREFIX.csv and OUT_PREFIX_test.csv (default 2,560 users, seed 1).
"""
import sys

import numpy as np
import pandas as pd

synth, prefix = sys.argv[1], sys.argv[2]
n_users = int(sys.argv[3]) if len(sys.argv) > 3 else 2560
seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
train = pd.read_csv(f"{synth}/train.csv")
test = pd.read_csv(f"{synth}/test.csv")
users = np.sort(train.iloc[:, 0].unique())
keep = set(np.random.default_rng(seed).choice(users, n_users, replace=False).tolist())
train[train.iloc[:, 0].isin(keep)].to_csv(f"{prefix}.csv", index=False)
test[test.iloc[:, 0].isin(keep)].to_csv(f"{prefix}_test.csv", index=False)
