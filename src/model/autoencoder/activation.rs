//! Activation functions and their derivatives (the set DeepRecommender and
//! the Keras reports use).

use serde::{Deserialize, Serialize};

use super::real::{simd_kernel, Real};

/// SELU constants (Klambauer et al. 2017), as `torch.nn.functional.selu`.
const SELU_ALPHA: f64 = 1.673_263_242_354_377_3;
const SELU_SCALE: f64 = 1.050_700_987_355_480_5;
/// Negative slope of `lrelu`, as `torch.nn.functional.leaky_relu`'s default.
const LRELU_SLOPE: f64 = 0.01;

/// An element-wise activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// 1 / (1 + e⁻ˣ).
    #[default]
    Sigmoid,
    /// tanh x.
    Tanh,
    /// max(0, x).
    Relu,
    /// min(max(0, x), 6).
    Relu6,
    /// x for x > 0, eˣ − 1 otherwise.
    Elu,
    /// Scaled ELU with the self-normalising constants.
    Selu,
    /// x for x > 0, 0.01·x otherwise.
    Lrelu,
    /// x·sigmoid(x).
    Swish,
    /// x.
    Identity,
}

impl Activation {
    /// All activations, for tests and help text.
    pub const ALL: [Activation; 9] = [
        Activation::Sigmoid,
        Activation::Tanh,
        Activation::Relu,
        Activation::Relu6,
        Activation::Elu,
        Activation::Selu,
        Activation::Lrelu,
        Activation::Swish,
        Activation::Identity,
    ];

    /// f(x).
    #[inline]
    pub fn apply<T: Real>(self, x: T) -> T {
        match self {
            Activation::Sigmoid => sigmoid(x),
            Activation::Tanh => x.tanh(),
            Activation::Relu => max0(x),
            Activation::Relu6 => {
                let six = T::of(6.0);
                let y = max0(x);
                if y > six {
                    six
                } else {
                    y
                }
            }
            // One element: the exponential only where it is used. Row
            // loops use `elu_selu_row`, which gives the same values.
            Activation::Elu => {
                if x > T::ZERO {
                    x
                } else {
                    x.exp_nonpositive() - T::ONE
                }
            }
            Activation::Selu => {
                let s = T::of(SELU_SCALE);
                if x > T::ZERO {
                    s * x
                } else {
                    s * T::of(SELU_ALPHA) * (x.exp_nonpositive() - T::ONE)
                }
            }
            Activation::Lrelu => {
                if x > T::ZERO {
                    x
                } else {
                    T::of(LRELU_SLOPE) * x
                }
            }
            Activation::Swish => x * sigmoid(x),
            Activation::Identity => x,
        }
    }

    /// f′(x), from the pre-activation `x`.
    #[inline]
    pub fn derivative<T: Real>(self, x: T) -> T {
        match self {
            Activation::Sigmoid => {
                let s = sigmoid(x);
                s * (T::ONE - s)
            }
            Activation::Tanh => {
                let t = x.tanh();
                T::ONE - t * t
            }
            Activation::Relu => step(x),
            Activation::Relu6 => {
                if x > T::ZERO && x < T::of(6.0) {
                    T::ONE
                } else {
                    T::ZERO
                }
            }
            Activation::Elu => {
                if x > T::ZERO {
                    T::ONE
                } else {
                    x.exp_nonpositive()
                }
            }
            Activation::Selu => {
                let s = T::of(SELU_SCALE);
                if x > T::ZERO {
                    s
                } else {
                    s * T::of(SELU_ALPHA) * x.exp_nonpositive()
                }
            }
            Activation::Lrelu => {
                if x > T::ZERO {
                    T::ONE
                } else {
                    T::of(LRELU_SLOPE)
                }
            }
            Activation::Swish => {
                let s = sigmoid(x);
                s + x * s * (T::ONE - s)
            }
            Activation::Identity => T::ONE,
        }
    }

    /// f′ from the pre-activation `x` and the output `y = f(x)`: reuses `y`
    /// where that saves a transcendental (tanh, sigmoid, elu, selu).
    #[inline]
    pub fn derivative_from<T: Real>(self, x: T, y: T) -> T {
        match self {
            Activation::Tanh => T::ONE - y * y,
            Activation::Sigmoid => y * (T::ONE - y),
            Activation::Elu if x <= T::ZERO => y + T::ONE,
            Activation::Selu if x <= T::ZERO => y + T::of(SELU_SCALE * SELU_ALPHA),
            _ => self.derivative(x),
        }
    }

    /// `y_i = f(x_i)` over a row: one pass the compiler vectorises (the
    /// activation is matched once per row, not per element).
    #[inline]
    pub fn apply_slice<T: Real>(self, x: &[T], y: &mut [T]) {
        apply_slice(self, x, y);
    }

    /// `d_i *= f′(x_i)` over a row, with `y = f(x)` (as [`Activation::derivative_from`]).
    #[inline]
    pub fn mul_derivative<T: Real>(self, x: &[T], y: &[T], d: &mut [T]) {
        mul_derivative(self, x, y, d);
    }

    /// The pre-activation that gives output `y`, where f is invertible on
    /// the value (used to fit a new user's output vector by ridge regression
    /// in pre-activation space). `y` is clamped into f's range first;
    /// `swish` is not invertible in closed form and is treated as identity.
    pub fn inverse(self, y: f64) -> f64 {
        const EDGE: f64 = 1e-4;
        match self {
            Activation::Sigmoid => {
                let p = y.clamp(EDGE, 1.0 - EDGE);
                (p / (1.0 - p)).ln()
            }
            Activation::Tanh => y.clamp(-1.0 + EDGE, 1.0 - EDGE).atanh(),
            Activation::Relu => y.max(0.0),
            Activation::Relu6 => y.clamp(0.0, 6.0),
            Activation::Elu => {
                if y > 0.0 {
                    y
                } else {
                    (y.max(-1.0 + EDGE) + 1.0).ln()
                }
            }
            Activation::Selu => {
                if y > 0.0 {
                    y / SELU_SCALE
                } else {
                    let floor = -SELU_SCALE * SELU_ALPHA * (1.0 - EDGE);
                    (y.max(floor) / (SELU_SCALE * SELU_ALPHA) + 1.0).ln()
                }
            }
            Activation::Lrelu => {
                if y > 0.0 {
                    y
                } else {
                    y / LRELU_SLOPE
                }
            }
            Activation::Swish | Activation::Identity => y,
        }
    }
}

simd_kernel! {
    fn apply_slice<T: Real>(act: Activation, x: &[T], y: &mut [T]) {
        let y = &mut y[..x.len()];
        match act {
            Activation::Tanh => y.iter_mut().zip(x).for_each(|(y, &x)| *y = x.tanh()),
            Activation::Identity => y.copy_from_slice(x),
            Activation::Elu => elu_selu_row(T::ONE, T::ONE, x, y),
            Activation::Selu => elu_selu_row(T::of(SELU_SCALE), T::of(SELU_ALPHA), x, y),
            _ => y.iter_mut().zip(x).for_each(|(y, &x)| *y = act.apply(x)),
        }
    }
}

simd_kernel! {
    fn mul_derivative<T: Real>(act: Activation, x: &[T], y: &[T], d: &mut [T]) {
        let (x, y) = (&x[..d.len()], &y[..d.len()]);
        match act {
            Activation::Tanh => d.iter_mut().zip(y).for_each(|(d, &y)| *d *= T::ONE - y * y),
            Activation::Sigmoid => {
                d.iter_mut().zip(y).for_each(|(d, &y)| *d *= y * (T::ONE - y))
            }
            Activation::Identity => {}
            _ => d
                .iter_mut()
                .zip(x.iter().zip(y))
                .for_each(|(d, (&x, &y))| *d *= act.derivative_from(x, y)),
        }
    }
}

/// `y_i = scale · (x_i if x_i > 0 else alpha · (e^x_i − 1))` (`elu` with
/// 1, 1; `selu` with its constants), as [`Activation::apply`] computes it
/// element by element, but with both sides computed and one chosen, so that
/// the loop vectorises, exponential included: libm's scalar `expf` was 7 %
/// of a `--preset deep` epoch (one per item and row of its `selu` output).
#[inline(always)]
fn elu_selu_row<T: Real>(scale: T, alpha: T, x: &[T], y: &mut [T]) {
    let both = scale * alpha;
    for (y, &x) in y.iter_mut().zip(x) {
        // `elu`'s `1 · x` and `1 · 1 · (e − 1)` are exact: the same values
        // as the element-wise form.
        let negative = both * (x.exp_nonpositive() - T::ONE);
        *y = if x > T::ZERO { scale * x } else { negative };
    }
}

#[inline]
fn sigmoid<T: Real>(x: T) -> T {
    T::ONE / (T::ONE + (-x).exp())
}

#[inline]
fn max0<T: Real>(x: T) -> T {
    if x > T::ZERO {
        x
    } else {
        T::ZERO
    }
}

#[inline]
fn step<T: Real>(x: T) -> T {
    if x > T::ZERO {
        T::ONE
    } else {
        T::ZERO
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_kernels_equal_the_scalar_functions_exactly() {
        let x: Vec<f32> = (0..203)
            .map(|k| (k as f32 - 101.0) * 0.07)
            .chain([-0.0, 1e-30, -1e-30, -86.9, -87.5, -200.0, 90.0])
            .collect();
        for act in Activation::ALL {
            let mut y = vec![0f32; x.len()];
            act.apply_slice(&x, &mut y);
            let mut d: Vec<f32> = (0..x.len()).map(|k| 1.0 + k as f32 * 0.01).collect();
            let d0 = d.clone();
            act.mul_derivative(&x, &y, &mut d);
            for k in 0..x.len() {
                assert_eq!(
                    y[k].to_bits(),
                    act.apply(x[k]).to_bits(),
                    "{act:?} f({})",
                    x[k]
                );
                let want = d0[k] * act.derivative_from(x[k], y[k]);
                assert_eq!(d[k].to_bits(), want.to_bits(), "{act:?} f'({})", x[k]);
            }
        }
    }

    #[test]
    fn derivatives_match_central_differences() {
        // Points avoid the kinks of relu/relu6/lrelu/elu at 0 and 6.
        for act in Activation::ALL {
            for &x in &[-2.3f64, -0.4, 0.3, 1.7, 5.2, 7.5] {
                let h = 1e-6;
                let fd = (act.apply(x + h) - act.apply(x - h)) / (2.0 * h);
                let d = act.derivative(x);
                assert!((fd - d).abs() < 1e-6, "{act:?} at {x}: {fd} vs {d}");
            }
        }
    }

    #[test]
    fn derivative_from_output_agrees() {
        for act in Activation::ALL {
            for &x in &[-2.3f64, -0.4, 0.3, 1.7] {
                let d = act.derivative_from(x, act.apply(x));
                assert!((d - act.derivative(x)).abs() < 1e-12, "{act:?} at {x}");
            }
        }
    }

    #[test]
    fn inverse_undoes_apply_where_invertible() {
        for act in Activation::ALL {
            if act == Activation::Swish {
                continue;
            }
            for &x in &[-0.8f64, 0.5, 2.0] {
                if matches!(act, Activation::Relu | Activation::Relu6) && x < 0.0 {
                    continue;
                }
                let back = act.inverse(act.apply(x));
                assert!((back - x).abs() < 1e-9, "{act:?} at {x}: {back}");
            }
        }
    }
}
