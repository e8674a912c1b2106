"""Ratings in: pandas DataFrames, numpy arrays, scipy.sparse matrices, paths.

Everything becomes a :class:`Dataset`, the engine's table (ids mapped to
dense indices in first-seen order, as the CLI reads files). Ids are kept as
strings, the way the CLI and the model files keep them: ``17`` and ``"17"``
name the same user.
"""

from __future__ import annotations

import os
from typing import Any, Optional, Sequence, Tuple, Union

import numpy as np
import pandas as pd

from . import _native
from ._errors import AerecValueError

Scale = Tuple[float, float]


class Dataset:
    """A rating table in the engine's form. Build one with :func:`ratings`;
    every function that takes ratings also takes what :func:`ratings` takes."""

    __slots__ = ("_native",)

    def __init__(self, native: "_native.Dataset") -> None:
        self._native = native

    def __len__(self) -> int:
        return len(self._native)

    @property
    def shape(self) -> Tuple[int, int]:
        """(users, items) of the id space."""
        return self._native.shape

    @property
    def scale(self) -> Optional[Scale]:
        """The declared rating scale, else the smallest and largest rating."""
        return self._native.scale

    def to_pandas(self) -> pd.DataFrame:
        """The ratings as a DataFrame (user, item, rating[, timestamp])."""
        users, items, values, timestamps = self._native.columns()
        frame = pd.DataFrame({"user": users, "item": items, "rating": values})
        if timestamps is not None:
            frame["timestamp"] = timestamps
        return frame

    def __repr__(self) -> str:
        users, items = self.shape
        return f"<aerec.Dataset: {len(self)} ratings, {users} users, {items} items>"


def _id_strings(uniques: Any) -> list:
    """Ids as the engine keeps them: integral floats (a pandas int column
    with gaps) lose their ``.0``, everything else goes through ``str``."""
    values = np.asarray(uniques)
    if values.dtype.kind == "f" and np.all(np.isfinite(values)) and np.all(values == np.round(values)):
        return [str(int(v)) for v in values]
    return [str(v) for v in values.tolist()]


def _factorize(column: Any, what: str) -> Tuple[np.ndarray, list]:
    codes, uniques = pd.factorize(np.asarray(column) if not isinstance(column, pd.Series) else column)
    if len(codes) and codes.min() < 0:
        row = int(np.argmax(codes < 0))
        raise AerecValueError(f"row {row}: the {what} id is missing (NaN or None)")
    return np.ascontiguousarray(codes, dtype=np.int64), _id_strings(uniques)


def _float32(column: Any, what: str) -> np.ndarray:
    try:
        values = np.asarray(column, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise AerecValueError(f"the {what} column is not numeric: {e}") from None
    if values.ndim != 1:
        raise AerecValueError(f"the {what} column must be one-dimensional, got shape {values.shape}")
    return np.ascontiguousarray(values)


def _from_columns(users: Any, items: Any, values: Any, timestamps: Any = None,
                  scale: Optional[Scale] = None) -> Dataset:
    user_codes, user_ids = _factorize(users, "user")
    item_codes, item_ids = _factorize(items, "item")
    ts = None
    if timestamps is not None:
        ts = np.ascontiguousarray(np.asarray(timestamps).astype(np.int64, copy=False))
    return Dataset(_native.Dataset.from_codes(
        user_codes, user_ids, item_codes, item_ids, _float32(values, "rating"), ts, scale))


def _pick(frame: pd.DataFrame, given: Optional[str], names: Sequence[str], position: int,
          what: str) -> Any:
    if given is not None:
        if given not in frame.columns:
            raise AerecValueError(
                f"no column {given!r} for the {what} (columns: {', '.join(map(str, frame.columns))})")
        return frame[given]
    for name in names:
        if name in frame.columns:
            return frame[name]
    if position < len(frame.columns):
        return frame.iloc[:, position]
    raise AerecValueError(f"the DataFrame has no {what} column: name it with {what}=...")


def ratings(data: Any, *, user: Optional[str] = None, item: Optional[str] = None,
            rating: Optional[str] = None, timestamp: Optional[str] = None,
            scale: Optional[Scale] = None) -> Dataset:
    """Turns ratings as a notebook holds them into a :class:`Dataset`.

    ``data`` may be

    * a pandas DataFrame: the columns named by ``user``, ``item``, ``rating``
      (and optionally ``timestamp``); unnamed, the usual names are tried
      (``userId``, ``user_id``, ``movieId``, ``item_id``, …), then the first
      three columns. Ids may be strings or integers.
    * a ``scipy.sparse`` matrix (CSR, CSC, COO…): rows are users, columns
      items, ids ``"0"``, ``"1"``, … as the CLI reads an ``.npz``; stored
      zeros are not ratings.
    * a tuple ``(users, items, ratings)`` of arrays, or an ``n × 3`` numpy array.
    * a path (``str`` or ``os.PathLike``) to any file the CLI reads.
    * a :class:`Dataset`, returned as it is.

    ``scale`` declares the rating scale ``(min, max)``; ratings outside it are
    errors. Numeric columns are read from their numpy buffers, not copied
    element by element in Python.
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (str, os.PathLike)):
        return Dataset(_native.Dataset.read(os.fspath(data), scale))
    if isinstance(data, pd.DataFrame):
        users = _pick(data, user, ("user", "userId", "user_id", "userID", "UserId"), 0, "user")
        items = _pick(data, item, ("item", "itemId", "item_id", "movieId", "movie_id", "ProductId",
                                   "asin"), 1, "item")
        values = _pick(data, rating, ("rating", "ratings", "Rating", "score", "Score"), 2, "rating")
        ts = data[timestamp] if timestamp is not None else None
        return _from_columns(users, items, values, ts, scale)
    if hasattr(data, "tocoo") and hasattr(data, "shape") and len(getattr(data, "shape", ())) == 2:
        coo = data.tocoo()
        rows, cols = coo.shape
        return Dataset(_native.Dataset.from_codes(
            np.ascontiguousarray(coo.row, dtype=np.int64), [str(i) for i in range(rows)],
            np.ascontiguousarray(coo.col, dtype=np.int64), [str(i) for i in range(cols)],
            _float32(coo.data, "rating"), None, scale, True))
    if isinstance(data, tuple) and len(data) in (3, 4):
        return _from_columns(*data, scale=scale)
    if isinstance(data, np.ndarray):
        if data.ndim == 2 and data.shape[1] in (3, 4):
            return _from_columns(data[:, 0], data[:, 1], data[:, 2],
                                 data[:, 3] if data.shape[1] == 4 else None, scale)
        raise AerecValueError(
            f"a numpy array of ratings must be n × 3 (user, item, rating), got shape {data.shape}")
    raise TypeError(
        "ratings: expected a pandas DataFrame, a scipy.sparse matrix, (users, items, ratings) "
        f"arrays, an n × 3 array, a path or a Dataset, got {type(data).__name__}")


def as_dataset(data: Any, scale: Optional[Scale] = None) -> Dataset:
    """:func:`ratings` with the default column choice, for arguments."""
    return ratings(data, scale=scale)


Ratingish = Union[Dataset, pd.DataFrame, np.ndarray, tuple, str, "os.PathLike[str]", Any]
