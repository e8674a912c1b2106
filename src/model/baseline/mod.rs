//! Baselines: the models autoencoders are measured against.
//!
//! | kind     | model                                   | after                         |
//! |----------|-----------------------------------------|-------------------------------|
//! | `mean`   | [`MeanModel`]: the global mean          |                               |
//! | `biases` | [`BiasesModel`]: μ + b_u + b_i          | Surprise `BaselineOnly`       |
//! | `svd`    | [`SvdModel`]: truncated SVD reconstruction | the SVD assignment (seed 004) |
//! | `mf`     | [`MfModel`]: biased MF by SGD (Funk SVD)| Surprise `SVD`                |
//! | `svdpp`  | [`SvdppModel`]: MF + implicit feedback  | Surprise `SVDpp`              |
//!
//! Every baseline is a full [`Recommender`](crate::model::Recommender): it
//! predicts, scores the whole catalogue, folds in a user it never saw from
//! that user's ratings, and takes itself apart into named tensors.

mod biases;
mod mean;
mod mf;
mod parallel;
mod svd;
mod svdpp;

pub use biases::{als, BiasesConfig, BiasesMethod, BiasesModel};
pub use mean::{MeanConfig, MeanModel};
pub use mf::{MfConfig, MfModel};
pub use parallel::SYNC_USERS_PER_RANK;
pub use svd::{SvdConfig, SvdFill, SvdMethod, SvdModel};
pub use svdpp::{SvdppConfig, SvdppModel};

pub(crate) use biases::KIND as BIASES;
pub(crate) use mean::KIND as MEAN;
pub(crate) use mf::KIND as MF;
pub(crate) use svd::KIND as SVD;
pub(crate) use svdpp::KIND as SVDPP;

use rand::rngs::SmallRng;
use rand_distr::{Distribution, Normal};

use crate::error::{Error, Result};
use crate::model::{ModelParts, Tensor};

/// Checks the `score_items` contract: one output per item, every item in range.
fn check_items(items: &[u32], out: &[f32], n_items: usize) -> Result<()> {
    if items.len() != out.len() {
        return Err(Error::other(format!(
            "score_items: {} items but {} output slots",
            items.len(),
            out.len()
        )));
    }
    if let Some(&bad) = items.iter().find(|&&i| i as usize >= n_items) {
        return Err(Error::other(format!(
            "score_items: item index {bad} is outside the model's {n_items} items"
        )));
    }
    Ok(())
}

/// Checks the `score_all` contract: one output per item of the catalogue.
fn check_all(out: &[f32], n_items: usize) -> Result<()> {
    if out.len() != n_items {
        return Err(Error::other(format!(
            "score_all: {} output slots for {n_items} items",
            out.len()
        )));
    }
    Ok(())
}

/// Checks that a known user index is in range.
fn check_user(user: Option<u32>, n_users: usize) -> Result<()> {
    match user {
        Some(u) if u as usize >= n_users => Err(Error::other(format!(
            "user index {u} is outside the model's {n_users} users"
        ))),
        _ => Ok(()),
    }
}

/// A 1-D tensor.
fn vector(data: Vec<f32>) -> Tensor {
    Tensor {
        shape: vec![data.len()],
        data,
    }
}

/// A row-major 2-D tensor of `rows × cols`.
fn matrix(rows: usize, cols: usize, data: Vec<f32>) -> Tensor {
    debug_assert_eq!(data.len(), rows * cols);
    Tensor {
        shape: vec![rows, cols],
        data,
    }
}

/// The scalar tensor `name` (shape `[1]`).
fn scalar(parts: &ModelParts, name: &str) -> Result<f32> {
    Ok(parts.tensor(name, &[1])?.data[0])
}

/// Reads the model config back from a model file's parts.
fn config_of<T: serde::de::DeserializeOwned>(parts: &ModelParts) -> Result<T> {
    serde_json::from_value(parts.config.clone())
        .map_err(|e| Error::model_file(format!("{} config: {e}", parts.kind)))
}

/// The shape `[rows, cols]` of the 2-D tensor `name`, whatever it is.
fn shape2(parts: &ModelParts, name: &str) -> Result<(usize, usize)> {
    let t = parts
        .tensors
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, t)| t)
        .ok_or_else(|| Error::model_file(format!("tensor {name:?} is missing")))?;
    match t.shape[..] {
        [r, c] => Ok((r, c)),
        _ => Err(Error::model_file(format!(
            "tensor {name:?} has shape {:?}, expected 2 dimensions",
            t.shape
        ))),
    }
}

/// `n` draws from N(mean, std), in order (the order Surprise draws `pu` then `qi`).
fn normal_init(rng: &mut SmallRng, n: usize, mean: f32, std: f32) -> Result<Vec<f32>> {
    let dist = Normal::new(mean, std).map_err(|e| Error::config(format!("init_std {std}: {e}")))?;
    Ok((0..n).map(|_| dist.sample(rng)).collect())
}

/// Dot product of two equal-length slices; four accumulators so the
/// compiler vectorises it.
#[inline]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0f32; 4];
    let chunks = n / 4;
    for c in 0..chunks {
        for l in 0..4 {
            acc[l] += a[4 * c + l] * b[4 * c + l];
        }
    }
    let mut s = (acc[0] + acc[1]) + (acc[2] + acc[3]);
    for k in 4 * chunks..n {
        s += a[k] * b[k];
    }
    s
}

/// Solves the symmetric positive definite system `A x = b` (`A` row-major
/// `n × n`, overwritten) by Cholesky in f64. Used for the small ridge
/// problems of new-user fold-in (matrix factorisation and the autoencoders),
/// where `n` is the rank or code width plus one.
pub(crate) fn solve_spd(a: &mut [f64], b: &mut [f64]) -> Result<()> {
    let n = b.len();
    for j in 0..n {
        let mut d = a[j * n + j];
        for k in 0..j {
            d -= a[j * n + k] * a[j * n + k];
        }
        if d <= 0.0 || !d.is_finite() {
            return Err(Error::other(
                "new-user fold-in: the ridge system is not positive definite",
            ));
        }
        let d = d.sqrt();
        a[j * n + j] = d;
        for i in j + 1..n {
            let mut s = a[i * n + j];
            for k in 0..j {
                s -= a[i * n + k] * a[j * n + k];
            }
            a[i * n + j] = s / d;
        }
    }
    for i in 0..n {
        let mut s = b[i];
        for k in 0..i {
            s -= a[i * n + k] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    for i in (0..n).rev() {
        let mut s = b[i];
        for k in i + 1..n {
            s -= a[k * n + i] * b[k];
        }
        b[i] = s / a[i * n + i];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spd_solve_matches_hand_solution() {
        // [[4, 2], [2, 3]] x = [2, 1]: by Cramer's rule x = [(6-2)/8, (4-4)/8] = [0.5, 0].
        let mut a = vec![4.0, 2.0, 2.0, 3.0];
        let mut b = vec![2.0, 1.0];
        solve_spd(&mut a, &mut b).unwrap();
        assert!((b[0] - 0.5).abs() < 1e-12 && b[1].abs() < 1e-12);
        let mut singular = vec![1.0, 1.0, 1.0, 1.0];
        assert!(solve_spd(&mut singular, &mut [1.0, 1.0]).is_err());
    }

    #[test]
    fn dot_handles_tails() {
        let a: Vec<f32> = (1..=7).map(|x| x as f32).collect();
        // 1² + … + 7² = 140.
        assert_eq!(dot(&a, &a), 140.0);
    }
}
