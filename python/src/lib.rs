//! `aerec._native`: the aerec library for Python. The Pythonic surface
//! (DataFrames, named model classes, progress bars) lives in the pure-Python
//! package `aerec`; this module only moves data across the boundary and
//! turns library errors into Python exceptions.
//!
//! Every entry point runs under [`guard`]: a Rust panic becomes an
//! `aerec.AerecError` instead of unwinding into the interpreter.

use std::collections::{BTreeMap, HashSet};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aerec::data::split::{align, split_all, Input, SplitConfig};
use aerec::data::{IdMap, RatingScale, Ratings};
use aerec::eval::compare::{compare, NamedSpec};
use aerec::eval::ranking::RankingOptions;
use aerec::eval::tune::{tune_within, SearchMode};
use aerec::eval::{evaluate, EvalOptions};
use aerec::model::registry::KINDS;
use aerec::model::{EpochStats, FitControl, FitOptions, ModelSpec, TrainedModel};
use aerec::recommend::{self, SimilarityIndex};
use aerec::{Error, ErrorKind};
use numpy::{PyArray1, PyReadonlyArray1};
use pyo3::exceptions::PyException;
use pyo3::prelude::*;
use serde_json::Value;

/// How often a running fit looks for Ctrl-C and reports progress.
const WATCH_INTERVAL: Duration = Duration::from_millis(50);

/// A library error as the exception class `aerec._errors` names for its kind,
/// with the library's whole message (file, line, context).
fn py_err(e: Error) -> PyErr {
    let class = match e.kind() {
        ErrorKind::Io(io) if io.kind() == std::io::ErrorKind::NotFound => "AerecFileNotFoundError",
        ErrorKind::Io(_) => "AerecOSError",
        ErrorKind::Parse { .. }
        | ErrorKind::Format(_)
        | ErrorKind::Rating { .. }
        | ErrorKind::Duplicate { .. }
        | ErrorKind::Config(_)
        | ErrorKind::UnknownId { .. }
        | ErrorKind::Invalid(_)
        | ErrorKind::ModelFile(_) => "AerecValueError",
        ErrorKind::TooLarge(_) => "AerecMemoryError",
        _ => "AerecError",
    };
    raise(class, e.to_string())
}

fn raise(class: &str, message: String) -> PyErr {
    Python::with_gil(|py| {
        match py
            .import("aerec._errors")
            .and_then(|m| m.getattr(class))
            .and_then(|c| c.call1((message.clone(),)))
        {
            Ok(err) => PyErr::from_value(err),
            Err(_) => PyException::new_err(message),
        }
    })
}

fn invalid(message: impl Into<String>) -> PyErr {
    raise("AerecValueError", message.into())
}

/// Runs `f`, turning a panic into `AerecError` (a last guard: the library
/// returns errors, but no panic may reach the interpreter).
fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => Err(raise("AerecError", panic_message(payload))),
    }
}

fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into());
    format!("internal error (a bug in aerec, please report it): {what}")
}

fn json_arg(text: &str, what: &str) -> PyResult<Value> {
    serde_json::from_str(text).map_err(|e| invalid(format!("{what}: {e}")))
}

fn to_py_json(py: Python<'_>, value: &impl serde::Serialize) -> PyResult<PyObject> {
    let text = serde_json::to_string(value).map_err(|e| invalid(e.to_string()))?;
    Ok(py.import("json")?.call_method1("loads", (text,))?.unbind())
}

/// A rating table in the library's form (ids → dense indices, shared id
/// maps), with the rating scale when the caller declared one.
#[pyclass(module = "aerec._native", frozen)]
struct Dataset {
    ratings: Arc<Ratings>,
    scale: Option<RatingScale>,
}

/// `n` ids as an [`IdMap`] from Python strings.
fn id_map(ids: Vec<String>) -> PyResult<Arc<IdMap>> {
    IdMap::from_ids(ids).map(Arc::new).map_err(py_err)
}

fn codes_to_indices(codes: &[i64], n: usize, what: &str) -> PyResult<Vec<u32>> {
    codes
        .iter()
        .enumerate()
        .map(|(k, &c)| {
            u32::try_from(c)
                .ok()
                .filter(|&c| (c as usize) < n)
                .ok_or_else(|| {
                    invalid(format!(
                        "{what} of row {k} is missing or not an id (code {c})"
                    ))
                })
        })
        .collect()
}

fn scale_of(scale: Option<(f32, f32)>) -> PyResult<Option<RatingScale>> {
    scale
        .map(|(lo, hi)| RatingScale::new(lo, hi).map_err(py_err))
        .transpose()
}

#[pymethods]
impl Dataset {
    /// Builds a table from factorised columns: `user_codes[k]` indexes
    /// `user_ids` (as `pandas.factorize` gives them), likewise for items.
    /// The numeric columns are read in place from their numpy buffers.
    #[staticmethod]
    #[pyo3(signature = (user_codes, user_ids, item_codes, item_ids, values, timestamps=None, scale=None, drop_zeros=false))]
    #[allow(clippy::too_many_arguments)]
    fn from_codes(
        py: Python<'_>,
        user_codes: PyReadonlyArray1<'_, i64>,
        user_ids: Vec<String>,
        item_codes: PyReadonlyArray1<'_, i64>,
        item_ids: Vec<String>,
        values: PyReadonlyArray1<'_, f32>,
        timestamps: Option<PyReadonlyArray1<'_, i64>>,
        scale: Option<(f32, f32)>,
        drop_zeros: bool,
    ) -> PyResult<Dataset> {
        guard(|| {
            let (uc, ic, v) = (
                user_codes.as_slice()?,
                item_codes.as_slice()?,
                values.as_slice()?,
            );
            let ts = timestamps.as_ref().map(|t| t.as_slice()).transpose()?;
            if uc.len() != v.len() || ic.len() != v.len() || ts.is_some_and(|t| t.len() != v.len())
            {
                return Err(invalid(format!(
                    "the columns differ in length: {} users, {} items, {} ratings{}",
                    uc.len(),
                    ic.len(),
                    v.len(),
                    ts.map_or(String::new(), |t| format!(", {} timestamps", t.len()))
                )));
            }
            let scale = scale_of(scale)?;
            let (user_map, item_map) = (id_map(user_ids)?, id_map(item_ids)?);
            let ratings = py.allow_threads(|| -> PyResult<Ratings> {
                let users = codes_to_indices(uc, user_map.len(), "the user")?;
                let items = codes_to_indices(ic, item_map.len(), "the item")?;
                let mut keep: Vec<usize> = Vec::with_capacity(v.len());
                let mut seen = HashSet::with_capacity(v.len());
                for k in 0..v.len() {
                    let x = v[k];
                    if drop_zeros && x == 0.0 {
                        continue;
                    }
                    let at = || {
                        format!(
                            "row {k} (user {:?}, item {:?})",
                            user_map.id(users[k]),
                            item_map.id(items[k])
                        )
                    };
                    if !x.is_finite() {
                        return Err(invalid(format!("{}: the rating {x} is not finite", at())));
                    }
                    if let Some(s) = scale.filter(|s| !s.contains(x)) {
                        return Err(invalid(format!(
                            "{}: the rating {x} is outside the declared scale {}..{}",
                            at(),
                            s.min,
                            s.max
                        )));
                    }
                    if !seen.insert(((users[k] as u64) << 32) | items[k] as u64) {
                        return Err(invalid(format!(
                            "{}: this user rated this item twice; aggregate first \
                             (e.g. df.groupby([user, item]).mean())",
                            at()
                        )));
                    }
                    keep.push(k);
                }
                let all = keep.len() == v.len();
                let pick = |col: &[u32]| -> Vec<u32> {
                    if all {
                        col.to_vec()
                    } else {
                        keep.iter().map(|&k| col[k]).collect()
                    }
                };
                Ok(Ratings {
                    users: pick(&users),
                    items: pick(&items),
                    values: if all {
                        v.to_vec()
                    } else {
                        keep.iter().map(|&k| v[k]).collect()
                    },
                    timestamps: ts.map(|t| {
                        if all {
                            t.to_vec()
                        } else {
                            keep.iter().map(|&k| t[k]).collect()
                        }
                    }),
                    user_ids: user_map.clone(),
                    item_ids: item_map.clone(),
                })
            })?;
            Ok(Dataset {
                ratings: Arc::new(ratings),
                scale,
            })
        })
    }

    /// Reads a rating file in any format the CLI reads (detected from the
    /// name and the first bytes).
    #[staticmethod]
    #[pyo3(signature = (path, scale=None))]
    fn read(
        py: Python<'_>,
        path: std::path::PathBuf,
        scale: Option<(f32, f32)>,
    ) -> PyResult<Dataset> {
        guard(|| {
            let declared = scale_of(scale)?;
            let mut opts = aerec::data::read::ReadOptions::new();
            if let Some(s) = declared {
                opts = opts.scale(s);
            }
            let outcome = py
                .allow_threads(|| aerec::data::read::read_ratings(&path, &opts))
                .map_err(py_err)?;
            Ok(Dataset {
                ratings: Arc::new(outcome.ratings),
                scale: declared.or(outcome.scale),
            })
        })
    }

    /// Number of ratings.
    fn __len__(&self) -> usize {
        self.ratings.len()
    }

    /// Numbers of users and items in the id space.
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.ratings.n_users(), self.ratings.n_items())
    }

    /// The declared or inferred rating scale, as (min, max).
    #[getter]
    fn scale(&self) -> Option<(f32, f32)> {
        self.effective_scale().map(|s| (s.min, s.max))
    }

    /// The columns: (user ids, item ids, ratings as float32 numpy, timestamps or None).
    fn columns<'py>(&self, py: Python<'py>) -> Columns<'py> {
        let r = &self.ratings;
        (
            r.users
                .iter()
                .map(|&u| r.user_ids.id(u).to_string())
                .collect(),
            r.items
                .iter()
                .map(|&i| r.item_ids.id(i).to_string())
                .collect(),
            PyArray1::from_slice(py, &r.values),
            r.timestamps.as_ref().map(|t| PyArray1::from_slice(py, t)),
        )
    }
}

/// [`Dataset::columns`]: user ids, item ids, ratings, timestamps.
type Columns<'py> = (
    Vec<String>,
    Vec<String>,
    Bound<'py, PyArray1<f32>>,
    Option<Bound<'py, PyArray1<i64>>>,
);

/// [`Model::predict_codes`]: clipped ratings and the fallback flags.
type PredictedArrays<'py> = (Bound<'py, PyArray1<f32>>, Bound<'py, PyArray1<bool>>);

impl Dataset {
    fn effective_scale(&self) -> Option<RatingScale> {
        self.scale.or_else(|| {
            self.ratings
                .min_max()
                .and_then(|(lo, hi)| RatingScale::new(lo, hi).ok())
        })
    }
}

/// Train and validation in one id space: a split's parts share it already;
/// tables given separately are aligned (the validation ids the training
/// data lacks become cold).
fn one_space(
    train: &Arc<Ratings>,
    valid: Option<&Arc<Ratings>>,
) -> (Arc<Ratings>, Option<Arc<Ratings>>) {
    match valid {
        None => (train.clone(), None),
        Some(v)
            if Arc::ptr_eq(&v.user_ids, &train.user_ids)
                && Arc::ptr_eq(&v.item_ids, &train.item_ids) =>
        {
            (train.clone(), Some(v.clone()))
        }
        Some(v) => {
            let (t, v) = align(train, v);
            (Arc::new(t), Some(Arc::new(v)))
        }
    }
}

/// A validated model description (one registered kind's settings).
#[pyclass(module = "aerec._native", frozen)]
struct Spec {
    spec: ModelSpec,
}

#[pymethods]
impl Spec {
    /// Builds a spec from settings as JSON (`{"model": KIND, "preset": …, …}`),
    /// checked by the library.
    #[new]
    fn new(settings_json: &str) -> PyResult<Spec> {
        guard(|| {
            let settings = json_arg(settings_json, "model settings")?;
            let spec = ModelSpec::from_json(&settings).map_err(py_err)?;
            Ok(Spec { spec })
        })
    }

    /// The model kind.
    #[getter]
    fn kind(&self) -> &'static str {
        self.spec.kind()
    }

    /// Every setting, defaults included, as a dict.
    fn settings(&self, py: Python<'_>) -> PyResult<PyObject> {
        to_py_json(py, &self.spec)
    }

    /// Fits the model. The GIL is released while it trains; every
    /// [`WATCH_INTERVAL`] the calling thread takes it back to run Python's
    /// signal handlers (Ctrl-C asks the fit to stop and keeps the model so
    /// far) and to call `on_epoch(epoch, planned, train_rmse, valid_rmse,
    /// seconds)` for epochs that ended. Returns (model, interrupted).
    #[pyo3(signature = (train, valid=None, seed=42, on_epoch=None, scale=None))]
    fn fit(
        &self,
        py: Python<'_>,
        train: &Dataset,
        valid: Option<&Dataset>,
        seed: u64,
        on_epoch: Option<PyObject>,
        scale: Option<(f32, f32)>,
    ) -> PyResult<(Model, bool)> {
        guard(|| {
            let scale = match scale_of(scale)?.or_else(|| train.effective_scale()) {
                Some(s) => s,
                None => {
                    return Err(invalid(
                        "the rating scale cannot be inferred (every rating is equal): pass scale=(min, max)",
                    ))
                }
            };
            let (train_r, valid_r) =
                py.allow_threads(|| one_space(&train.ratings, valid.map(|v| &v.ratings)));
            let epochs: Arc<Mutex<Vec<(EpochStats, usize)>>> = Arc::default();
            let heard = epochs.clone();
            let control = FitControl::new().with_observer(Arc::new(move |stats, planned| {
                if let Ok(mut list) = heard.lock() {
                    list.push((stats.clone(), planned));
                }
            }));
            let opts = FitOptions {
                seed,
                progress: false,
                control: control.clone(),
            };
            let spec = self.spec.clone();
            let (done_tx, done_rx) = mpsc::channel();
            // A lock makes the receiver shareable with the GIL-free wait.
            let done_rx = Mutex::new(done_rx);
            let worker = std::thread::Builder::new()
                .name("aerec-fit".into())
                .spawn(move || {
                    let fitted = catch_unwind(AssertUnwindSafe(|| {
                        TrainedModel::fit(&spec, &train_r, valid_r.as_deref(), None, scale, &opts)
                    }));
                    let _ = done_tx.send(fitted);
                })
                .map_err(|e| invalid(format!("cannot start the training thread: {e}")))?;
            let mut interrupted = false;
            let mut callback_error: Option<PyErr> = None;
            let mut reported = 0usize;
            let outcome = loop {
                let received = py.allow_threads(|| match done_rx.lock() {
                    Ok(rx) => rx.recv_timeout(WATCH_INTERVAL),
                    Err(_) => Err(mpsc::RecvTimeoutError::Disconnected),
                });
                if let Err(e) = py.check_signals() {
                    if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                        interrupted = true;
                        control.request_stop();
                    } else if callback_error.is_none() {
                        control.request_stop();
                        callback_error = Some(e);
                    }
                }
                if let Some(cb) = &on_epoch {
                    let fresh: Vec<(EpochStats, usize)> = epochs
                        .lock()
                        .map(|l| l[reported.min(l.len())..].to_vec())
                        .unwrap_or_default();
                    reported += fresh.len();
                    for (s, planned) in fresh {
                        if callback_error.is_some() {
                            break;
                        }
                        if let Err(e) = cb.call1(
                            py,
                            (s.epoch, planned, s.train_rmse, s.valid_rmse, s.seconds),
                        ) {
                            if e.is_instance_of::<pyo3::exceptions::PyKeyboardInterrupt>(py) {
                                interrupted = true;
                            } else {
                                callback_error = Some(e);
                            }
                            control.request_stop();
                        }
                    }
                }
                match received {
                    Ok(outcome) => break outcome,
                    Err(mpsc::RecvTimeoutError::Timeout) => continue,
                    Err(mpsc::RecvTimeoutError::Disconnected) => {
                        break Err(Box::new("the training thread ended without an answer")
                            as Box<dyn std::any::Any + Send>)
                    }
                }
            };
            let _ = worker.join();
            if let Some(e) = callback_error {
                return Err(e);
            }
            let model = match outcome {
                Ok(fitted) => fitted.map_err(py_err)?,
                Err(payload) => return Err(raise("AerecError", panic_message(payload))),
            };
            Ok((Model::new(model), interrupted))
        })
    }
}

/// A fitted model with its id maps: predictions, recommendations, files.
#[pyclass(module = "aerec._native", frozen)]
struct Model {
    model: Arc<TrainedModel>,
    similarity: Mutex<Option<Arc<SimilarityIndex>>>,
}

impl Model {
    fn new(model: TrainedModel) -> Model {
        Model {
            model: Arc::new(model),
            similarity: Mutex::new(None),
        }
    }
}

type Rows = Vec<(String, f32, f32, Option<String>)>;

fn rows_of(items: Vec<recommend::Recommendation>) -> Rows {
    items
        .into_iter()
        .map(|r| (r.item, r.rating, r.score, r.title))
        .collect()
}

#[pymethods]
impl Model {
    /// Reads a `.aerec` model file (as the CLI writes it).
    #[staticmethod]
    fn load(py: Python<'_>, path: std::path::PathBuf) -> PyResult<Model> {
        guard(|| {
            let model = py
                .allow_threads(|| aerec::persist::load(&path))
                .map_err(py_err)?;
            Ok(Model::new(model))
        })
    }

    /// Writes the model file atomically.
    fn save(&self, py: Python<'_>, path: std::path::PathBuf) -> PyResult<()> {
        guard(|| {
            py.allow_threads(|| aerec::persist::save(&self.model, &path))
                .map_err(py_err)
        })
    }

    /// The model kind.
    #[getter]
    fn kind(&self) -> &'static str {
        self.model.model.kind()
    }

    /// (users, items) of the training id space.
    #[getter]
    fn shape(&self) -> (usize, usize) {
        (self.model.n_users(), self.model.n_items())
    }

    /// Number of fitted parameters.
    #[getter]
    fn n_params(&self) -> usize {
        self.model.model.n_params()
    }

    /// The settings the model was fitted with.
    fn settings(&self, py: Python<'_>) -> PyResult<PyObject> {
        to_py_json(py, &self.model.spec)
    }

    /// The fit report: epochs, best epoch, history, notes.
    fn report(&self, py: Python<'_>) -> PyResult<PyObject> {
        to_py_json(py, &self.model.report)
    }

    /// The rating scale, as (min, max).
    #[getter]
    fn scale(&self) -> (f32, f32) {
        (self.model.scale.min, self.model.scale.max)
    }

    /// Item titles shown in recommendations (item id → title).
    fn set_titles(&self, py: Python<'_>, titles: BTreeMap<String, String>) -> PyResult<Model> {
        guard(|| {
            let mut model = py.allow_threads(|| (*self.model).clone_model())?;
            model.titles = titles.into_iter().collect();
            Ok(Model::new(model))
        })
    }

    /// Predicted ratings (clipped to the scale) for factorised pairs:
    /// `user_codes[k]` indexes `user_ids`. Returns (ratings, fallback flags).
    fn predict_codes<'py>(
        &self,
        py: Python<'py>,
        user_codes: PyReadonlyArray1<'py, i64>,
        user_ids: Vec<String>,
        item_codes: PyReadonlyArray1<'py, i64>,
        item_ids: Vec<String>,
    ) -> PyResult<PredictedArrays<'py>> {
        guard(|| {
            let (uc, ic) = (user_codes.as_slice()?, item_codes.as_slice()?);
            if uc.len() != ic.len() {
                return Err(invalid(format!(
                    "{} users but {} items: give one of each per pair",
                    uc.len(),
                    ic.len()
                )));
            }
            let m = &self.model;
            let (ratings, cold) = py.allow_threads(|| -> PyResult<(Vec<f32>, Vec<bool>)> {
                let users: Vec<Option<u32>> = user_ids.iter().map(|u| m.user_ids.get(u)).collect();
                let items: Vec<Option<u32>> = item_ids.iter().map(|i| m.item_ids.get(i)).collect();
                let lookup = |codes: &[i64], table: &[Option<u32>], what: &str| {
                    codes
                        .iter()
                        .enumerate()
                        .map(|(k, &c)| {
                            usize::try_from(c)
                                .ok()
                                .and_then(|c| table.get(c))
                                .copied()
                                .ok_or_else(|| invalid(format!("{what} of pair {k} is missing")))
                        })
                        .collect::<PyResult<Vec<Option<u32>>>>()
                };
                let (us, is) = (
                    lookup(uc, &users, "the user")?,
                    lookup(ic, &items, "the item")?,
                );
                let pairs: Vec<(Option<u32>, Option<u32>)> = us.into_iter().zip(is).collect();
                let predictions = m.predict_indices(&pairs).map_err(py_err)?;
                Ok(predictions
                    .iter()
                    .map(|p| (m.scale.clip(p.value), p.fallback.is_some()))
                    .unzip())
            })?;
            Ok((
                PyArray1::from_vec(py, ratings),
                PyArray1::from_vec(py, cold),
            ))
        })
    }

    /// The `n` best unrated items for a known user: (item, rating, score, title) rows.
    fn recommend(&self, py: Python<'_>, user: String, n: usize) -> PyResult<Rows> {
        guard(|| {
            py.allow_threads(|| recommend::for_user(&self.model, &user, n))
                .map(rows_of)
                .map_err(py_err)
        })
    }

    /// The `n` best items for a new user's ratings (fold-in, no retraining):
    /// (rows, item ids the model does not know).
    fn recommend_new(
        &self,
        py: Python<'_>,
        ratings: Vec<(String, f32)>,
        n: usize,
    ) -> PyResult<(Rows, Vec<String>)> {
        guard(|| {
            let answer = py
                .allow_threads(|| recommend::for_new_user(&self.model, &ratings, n))
                .map_err(py_err)?;
            Ok((rows_of(answer.items), answer.unknown_items))
        })
    }

    /// The `n` items most similar to `item`: (item, similarity, title) rows.
    fn similar_items(
        &self,
        py: Python<'_>,
        item: String,
        n: usize,
    ) -> PyResult<Vec<(String, f32, Option<String>)>> {
        guard(|| {
            let index = {
                let mut cached = self
                    .similarity
                    .lock()
                    .map_err(|_| invalid("the similarity index is poisoned"))?;
                match cached.as_ref() {
                    Some(ix) => ix.clone(),
                    None => {
                        let ix = Arc::new(
                            py.allow_threads(|| SimilarityIndex::new(&self.model))
                                .map_err(py_err)?,
                        );
                        *cached = Some(ix.clone());
                        ix
                    }
                }
            };
            let found = py
                .allow_threads(|| recommend::similar_items(&self.model, &index, &item, n))
                .map_err(py_err)?;
            Ok(found
                .into_iter()
                .map(|s| (s.item, s.similarity, s.title))
                .collect())
        })
    }

    /// RMSE/MAE (clipped) and ranking metrics at `k` on `test`, as a dict.
    #[pyo3(signature = (test, k=Some(10), threshold=4.0))]
    fn evaluate(
        &self,
        py: Python<'_>,
        test: &Dataset,
        k: Option<usize>,
        threshold: f32,
    ) -> PyResult<PyObject> {
        guard(|| {
            let report = py
                .allow_threads(|| {
                    let test = test
                        .ratings
                        .in_id_space(&self.model.user_ids, &self.model.item_ids);
                    let opts = EvalOptions {
                        clip: true,
                        ranking: k.map(|k| RankingOptions {
                            k,
                            threshold,
                            ..RankingOptions::default()
                        }),
                    };
                    evaluate(&self.model, &test, &opts)
                })
                .map_err(py_err)?;
            to_py_json(py, &report)
        })
    }
}

trait CloneModel {
    fn clone_model(&self) -> PyResult<TrainedModel>;
}

impl CloneModel for TrainedModel {
    /// A copy through the model file's bytes (a fitted model is not `Clone`).
    fn clone_model(&self) -> PyResult<TrainedModel> {
        let bytes = aerec::persist::to_bytes(self).map_err(py_err)?;
        aerec::persist::from_bytes(&bytes, aerec::model::spec::load_model).map_err(py_err)
    }
}

/// Splits a table (settings: the CLI's split keys as JSON). Returns one
/// (train, test, valid) triple per fold, sharing one id space.
#[pyfunction]
fn split(
    py: Python<'_>,
    data: &Dataset,
    config_json: &str,
) -> PyResult<Vec<(Dataset, Dataset, Option<Dataset>)>> {
    guard(|| {
        let config: SplitConfig = serde_json::from_value(json_arg(config_json, "split settings")?)
            .map_err(|e| invalid(format!("split settings: {e}")))?;
        let folds = py
            .allow_threads(|| split_all(&Input::Whole((*data.ratings).clone()), &config))
            .map_err(py_err)?;
        let part = |r: Ratings| Dataset {
            ratings: Arc::new(r),
            scale: data.scale,
        };
        Ok(folds
            .into_iter()
            .map(|s| (part(s.train), part(s.test), s.valid.map(part)))
            .collect())
    })
}

/// Drops the ratings of users and items with fewer than the minimum
/// numbers of ratings (one pass, as the Amazon Beauty notebook; `iterate`:
/// the k-core), as `--min-user-ratings`/`--min-item-ratings`/`--kcore`.
#[pyfunction]
fn filter(
    py: Python<'_>,
    data: &Dataset,
    min_user: usize,
    min_item: usize,
    iterate: bool,
) -> Dataset {
    let config = aerec::data::filter::FilterConfig {
        min_user,
        min_item,
        iterate,
    };
    let (kept, _) = py.allow_threads(|| aerec::data::filter::filter(&data.ratings, &config));
    Dataset {
        ratings: Arc::new(kept),
        scale: data.scale,
    }
}

/// Fits every named spec on every fold and evaluates it: the report as a dict.
#[pyfunction]
#[pyo3(signature = (specs, folds, seed=42, k=Some(10), scale=None))]
fn compare_specs(
    py: Python<'_>,
    specs: Vec<(String, PyRef<'_, Spec>)>,
    folds: Vec<(PyRef<'_, Dataset>, PyRef<'_, Dataset>)>,
    seed: u64,
    k: Option<usize>,
    scale: Option<(f32, f32)>,
) -> PyResult<PyObject> {
    guard(|| {
        let named: Vec<NamedSpec> = specs
            .iter()
            .map(|(name, s)| NamedSpec::new(name.clone(), s.spec.clone()))
            .collect();
        let scale = scale_of(scale)?
            .or_else(|| folds.first().and_then(|f| f.0.effective_scale()))
            .ok_or_else(|| invalid("compare needs at least one fold, and a rating scale"))?;
        let splits: Vec<_> = folds
            .iter()
            .map(|(train, test)| {
                let (t, v) = one_space(&train.ratings, Some(&test.ratings));
                aerec::data::split::Split {
                    train: (*t).clone(),
                    test: v.map(|v| (*v).clone()).unwrap_or_else(|| (*t).clone()),
                    valid: None,
                    cold: Default::default(),
                    valid_cold: None,
                }
            })
            .collect();
        let eval = EvalOptions {
            clip: true,
            ranking: k.map(|k| RankingOptions {
                k,
                ..RankingOptions::default()
            }),
        };
        let fit = FitOptions {
            seed,
            ..FitOptions::default()
        };
        let report = py
            .allow_threads(|| compare(&named, &splits, scale, &eval, &fit))
            .map_err(py_err)?;
        to_py_json(py, &report)
    })
}

/// Searches `search` (key → candidate values) around `base` settings,
/// fitting on `train` and choosing on `valid`: the report as a dict.
#[pyfunction]
#[pyo3(signature = (base_json, search_json, train, valid, trials=None, seed=42, budget=None, scale=None))]
#[allow(clippy::too_many_arguments)]
fn tune_specs(
    py: Python<'_>,
    base_json: &str,
    search_json: &str,
    train: &Dataset,
    valid: &Dataset,
    trials: Option<usize>,
    seed: u64,
    budget: Option<f64>,
    scale: Option<(f32, f32)>,
) -> PyResult<PyObject> {
    guard(|| {
        let base = match json_arg(base_json, "base settings")? {
            Value::Object(m) => m,
            _ => return Err(invalid("base settings must be a dict")),
        };
        let search: BTreeMap<String, Vec<Value>> =
            serde_json::from_value(json_arg(search_json, "search space")?)
                .map_err(|e| invalid(format!("search space: every value must be a list ({e})")))?;
        let mode = match trials {
            None => SearchMode::Grid,
            Some(trials) => SearchMode::Random { trials, seed },
        };
        let scale = scale_of(scale)?
            .or_else(|| train.effective_scale())
            .ok_or_else(|| invalid("pass scale=(min, max): it cannot be inferred"))?;
        let fit = FitOptions {
            seed,
            ..FitOptions::default()
        };
        let report = py
            .allow_threads(|| {
                let (t, v) = one_space(&train.ratings, Some(&valid.ratings));
                let v = v.unwrap_or_else(|| t.clone());
                tune_within(&base, &search, mode, &t, &v, scale, &fit, budget)
            })
            .map_err(py_err)?;
        to_py_json(py, &report)
    })
}

/// A kind as Python sees it: (name, summary, [(preset, description)]).
type KindRow = (
    &'static str,
    &'static str,
    Vec<(&'static str, &'static str)>,
);

/// Every registered model kind.
#[pyfunction]
fn kinds() -> Vec<KindRow> {
    KINDS
        .iter()
        .map(|k| (k.name, k.summary, k.presets.to_vec()))
        .collect()
}

/// Titles of items from a titles file (u.item, movies.dat or movies.csv).
#[pyfunction]
fn read_titles(py: Python<'_>, path: std::path::PathBuf) -> PyResult<BTreeMap<String, String>> {
    guard(|| {
        py.allow_threads(|| aerec::data::side::read_titles(&path))
            .map(|t| t.into_iter().collect())
            .map_err(py_err)
    })
}

/// Panics inside the guard: the test that no panic reaches Python.
#[pyfunction]
fn _panic_for_test() -> PyResult<()> {
    guard(|| -> PyResult<()> { panic!("a deliberate panic, from _panic_for_test") })
}

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Dataset>()?;
    m.add_class::<Spec>()?;
    m.add_class::<Model>()?;
    m.add_function(wrap_pyfunction!(split, m)?)?;
    m.add_function(wrap_pyfunction!(filter, m)?)?;
    m.add_function(wrap_pyfunction!(compare_specs, m)?)?;
    m.add_function(wrap_pyfunction!(tune_specs, m)?)?;
    m.add_function(wrap_pyfunction!(kinds, m)?)?;
    m.add_function(wrap_pyfunction!(read_titles, m)?)?;
    m.add_function(wrap_pyfunction!(_panic_for_test, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}
