"""Shared fixtures: small synthetic ratings, the repository's fixtures and
the CLI binary (for the model-file round trips)."""

import os
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "recipes"


def low_rank_frame(n_users=40, n_items=30, density=0.5, seed=0, string_ids=True):
    """Ratings 1..5 from a rank-2 taste model, about `density` of the cells."""
    rng = np.random.default_rng(seed)
    p, q = rng.normal(size=(n_users, 2)), rng.normal(size=(n_items, 2))
    full = np.clip(np.round(3 + 1.2 * p @ q.T), 1, 5)
    users, items = np.nonzero(rng.random((n_users, n_items)) < density)
    frame = pd.DataFrame({"uid": users, "iid": items, "stars": full[users, items]})
    if string_ids:
        frame["uid"] = "u" + frame["uid"].astype(str)
        frame["iid"] = "i" + frame["iid"].astype(str)
    return frame


@pytest.fixture
def frame():
    return low_rank_frame()


@pytest.fixture(scope="session")
def cli():
    """The `aerec` binary: $AEREC_BIN, else target/{debug,release}/aerec."""
    candidates = [os.environ.get("AEREC_BIN"), ROOT / "target" / "debug" / "aerec",
                  ROOT / "target" / "release" / "aerec", shutil.which("aerec")]
    for c in candidates:
        if c and Path(c).is_file():
            return str(c)
    pytest.skip("no aerec binary (build it with `cargo build`, or set AEREC_BIN)")
