//! Turning a sparse row of ratings into a network input: centering, the
//! default for unobserved cells, denoising noise, side features.

use rand::rngs::SmallRng;
use rand::Rng;
use rand_distr::{Distribution, Normal};

use super::config::{AutoencoderConfig, DefaultKind, DefaultRating};
use super::real::Real;
use super::sparse::Batch;

/// How rows become inputs; shared by training and scoring so both see the
/// same encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputEncoder {
    /// Rating columns.
    pub n_cols: usize,
    /// Subtracted from observed ratings (μ when centering, else 0).
    pub shift: f64,
    /// Global mean rating of the training set.
    pub mu: f64,
    /// Default for unobserved cells.
    pub default_rating: DefaultRating,
}

/// Denoising noise for one training row.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Noise {
    /// Dropout rate of observed cells (a dropped cell takes the default).
    pub input_dropout: f64,
    /// Gaussian noise std on observed cells.
    pub std: f64,
    /// Noise on every cell.
    pub all: bool,
}

impl Noise {
    /// The noise a config asks for.
    pub fn of(cfg: &AutoencoderConfig) -> Self {
        Noise {
            input_dropout: cfg.input_dropout,
            std: cfg.noise_std,
            all: cfg.noise_all,
        }
    }

    /// True when it changes nothing.
    pub fn is_none(&self) -> bool {
        self.input_dropout == 0.0 && self.std == 0.0
    }
}

impl InputEncoder {
    /// The encoder of a config over `n_cols` columns with training mean `mu`.
    pub fn new(cfg: &AutoencoderConfig, n_cols: usize, mu: f64) -> Self {
        InputEncoder {
            n_cols,
            shift: if cfg.center { mu } else { 0.0 },
            mu,
            default_rating: cfg.default_rating,
        }
    }

    /// The default of a row with ratings `values`, in the model's space.
    pub fn row_default(&self, values: &[f32]) -> f64 {
        match self.default_rating {
            DefaultRating::Named(DefaultKind::Zero) => 0.0,
            DefaultRating::Named(DefaultKind::Global) => self.mu - self.shift,
            DefaultRating::Value(v) => v - self.shift,
            DefaultRating::Named(DefaultKind::Average) => {
                if values.is_empty() {
                    self.mu - self.shift
                } else {
                    values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64 - self.shift
                }
            }
        }
    }

    /// Pushes the input entries of one row (ratings at `idx`/`values`, then
    /// non-zero side features) into `batch`, with `noise` drawn from `rng`
    /// when given, and returns the row's default (pass it to
    /// [`Batch::end_row`] after pushing targets).
    pub fn push_input<T: Real>(
        &self,
        batch: &mut Batch<T>,
        idx: &[u32],
        values: &[f32],
        side: Option<&[f32]>,
        noise: Option<(&Noise, &mut SmallRng)>,
    ) -> T {
        let d = self.row_default(values);
        match noise {
            None => {
                for (&j, &x) in idx.iter().zip(values) {
                    batch.in_idx.push(j);
                    batch.in_val.push(T::of(x as f64 - self.shift - d));
                }
            }
            Some((noise, rng)) => {
                let keep = 1.0 - noise.input_dropout;
                let normal = Normal::new(0.0, noise.std).expect("validated std");
                for (&j, &x) in idx.iter().zip(values) {
                    if noise.input_dropout > 0.0 && rng.random::<f64>() >= keep {
                        continue;
                    }
                    let eps = if noise.std > 0.0 {
                        normal.sample(rng)
                    } else {
                        0.0
                    };
                    batch.in_idx.push(j);
                    batch
                        .in_val
                        .push(T::of((x as f64 - self.shift - d + eps) / keep));
                }
                if noise.all && noise.std > 0.0 {
                    // Unobserved cells hold `d + ε`: coefficient ε on their rows.
                    let mut next = idx.iter().peekable();
                    for j in 0..self.n_cols as u32 {
                        if next.peek() == Some(&&j) {
                            next.next();
                            continue;
                        }
                        batch.in_idx.push(j);
                        batch.in_val.push(T::of(normal.sample(rng)));
                    }
                }
            }
        }
        if let Some(side) = side {
            for (k, &v) in side.iter().enumerate() {
                if v != 0.0 {
                    batch.in_idx.push((self.n_cols + k) as u32);
                    batch.in_val.push(T::of(v as f64));
                }
            }
        }
        T::of(d)
    }

    /// Pushes the observed ratings of a row as targets (shifted like the inputs).
    pub fn push_targets<T: Real>(&self, batch: &mut Batch<T>, idx: &[u32], values: &[f32]) {
        batch.tg_idx.extend_from_slice(idx);
        batch
            .tg_val
            .extend(values.iter().map(|&x| T::of(x as f64 - self.shift)));
    }
}
