//! The model file (`.aerec`): one safetensors container holding everything a
//! [`TrainedModel`] needs to answer in original ids.
//!
//! Layout (documented for Python users in `docs/serve-model-file.md`):
//! - the model's own tensors under the names its [`Recommender::to_parts`]
//!   gives (listed in the metadata key `model_tensors`);
//! - `train.indptr` (u64), `train.indices` (u32), `train.values` (f32): the
//!   training matrix by user;
//! - `fallback.user_bias`, `fallback.item_bias` (f32), `fallback.item_counts`
//!   (u32): the cold-start fallback;
//! - `ids.users`, `ids.items`: UTF-8 JSON arrays of the original ids in index
//!   order, stored as u8 tensors (ids may hold any character, and JSON keeps
//!   the header small); `titles`: a UTF-8 JSON object `{item id: title}`;
//! - metadata: `format` (`"aerec"`), `format_version`, `aerec_version`,
//!   `kind`, `spec`, `config`, `stats` (μ, scale, counts), `fit_report`,
//!   `created_unix`, `model_tensors`, and `sha256`: the SHA-256 of the data
//!   of every tensor, concatenated in byte order of the tensor names, then
//!   (from format version 2) of every other metadata entry in key order as
//!   `key NUL value NUL`, so that an edited scale or spec is caught as well.
//!   Version 1 files (tensors only) are still read.
//!
//! Files are written to a temporary file in the target directory, synced, and
//! renamed over the target, so a reader never sees half a file. Reading checks
//! the container, the format name and version, the checksum and every index
//! before anything is built: a bad file is an [`ErrorKind::ModelFile`] error
//! naming the path, never a panic.
//!
//! [`ErrorKind::ModelFile`]: crate::ErrorKind::ModelFile

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use safetensors::tensor::{Dtype, SafeTensorError, SafeTensors, TensorView};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::data::{Csr, IdMap, RatingScale};
use crate::error::{Error, Result};
use crate::model::trained::BiasFallback;
use crate::model::{FitReport, ModelParts, ModelSpec, Recommender, Tensor, TrainedModel};

/// The `format` metadata value of every aerec model file.
pub const FORMAT_NAME: &str = "aerec";

/// The format version this build writes, and the newest it reads.
/// Version 2: the checksum covers the metadata too (version 1 files, whose
/// checksum covers the tensors only, are still read).
pub const FORMAT_VERSION: u32 = 2;

/// The first format version whose checksum covers the metadata.
const METADATA_CHECKSUM_VERSION: u32 = 2;

/// Rebuilds a model from its parts; [`crate::model::spec::load_model`] for
/// every model aerec ships.
pub type ModelLoader = fn(&ModelParts) -> Result<Box<dyn Recommender>>;

const TRAIN_INDPTR: &str = "train.indptr";
const TRAIN_INDICES: &str = "train.indices";
const TRAIN_VALUES: &str = "train.values";
const USER_BIAS: &str = "fallback.user_bias";
const ITEM_BIAS: &str = "fallback.item_bias";
const ITEM_COUNTS: &str = "fallback.item_counts";
const USER_IDS: &str = "ids.users";
const ITEM_IDS: &str = "ids.items";
const TITLES: &str = "titles";

/// Tensor names the container itself uses; a model tensor may not take them.
const RESERVED: [&str; 9] = [
    TRAIN_INDPTR,
    TRAIN_INDICES,
    TRAIN_VALUES,
    USER_BIAS,
    ITEM_BIAS,
    ITEM_COUNTS,
    USER_IDS,
    ITEM_IDS,
    TITLES,
];

/// Normalisation statistics and counts, stored as the `stats` metadata entry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Stats {
    /// Global mean of the training ratings (μ).
    pub mu: f32,
    /// The rating scale.
    pub scale: RatingScale,
    /// Users in the index space.
    pub users: usize,
    /// Items in the index space.
    pub items: usize,
    /// Training ratings.
    pub ratings: usize,
}

/// One tensor as listed by [`inspect`].
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorSummary {
    /// Tensor name.
    pub name: String,
    /// Element type as safetensors names it (`F32`, `U32`, `U64`, `U8`).
    pub dtype: String,
    /// Shape, outermost first.
    pub shape: Vec<usize>,
}

/// What a model file holds, read without rebuilding the model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelFileInfo {
    /// The file.
    pub path: PathBuf,
    /// Size of the file in bytes.
    pub size_bytes: u64,
    /// Format version of the file.
    pub format_version: u32,
    /// The aerec version that wrote it.
    pub aerec_version: String,
    /// Model kind (`autoencoder`, `mf`, ...).
    pub kind: String,
    /// The spec the model was fitted from.
    pub spec: serde_json::Value,
    /// The model's full config, as its `to_parts` gave it.
    pub config: serde_json::Value,
    /// μ, scale and counts.
    pub stats: Stats,
    /// The training summary.
    pub fit_report: FitReport,
    /// When the file was written (Unix seconds).
    pub created_unix: u64,
    /// The same as an RFC 3339 UTC time.
    pub created: String,
    /// Number of item titles stored.
    pub titles: usize,
    /// SHA-256 of the tensor data and the metadata (verified).
    pub sha256: String,
    /// Whether the checksum covers the metadata too (format version 2 on);
    /// in a version 1 file only the tensors are verified.
    pub metadata_verified: bool,
    /// Every tensor, in name order.
    pub tensors: Vec<TensorSummary>,
}

/// Writes `model` to `path` atomically (temporary file in the same directory,
/// fsync, rename; see [`crate::output::write_atomic`]), removing temporaries
/// that killed saves of the same file left behind.
pub fn save(model: &TrainedModel, path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let bytes = to_bytes(model)?;
    crate::output::write_atomic_bytes(path, &bytes)
}

/// Reads a model file written by [`save`], for every model kind aerec ships.
pub fn load(path: impl AsRef<Path>) -> Result<TrainedModel> {
    load_with(path, crate::model::spec::load_model)
}

/// Reads a model file, rebuilding the model with `loader` (a model kind that
/// lives outside aerec brings its own).
pub fn load_with(path: impl AsRef<Path>, loader: ModelLoader) -> Result<TrainedModel> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::from(e).with_path(path))?;
    from_bytes(&bytes, loader).map_err(|e| e.with_path(path))
}

/// What the file at `path` holds; verifies the container and its checksum
/// but does not rebuild the model.
pub fn inspect(path: impl AsRef<Path>) -> Result<ModelFileInfo> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::from(e).with_path(path))?;
    let file = Container::parse(&bytes).map_err(|e| e.with_path(path))?;
    let meta = &file.meta;
    let titles = file
        .json::<HashMap<String, String>>(TITLES)
        .map_err(|e| e.with_path(path))?
        .len();
    let mut tensors: Vec<TensorSummary> = file
        .tensors
        .tensors()
        .into_iter()
        .map(|(name, view)| TensorSummary {
            name,
            dtype: format!("{:?}", view.dtype()),
            shape: view.shape().to_vec(),
        })
        .collect();
    tensors.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(ModelFileInfo {
        path: path.to_path_buf(),
        size_bytes: bytes.len() as u64,
        format_version: meta.format_version,
        aerec_version: meta.aerec_version.clone(),
        kind: meta.kind.clone(),
        spec: meta.spec.clone(),
        config: meta.config.clone(),
        stats: meta.stats,
        fit_report: meta.fit_report.clone(),
        created_unix: meta.created_unix,
        created: rfc3339_utc(meta.created_unix),
        titles,
        sha256: meta.sha256.clone(),
        metadata_verified: meta.format_version >= METADATA_CHECKSUM_VERSION,
        tensors,
    })
}

/// The whole model file as bytes.
pub fn to_bytes(model: &TrainedModel) -> Result<Vec<u8>> {
    let parts = model.model.to_parts();
    let mut owned: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)> = BTreeMap::new();
    for (name, t) in &parts.tensors {
        if RESERVED.contains(&name.as_str()) || owned.contains_key(name) {
            return Err(Error::model_file(format!(
                "model tensor name {name:?} is reserved or used twice"
            )));
        }
        if t.data.len() != t.shape.iter().product::<usize>() {
            return Err(Error::model_file(format!(
                "model tensor {name:?}: {} values for shape {:?}",
                t.data.len(),
                t.shape
            )));
        }
        owned.insert(name.clone(), f32_tensor(t.shape.clone(), &t.data));
    }
    let model_tensors = to_json(&owned.keys().collect::<Vec<_>>())?;

    let train = &model.train;
    let indptr: Vec<u64> = train.indptr.iter().map(|&p| p as u64).collect();
    owned.insert(TRAIN_INDPTR.into(), le_tensor(Dtype::U64, &indptr));
    owned.insert(TRAIN_INDICES.into(), le_tensor(Dtype::U32, &train.indices));
    owned.insert(
        TRAIN_VALUES.into(),
        f32_tensor(vec![train.nnz()], &train.values),
    );
    let fb = &model.fallback;
    owned.insert(
        USER_BIAS.into(),
        f32_tensor(vec![fb.user_bias.len()], &fb.user_bias),
    );
    owned.insert(
        ITEM_BIAS.into(),
        f32_tensor(vec![fb.item_bias.len()], &fb.item_bias),
    );
    owned.insert(ITEM_COUNTS.into(), le_tensor(Dtype::U32, &fb.item_counts));
    owned.insert(USER_IDS.into(), json_tensor(model.user_ids.ids())?);
    owned.insert(ITEM_IDS.into(), json_tensor(model.item_ids.ids())?);
    let titles: BTreeMap<&String, &String> = model.titles.iter().collect();
    owned.insert(TITLES.into(), json_tensor(&titles)?);

    let stats = Stats {
        mu: fb.mu,
        scale: model.scale,
        users: model.n_users(),
        items: model.n_items(),
        ratings: train.nnz(),
    };
    let created_unix = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let metadata: HashMap<String, String> = [
        ("format", FORMAT_NAME.to_string()),
        ("format_version", FORMAT_VERSION.to_string()),
        ("aerec_version", env!("CARGO_PKG_VERSION").to_string()),
        ("kind", parts.kind.clone()),
        ("spec", to_json(&model.spec)?),
        ("config", to_json(&parts.config)?),
        ("stats", to_json(&stats)?),
        ("fit_report", to_json(&model.report)?),
        ("created_unix", created_unix.to_string()),
        ("model_tensors", model_tensors),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let sha256 = checksum(
        owned.values().map(|(_, _, d)| d.as_slice()),
        Some(&metadata),
    );
    let mut metadata = metadata;
    metadata.insert("sha256".to_string(), sha256);

    let views = owned
        .iter()
        .map(|(name, (dtype, shape, data))| {
            TensorView::new(*dtype, shape.clone(), data)
                .map(|v| (name.as_str(), v))
                .map_err(|e| Error::model_file(format!("tensor {name:?}: {e}")))
        })
        .collect::<Result<Vec<_>>>()?;
    safetensors::serialize(views, &Some(metadata))
        .map_err(|e| Error::model_file(format!("cannot build the container: {e}")))
}

/// Rebuilds a [`TrainedModel`] from the bytes of a model file.
pub fn from_bytes(bytes: &[u8], loader: ModelLoader) -> Result<TrainedModel> {
    let file = Container::parse(bytes)?;
    let meta = &file.meta;
    let user_ids = IdMap::from_ids(file.json::<Vec<String>>(USER_IDS)?)
        .map_err(|e| Error::model_file(format!("{USER_IDS}: {e}")))?;
    let item_ids = IdMap::from_ids(file.json::<Vec<String>>(ITEM_IDS)?)
        .map_err(|e| Error::model_file(format!("{ITEM_IDS}: {e}")))?;
    let stats = meta.stats;
    if (user_ids.len(), item_ids.len()) != (stats.users, stats.items) {
        return Err(Error::model_file(format!(
            "id maps hold {} users and {} items, the metadata says {} and {}",
            user_ids.len(),
            item_ids.len(),
            stats.users,
            stats.items
        )));
    }
    let train = file.train(stats)?;
    let fallback = BiasFallback {
        mu: stats.mu,
        user_bias: file.f32s(USER_BIAS, &[stats.users])?,
        item_bias: file.f32s(ITEM_BIAS, &[stats.items])?,
        item_counts: file.u32s(ITEM_COUNTS, &[stats.items])?,
    };
    let spec: ModelSpec = serde_json::from_value(meta.spec.clone())
        .map_err(|e| Error::model_file(format!("metadata \"spec\": {e}")))?;
    let parts = ModelParts {
        kind: meta.kind.clone(),
        config: meta.config.clone(),
        tensors: meta
            .model_tensors
            .iter()
            .map(|name| Ok((name.clone(), file.f32_tensor(name)?)))
            .collect::<Result<_>>()?,
    };
    let model = loader(&parts)?;
    if (model.n_users(), model.n_items()) != (stats.users, stats.items) {
        return Err(Error::model_file(format!(
            "the {} model has {} users and {} items, the file's id maps {} and {}",
            model.kind(),
            model.n_users(),
            model.n_items(),
            stats.users,
            stats.items
        )));
    }
    Ok(TrainedModel {
        model,
        spec,
        user_ids: Arc::new(user_ids),
        item_ids: Arc::new(item_ids),
        train,
        fallback,
        scale: stats.scale,
        report: meta.fit_report.clone(),
        titles: file.json(TITLES)?,
    })
}

/// The metadata of an aerec file, parsed and checked.
struct Meta {
    format_version: u32,
    aerec_version: String,
    kind: String,
    spec: serde_json::Value,
    config: serde_json::Value,
    stats: Stats,
    fit_report: FitReport,
    created_unix: u64,
    model_tensors: Vec<String>,
    sha256: String,
}

/// A parsed container whose format, version and checksum have been checked.
struct Container<'a> {
    tensors: SafeTensors<'a>,
    meta: Meta,
}

impl<'a> Container<'a> {
    fn parse(bytes: &'a [u8]) -> Result<Self> {
        let tensors = SafeTensors::deserialize(bytes).map_err(container_error)?;
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(container_error)?;
        let empty = HashMap::new();
        let raw = header.metadata().as_ref().unwrap_or(&empty);
        match raw.get("format") {
            Some(f) if f == FORMAT_NAME => {}
            Some(f) => {
                return Err(Error::model_file(format!(
                    "a safetensors file of format {f:?}, not an aerec model"
                )))
            }
            None => {
                return Err(Error::model_file(
                    "a safetensors file, but not an aerec model (no \"format\" metadata)",
                ))
            }
        }
        let get = |key: &str| {
            raw.get(key)
                .map(String::as_str)
                .ok_or_else(|| Error::model_file(format!("metadata {key:?} is missing")))
        };
        let version: u32 = parse_meta("format_version", get("format_version")?)?;
        if version > FORMAT_VERSION {
            return Err(Error::model_file(format!(
                "format version {version} was written by a newer aerec (this build, {}, reads up \
                 to version {FORMAT_VERSION}); upgrade aerec",
                env!("CARGO_PKG_VERSION")
            )));
        }
        if version == 0 {
            return Err(Error::model_file("format version 0 does not exist"));
        }
        let meta = Meta {
            format_version: version,
            aerec_version: get("aerec_version")?.to_string(),
            kind: get("kind")?.to_string(),
            spec: parse_meta("spec", get("spec")?)?,
            config: parse_meta("config", get("config")?)?,
            stats: parse_meta("stats", get("stats")?)?,
            fit_report: parse_meta("fit_report", get("fit_report")?)?,
            created_unix: parse_meta("created_unix", get("created_unix")?)?,
            model_tensors: parse_meta("model_tensors", get("model_tensors")?)?,
            sha256: get("sha256")?.to_string(),
        };
        let mut names = tensors.names();
        names.sort();
        let mut views = Vec::with_capacity(names.len());
        for name in names {
            views.push((
                name.as_str(),
                tensors.tensor(name).map_err(container_error)?,
            ));
        }
        let covered = (version >= METADATA_CHECKSUM_VERSION).then_some(raw);
        let actual = checksum(views.iter().map(|(_, v)| v.data()), covered);
        if actual != meta.sha256 {
            return Err(Error::model_file(format!(
                "checksum mismatch: the file is corrupted (stored sha256 {}, computed {actual})",
                meta.sha256
            )));
        }
        Ok(Container { tensors, meta })
    }

    fn view(&self, name: &str, dtype: Dtype, shape: Option<&[usize]>) -> Result<TensorView<'a>> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| Error::model_file(format!("tensor {name:?} is missing")))?;
        if view.dtype() != dtype {
            return Err(Error::model_file(format!(
                "tensor {name:?} is {:?}, expected {dtype:?}",
                view.dtype()
            )));
        }
        if let Some(shape) = shape {
            if view.shape() != shape {
                return Err(Error::model_file(format!(
                    "tensor {name:?} has shape {:?}, expected {shape:?}",
                    view.shape()
                )));
            }
        } else if view.shape().len() != 1 && dtype != Dtype::F32 {
            return Err(Error::model_file(format!(
                "tensor {name:?} has shape {:?}, expected one dimension",
                view.shape()
            )));
        }
        Ok(view)
    }

    fn f32s(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>> {
        Ok(decode_f32(self.view(name, Dtype::F32, Some(shape))?.data()))
    }

    fn u32s(&self, name: &str, shape: &[usize]) -> Result<Vec<u32>> {
        let view = self.view(name, Dtype::U32, Some(shape))?;
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }

    fn f32_tensor(&self, name: &str) -> Result<Tensor> {
        let view = self.view(name, Dtype::F32, None)?;
        Ok(Tensor {
            shape: view.shape().to_vec(),
            data: decode_f32(view.data()),
        })
    }

    fn json<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        let view = self.view(name, Dtype::U8, None)?;
        serde_json::from_slice(view.data()).map_err(|e| {
            Error::model_file(format!("tensor {name:?} is not the expected JSON: {e}"))
        })
    }

    /// The training matrix, with every index checked so that later row and
    /// column lookups cannot go out of bounds.
    fn train(&self, stats: Stats) -> Result<Csr> {
        let indptr_view = self.view(TRAIN_INDPTR, Dtype::U64, Some(&[stats.users + 1]))?;
        let indptr: Vec<usize> = indptr_view
            .data()
            .chunks_exact(8)
            .map(|b| {
                let v = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
                usize::try_from(v).unwrap_or(usize::MAX)
            })
            .collect();
        let indices = self.u32s(TRAIN_INDICES, &[stats.ratings])?;
        let values = self.f32s(TRAIN_VALUES, &[stats.ratings])?;
        let bad = |why: &str| Error::model_file(format!("training matrix: {why}"));
        if indptr.first() != Some(&0) || indptr.last() != Some(&stats.ratings) {
            return Err(bad("row pointers do not span the ratings"));
        }
        for w in indptr.windows(2) {
            if w[0] > w[1] {
                return Err(bad("row pointers decrease"));
            }
            let row = &indices[w[0]..w[1]];
            if row.windows(2).any(|p| p[0] >= p[1]) {
                return Err(bad(
                    "column indices within a row are not strictly increasing",
                ));
            }
            if row.last().is_some_and(|&c| c as usize >= stats.items) {
                return Err(bad("a column index is out of range"));
            }
        }
        Ok(Csr {
            n_rows: stats.users,
            n_cols: stats.items,
            indptr,
            indices,
            values,
        })
    }
}

fn container_error(e: SafeTensorError) -> Error {
    match e {
        SafeTensorError::MetadataIncompleteBuffer | SafeTensorError::InvalidHeaderLength => {
            Error::model_file("the file is truncated (or has bytes appended)")
        }
        other => Error::model_file(format!("not a safetensors container ({other:?})")),
    }
}

/// Every metadata value is JSON (numbers included), read into its type.
fn parse_meta<T: serde::de::DeserializeOwned>(key: &str, text: &str) -> Result<T> {
    serde_json::from_str(text)
        .map_err(|e| Error::model_file(format!("metadata {key:?} cannot be read: {e}")))
}

fn json_error(e: serde_json::Error) -> Error {
    Error::model_file(format!("cannot encode metadata: {e}"))
}

fn to_json<T: Serialize + ?Sized>(value: &T) -> Result<String> {
    serde_json::to_string(value).map_err(json_error)
}

/// SHA-256 of the tensor data (in name order), then, when given, of every
/// metadata entry but `sha256` in key order as `key NUL value NUL` (NUL
/// cannot occur in a key or in JSON text, so entries cannot run together).
fn checksum<'b>(
    tensors: impl Iterator<Item = &'b [u8]>,
    metadata: Option<&HashMap<String, String>>,
) -> String {
    let mut hasher = Sha256::new();
    for data in tensors {
        hasher.update(data);
    }
    if let Some(metadata) = metadata {
        let mut keys: Vec<&String> = metadata.keys().filter(|k| *k != "sha256").collect();
        keys.sort();
        for key in keys {
            hasher.update(key.as_bytes());
            hasher.update([0]);
            hasher.update(metadata[key].as_bytes());
            hasher.update([0]);
        }
    }
    hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn f32_tensor(shape: Vec<usize>, data: &[f32]) -> (Dtype, Vec<usize>, Vec<u8>) {
    let bytes = data.iter().flat_map(|v| v.to_le_bytes()).collect();
    (Dtype::F32, shape, bytes)
}

/// A one-dimensional little-endian integer tensor.
fn le_tensor<T: LeBytes>(dtype: Dtype, data: &[T]) -> (Dtype, Vec<usize>, Vec<u8>) {
    let mut bytes = Vec::with_capacity(std::mem::size_of_val(data));
    for v in data {
        v.extend_le(&mut bytes);
    }
    (dtype, vec![data.len()], bytes)
}

trait LeBytes {
    fn extend_le(&self, out: &mut Vec<u8>);
}

impl LeBytes for u32 {
    fn extend_le(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

impl LeBytes for u64 {
    fn extend_le(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.to_le_bytes());
    }
}

fn json_tensor<T: Serialize + ?Sized>(value: &T) -> Result<(Dtype, Vec<usize>, Vec<u8>)> {
    let bytes = serde_json::to_vec(value).map_err(json_error)?;
    Ok((Dtype::U8, vec![bytes.len()], bytes))
}

fn decode_f32(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// `YYYY-MM-DDTHH:MM:SSZ` for Unix seconds (civil-from-days, H. Hinnant).
fn rfc3339_utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_matches_known_instants() {
        // Reference values from `date -u -d @N +%Y-%m-%dT%H:%M:%SZ`.
        assert_eq!(rfc3339_utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339_utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339_utc(1_795_000_000), "2026-11-18T11:06:40Z");
    }

    #[test]
    fn arbitrary_prefixes_are_errors_not_panics() {
        let loader: ModelLoader = crate::model::spec::load_model;
        for bytes in [&b""[..], b"12345678", b"\x08\0\0\0\0\0\0\0{}      "] {
            assert!(from_bytes(bytes, loader).is_err());
        }
    }
}
