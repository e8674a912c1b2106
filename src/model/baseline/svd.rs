//! Truncated SVD reconstruction (the SVD assignment, seed 004): factor the
//! rating matrix, keep the top `k` singular triplets, and read predictions
//! off the rank-`k` reconstruction.
//!
//! The matrix is never densified on the sparse path:
//! - `fill = "zero"`: missing cells are 0, as the assignment does; the
//!   matrix is the sparse rating matrix itself.
//! - `fill = "mean"`: missing cells take the user's mean `m_u`. Following
//!   Sarwar et al. (2000), the mean is subtracted before the SVD and added
//!   back after, so the factored matrix `r − m_u` on observed cells and 0
//!   elsewhere is as sparse as the ratings.
//!
//! Two solvers: `exact` (thin SVD through faer on the densified matrix, for
//! matrices of at most `dense_limit` cells) and `randomized` (Halko,
//! Martinsson & Tropp 2011, algorithm 4.4: a Gaussian sketch, `power_iters`
//! subspace iterations with a QR between each product, sparse × dense
//! products only). `auto` takes `exact` when the matrix fits.

use std::time::Instant;

use faer::Mat;
use rand::rngs::SmallRng;
use rand::SeedableRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use super::{check_all, check_items, check_user, config_of, dot, matrix, shape2, vector};
use crate::data::Csr;
use crate::error::{Error, Result};
use crate::model::registry::{no_presets, parse_serde, ModelConfig, ModelKind};
use crate::model::{FitData, FitOptions, FitReport, ModelParts, Recommender, SparseRow};

/// What an unobserved cell holds before the SVD.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SvdFill {
    /// Zero, as in the SVD assignment.
    Zero,
    /// The user's mean rating (subtracted before, added back after).
    #[default]
    Mean,
}

/// Which SVD solver to use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SvdMethod {
    /// `exact` when users × items ≤ `dense_limit`, else `randomized`.
    #[default]
    Auto,
    /// Dense thin SVD through faer.
    Exact,
    /// Randomized sparse truncated SVD.
    Randomized,
}

/// Settings of [`SvdModel`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SvdConfig {
    /// Rank `k` of the reconstruction.
    pub factors: usize,
    /// What unobserved cells hold.
    pub fill: SvdFill,
    /// Which solver.
    pub method: SvdMethod,
    /// Largest users × items for the dense `exact` solver (default 2·10⁷ cells,
    /// 160 MB of f64).
    pub dense_limit: usize,
    /// Randomized: extra sketch columns beyond `k` (Halko et al. suggest 5–10).
    pub oversample: usize,
    /// Randomized: subspace (power) iterations; more sharpens a flat spectrum.
    pub power_iters: usize,
}

impl Default for SvdConfig {
    fn default() -> Self {
        SvdConfig {
            factors: 10,
            fill: SvdFill::Mean,
            method: SvdMethod::Auto,
            dense_limit: 20_000_000,
            oversample: 10,
            power_iters: 2,
        }
    }
}

impl SvdConfig {
    /// Checks every setting before any work starts.
    pub fn validate(&self) -> Result<()> {
        if self.factors == 0 {
            return Err(Error::config("svd: factors must be at least 1"));
        }
        if self.method == SvdMethod::Exact && self.dense_limit == 0 {
            return Err(Error::config(
                "svd: method = \"exact\" needs dense_limit > 0",
            ));
        }
        Ok(())
    }

    /// Factors the (centred, when `fill = "mean"`) training matrix.
    pub fn fit(&self, data: &FitData<'_>, opts: &FitOptions) -> Result<(SvdModel, FitReport)> {
        self.validate()?;
        let start = Instant::now();
        let a = self.centred(data.train_by_user);
        let (m, n) = (a.n_rows, a.n_cols);
        let k = self.factors.min(m).min(n);
        let mut notes = Vec::new();
        if k < self.factors {
            notes.push(format!(
                "svd: rank lowered from {} to {k}, the smaller side of the {m}×{n} matrix",
                self.factors
            ));
        }
        let exact = match self.method {
            SvdMethod::Exact => true,
            SvdMethod::Randomized => false,
            SvdMethod::Auto => m.saturating_mul(n) <= self.dense_limit,
        };
        if exact && m.saturating_mul(n) > self.dense_limit {
            return Err(Error::config(format!(
                "svd: the {m}×{n} matrix exceeds dense_limit = {} cells for method = \"exact\"",
                self.dense_limit
            )));
        }
        let (values, vectors) = if exact {
            exact_svd(&a, k)?
        } else {
            randomized_svd(&a, k, self.oversample, self.power_iters, opts.seed)?
        };
        notes.push(format!(
            "svd: {} solver, rank {k}, {} fill",
            if exact { "exact" } else { "randomized" },
            match self.fill {
                SvdFill::Zero => "zero",
                SvdFill::Mean => "user-mean",
            }
        ));
        let model = SvdModel {
            config: SvdConfig {
                factors: k,
                ..self.clone()
            },
            n_users: m,
            singular_values: values,
            item_factors: vectors,
        };
        let report = FitReport {
            train_seconds: start.elapsed().as_secs_f64(),
            notes,
            ..FitReport::default()
        };
        Ok((model, report))
    }

    /// The matrix that is factored: the ratings, minus each user's mean for `mean` fill.
    fn centred(&self, train: &Csr) -> Csr {
        let mut a = train.clone();
        if self.fill == SvdFill::Mean {
            for u in 0..a.n_rows {
                let (s, e) = (a.indptr[u], a.indptr[u + 1]);
                let mean = row_mean(&a.values[s..e]);
                a.values[s..e].iter_mut().for_each(|v| *v -= mean);
            }
        }
        a
    }
}

/// Mean of a row's values (0 for an empty row).
fn row_mean(values: &[f32]) -> f32 {
    if values.is_empty() {
        0.0
    } else {
        (values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64) as f32
    }
}

/// Top-`k` singular values and right singular vectors (row-major `n × k`)
/// by a dense thin SVD.
fn exact_svd(a: &Csr, k: usize) -> Result<(Vec<f32>, Vec<f32>)> {
    let mut dense = Mat::<f64>::zeros(a.n_rows, a.n_cols);
    for u in 0..a.n_rows {
        let (idx, val) = a.row(u);
        for (&i, &v) in idx.iter().zip(val) {
            dense[(u, i as usize)] = v as f64;
        }
    }
    let svd = dense
        .thin_svd()
        .map_err(|e| Error::other(format!("svd: the dense SVD did not converge: {e:?}")))?;
    let s = svd.S().column_vector();
    let v = svd.V();
    let values = (0..k).map(|c| s[c] as f32).collect();
    let mut vectors = vec![0f32; a.n_cols * k];
    for (i, row) in vectors.chunks_exact_mut(k).enumerate() {
        for (c, x) in row.iter_mut().enumerate() {
            *x = v[(i, c)] as f32;
        }
    }
    Ok((values, vectors))
}

/// A dense row-major `rows × cols` matrix of f64, the layout the sparse
/// products want (a CSR row times it gathers whole contiguous rows).
struct RowMajor {
    rows: usize,
    cols: usize,
    data: Vec<f64>,
}

impl RowMajor {
    /// `A · X` for CSR `A` (`m × n`) and `X` (`n × l`), rows of the result in parallel.
    fn sparse_times(a: &Csr, x: &RowMajor) -> RowMajor {
        let l = x.cols;
        let mut data = vec![0f64; a.n_rows * l];
        data.par_chunks_mut(l).enumerate().for_each(|(u, out)| {
            let (idx, val) = a.row(u);
            for (&j, &v) in idx.iter().zip(val) {
                let xr = &x.data[j as usize * l..(j as usize + 1) * l];
                for (o, &xv) in out.iter_mut().zip(xr) {
                    *o += v as f64 * xv;
                }
            }
        });
        RowMajor {
            rows: a.n_rows,
            cols: l,
            data,
        }
    }

    /// A row-major faer view.
    fn view(&self) -> faer::MatRef<'_, f64> {
        faer::MatRef::from_row_major_slice(&self.data, self.rows, self.cols)
    }

    /// `XᵀX` (`cols × cols`) by a faer GEMM.
    fn gram(&self) -> Mat<f64> {
        let mut g = Mat::<f64>::zeros(self.cols, self.cols);
        faer::linalg::matmul::matmul(
            g.as_mut(),
            faer::Accum::Replace,
            self.view().transpose(),
            self.view(),
            1.0,
            faer::get_global_parallelism(),
        );
        g
    }

    /// `X · M` for a small dense `M`, row-major again.
    fn times(&self, m: faer::MatRef<'_, f64>) -> RowMajor {
        let cols = m.ncols();
        let mut data = vec![0f64; self.rows * cols];
        faer::linalg::matmul::matmul(
            faer::MatMut::from_row_major_slice_mut(&mut data, self.rows, cols),
            faer::Accum::Replace,
            self.view(),
            m,
            1.0,
            faer::get_global_parallelism(),
        );
        RowMajor {
            rows: self.rows,
            cols,
            data,
        }
    }

    /// A basis of the column space by CholeskyQR (`Q = X R⁻¹` with `XᵀX =
    /// RᵀR`): two GEMMs instead of a Householder QR's panel updates, for the
    /// tall-skinny case that is GEMM-bound. One pass leaves `Q` orthonormal
    /// up to about `ε κ(X)²`, enough between power iterations; `passes = 2`
    /// (CholeskyQR2, Fukaya et al. 2014) makes it orthonormal to working
    /// precision for the final basis.
    fn orthonormalised(&self, passes: usize) -> Result<RowMajor> {
        let mut q = self.times(inverse_cholesky_factor(&self.gram())?.as_ref());
        for _ in 1..passes {
            q = q.times(inverse_cholesky_factor(&q.gram())?.as_ref());
        }
        Ok(q)
    }
}

/// `R⁻¹` for the upper Cholesky factor `R` of `g = RᵀR` (so `X R⁻¹` has
/// orthonormal columns when `g = XᵀX`). A rank-deficient sketch (fewer
/// independent columns than asked) gets a tiny diagonal shift so that it
/// still factors; its extra columns then carry no weight.
fn inverse_cholesky_factor(g: &Mat<f64>) -> Result<Mat<f64>> {
    let l = g.nrows();
    let trace: f64 = (0..l).map(|i| g[(i, i)]).sum();
    let shift = 1e-13 * trace.max(f64::MIN_POSITIVE);
    let shifted = Mat::<f64>::from_fn(l, l, |r, c| g[(r, c)] + if r == c { shift } else { 0.0 });
    let llt = shifted.llt(faer::Side::Lower).map_err(|e| {
        Error::other(format!(
            "svd: the sketch's Gram matrix does not factor: {e:?}"
        ))
    })?;
    // R = Lᵀ, so R⁻¹ = L⁻ᵀ: solve L Z = I, then transpose.
    let mut z = Mat::<f64>::identity(l, l);
    faer::linalg::triangular_solve::solve_lower_triangular_in_place(
        llt.L(),
        z.as_mut(),
        faer::Par::Seq,
    );
    Ok(z.transpose().to_owned())
}

/// Randomized truncated SVD (Halko et al. 2011, algorithms 4.4 and 5.1):
/// returns the top-`k` singular values and right singular vectors
/// (row-major `n × k`). Work: `2 (q + 1)` sparse products of `nnz · l`
/// flops, `q + 1` orthonormalisations of the `m × l` and `q` of the `n × l`
/// sketch (CholeskyQR: `3 (m or n) l²` flops a pass, two passes for the final basis), with `l = k + oversample`.
fn randomized_svd(
    a: &Csr,
    k: usize,
    oversample: usize,
    power_iters: usize,
    seed: u64,
) -> Result<(Vec<f32>, Vec<f32>)> {
    let (m, n) = (a.n_rows, a.n_cols);
    let l = (k + oversample).min(m).min(n);
    let at = a.transpose();
    let mut rng = SmallRng::seed_from_u64(seed);
    let omega = RowMajor {
        rows: n,
        cols: l,
        data: (0..n * l)
            .map(|_| StandardNormal.sample(&mut rng))
            .collect(),
    };
    let last = |it: usize| if it == power_iters { 2 } else { 1 };
    let mut q = RowMajor::sparse_times(a, &omega).orthonormalised(last(0))?;
    for it in 1..=power_iters {
        let z = RowMajor::sparse_times(&at, &q).orthonormalised(1)?;
        q = RowMajor::sparse_times(a, &z).orthonormalised(last(it))?;
    }
    // Bᵀ = Aᵀ Q (n × l). With B Bᵀ = X Λ Xᵀ (l × l), A ≈ Q B has singular
    // values √λ and right singular vectors W = Bᵀ X Λ^-½.
    let bt = RowMajor::sparse_times(&at, &q);
    let eig = bt
        .gram()
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| Error::other(format!("svd: the small eigenproblem failed: {e:?}")))?;
    let lambda = eig.S().column_vector();
    let x = eig.U();
    // Eigenvalues come in increasing order: the top k are the last k, reversed.
    let top: Vec<usize> = (0..k).map(|c| l - 1 - c).collect();
    let sigma: Vec<f64> = top.iter().map(|&c| lambda[c].max(0.0).sqrt()).collect();
    let scaled = Mat::<f64>::from_fn(l, k, |r, c| {
        if sigma[c] > 0.0 {
            x[(r, top[c])] / sigma[c]
        } else {
            0.0
        }
    });
    let w = bt.times(scaled.as_ref());
    let values = sigma.iter().map(|&s| s as f32).collect();
    let vectors = w.data.iter().map(|&v| v as f32).collect();
    Ok((values, vectors))
}

/// Rank-`k` SVD reconstruction `r̂ = m + (x − m) V Vᵀ`, where `x` is the
/// user's row (zero where unrated) and `m` its mean (`fill = "mean"`) or 0.
///
/// For a training user, `(x − m) V` is exactly that user's row of `U Σ`
/// (since `A V = U Σ`), so a known user and a new user go through the same
/// projection: fold-in needs no retraining and no user table.
///
/// Model file tensors: `singular_values` `[factors]`, `item_factors`
/// `[items, factors]` (the right singular vectors `V`).
#[derive(Debug, Clone, PartialEq)]
pub struct SvdModel {
    config: SvdConfig,
    n_users: usize,
    singular_values: Vec<f32>,
    item_factors: Vec<f32>,
}

impl SvdModel {
    /// The top singular values, largest first.
    pub fn singular_values(&self) -> &[f32] {
        &self.singular_values
    }

    /// Rebuilds the model from its parts.
    pub fn from_parts(parts: &ModelParts) -> Result<Self> {
        // The user count rides along in the config (the model has no user table).
        let mut stripped = parts.clone();
        let n_users = stripped
            .config
            .as_object_mut()
            .and_then(|o| o.remove("users"))
            .and_then(|v| v.as_u64())
            .ok_or_else(|| Error::model_file("svd config: missing \"users\""))?
            as usize;
        let mut config: SvdConfig = config_of(&stripped)?;
        let (ni, k) = shape2(parts, "item_factors")?;
        config.factors = k;
        Ok(SvdModel {
            config,
            n_users,
            singular_values: parts.tensor("singular_values", &[k])?.data.clone(),
            item_factors: parts.tensor("item_factors", &[ni, k])?.data.clone(),
        })
    }

    fn k(&self) -> usize {
        self.singular_values.len()
    }

    /// The row's fill value and its projection `(x − m) V`.
    fn project(&self, user: Option<u32>, row: SparseRow<'_>) -> Result<(f32, Vec<f32>)> {
        check_user(user, self.n_users)?;
        let k = self.k();
        let n_items = self.item_factors.len() / k;
        let mean = match self.config.fill {
            SvdFill::Zero => 0.0,
            SvdFill::Mean => row_mean(row.values),
        };
        let mut p = vec![0f32; k];
        for (&i, &r) in row.indices.iter().zip(row.values) {
            if (i as usize) < n_items {
                let v = &self.item_factors[i as usize * k..(i as usize + 1) * k];
                p.iter_mut()
                    .zip(v)
                    .for_each(|(pf, vf)| *pf += (r - mean) * vf);
            }
        }
        Ok((mean, p))
    }
}

impl Recommender for SvdModel {
    fn kind(&self) -> &'static str {
        KIND.name
    }

    fn n_users(&self) -> usize {
        self.n_users
    }

    fn n_items(&self) -> usize {
        self.item_factors.len() / self.k()
    }

    fn n_params(&self) -> usize {
        self.singular_values.len() + self.item_factors.len()
    }

    fn score_items(
        &self,
        user: Option<u32>,
        row: SparseRow<'_>,
        items: &[u32],
        out: &mut [f32],
    ) -> Result<()> {
        check_items(items, out, self.n_items())?;
        let (mean, p) = self.project(user, row)?;
        let k = self.k();
        for (o, &i) in out.iter_mut().zip(items) {
            let i = i as usize;
            *o = mean + dot(&p, &self.item_factors[i * k..(i + 1) * k]);
        }
        Ok(())
    }

    fn score_all(&self, user: Option<u32>, row: SparseRow<'_>, out: &mut [f32]) -> Result<()> {
        check_all(out, self.n_items())?;
        let (mean, p) = self.project(user, row)?;
        for (o, v) in out.iter_mut().zip(self.item_factors.chunks_exact(self.k())) {
            *o = mean + dot(&p, v);
        }
        Ok(())
    }

    /// `V Σ`: item coordinates in the latent space, scaled by importance.
    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        let k = self.k();
        let mut v = self.item_factors.clone();
        for row in v.chunks_exact_mut(k) {
            row.iter_mut()
                .zip(&self.singular_values)
                .for_each(|(x, s)| *x *= s);
        }
        Some((k, v))
    }

    fn to_parts(&self) -> ModelParts {
        let mut config = serde_json::to_value(&self.config).unwrap_or_default();
        if let Some(obj) = config.as_object_mut() {
            obj.insert("users".into(), self.n_users.into());
        }
        ModelParts {
            kind: "svd".into(),
            config,
            tensors: vec![
                (
                    "singular_values".into(),
                    vector(self.singular_values.clone()),
                ),
                (
                    "item_factors".into(),
                    matrix(self.n_items(), self.k(), self.item_factors.clone()),
                ),
            ],
        }
    }
}

/// The `svd` model kind.
pub const KIND: ModelKind = ModelKind {
    name: "svd",
    summary: "truncated SVD reconstruction of the filled rating matrix",
    parse: parse_serde::<SvdConfig>,
    presets: &[],
    preset: no_presets,
    load: |parts| Ok(Box::new(SvdModel::from_parts(parts)?)),
};

impl ModelConfig for SvdConfig {
    fn kind(&self) -> &'static ModelKind {
        &KIND
    }

    fn validate(&self) -> Result<()> {
        SvdConfig::validate(self)
    }

    fn fit(
        &self,
        data: &FitData<'_>,
        opts: &FitOptions,
    ) -> Result<(Box<dyn Recommender>, FitReport)> {
        let (m, r) = SvdConfig::fit(self, data, opts)?;
        Ok((Box::new(m), r))
    }
}
