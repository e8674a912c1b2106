//! Writers: ratings (a whole set, or the parts of a split) back to CSV
//! with original ids, and to a scipy-compatible `.npz`. Every file goes
//! through [`crate::output::write_atomic`]: a failed write leaves no half
//! file.

use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::split::Split;
use super::{Csr, Ratings};
use crate::error::{Error, Result};

/// Writes `user,item,rating[,timestamp]` with a header and original ids
/// (quoted where an id holds a comma, a quote or a line end).
///
/// ```
/// use aerec::data::{read::{read_ratings_bytes, ReadOptions}, write::write_csv_to};
/// let r = read_ratings_bytes(b"u,i,r\n007,x,3.5\n", &ReadOptions::new()).unwrap().ratings;
/// let mut out = Vec::new();
/// write_csv_to(&mut out, &r).unwrap();
/// assert_eq!(out, b"user,item,rating\n007,x,3.5\n");
/// ```
pub fn write_csv_to(out: impl Write, r: &Ratings) -> Result<()> {
    let mut w = csv::WriterBuilder::new().from_writer(out);
    match &r.timestamps {
        Some(_) => w.write_record(["user", "item", "rating", "timestamp"]),
        None => w.write_record(["user", "item", "rating"]),
    }?;
    let mut number = String::new();
    let mut time = String::new();
    for k in 0..r.len() {
        number.clear();
        // `{}` on f32 prints the shortest text that reads back to the same value.
        use std::fmt::Write as _;
        let _ = write!(number, "{}", r.values[k]);
        let user = r.user_ids.id(r.users[k]);
        let item = r.item_ids.id(r.items[k]);
        match &r.timestamps {
            Some(t) => {
                time.clear();
                let _ = write!(time, "{}", t[k]);
                w.write_record([user, item, &number, &time])
            }
            None => w.write_record([user, item, &number]),
        }?;
    }
    w.flush()?;
    Ok(())
}

/// Writes a CSV file (see [`write_csv_to`]) through a temporary file that is
/// renamed into place, so a failed write leaves no half file.
pub fn write_csv(path: impl AsRef<Path>, r: &Ratings) -> Result<()> {
    let path = path.as_ref();
    crate::output::write_atomic(path, |w| write_csv_to(w, r))
}

/// Where [`write_split`] put the parts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SplitFiles {
    /// `train.csv`.
    pub train: PathBuf,
    /// `test.csv`.
    pub test: PathBuf,
    /// `valid.csv`, when there is a validation part.
    pub valid: Option<PathBuf>,
}

/// Writes the parts as `train.csv`, `test.csv` and (if any) `valid.csv` in
/// `dir` (created if missing), each as [`write_csv`] writes it: original
/// ids, the header `user,item,rating[,timestamp]`, atomically.
pub fn write_split(split: &Split, dir: &Path) -> Result<SplitFiles> {
    std::fs::create_dir_all(dir).map_err(|e| Error::from(e).with_path(dir))?;
    let write = |r: &Ratings, name: &str| -> Result<PathBuf> {
        let path = dir.join(name);
        write_csv(&path, r)?;
        Ok(path)
    };
    Ok(SplitFiles {
        train: write(&split.train, "train.csv")?,
        test: write(&split.test, "test.csv")?,
        valid: split
            .valid
            .as_ref()
            .map(|v| write(v, "valid.csv"))
            .transpose()?,
    })
}

/// Writes k-fold splits as `dir/fold_1/…`, `dir/fold_2/…` with [`write_split`].
pub fn write_folds(folds: &[Split], dir: &Path) -> Result<Vec<SplitFiles>> {
    folds
        .iter()
        .enumerate()
        .map(|(f, s)| write_split(s, &dir.join(format!("fold_{}", f + 1))))
        .collect()
}

/// One `.npy` array: the header dict padded so the data starts at a multiple
/// of 64 bytes, as numpy writes it (format version 1.0).
fn npy(descr: &str, shape: &str, data: &[u8]) -> Vec<u8> {
    let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    let pad = (64 - unpadded % 64) % 64;
    let header_len = dict.len() + pad + 1;
    let mut out = Vec::with_capacity(10 + header_len + data.len());
    out.extend_from_slice(b"\x93NUMPY\x01\x00");
    out.extend_from_slice(&(header_len as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out.extend(std::iter::repeat_n(b' ', pad));
    out.push(b'\n');
    out.extend_from_slice(data);
    out
}

fn le_bytes<T: Copy, const N: usize>(xs: &[T], f: impl Fn(T) -> [u8; N]) -> Vec<u8> {
    xs.iter().flat_map(|&x| f(x)).collect()
}

/// Writes the ratings as a scipy CSR matrix (users × items, `float32`
/// values, `int32` or `int64` indices as scipy would choose), loadable by
/// `scipy.sparse.load_npz`. Rows and columns are the id indices; the ids
/// themselves are not stored, and a rating of 0 would read back as missing,
/// so such a rating is an error here.
pub fn write_npz_to(out: impl Write + std::io::Seek, r: &Ratings) -> Result<()> {
    if let Some(k) = r.values.iter().position(|&v| v == 0.0) {
        return Err(Error::format(format!(
            "rating 0 for user {:?} and item {:?}: a sparse .npz would read it back as missing",
            r.user_ids.id(r.users[k]),
            r.item_ids.id(r.items[k])
        )));
    }
    let csr = r.by_user();
    write_csr_npz(out, &csr)
}

/// Writes a [`Csr`] as a scipy `.npz` (see [`write_npz_to`]).
pub fn write_csr_npz(out: impl Write + std::io::Seek, csr: &Csr) -> Result<()> {
    let wide = csr.nnz() > i32::MAX as usize || csr.n_cols > i32::MAX as usize;
    let (index_descr, indices, indptr) = if wide {
        (
            "<i8",
            le_bytes(&csr.indices, |x| (x as i64).to_le_bytes()),
            le_bytes(&csr.indptr, |x| (x as i64).to_le_bytes()),
        )
    } else {
        (
            "<i4",
            le_bytes(&csr.indices, |x| (x as i32).to_le_bytes()),
            le_bytes(&csr.indptr, |x| (x as i32).to_le_bytes()),
        )
    };
    let members = [
        (
            "indices.npy",
            npy(index_descr, &format!("({},)", csr.nnz()), &indices),
        ),
        (
            "indptr.npy",
            npy(index_descr, &format!("({},)", csr.n_rows + 1), &indptr),
        ),
        ("format.npy", npy("|S3", "()", b"csr")),
        (
            "shape.npy",
            npy(
                "<i8",
                "(2,)",
                &le_bytes(&[csr.n_rows as i64, csr.n_cols as i64], i64::to_le_bytes),
            ),
        ),
        (
            "data.npy",
            npy(
                "<f4",
                &format!("({},)", csr.nnz()),
                &le_bytes(&csr.values, f32::to_le_bytes),
            ),
        ),
    ];
    let mut zip = zip::ZipWriter::new(out);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(members.iter().any(|(_, b)| b.len() > u32::MAX as usize / 2));
    for (name, bytes) in members {
        zip.start_file(name, opts)
            .map_err(|e| Error::other(format!("writing .npz: {e}")))?;
        zip.write_all(&bytes)?;
    }
    zip.finish()
        .map_err(|e| Error::other(format!("writing .npz: {e}")))?;
    Ok(())
}

/// Writes an `.npz` file (see [`write_npz_to`]) through a renamed temporary file.
pub fn write_npz(path: impl AsRef<Path>, r: &Ratings) -> Result<()> {
    let path = path.as_ref();
    crate::output::write_atomic(path, |w| write_npz_to(w, r))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::read::{read_ratings_bytes, ReadOptions};
    use crate::data::split::ColdStartReport;

    #[test]
    fn split_parts_are_written_with_original_ids() {
        let dir = tempfile::tempdir().unwrap();
        let text = b"user,item,rating,timestamp\nA1,0205616461,4.5,7\nB2,x,3,8\n";
        let r = read_ratings_bytes(text, &ReadOptions::new())
            .unwrap()
            .ratings;
        let s = Split {
            train: r.select(&[0]),
            test: r.select(&[1]),
            valid: None,
            cold: ColdStartReport::default(),
            valid_cold: None,
        };
        let files = write_split(&s, &dir.path().join("new")).unwrap();
        let train = std::fs::read_to_string(&files.train).unwrap();
        assert_eq!(train, "user,item,rating,timestamp\nA1,0205616461,4.5,7\n");
        let test = std::fs::read_to_string(&files.test).unwrap();
        assert_eq!(test, "user,item,rating,timestamp\nB2,x,3,8\n");
        assert!(files.valid.is_none());
        // Only the two parts: no temporary file is left beside them.
        assert_eq!(
            std::fs::read_dir(files.train.parent().unwrap())
                .unwrap()
                .count(),
            2
        );
    }
}
