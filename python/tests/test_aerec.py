"""The Python package's contract: every input kind, every model kind, the
model file shared with the CLI, errors as Python exceptions, Ctrl-C during
fit, the examples and README's example."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import aerec
from conftest import FIXTURES, ROOT, low_rank_frame

# Quick settings per kind (as tests/model_conformance.rs): a kind added to
# the registry without a line here fails `test_every_kind_fits_predicts_and_round_trips`.
QUICK = {
    "autoencoder": {"layers": [16], "epochs": 30, "lr": 0.01, "batch_size": 8, "l2": 0.0},
    "mean": {},
    "biases": {},
    "svd": {"factors": 3},
    "mf": {"factors": 3, "epochs": 30, "lr": 0.02, "l2": 0.01},
    "svdpp": {"factors": 3, "epochs": 20, "lr": 0.02, "l2": 0.01},
    "glocal-k": {"hidden": [16], "kernel_dim": 3, "lambda_2": 0.5, "lambda_s": 0.01,
                 "pretrain_epochs": 4, "finetune_epochs": 2},
    "popularity": {},
    "item-knn": {"neighbors": 10},
    "ease": {"lambda": 1.0},
    "mult-vae": {"hidden": 16, "latent": 8, "epochs": 30, "batch_size": 8, "lr": 0.01,
                 "anneal_steps": 1000},
    "mult-dae": {"hidden": 16, "latent": 8, "epochs": 30, "batch_size": 8, "lr": 0.01},
    "ensemble": None,  # built from mf below
    "blend": None,
}


def quick_model(kind):
    if kind == "ensemble":
        return aerec.Ensemble(aerec.MF(**QUICK["mf"]), members=2)
    if kind == "blend":
        return aerec.Blend([aerec.MF(**QUICK["mf"]), aerec.Biases()])
    if kind not in QUICK:
        pytest.fail(f"model kind {kind!r} is registered but has no quick settings in QUICK")
    return aerec.Model(kind, **QUICK[kind])


def pairs_of(frame):
    return frame.iloc[:, 0].to_numpy(), frame.iloc[:, 1].to_numpy()


# -- data in -------------------------------------------------------------------


def test_every_input_kind_gives_the_same_model(tmp_path):
    """DataFrame (string and integer ids), numpy, scipy CSR and CSC, and a
    path all read the same ratings: a deterministic model fitted on each
    predicts the same values."""
    scipy_sparse = pytest.importorskip("scipy.sparse")
    ints = low_rank_frame(string_ids=False)
    users, items, stars = ints["uid"].to_numpy(), ints["iid"].to_numpy(), ints["stars"].to_numpy()
    matrix = scipy_sparse.coo_matrix((stars, (users, items)), shape=(40, 30))
    path = tmp_path / "ratings.csv"
    ints.to_csv(path, index=False, header=False)
    strings = ints.astype({"uid": str, "iid": str})
    inputs = {
        "frame-int": ints,
        "frame-str": strings.rename(columns={"uid": "who", "iid": "what", "stars": "r"}),
        "numpy": np.column_stack([users, items, stars]),
        "arrays": (users, items, stars),
        "csr": matrix.tocsr(),
        "csc": matrix.tocsc(),
        "path": path,
    }
    predictions = {}
    for name, data in inputs.items():
        kw = {"user": "who", "item": "what", "rating": "r"} if name == "frame-str" else {}
        d = aerec.ratings(data, **kw)
        assert len(d) == len(ints), name
        model = aerec.Biases().fit(d, progress=False)
        predictions[name] = model.predict(users[:50], items[:50])
    first = predictions["frame-int"]
    assert first.dtype == np.float32 and np.isfinite(first).all()
    for name, p in predictions.items():
        np.testing.assert_allclose(p, first, rtol=1e-6, err_msg=name)


def test_string_ids_come_back_verbatim(frame):
    model = aerec.MF(**QUICK["mf"]).fit(frame, progress=False)
    top = model.recommend("u0", n=5)
    assert list(top.columns) == ["item", "rating", "score"]
    assert top["item"].str.startswith("i").all()
    rated = set(frame.loc[frame["uid"] == "u0", "iid"])
    assert not rated & set(top["item"])


# -- every kind ------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(aerec.kinds()))
def test_every_kind_fits_predicts_and_round_trips(kind, frame, tmp_path):
    parts = aerec.split(frame, test_fraction=0.2, seed=3)
    model = quick_model(kind).fit(parts.train, progress=False)
    assert model.kind == kind
    test = parts.test.to_pandas()
    predicted = model.predict(test["user"], test["item"])
    assert predicted.shape == (len(test),) and np.isfinite(predicted).all()
    lo, hi = parts.train.scale
    assert ((predicted >= lo) & (predicted <= hi)).all()
    report = model.evaluate(parts.test)
    assert report["rating"]["rmse"] == pytest.approx(
        float(np.sqrt(np.mean((predicted - test["rating"].to_numpy()) ** 2))), rel=1e-4)
    assert len(model.recommend(test["user"].iloc[0], n=3)) == 3
    model.save(tmp_path / "m.aerec")
    again = aerec.load(tmp_path / "m.aerec")
    assert again.kind == kind and again.settings == model.settings
    np.testing.assert_array_equal(again.predict(test["user"], test["item"]), predicted)


def test_a_model_learns_more_than_the_mean(frame):
    parts = aerec.split(frame, test_fraction=0.2, seed=3)
    mean = aerec.Mean().fit(parts.train, progress=False).evaluate(parts.test)["rating"]["rmse"]
    mf = aerec.MF(**QUICK["mf"]).fit(parts.train, progress=False).evaluate(parts.test)["rating"]["rmse"]
    assert mf < mean - 0.1


def test_history_fold_in_and_similar_items(frame):
    parts = aerec.split(frame, test_fraction=0.2, valid_fraction=0.1, seed=2)
    model = aerec.Autoencoder(**QUICK["autoencoder"]).fit(parts.train, parts.valid, progress=False)
    history = model.history
    assert list(history.index) == list(range(1, 31))
    assert history["valid_rmse"].notna().all()
    assert history["train_rmse"].iloc[-1] < history["train_rmse"].iloc[0]
    new_user = {"i1": 5.0, "i2": 1.0, "nope": 3.0}
    top = model.recommend(new_user, n=4)
    assert len(top) == 4 and not {"i1", "i2"} & set(top["item"])
    assert top.attrs["unknown_items"] == ["nope"]
    similar = model.similar_items("i3", n=5)
    assert len(similar) == 5 and (similar["similarity"].diff().dropna() <= 1e-6).all()


def test_titles_show_in_recommendations(frame):
    model = aerec.MF(**QUICK["mf"]).fit(frame, progress=False)
    model.set_titles({f"i{k}": f"Title {k}" for k in range(30)})
    top = model.recommend("u1", n=3)
    assert (top["title"] == "Title " + top["item"].str[1:]).all()


def test_compare_and_tune(frame):
    table = aerec.compare({"mean": aerec.Mean(), "mf": aerec.MF(**QUICK["mf"])}, frame, folds=3, k=None)
    assert list(table.index) == ["mean", "mf"]
    assert table.loc["mf", "test_rmse"] < table.loc["mean", "test_rmse"]
    parts = aerec.split(frame, test_fraction=0.2, valid_fraction=0.2, seed=1)
    result = aerec.tune(aerec.MF(**QUICK["mf"]), {"factors": [1, 3]}, parts.train, parts.valid)
    assert len(result.trials) == 2
    assert result.best.settings["factors"] == result.trials.loc[result.trials["valid_rmse"].idxmin(), "factors"]


# -- model files shared with the CLI -------------------------------------------


def test_python_model_file_serves_in_the_cli_and_back(frame, tmp_path, cli):
    model = aerec.MF(**QUICK["mf"]).fit(frame, progress=False)
    path = tmp_path / "py.aerec"
    model.save(path)
    pairs = tmp_path / "pairs.csv"
    frame[["uid", "iid"]].head(20).to_csv(pairs, index=False, header=False)
    out = tmp_path / "pred.csv"
    subprocess.run([cli, "-q", "predict", "--model", str(path), "--pairs", str(pairs), "--out", str(out)],
                   check=True)
    from_cli = pd.read_csv(out)
    np.testing.assert_allclose(from_cli["prediction"].to_numpy(),
                               model.predict(frame["uid"].head(20), frame["iid"].head(20)), atol=1e-4)
    # ...and a model the CLI trained answers the same in Python.
    data = tmp_path / "ratings.csv"
    frame.to_csv(data, index=False, header=False)
    cli_model = tmp_path / "cli.aerec"
    subprocess.run([cli, "-q", "train", "--data", str(data), "--model", "mf", "--epochs", "5",
                    "--out", str(cli_model)], check=True)
    loaded = aerec.load(cli_model)
    assert loaded.kind == "mf"
    subprocess.run([cli, "-q", "predict", "--model", str(cli_model), "--pairs", str(pairs), "--out", str(out)],
                   check=True)
    np.testing.assert_allclose(pd.read_csv(out)["prediction"].to_numpy(),
                               loaded.predict(frame["uid"].head(20), frame["iid"].head(20)), atol=1e-4)


def test_save_load_round_trip_in_python(frame, tmp_path):
    model = aerec.Autoencoder(**QUICK["autoencoder"]).fit(frame, progress=False)
    model.save(tmp_path / "m.aerec")
    again = aerec.load(tmp_path / "m.aerec")
    users, items = pairs_of(frame)
    np.testing.assert_array_equal(again.predict(users, items), model.predict(users, items))
    assert again.settings == model.settings


# -- errors ------------------------------------------------------------------------


def test_bad_inputs_raise_the_right_exceptions(frame, tmp_path):
    with pytest.raises(FileNotFoundError) as missing:
        aerec.ratings(tmp_path / "missing.csv")
    assert isinstance(missing.value, aerec.AerecError) and "missing.csv" in str(missing.value)
    with pytest.raises(ValueError, match="no_such_key"):
        aerec.MF(no_such_key=3)
    with pytest.raises(ValueError, match="unknown model"):
        aerec.Model("not-a-kind")
    bad = frame.copy()
    bad.loc[3, "stars"] = np.nan
    with pytest.raises(ValueError, match="row 3"):
        aerec.ratings(bad)
    with pytest.raises(ValueError, match="twice"):
        aerec.ratings(pd.concat([frame.head(2), frame.head(1)]))
    with pytest.raises(ValueError, match="scale"):
        aerec.ratings(frame, scale=(1, 4))
    with pytest.raises(TypeError):
        aerec.ratings(3.5)
    model = aerec.Biases().fit(frame, progress=False)
    with pytest.raises(ValueError, match="nobody"):
        model.recommend("nobody")
    with pytest.raises(ValueError, match="outside"):
        model.recommend({"i1": 9.0})
    broken = tmp_path / "broken.aerec"
    broken.write_bytes(b"not a model file")
    with pytest.raises(ValueError) as bad_file:
        aerec.load(broken)
    assert "broken.aerec" in str(bad_file.value)
    line = tmp_path / "bad.csv"
    line.write_text("1,2,4\n1,3,x\n")
    with pytest.raises(ValueError, match="line 2"):
        aerec.ratings(line)
    with pytest.raises(aerec.AerecError, match="not fitted"):
        aerec.MF().predict(["a"], ["b"])


def test_a_rust_panic_is_an_aerec_error():
    with pytest.raises(aerec.AerecError, match="internal error"):
        aerec._native._panic_for_test()


# -- Ctrl-C --------------------------------------------------------------------------

SIGINT_CHILD = r"""
import json, sys, time
sys.path.insert(0, {tests!r})
import aerec
from conftest import low_rank_frame
frame = low_rank_frame(n_users=300, n_items=200, density=0.3)
model = aerec.Autoencoder(layers=[64], epochs=100000, lr=0.01, batch_size=16, l2=0.0)
print("fitting", flush=True)
model.fit(frame, progress=False)
pred = model.predict(frame["uid"].head(10), frame["iid"].head(10))
print(json.dumps({{"interrupted": model.interrupted, "epochs": len(model.history),
                  "finite": bool((pred == pred).all()), "notes": model.report["notes"]}}), flush=True)
"""


def test_sigint_during_fit_ends_training_with_a_usable_model():
    child = subprocess.Popen(
        [sys.executable, "-c", SIGINT_CHILD.format(tests=os.path.dirname(__file__))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "fitting"
    time.sleep(1.5)
    child.send_signal(signal.SIGINT)
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["interrupted"] and result["finite"]
    assert 1 <= result["epochs"] < 100000
    assert any("stopped on request" in n for n in result["notes"])
    assert "stopped by Ctrl-C" in err


# -- examples and README -------------------------------------------------------------


def test_the_keras_tutorial_example_runs(tmp_path):
    pytest.importorskip("scipy")
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "python" / "keras_tutorial.py"),
                          str(FIXTURES / "Atrain.npz"), str(FIXTURES / "Atest.npz"), "3"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rmse = float(re.search(r"test RMSE ([0-9.]+)", run.stdout).group(1))
    assert 0.3 < rmse < 2.0


def test_the_amazon_beauty_example_runs(tmp_path):
    run = subprocess.run([sys.executable, str(ROOT / "examples" / "python" / "amazon_beauty.py"),
                          str(FIXTURES / "ratings_beauty_sample.csv"), "2"],
                         cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "test RMSE" in run.stdout
    assert (tmp_path / "beauty.aerec").is_file()


def test_the_amazon_beauty_filter_and_split_match_the_cli():
    """The recipe's numbers: 5 one-rating ratings dropped, 48 of 240 held out
    (tests/recipes.rs asserts the same counts for the CLI)."""
    kept = aerec.filter(FIXTURES / "ratings_beauty_sample.csv", 2, 2)
    train, test, _ = aerec.split(kept, test_fraction=0.2, seed=1)
    assert (len(kept), len(train), len(test)) == (240, 192, 48)


def test_the_readme_example_runs_as_written(tmp_path):
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## From Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert len(code.strip().splitlines()) <= 6
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()


def test_progress_reports_every_epoch(frame, capfd, monkeypatch):
    monkeypatch.setitem(sys.modules, "tqdm", None)  # the plain-lines fallback
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    aerec.MF(factors=2, epochs=3).fit(frame)
    lines = [l for l in capfd.readouterr().err.splitlines() if "epoch" in l]
    assert [l.split(":")[1].strip() for l in lines] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]


def test_the_examples_give_the_cli_recipes_numbers(tmp_path, cli):
    """docs/recipes.md's two CLI recipes and the two example scripts: the same test RMSE."""
    pytest.importorskip("scipy")
    atrain, atest, beauty = FIXTURES / "Atrain.npz", FIXTURES / "Atest.npz", FIXTURES / "ratings_beauty_sample.csv"
    cases = [
        (["keras_tutorial.py", atrain, atest, "3"],
         ["train", "--train", atrain, "--test", atest, "--preset", "tutorial", "--epochs", "3"]),
        (["amazon_beauty.py", beauty, "3"],
         ["train", "--data", beauty, "--min-user-ratings", "2", "--min-item-ratings", "2",
          "--test-fraction", "0.2", "--preset", "tutorial", "--epochs", "3"]),
    ]
    for script, recipe in cases:
        run = subprocess.run([sys.executable, str(ROOT / "examples" / "python" / script[0]),
                              *map(str, script[1:])], cwd=tmp_path, capture_output=True, text=True,
                             timeout=300, check=True)
        ours = float(re.search(r"test RMSE ([0-9.]+)", run.stdout).group(1))
        out = subprocess.run([cli, "-q", "--json", *map(str, recipe)], cwd=tmp_path, capture_output=True,
                             text=True, check=True).stdout
        theirs = json.loads(out.strip().splitlines()[-1])["test_rmse"]
        assert ours == pytest.approx(theirs, rel=1e-6), script[0]


def test_a_parquet_path_reads_as_its_csv():
    """The library's Parquet reader behind a path (issue 18): a pyarrow
    file of Amazon-style string ids reads as the CSV of the same ratings."""
    fixtures = Path(__file__).resolve().parents[2] / "tests" / "fixtures" / "read"
    parquet = aerec.ratings(fixtures / "pyarrow_gzip_strings.parquet")
    csv = aerec.ratings(fixtures / "pyarrow_gzip_strings.csv")
    assert (len(parquet), parquet.shape) == (len(csv), csv.shape) == (30, (8, 8))
    pd.testing.assert_frame_equal(parquet.to_pandas(), csv.to_pandas())
