//! scipy sparse matrices saved by `scipy.sparse.save_npz`.
//!
//! An `.npz` is a zip (stored or deflated) of `.npy` arrays. For CSR and CSC
//! scipy writes `data`, `indices`, `indptr`, `format` (`b"csr"`/`b"csc"`)
//! and `shape`; for COO `data`, `row`, `col`. Rows are users and columns are
//! items; users get the ids `"0".."rows-1"` and items `"0".."cols-1"`, so the
//! index of an id is its row or column number and two matrices of the same
//! shape (the Keras tutorial's `Atrain.npz`/`Atest.npz`) speak the same ids.
//! A stored 0 is a missing cell, as it is for scipy.

use std::io::Read;
use std::sync::Arc;

use super::finish::{finish, LineIndex};
use super::{Format, ReadOptions, ReadOutcome};
use crate::data::{IdMap, Ratings};
use crate::error::{Error, ErrorKind, Result};

/// A 1-D array read from an `.npy` member, widened to a common type.
enum Array {
    Float(Vec<f64>),
    Int(Vec<i64>),
    Bytes(Vec<u8>),
}

impl Array {
    fn into_floats(self, name: &str) -> Result<Vec<f64>> {
        match self {
            Array::Float(v) => Ok(v),
            Array::Int(v) => Ok(v.into_iter().map(|x| x as f64).collect()),
            Array::Bytes(_) => Err(Error::format(format!(
                "{name}: expected numbers, found text"
            ))),
        }
    }

    fn into_ints(self, name: &str) -> Result<Vec<i64>> {
        match self {
            Array::Int(v) => Ok(v),
            _ => Err(Error::format(format!("{name}: expected integers"))),
        }
    }
}

/// Parses one `.npy` file (format versions 1–3, little- or big-endian).
fn parse_npy(bytes: &[u8], name: &str) -> Result<Array> {
    let bad = |m: &str| Error::format(format!("{name}: {m}"));
    let rest = bytes
        .strip_prefix(b"\x93NUMPY")
        .ok_or_else(|| bad("not an .npy array"))?;
    let (header_len, body_at) = match rest {
        [1, _, a, b, ..] => (u16::from_le_bytes([*a, *b]) as usize, 10usize),
        [2 | 3, _, a, b, c, d, ..] => (u32::from_le_bytes([*a, *b, *c, *d]) as usize, 12),
        _ => return Err(bad("unsupported .npy version")),
    };
    let header = bytes
        .get(body_at..body_at.saturating_add(header_len))
        .ok_or_else(|| bad("truncated header"))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text"))?;
    let descr = dict_value(header, "descr").ok_or_else(|| bad("header has no descr"))?;
    let descr = quoted(descr).ok_or_else(|| bad("descr is not a quoted dtype"))?;
    let shape = parse_shape(header).ok_or_else(|| bad("bad shape"))?;
    let fortran = dict_value(header, "fortran_order").is_some_and(|v| v.starts_with("True"));
    if fortran && shape.iter().filter(|&&d| d > 1).count() > 1 {
        return Err(bad("Fortran-ordered arrays are not supported"));
    }
    let count = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| bad("shape too large"))?;
    let body = &bytes[body_at + header_len..];
    let (order, kind, size) =
        split_descr(descr).ok_or_else(|| bad(&format!("unsupported dtype {descr:?}")))?;
    let need = count
        .checked_mul(size)
        .ok_or_else(|| bad("shape too large"))?;
    if body.len() < need {
        return Err(bad("truncated data"));
    }
    let body = &body[..need];
    let word = |c: &[u8]| -> u64 {
        let mut w = [0u8; 8];
        if order == '>' {
            for (k, &b) in c.iter().rev().enumerate() {
                w[k] = b;
            }
        } else {
            w[..c.len()].copy_from_slice(c);
        }
        u64::from_le_bytes(w)
    };
    let words = body.chunks_exact(size.max(1));
    Ok(match (kind, size) {
        ('f', 4) => Array::Float(
            words
                .map(|c| f32::from_bits(word(c) as u32) as f64)
                .collect(),
        ),
        ('f', 8) => Array::Float(words.map(|c| f64::from_bits(word(c))).collect()),
        ('i', 1 | 2 | 4 | 8) => {
            let shift = 64 - 8 * size as u32;
            Array::Int(
                words
                    .map(|c| ((word(c) << shift) as i64) >> shift)
                    .collect(),
            )
        }
        ('u' | 'b', 1 | 2 | 4) => Array::Int(words.map(|c| word(c) as i64).collect()),
        ('u', 8) => Array::Int(
            words
                .map(|c| i64::try_from(word(c)).map_err(|_| bad("value too large")))
                .collect::<Result<_>>()?,
        ),
        ('S', _) => Array::Bytes(body.to_vec()),
        ('U', _) => Array::Bytes(
            body.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .filter(|&c| c != 0)
                .map(|c| u8::try_from(c).unwrap_or(b'?'))
                .collect(),
        ),
        _ => return Err(bad(&format!("unsupported dtype {descr:?}"))),
    })
}

/// `('<', 'f', 8)` from `"<f8"`; for text dtypes the size is bytes per element.
fn split_descr(descr: &str) -> Option<(char, char, usize)> {
    let mut chars = descr.chars();
    let order = chars.next()?;
    let (order, kind) = if matches!(order, '<' | '>' | '|' | '=') {
        (order, chars.next()?)
    } else {
        ('<', order)
    };
    let n: usize = chars.as_str().parse().ok()?;
    let size = match kind {
        'U' => n.checked_mul(4)?,
        _ => n,
    };
    (size > 0).then_some((order, kind, size))
}

/// The text after `'key':` up to the next top-level comma or closing brace.
fn dict_value<'a>(header: &'a str, key: &str) -> Option<&'a str> {
    let at = header.find(&format!("'{key}':"))? + key.len() + 3;
    Some(header[at..].trim_start())
}

/// The text inside the quotes that `value` starts with.
fn quoted(value: &str) -> Option<&str> {
    let q = value.chars().next().filter(|c| *c == '\'' || *c == '"')?;
    let rest = &value[1..];
    Some(&rest[..rest.find(q)?])
}

fn parse_shape(header: &str) -> Option<Vec<usize>> {
    let v = dict_value(header, "shape")?;
    let inner = v.strip_prefix('(')?;
    let inner = &inner[..inner.find(')')?];
    inner
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.trim_end_matches('L').parse().ok())
        .collect()
}

/// The members of an `.npz`, read on demand.
struct Npz<'a> {
    zip: zip::ZipArchive<std::io::Cursor<&'a [u8]>>,
}

impl<'a> Npz<'a> {
    fn open(bytes: &'a [u8]) -> Result<Self> {
        let zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
            .map_err(|e| Error::format(format!("not a valid .npz (zip) file: {e}")))?;
        Ok(Npz { zip })
    }

    fn has(&self, name: &str) -> bool {
        self.zip.index_for_name(&format!("{name}.npy")).is_some()
    }

    fn array(&mut self, name: &str) -> Result<Array> {
        let member = format!("{name}.npy");
        let mut file = self
            .zip
            .by_name(&member)
            .map_err(|_| Error::format(format!("the .npz has no {member:?} array")))?;
        // The declared size is only a hint: a corrupt archive may lie about it.
        let mut bytes = Vec::with_capacity((file.size() as usize).min(1 << 30));
        file.read_to_end(&mut bytes)
            .map_err(|e| Error::format(format!("{member}: cannot decompress: {e}")))?;
        parse_npy(&bytes, &member)
    }
}

/// Checks an index array against a bound and narrows it to `u32`.
fn indices(v: Vec<i64>, bound: usize, name: &str) -> Result<Vec<u32>> {
    v.into_iter()
        .map(|x| {
            usize::try_from(x)
                .ok()
                .filter(|&x| x < bound)
                .map(|x| x as u32)
                .ok_or_else(|| Error::format(format!("{name}: index {x} outside 0..{bound}")))
        })
        .collect()
}

/// Expands a compressed pointer array into one major index per entry.
fn expand(indptr: Vec<i64>, major: usize, nnz: usize) -> Result<Vec<u32>> {
    if indptr.len() != major + 1
        || indptr.first() != Some(&0)
        || indptr.last() != Some(&(nnz as i64))
    {
        let end = |v: Option<&i64>| v.map_or_else(|| "nothing".to_string(), i64::to_string);
        return Err(Error::format(format!(
            "indptr has {} entries, from {} to {}; expected {} entries, from 0 to {nnz}",
            indptr.len(),
            end(indptr.first()),
            end(indptr.last()),
            major + 1
        )));
    }
    let mut out = Vec::with_capacity(nnz);
    for (r, w) in indptr.windows(2).enumerate() {
        if w[1] < w[0] {
            return Err(Error::format(format!("indptr decreases at {r}")));
        }
        out.extend(std::iter::repeat_n(r as u32, (w[1] - w[0]) as usize));
    }
    Ok(out)
}

fn index_ids(n: usize) -> Result<Arc<IdMap>> {
    Ok(Arc::new(IdMap::from_ids(
        (0..n).map(|i| i.to_string()).collect(),
    )?))
}

/// Reads an `.npz` held in memory.
pub(super) fn read(bytes: &[u8], opts: &ReadOptions) -> Result<ReadOutcome> {
    if bytes.is_empty() {
        return Err(Error::format("empty file: no ratings"));
    }
    let mut npz = Npz::open(bytes)?;
    let format = if npz.has("format") {
        match npz.array("format")? {
            Array::Bytes(b) => String::from_utf8_lossy(&b)
                .trim_end_matches('\0')
                .to_string(),
            _ => return Err(Error::format("format.npy: expected text")),
        }
    } else {
        "coo".to_string()
    };
    let shape = npz.array("shape")?.into_ints("shape.npy")?;
    let [rows, cols] = shape[..] else {
        return Err(Error::format(format!(
            "shape.npy: expected 2 dimensions, found {}",
            shape.len()
        )));
    };
    let dim = |d: i64| {
        usize::try_from(d)
            .ok()
            .filter(|&d| d < u32::MAX as usize)
            .ok_or_else(|| Error::format(format!("shape.npy: dimension {d} out of range")))
    };
    let (rows, cols) = (dim(rows)?, dim(cols)?);
    let data = npz.array("data")?.into_floats("data.npy")?;
    let nnz = data.len();
    let (users, items) = match format.as_str() {
        "csr" | "csc" => {
            let indptr = npz.array("indptr")?.into_ints("indptr.npy")?;
            let minor = npz.array("indices")?.into_ints("indices.npy")?;
            if minor.len() != nnz {
                return Err(Error::format(format!(
                    "indices.npy has {} entries, data.npy {nnz}",
                    minor.len()
                )));
            }
            if format == "csr" {
                (
                    expand(indptr, rows, nnz)?,
                    indices(minor, cols, "indices.npy")?,
                )
            } else {
                let items = expand(indptr, cols, nnz)?;
                (indices(minor, rows, "indices.npy")?, items)
            }
        }
        "coo" => {
            let row = npz.array("row")?.into_ints("row.npy")?;
            let col = npz.array("col")?.into_ints("col.npy")?;
            if row.len() != nnz || col.len() != nnz {
                return Err(Error::format(
                    "row.npy, col.npy and data.npy differ in length",
                ));
            }
            (
                indices(row, rows, "row.npy")?,
                indices(col, cols, "col.npy")?,
            )
        }
        other => {
            return Err(Error::format(format!(
                "sparse format {other:?} is not supported (csr, csc or coo)"
            )))
        }
    };
    let mut ratings = Ratings {
        users: Vec::with_capacity(nnz),
        items: Vec::with_capacity(nnz),
        values: Vec::with_capacity(nnz),
        timestamps: None,
        user_ids: index_ids(rows)?,
        item_ids: index_ids(cols)?,
    };
    for k in 0..nnz {
        let v = data[k];
        if v == 0.0 {
            continue;
        }
        let at = || format!("entry (row {}, column {})", users[k], items[k]);
        let f = v as f32;
        if !v.is_finite() || !f.is_finite() {
            return Err(Error::new(ErrorKind::Rating {
                position: None,
                value: v,
                message: format!("{}: not a finite 32-bit number", at()),
            }));
        }
        if let Some(scale) = opts.scale.filter(|s| !s.contains(f)) {
            return Err(Error::new(ErrorKind::Rating {
                position: None,
                value: v,
                message: format!(
                    "{}: outside the declared scale {}..{}",
                    at(),
                    scale.min,
                    scale.max
                ),
            }));
        }
        ratings.users.push(users[k]);
        ratings.items.push(items[k]);
        ratings.values.push(f);
    }
    if ratings.is_empty() {
        return Err(Error::format(
            "the matrix has no non-zero entry: no ratings",
        ));
    }
    finish(
        ratings,
        Format::Npz,
        opts,
        0,
        Vec::new(),
        &LineIndex::default(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_descr_and_shape() {
        assert_eq!(split_descr("<f8"), Some(('<', 'f', 8)));
        assert_eq!(split_descr("|S3"), Some(('|', 'S', 3)));
        assert_eq!(split_descr("<U3"), Some(('<', 'U', 12)));
        assert_eq!(split_descr("<f"), None);
        let h = "{'descr': '<i4', 'fortran_order': False, 'shape': (3,), }";
        assert_eq!(parse_shape(h), Some(vec![3]));
        assert_eq!(parse_shape("{'shape': (), }"), Some(vec![]));
    }
}
