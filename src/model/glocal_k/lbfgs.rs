//! A compact L-BFGS (Liu & Nocedal 1989) with a strong-Wolfe line search
//! (Nocedal & Wright, *Numerical Optimization*, 2nd ed., Algorithms 3.5 and
//! 3.6, cubic interpolation in the zoom).
//!
//! GLocal-K's reference trains with SciPy's L-BFGS-B (no bounds) through
//! TensorFlow's `ScipyOptimizerInterface`: every outer epoch is a fresh call
//! of a few iterations, so the curvature memory starts empty each epoch.
//! [`minimize`] is one such call. Its defaults follow L-BFGS-B's: 10 pairs
//! of memory, sufficient decrease `c1 = 1e-3`, curvature `c2 = 0.9`, at most
//! 20 evaluations per line search, a first step of `1 / ‖g‖` when the memory
//! is empty and `1` afterwards, and the relative-decrease stop `factr = 1e7`.
//! The point and the memory are `f64` (as SciPy's); the objective may
//! compute in any precision.

use std::collections::VecDeque;

use crate::error::{Error, ErrorKind, Result};

/// Settings of one L-BFGS call.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsOptions {
    /// Most accepted steps (SciPy's `maxiter`).
    pub max_iter: usize,
    /// Correction pairs kept (SciPy's `maxcor`).
    pub memory: usize,
    /// Sufficient-decrease constant of the Wolfe conditions.
    pub c1: f64,
    /// Curvature constant of the strong Wolfe conditions.
    pub c2: f64,
    /// Most objective evaluations in one line search.
    pub max_line_evals: usize,
    /// Stop when the relative decrease of one step falls under this.
    pub rel_decrease_tol: f64,
    /// Stop when the largest gradient component falls under this.
    pub grad_tol: f64,
}

impl Default for LbfgsOptions {
    fn default() -> Self {
        LbfgsOptions {
            max_iter: 5,
            memory: 10,
            c1: 1e-3,
            c2: 0.9,
            max_line_evals: 20,
            rel_decrease_tol: 1e7 * f64::EPSILON,
            grad_tol: 1e-5,
        }
    }
}

/// What one call did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LbfgsOutcome {
    /// Accepted steps.
    pub iterations: usize,
    /// Objective evaluations, the first included.
    pub evaluations: usize,
    /// Objective at the returned point.
    pub value: f64,
    /// True when a line search found no acceptable step (the point is the
    /// last one accepted).
    pub line_search_failed: bool,
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A point on the search line: step, value and directional derivative.
#[derive(Debug, Clone, Copy)]
struct LinePoint {
    step: f64,
    value: f64,
    slope: f64,
}

/// The minimiser of the cubic through two line points, kept inside the
/// middle 80% of their interval (bisection when the cubic has no minimum).
fn cubic_step(a: LinePoint, b: LinePoint) -> f64 {
    let (lo, hi) = if a.step < b.step {
        (a.step, b.step)
    } else {
        (b.step, a.step)
    };
    let guard = 0.1 * (hi - lo);
    let d1 = a.slope + b.slope - 3.0 * (a.value - b.value) / (a.step - b.step);
    let disc = d1 * d1 - a.slope * b.slope;
    let step = if disc >= 0.0 {
        let d2 = (b.step - a.step).signum() * disc.sqrt();
        b.step - (b.step - a.step) * (b.slope + d2 - d1) / (b.slope - a.slope + 2.0 * d2)
    } else {
        f64::NAN
    };
    if step.is_finite() && step >= lo + guard && step <= hi - guard {
        step
    } else {
        0.5 * (lo + hi)
    }
}

/// Minimises `objective` from `x` (updated in place) for at most
/// `opts.max_iter` steps. `objective(x, grad)` returns the value and
/// writes the gradient. A non-finite value at the start is a
/// [`ErrorKind::Diverged`] error; a non-finite trial point inside a line
/// search is treated as too long a step.
pub fn minimize<F>(x: &mut [f64], opts: &LbfgsOptions, mut objective: F) -> Result<LbfgsOutcome>
where
    F: FnMut(&[f64], &mut [f64]) -> Result<f64>,
{
    let n = x.len();
    let mut grad = vec![0f64; n];
    let mut value = objective(x, &mut grad)?;
    let mut evaluations = 1;
    if !value.is_finite() {
        return Err(Error::new(ErrorKind::Diverged(format!(
            "the objective is {value} at the starting point"
        ))));
    }
    let mut pairs: VecDeque<(Vec<f64>, Vec<f64>, f64)> = VecDeque::with_capacity(opts.memory);
    let mut dir = vec![0f64; n];
    let mut trial = vec![0f64; n];
    let mut trial_grad = vec![0f64; n];
    let mut lo_grad = vec![0f64; n];
    let mut alpha = vec![0f64; opts.memory];
    let mut outcome = LbfgsOutcome {
        iterations: 0,
        evaluations,
        value,
        line_search_failed: false,
    };
    while outcome.iterations < opts.max_iter {
        if grad.iter().fold(0f64, |m, g| m.max(g.abs())) <= opts.grad_tol {
            break;
        }
        // Two-loop recursion: dir = −H g.
        dir.iter_mut().zip(&grad).for_each(|(d, g)| *d = -g);
        for (k, (s, y, rho)) in pairs.iter().enumerate().rev() {
            alpha[k] = rho * dot(s, &dir);
            dir.iter_mut()
                .zip(y)
                .for_each(|(d, yv)| *d -= alpha[k] * yv);
        }
        if let Some((s, y, _)) = pairs.back() {
            let gamma = dot(s, y) / dot(y, y);
            dir.iter_mut().for_each(|d| *d *= gamma);
        }
        for (k, (s, y, rho)) in pairs.iter().enumerate() {
            let beta = rho * dot(y, &dir);
            dir.iter_mut()
                .zip(s)
                .for_each(|(d, sv)| *d += (alpha[k] - beta) * sv);
        }
        let mut slope0 = dot(&dir, &grad);
        if slope0 >= 0.0 || !slope0.is_finite() {
            // Lost curvature information: restart from steepest descent.
            pairs.clear();
            dir.iter_mut().zip(&grad).for_each(|(d, g)| *d = -g);
            slope0 = -dot(&grad, &grad);
        }
        let first = if pairs.is_empty() {
            1.0 / dot(&dir, &dir).sqrt()
        } else {
            1.0
        };
        let start = LinePoint {
            step: 0.0,
            value,
            slope: slope0,
        };
        let mut eval =
            |step: f64, trial: &mut [f64], trial_grad: &mut [f64]| -> Result<LinePoint> {
                trial
                    .iter_mut()
                    .zip(x.iter().zip(&dir))
                    .for_each(|(t, (xv, d))| *t = xv + step * d);
                let v = objective(trial, trial_grad)?;
                evaluations += 1;
                let slope = dot(trial_grad, &dir);
                Ok(if v.is_finite() && slope.is_finite() {
                    LinePoint {
                        step,
                        value: v,
                        slope,
                    }
                } else {
                    LinePoint {
                        step,
                        value: f64::INFINITY,
                        slope: f64::INFINITY,
                    }
                })
            };
        let wolfe_decrease =
            |p: &LinePoint| p.value <= value + opts.c1 * p.step * slope0 && p.value.is_finite();
        let wolfe_curvature = |p: &LinePoint| p.slope.abs() <= -opts.c2 * slope0;

        // Bracketing phase (Algorithm 3.5), then zoom (Algorithm 3.6).
        // `lo` always satisfies sufficient decrease and has the lowest value
        // seen; its gradient is kept so a failed search can fall back to it.
        let mut lo = start;
        let mut hi: Option<LinePoint> = None;
        let mut accepted: Option<LinePoint> = None;
        let mut step = first;
        let mut used = 0;
        while used < opts.max_line_evals {
            if let Some(h) = hi {
                step = cubic_step(lo, h);
            }
            let p = eval(step, &mut trial, &mut trial_grad)?;
            used += 1;
            if !wolfe_decrease(&p) || p.value >= lo.value {
                // A non-finite trial has no cubic: `cubic_step` bisects.
                hi = Some(p);
                continue;
            }
            if wolfe_curvature(&p) {
                accepted = Some(p);
                break;
            }
            match hi {
                Some(h) => {
                    if p.slope * (h.step - lo.step) >= 0.0 {
                        hi = Some(lo);
                    }
                }
                None => {
                    if p.slope >= 0.0 {
                        hi = Some(lo);
                    } else {
                        // Still descending: extrapolate.
                        step = p.step * 4.0;
                    }
                }
            }
            lo = p;
            lo_grad.copy_from_slice(&trial_grad);
        }
        let (point, new_grad) = match accepted {
            Some(p) => (p, &trial_grad),
            None if lo.step > 0.0 => {
                outcome.line_search_failed = true;
                (lo, &lo_grad)
            }
            None => {
                outcome.line_search_failed = true;
                break;
            }
        };
        let mut s = dir.clone();
        s.iter_mut().for_each(|v| *v *= point.step);
        let y: Vec<f64> = new_grad.iter().zip(&grad).map(|(a, b)| a - b).collect();
        x.iter_mut().zip(&s).for_each(|(xv, sv)| *xv += sv);
        grad.copy_from_slice(new_grad);
        let previous = value;
        value = point.value;
        outcome.iterations += 1;
        let sy = dot(&s, &y);
        if sy > f64::EPSILON * dot(&y, &y) {
            if pairs.len() == opts.memory {
                pairs.pop_front();
            }
            pairs.push_back((s, y, 1.0 / sy));
        }
        if outcome.line_search_failed {
            break;
        }
        let scale = previous.abs().max(value.abs()).max(1.0);
        if (previous - value) / scale <= opts.rel_decrease_tol {
            break;
        }
    }
    outcome.evaluations = evaluations;
    outcome.value = value;
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Rosenbrock function, whose minimum (1, 1) needs curvature
    /// information to reach: gradient descent alone takes thousands of steps.
    fn rosenbrock(x: &[f64], g: &mut [f64]) -> Result<f64> {
        let (a, b) = (x[0], x[1]);
        g[0] = -2.0 * (1.0 - a) - 400.0 * a * (b - a * a);
        g[1] = 200.0 * (b - a * a);
        Ok((1.0 - a).powi(2) + 100.0 * (b - a * a).powi(2))
    }

    #[test]
    fn reaches_the_rosenbrock_minimum() {
        let mut x = vec![-1.2, 1.0];
        let opts = LbfgsOptions {
            max_iter: 200,
            rel_decrease_tol: 0.0,
            grad_tol: 1e-9,
            ..LbfgsOptions::default()
        };
        let out = minimize(&mut x, &opts, rosenbrock).unwrap();
        assert!(
            (x[0] - 1.0).abs() < 1e-6 && (x[1] - 1.0).abs() < 1e-6,
            "{x:?} {out:?}"
        );
        assert!(out.iterations < 100, "{out:?}");
    }

    #[test]
    fn every_step_decreases_and_max_iter_is_kept() {
        let mut x = vec![-1.2, 1.0];
        let mut last = f64::INFINITY;
        for _ in 0..10 {
            let opts = LbfgsOptions {
                max_iter: 3,
                ..LbfgsOptions::default()
            };
            let out = minimize(&mut x, &opts, rosenbrock).unwrap();
            assert!(out.iterations <= 3);
            assert!(out.value < last, "{} !< {last}", out.value);
            last = out.value;
        }
    }

    #[test]
    fn a_quadratic_is_solved_exactly_within_its_dimension() {
        // f = ½ xᵀ A x − bᵀ x with A = diag(1, 10, 100): L-BFGS with exact
        // enough line searches needs about n steps.
        let diag = [1.0, 10.0, 100.0];
        let b = [1.0, 2.0, 3.0];
        let f = |x: &[f64], g: &mut [f64]| -> Result<f64> {
            let mut v = 0.0;
            for k in 0..3 {
                g[k] = diag[k] * x[k] - b[k];
                v += 0.5 * diag[k] * x[k] * x[k] - b[k] * x[k];
            }
            Ok(v)
        };
        let mut x = vec![0.0; 3];
        let opts = LbfgsOptions {
            max_iter: 50,
            rel_decrease_tol: 0.0,
            grad_tol: 1e-10,
            ..LbfgsOptions::default()
        };
        minimize(&mut x, &opts, f).unwrap();
        for k in 0..3 {
            assert!((x[k] - b[k] / diag[k]).abs() < 1e-8, "{x:?}");
        }
    }

    #[test]
    fn a_non_finite_start_is_an_error() {
        let mut x = vec![0.0];
        let err = minimize(&mut x, &LbfgsOptions::default(), |_, g| {
            g[0] = 0.0;
            Ok(f64::NAN)
        })
        .unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Diverged(_)));
    }

    #[test]
    fn a_step_into_nan_is_shortened() {
        // log-barrier: NaN for x ≤ 0, minimum at x = 1; the first step from
        // 3 (gradient 2/3·…) overshoots into the NaN region when long.
        let f = |x: &[f64], g: &mut [f64]| -> Result<f64> {
            if x[0] <= 0.0 {
                g[0] = f64::NAN;
                return Ok(f64::NAN);
            }
            g[0] = 1.0 - 1.0 / x[0];
            Ok(x[0] - x[0].ln())
        };
        let mut x = vec![0.01];
        let opts = LbfgsOptions {
            max_iter: 100,
            rel_decrease_tol: 0.0,
            grad_tol: 1e-10,
            ..LbfgsOptions::default()
        };
        minimize(&mut x, &opts, f).unwrap();
        assert!((x[0] - 1.0).abs() < 1e-6, "{x:?}");
    }
}
