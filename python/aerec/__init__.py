"""aerec: autoencoder collaborative filtering, sparse first, from Python.

The Rust engine of the ``aerec`` command-line program, with the data types
notebooks use::

    import aerec, pandas as pd
    df = pd.read_csv("ratings.csv")
    model = aerec.Autoencoder(preset="autorec", epochs=20).fit(df)
    model.recommend(user=1, n=5)
    model.save("model.aerec")          # aerec serve --model-file model.aerec

Data in: :func:`ratings` (DataFrames, numpy, scipy.sparse, paths). Models:
:class:`Model` (any registered kind, :func:`kinds`) and the named classes.
Experiments: :func:`split`, :func:`compare`, :func:`tune`. Errors:
:class:`AerecError` and its subclasses.
"""

from ._data import Dataset, ratings
from ._errors import (AerecError, AerecFileNotFoundError, AerecMemoryError, AerecOSError,
                      AerecValueError)
from ._model import (MF, SVD, Autoencoder, Biases, Blend, Ensemble, GlocalK, Mean, Model, Split,
                     SVDpp, TuneResult, compare, filter, kinds, load, split, tune)
from ._native import __version__

__all__ = [
    "AerecError", "AerecFileNotFoundError", "AerecMemoryError", "AerecOSError", "AerecValueError",
    "Autoencoder", "Biases", "Blend", "Dataset", "Ensemble", "GlocalK", "MF", "Mean", "Model",
    "SVD", "SVDpp", "Split", "TuneResult", "__version__", "compare", "filter", "kinds", "load", "ratings",
    "split", "tune",
]
