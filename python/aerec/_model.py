"""Models: any registered kind through :class:`Model`, with thin named
classes for the kinds there are today."""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any, Dict, Iterable, List, Mapping, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from . import _native
from ._data import Dataset, Scale, _factorize, ratings
from ._errors import AerecError, AerecValueError


class _Progress:
    """Per-epoch progress: a tqdm bar when tqdm is installed (notebook or
    terminal), else one plain line per epoch on stderr."""

    def __init__(self, label: str) -> None:
        self.label = label
        self.bar: Any = None
        try:
            from tqdm.auto import tqdm  # type: ignore

            self._tqdm = tqdm
        except ImportError:
            self._tqdm = None

    def __call__(self, epoch: int, planned: int, train_rmse: float, valid_rmse: Optional[float],
                 seconds: float) -> None:
        text = f"train rmse {train_rmse:.4f}" + (
            f", valid rmse {valid_rmse:.4f}" if valid_rmse is not None else "")
        if self._tqdm is not None:
            if self.bar is None or epoch == 1:
                self.close()
                self.bar = self._tqdm(total=planned, desc=self.label, unit="epoch")
            self.bar.set_postfix_str(text, refresh=False)
            self.bar.update(1)
        else:
            print(f"{self.label}: epoch {epoch}/{planned}: {text} ({seconds:.2f} s)",
                  file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


class Model:
    """Any model kind aerec has, by its registry name.

    ``Model("svdpp", factors=20)``; ``Model(preset="tutorial", epochs=20)``
    (a preset names its kind). Settings are the keys of the CLI's model
    tables (``aerec train --help``, docs/engine-presets.md), checked by the
    engine when the model is made: unknown keys and bad values raise
    :class:`aerec.AerecValueError` naming the key. :func:`kinds` lists the
    kinds and their presets.
    """

    _kind: Optional[str] = None

    def __init__(self, kind: Optional[str] = None, *, seed: int = 1, **settings: Any) -> None:
        kind = kind if kind is not None else self._kind
        if kind is not None:
            settings = {"model": kind, **settings}
        self.seed = int(seed)
        self._spec: Optional[_native.Spec] = _native.Spec(json.dumps(settings))
        self._fitted: Optional[_native.Model] = None
        self.interrupted = False

    # -- description -----------------------------------------------------
    @property
    def kind(self) -> str:
        """The registry name of the model kind."""
        return self._fitted.kind if self._fitted is not None else self._the_spec().kind

    def _the_spec(self) -> "_native.Spec":
        # A loaded model gets its spec (to fit again) from its settings, when asked.
        if self._spec is None:
            self._spec = _native.Spec(json.dumps(self._model().settings()))
        return self._spec

    @property
    def settings(self) -> Dict[str, Any]:
        """Every setting, defaults included (the model file's ``spec``)."""
        return self._fitted.settings() if self._fitted is not None else self._the_spec().settings()

    def __repr__(self) -> str:
        state = "fitted" if self._fitted is not None else "not fitted"
        return f"<aerec.Model {self.kind} ({state})>"

    def _model(self) -> "_native.Model":
        if self._fitted is None:
            raise AerecError("the model is not fitted: call fit(train) or aerec.load(path) first")
        return self._fitted

    # -- training --------------------------------------------------------
    def fit(self, train: Any, valid: Any = None, *, progress: bool = True,
            scale: Optional[Scale] = None) -> "Model":
        """Fits the model on ``train`` (anything :func:`aerec.ratings`
        takes), with optional validation ratings for early stopping
        (``patience``) and the validation RMSE in :attr:`history`.

        The GIL is released while the engine trains. Ctrl-C stops training
        cleanly: the model keeps the best epoch so far (where early stopping
        tracks one, else the weights at the stop), :attr:`interrupted` is
        set and a warning says so. Returns ``self``.
        """
        train_d = ratings(train, scale=scale)
        valid_d = ratings(valid, scale=scale) if valid is not None else None
        bar = _Progress(self.kind) if progress else None
        try:
            fitted, interrupted = self._the_spec().fit(train_d._native, valid_d._native if valid_d else None,
                                                 self.seed, bar, scale)
        finally:
            if bar is not None:
                bar.close()
        self._fitted = fitted
        self.interrupted = interrupted
        if interrupted:
            notes = [n for n in self.report.get("notes", []) if "stopped on request" in n]
            warnings.warn("training stopped by Ctrl-C; the model is usable"
                          + (f" ({notes[0]})" if notes else ""), RuntimeWarning, stacklevel=2)
        return self

    @property
    def report(self) -> Dict[str, Any]:
        """What the fit did: epochs, best epoch, history, notes, seconds."""
        return self._model().report()

    @property
    def history(self) -> pd.DataFrame:
        """One row per epoch: train loss and RMSE, validation RMSE, lr, seconds."""
        rows = self.report.get("history", [])
        return pd.DataFrame(rows, columns=["epoch", "train_loss", "train_rmse", "valid_rmse", "lr",
                                           "seconds"]).set_index("epoch")

    # -- answers ---------------------------------------------------------
    def predict(self, users: Any, items: Any) -> np.ndarray:
        """Predicted ratings (clipped to the scale) for the pairs
        ``(users[k], items[k])``, as a float32 numpy array. Users or items
        not seen in training get the cold-start fallback (bias or mean);
        :meth:`predict_fallback` says which."""
        return self.predict_fallback(users, items)[0]

    def predict_fallback(self, users: Any, items: Any) -> Tuple[np.ndarray, np.ndarray]:
        """As :meth:`predict`, with a boolean array marking the pairs that
        the cold-start fallback answered."""
        if np.isscalar(users) and np.isscalar(items):
            users, items = [users], [items]
        user_codes, user_ids = _factorize(users, "user")
        item_codes, item_ids = _factorize(items, "item")
        return self._model().predict_codes(user_codes, user_ids, item_codes, item_ids)

    def recommend(self, user: Any, n: int = 10) -> pd.DataFrame:
        """The ``n`` best items a user has not rated, best first, as a
        DataFrame (item, rating, score[, title]).

        ``user`` is a known user's id, or a new user's ratings — a dict
        ``{item: rating}``, a Series indexed by item, or (item, rating)
        pairs — folded in without retraining."""
        model = self._model()
        if isinstance(user, pd.Series):
            user = dict(user.items())
        if isinstance(user, Mapping) or (isinstance(user, (list, tuple)) and user
                                         and isinstance(user[0], (list, tuple))):
            pairs = list(user.items()) if isinstance(user, Mapping) else list(user)
            rows, unknown = model.recommend_new(
                [(_id_str(i), float(r)) for i, r in pairs], int(n))
            frame = _recommendations(rows)
            frame.attrs["unknown_items"] = unknown
            return frame
        return _recommendations(model.recommend(_id_str(user), int(n)))

    def similar_items(self, item: Any, n: int = 10) -> pd.DataFrame:
        """The ``n`` items whose learned vectors are closest (cosine) to
        ``item``'s, as a DataFrame (item, similarity[, title])."""
        rows = self._model().similar_items(_id_str(item), int(n))
        frame = pd.DataFrame(rows, columns=["item", "similarity", "title"])
        return frame if frame["title"].notna().any() else frame.drop(columns="title")

    def evaluate(self, test: Any, *, k: Optional[int] = 10, threshold: float = 4.0) -> Dict[str, Any]:
        """RMSE and MAE (clipped to the scale) on ``test``, and ranking
        metrics at ``k`` (``None`` skips them): the CLI's ``evaluate``."""
        return self._model().evaluate(ratings(test)._native, k, threshold)

    def set_titles(self, titles: Union[Mapping[Any, str], str, "os.PathLike[str]"]) -> "Model":
        """Item titles for recommendations: a dict item → title, or a titles
        file the CLI reads (u.item, movies.dat, movies.csv). Saved with the model."""
        if isinstance(titles, (str, os.PathLike)):
            table = _native.read_titles(os.fspath(titles))
        else:
            table = {_id_str(k): str(v) for k, v in titles.items()}
        self._fitted = self._model().set_titles(table)
        return self

    # -- files -----------------------------------------------------------
    def save(self, path: Union[str, "os.PathLike[str]"]) -> None:
        """Writes the ``.aerec`` model file the CLI reads (``aerec serve``,
        ``aerec recommend --model-file``), atomically."""
        self._model().save(os.fspath(path))

    @classmethod
    def load(cls, path: Union[str, "os.PathLike[str]"]) -> "Model":
        """Reads a ``.aerec`` model file, whoever wrote it (the CLI or Python)."""
        fitted = _native.Model.load(os.fspath(path))
        model = Model.__new__(Model)
        model.seed = 1
        model._spec = None
        model._fitted = fitted
        model.interrupted = False
        return model


def _id_str(value: Any) -> str:
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    if isinstance(value, np.generic):
        value = value.item()
    return str(value)


def _recommendations(rows: Sequence[Tuple[str, float, float, Optional[str]]]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=["item", "rating", "score", "title"])
    return frame if frame["title"].notna().any() else frame.drop(columns="title")


def load(path: Union[str, "os.PathLike[str]"]) -> Model:
    """Reads a ``.aerec`` model file (see :meth:`Model.load`)."""
    return Model.load(path)


def _named(name: str, kind: str, doc: str) -> type:
    def __init__(self: Model, *, seed: int = 1, **settings: Any) -> None:
        Model.__init__(self, kind, seed=seed, **settings)

    __init__.__doc__ = doc
    return type(name, (Model,), {"_kind": kind, "__init__": __init__, "__doc__": doc,
                                 "__module__": "aerec"})


Autoencoder = _named("Autoencoder", "autoencoder", """AutoRec and deep autoencoders (kind ``autoencoder``).

``Autoencoder(preset="tutorial", epochs=20)``: a preset is a named recipe
(``aerec.kinds()["autoencoder"]`` lists them) whose keys the other settings
override.""")
Mean = _named("Mean", "mean", "The global mean (kind ``mean``): a floor to beat.")
Biases = _named("Biases", "biases", "Baseline biases μ + b_u + b_i (kind ``biases``).")
SVD = _named("SVD", "svd", "Truncated SVD of the mean-filled matrix (kind ``svd``).")
MF = _named("MF", "mf", "Biased matrix factorisation by SGD (kind ``mf``).")
SVDpp = _named("SVDpp", "svdpp", "SVD++ with implicit feedback (kind ``svdpp``).")
GlocalK = _named("GlocalK", "glocal-k", "GLocal-K kernelised autoencoder (kind ``glocal-k``).")


class Ensemble(Model):
    """A seed ensemble: ``members`` copies of one model, fitted with seeds
    ``seed, seed + 1, …`` and averaged. ``Ensemble(Autoencoder(preset="autorec"), members=5)``."""

    def __init__(self, base: Union[Model, Mapping[str, Any]], members: int = 5, *, seed: int = 1) -> None:
        settings = dict(base.settings) if isinstance(base, Model) else dict(base)
        Model.__init__(self, None, seed=seed, **settings, ensemble=int(members))


class Blend(Model):
    """A ridge-weighted blend of models of any kinds, weights chosen on
    held-out ratings: ``Blend([MF(factors=20), Autoencoder(preset="autorec")])``."""

    def __init__(self, members: Iterable[Union[Model, Mapping[str, Any]]], *, seed: int = 1,
                 **settings: Any) -> None:
        tables = [dict(m.settings) if isinstance(m, Model) else dict(m) for m in members]
        Model.__init__(self, "blend", seed=seed, members=tables, **settings)


def kinds() -> Dict[str, Dict[str, Any]]:
    """Every registered model kind: ``{name: {"summary": …, "presets": {name: description}}}``."""
    return {name: {"summary": summary, "presets": dict(presets)}
            for name, summary, presets in _native.kinds()}


class Split(NamedTuple):
    """The parts of one split, in one id space."""

    train: Dataset
    test: Dataset
    valid: Optional[Dataset]


def split(data: Any, method: str = "random", *, test_fraction: float = 0.1,
          valid_fraction: Optional[float] = None, seed: int = 1, folds: int = 5,
          **settings: Any) -> Union[Split, List[Split]]:
    """Splits ratings as the CLI does (``--split``): ``method`` is
    ``random``, ``user``, ``time``, ``user-time``, ``kfold`` or
    ``ml100k-u1`` … ``u5``; other keys (``time_quantile``, ``valid_method``,
    ``cold_start``) as in the CLI's split table. Returns a :class:`Split`,
    or a list of them for ``kfold``."""
    config = {"method": method, "test_fraction": test_fraction, "valid_fraction": valid_fraction,
              "seed": seed, "folds": folds, **settings}
    parts = _native.split(ratings(data)._native, json.dumps(config))
    splits = [Split(Dataset(t), Dataset(s), Dataset(v) if v is not None else None)
              for t, s, v in parts]
    return splits if method == "kfold" else splits[0]


def filter(data: Any, min_user_ratings: int = 0, min_item_ratings: int = 0, *,
           kcore: bool = False) -> Dataset:
    """Drops the ratings of users and items with fewer ratings than the
    minimums, counted once on the input (as the Amazon Beauty notebook), or
    repeatedly until every user and item meets them (``kcore``): the CLI's
    ``--min-user-ratings``, ``--min-item-ratings`` and ``--kcore``."""
    return Dataset(_native.filter(ratings(data)._native, int(min_user_ratings),
                                  int(min_item_ratings), bool(kcore)))


def _spec_of(model: Union[Model, Mapping[str, Any], str]) -> "_native.Spec":
    if isinstance(model, Model):
        return _native.Spec(json.dumps(model.settings))
    if isinstance(model, str):
        return _native.Spec(json.dumps({"model": model}))
    return _native.Spec(json.dumps(dict(model)))


def compare(models: Mapping[str, Union[Model, Mapping[str, Any], str]], data: Any = None, *,
            folds: Union[int, Sequence[Split], None] = 5, seed: int = 1, k: Optional[int] = 10,
            scale: Optional[Scale] = None) -> pd.DataFrame:
    """Fits every model on the same folds and evaluates each, as ``aerec
    compare``: one row per model, each metric's mean and spread over the
    folds. ``folds`` is a number of cross-validation folds of ``data``, or
    splits made with :func:`split`. The full report is in ``.attrs["report"]``."""
    if isinstance(folds, int):
        parts = split(data, "kfold", folds=folds, seed=seed)
        assert isinstance(parts, list)
    elif isinstance(folds, Split):
        parts = [folds]
    else:
        parts = list(folds or [])
    specs = [(name, _spec_of(m)) for name, m in models.items()]
    report = _native.compare_specs(specs, [(p.train._native, p.test._native) for p in parts],
                                   seed, k, scale)
    rows = []
    for result in report["models"]:
        row: Dict[str, Any] = {"model": result["name"], "params": result["params"]}
        for metric, ms in result["summary"].items():
            row[metric] = ms["mean"]
            row[f"{metric}_std"] = ms["std"]
        rows.append(row)
    frame = pd.DataFrame(rows).set_index("model")
    frame.attrs["report"] = report
    return frame


class TuneResult(NamedTuple):
    """What :func:`tune` found."""

    best: Model
    trials: pd.DataFrame
    report: Dict[str, Any]


def tune(model: Union[Model, Mapping[str, Any], str], search: Mapping[str, Sequence[Any]],
         train: Any, valid: Any, *, trials: Optional[int] = None, seed: int = 1,
         budget: Optional[float] = None, scale: Optional[Scale] = None) -> TuneResult:
    """Searches settings as ``aerec tune``: every combination of ``search``
    (or ``trials`` random ones) around ``model``'s settings, fitted on
    ``train`` and chosen by validation RMSE on ``valid``, within ``budget``
    seconds when given. Returns the best model (not fitted), the trials and
    the report."""
    base = model.settings if isinstance(model, Model) else (
        {"model": model} if isinstance(model, str) else dict(model))
    search = {key: list(values) for key, values in search.items()}
    report = _native.tune_specs(json.dumps(base), json.dumps(search), ratings(train)._native,
                                ratings(valid)._native, trials, seed, budget, scale)
    table = pd.DataFrame([{**t["params"], "valid_rmse": t["valid_rmse"],
                           "fit_seconds": t["fit_seconds"]} for t in report["trials"]])
    best = Model(None, seed=seed, **report["best_spec"])
    return TuneResult(best, table, report)
