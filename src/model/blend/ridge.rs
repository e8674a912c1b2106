//! Ridge regression with an unpenalised intercept, shrunk towards a prior
//! weight vector, its strength chosen by exact leave-one-out error.
//!
//! Minimises `Σ (y − b − x·w)² + λ ‖w − w₀‖²` over `w` and `b`. With the
//! columns centred (`X̃ = X − x̄`) the intercept separates out, and with the
//! eigendecomposition `X̃ᵀX̃ = V diag(s) Vᵀ` every λ costs one pass over the
//! rows: for `Z = X̃V` and `r = y − Xw₀` centred,
//! `w − w₀ = V diag(1/(s+λ)) Zᵀr̃`, and the hat matrix has diagonal
//! `h_jj = 1/n + Σ_k Z_jk²/(s_k+λ)`, so the leave-one-out residual is the
//! in-sample residual over `1 − h_jj` (Allen's PRESS; Hastie, Tibshirani and
//! Friedman, ESL §7.10, eq. 7.52 for linear smoothers). Nothing is refitted
//! and no constant is tuned to one data set: λ runs over a grid scaled by the
//! mean eigenvalue, and λ = 0 (least squares) is on it.

use faer::{Mat, MatRef};

use crate::error::{Error, Result};

/// A fitted ridge regression.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeFit {
    /// One weight per column.
    pub weights: Vec<f64>,
    /// The unpenalised intercept.
    pub intercept: f64,
    /// The penalty chosen.
    pub lambda: f64,
    /// Leave-one-out RMSE at that penalty.
    pub loo_rmse: f64,
}

/// Penalties tried, as multiples of the mean eigenvalue of `X̃ᵀX̃`: 0 and
/// 10^-6 … 10^2 in half decades. The upper end shrinks almost all the way to
/// the prior; the lower end is least squares in all but name.
fn lambda_grid(mean_eigenvalue: f64) -> Vec<f64> {
    std::iter::once(0.0)
        .chain((-12..=4).map(|h| mean_eigenvalue * 10f64.powf(h as f64 / 2.0)))
        .collect()
}

/// Fits `y ≈ b + X w` (`x` row-major, `n × p`) with the penalty towards
/// `prior` chosen by leave-one-out RMSE. Needs `n ≥ p + 2`, so that every
/// left-out row still leaves a determined fit.
pub fn fit_loo(x: &[f64], n: usize, p: usize, y: &[f64], prior: &[f64]) -> Result<RidgeFit> {
    if x.len() != n * p || y.len() != n || prior.len() != p {
        return Err(Error::other(format!(
            "ridge: {} values for {n} × {p}, {} targets, {} prior weights",
            x.len(),
            y.len(),
            prior.len()
        )));
    }
    if n < p + 2 {
        return Err(Error::config(format!(
            "ridge: {n} rows cannot fit {p} weights and an intercept with one row left out"
        )));
    }
    let nf = n as f64;
    let mut mean_x = vec![0f64; p];
    for row in x.chunks_exact(p) {
        for (m, &v) in mean_x.iter_mut().zip(row) {
            *m += v;
        }
    }
    mean_x.iter_mut().for_each(|m| *m /= nf);
    let xc = Mat::<f64>::from_fn(n, p, |j, c| x[j * p + c] - mean_x[c]);
    // Residual of the prior, centred: the intercept absorbs its mean.
    let mut r: Vec<f64> = (0..n)
        .map(|j| y[j] - dot(&x[j * p..(j + 1) * p], prior))
        .collect();
    let mean_r = r.iter().sum::<f64>() / nf;
    r.iter_mut().for_each(|v| *v -= mean_r);

    let gram = xc.transpose() * xc.as_ref();
    let eig = gram
        .self_adjoint_eigen(faer::Side::Lower)
        .map_err(|e| Error::other(format!("ridge: the eigenproblem failed: {e:?}")))?;
    let s: Vec<f64> = (0..p)
        .map(|k| eig.S().column_vector()[k].max(0.0))
        .collect();
    let v: MatRef<'_, f64> = eig.U();
    let s_max = s.iter().cloned().fold(0.0, f64::max);
    if s_max <= 0.0 {
        // Every column is constant: only the intercept can move.
        return Ok(RidgeFit {
            weights: prior.to_vec(),
            intercept: mean_r,
            lambda: 0.0,
            loo_rmse: (r.iter().map(|e| e * e).sum::<f64>() / nf).sqrt() * nf / (nf - 1.0),
        });
    }
    // Directions with no spread (a constant or duplicated column) carry
    // nothing: Z's column is zero there, so they are left out for every λ.
    let kept: Vec<usize> = (0..p).filter(|&k| s[k] > 1e-12 * s_max).collect();
    let z = xc.as_ref() * v;
    let mut a = vec![0f64; p];
    for &k in &kept {
        a[k] = (0..n).map(|j| z[(j, k)] * r[j]).sum();
    }

    let mean_eig = s.iter().sum::<f64>() / p as f64;
    let mut best: Option<(f64, f64)> = None;
    for lambda in lambda_grid(mean_eig) {
        let mut sse = 0f64;
        for (j, &rj) in r.iter().enumerate() {
            let (mut fit, mut h) = (0f64, 1.0 / nf);
            for &k in &kept {
                let inv = 1.0 / (s[k] + lambda);
                fit += z[(j, k)] * a[k] * inv;
                h += z[(j, k)] * z[(j, k)] * inv;
            }
            let e = (rj - fit) / (1.0 - h).max(1e-12);
            sse += e * e;
        }
        if best.is_none_or(|(_, b)| sse < b) {
            best = Some((lambda, sse));
        }
    }
    let (lambda, sse) = best.expect("the grid is not empty");
    let mut weights = prior.to_vec();
    for &k in &kept {
        let coef = a[k] / (s[k] + lambda);
        for (c, w) in weights.iter_mut().enumerate() {
            *w += v[(c, k)] * coef;
        }
    }
    let mean_y = y.iter().sum::<f64>() / nf;
    Ok(RidgeFit {
        intercept: mean_y - dot(&mean_x, &weights),
        weights,
        lambda,
        loo_rmse: (sse / nf).sqrt(),
    })
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The ridge solution at a given λ by the normal equations, for the tests:
/// `[w; b]` solves `(AᵀA + λ D) θ = Aᵀy + λ D θ₀`, `A = [X 1]`, `D` the
/// identity with the intercept's entry zeroed.
#[cfg(test)]
fn solve_direct(x: &[f64], n: usize, p: usize, y: &[f64], prior: &[f64], lambda: f64) -> Vec<f64> {
    let q = p + 1;
    let a = |j: usize, c: usize| if c < p { x[j * p + c] } else { 1.0 };
    let mut m = Mat::<f64>::from_fn(q, q, |r, c| (0..n).map(|j| a(j, r) * a(j, c)).sum());
    let mut rhs = Mat::<f64>::from_fn(q, 1, |r, _| (0..n).map(|j| a(j, r) * y[j]).sum());
    for c in 0..p {
        m[(c, c)] += lambda;
        rhs[(c, 0)] += lambda * prior[c];
    }
    use faer::linalg::solvers::Solve;
    let sol = m.full_piv_lu().solve(&rhs);
    (0..q).map(|r| sol[(r, 0)]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    /// Three correlated predictors of y, with noise.
    fn problem(n: usize, seed: u64) -> (Vec<f64>, Vec<f64>) {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut x = Vec::with_capacity(n * 3);
        let mut y = Vec::with_capacity(n);
        for _ in 0..n {
            let t: f64 = rng.random_range(1.0..5.0);
            let p: Vec<f64> = (0..3).map(|_| t + rng.random_range(-0.8..0.8)).collect();
            y.push(0.3 + 0.5 * p[0] + 0.3 * p[1] + 0.1 * p[2] + rng.random_range(-0.5..0.5));
            x.extend(p);
        }
        (x, y)
    }

    #[test]
    fn the_chosen_fit_is_the_normal_equations_solution_at_its_lambda() {
        let (x, y) = problem(60, 1);
        let prior = [0.0, 1.0, 0.0];
        let fit = fit_loo(&x, 60, 3, &y, &prior).unwrap();
        let direct = solve_direct(&x, 60, 3, &y, &prior, fit.lambda);
        for c in 0..3 {
            assert!(
                (fit.weights[c] - direct[c]).abs() < 1e-8,
                "{fit:?} {direct:?}"
            );
        }
        assert!((fit.intercept - direct[3]).abs() < 1e-8);
    }

    /// Leaving each row out and refitting by the normal equations gives the
    /// same error as the closed form, at every λ of the grid.
    #[test]
    fn leave_one_out_matches_refitting_without_each_row() {
        let (n, p) = (25, 3);
        let (x, y) = problem(n, 2);
        let prior = [1.0, 0.0, 0.0];
        let fit = fit_loo(&x, n, p, &y, &prior).unwrap();
        let brute = |lambda: f64| {
            let mut sse = 0.0;
            for out in 0..n {
                let keep: Vec<usize> = (0..n).filter(|&j| j != out).collect();
                let xs: Vec<f64> = keep
                    .iter()
                    .flat_map(|&j| x[j * p..(j + 1) * p].to_vec())
                    .collect();
                let ys: Vec<f64> = keep.iter().map(|&j| y[j]).collect();
                let th = solve_direct(&xs, n - 1, p, &ys, &prior, lambda);
                let pred = th[p] + dot(&x[out * p..(out + 1) * p], &th[..p]);
                sse += (y[out] - pred).powi(2);
            }
            (sse / n as f64).sqrt()
        };
        assert!(
            (brute(fit.lambda) - fit.loo_rmse).abs() < 1e-9,
            "{} vs {}",
            brute(fit.lambda),
            fit.loo_rmse
        );
        // And the chosen λ is no worse than any other on the grid.
        let gram_trace: f64 = {
            let mean: Vec<f64> = (0..p)
                .map(|c| (0..n).map(|j| x[j * p + c]).sum::<f64>() / n as f64)
                .collect();
            (0..n)
                .map(|j| {
                    (0..p)
                        .map(|c| (x[j * p + c] - mean[c]).powi(2))
                        .sum::<f64>()
                })
                .sum()
        };
        for lambda in lambda_grid(gram_trace / p as f64) {
            assert!(brute(lambda) >= fit.loo_rmse - 1e-9, "λ = {lambda}");
        }
    }

    #[test]
    fn a_duplicated_column_does_not_break_the_fit() {
        let (x3, y) = problem(40, 3);
        // Columns: p0, p0 again, p1.
        let x: Vec<f64> = x3.chunks(3).flat_map(|r| [r[0], r[0], r[1]]).collect();
        let fit = fit_loo(&x, 40, 3, &y, &[0.0, 0.0, 1.0]).unwrap();
        assert!(fit.weights.iter().all(|w| w.is_finite()), "{fit:?}");
        assert!(fit.loo_rmse.is_finite());
        // The duplicated pair shares its weight equally: the minimum-norm
        // solution along the null direction.
        assert!((fit.weights[0] - fit.weights[1]).abs() < 1e-9, "{fit:?}");
    }

    #[test]
    fn too_few_rows_is_an_error() {
        let err = fit_loo(&[1.0, 2.0, 3.0, 4.0], 2, 2, &[1.0, 2.0], &[1.0, 0.0]).unwrap_err();
        assert!(err.to_string().contains("cannot fit"), "{err}");
    }
}
