//! GLocal-K's hyperparameters: validated, serialisable, with the paper's
//! per-data-set settings as presets.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// GLocal-K settings (Han et al., CIKM 2021). Defaults are the reference
/// implementation's ML-100K settings (`usydnlp/Glocal_K`, `GLocal_K.ipynb`):
/// two kernelised hidden layers of 500 sigmoid units, kernel vectors of
/// dimension 5, `λ₂ = 20`, `λ_s = 0.006`, 30 pre-training epochs of 5
/// L-BFGS iterations, 60 fine-tuning epochs of 5 iterations, a 3 × 3
/// global kernel and dot scale 1.
///
/// Every matrix is dense (items × users, as in the reference); a fit whose
/// estimated memory exceeds [`GlocalKConfig::max_memory_gib`] is refused
/// before any work starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct GlocalKConfig {
    /// Widths of the kernelised hidden layers (reference: `n_layers = 2`
    /// layers of `n_hid = 500`).
    pub hidden: Vec<usize>,
    /// Dimension of the per-row and per-column kernel vectors `u_i`, `v_j`
    /// (reference `n_dim`).
    pub kernel_dim: usize,
    /// L2 penalty `λ₂/2 ‖W‖²` on every weight matrix (reference `lambda_2`).
    pub lambda_2: f64,
    /// Sparsity penalty `λ_s/2 ‖K‖²` on every local kernel matrix
    /// (reference `lambda_s`).
    pub lambda_s: f64,
    /// Pre-training epochs (reference `epoch_p`); each is one fresh L-BFGS run.
    pub pretrain_epochs: usize,
    /// L-BFGS iterations per pre-training epoch (reference `iter_p`).
    pub pretrain_iters: usize,
    /// Fine-tuning epochs with the global kernel (reference `epoch_f`);
    /// 0 keeps the pre-trained local-kernel autoencoder alone.
    pub finetune_epochs: usize,
    /// L-BFGS iterations per fine-tuning epoch (reference `iter_f`).
    pub finetune_iters: usize,
    /// Side of the square global convolution kernel (reference `gk_size`).
    pub global_kernel_size: usize,
    /// Scale of the dot product that builds the global kernel (reference `dot_scale`).
    pub dot_scale: f64,
    /// L-BFGS correction pairs (SciPy's `maxcor`, 10 in the reference).
    pub lbfgs_memory: usize,
    /// Stop fine-tuning after this many epochs without a better validation
    /// RMSE (needs a validation split); absent: run every epoch and keep the
    /// best, as the reference does.
    pub patience: Option<usize>,
    /// Refuse a fit whose dense matrices would need more than this many GiB.
    pub max_memory_gib: f64,
}

impl Default for GlocalKConfig {
    fn default() -> Self {
        GlocalKConfig {
            hidden: vec![500, 500],
            kernel_dim: 5,
            lambda_2: 20.0,
            lambda_s: 0.006,
            pretrain_epochs: 30,
            pretrain_iters: 5,
            finetune_epochs: 60,
            finetune_iters: 5,
            global_kernel_size: 3,
            dot_scale: 1.0,
            lbfgs_memory: 10,
            patience: None,
            max_memory_gib: 8.0,
        }
    }
}

/// The recipes [`GlocalKConfig::preset`] knows, as (name, description).
pub const PRESETS: &[(&str, &str)] = &[
    (
        "glocal-k",
        "the reference's ML-100K settings (the defaults)",
    ),
    ("glocal-k-ml1m", "the reference's ML-1M settings"),
    ("glocal-k-douban", "the reference's Douban settings"),
];

impl GlocalKConfig {
    /// The reference implementation's settings for one data set:
    /// `glocal-k` (ML-100K, the defaults), `glocal-k-ml1m` (`λ₂ = 70`,
    /// `λ_s = 0.018`, 20 × 50 pre-training and 30 × 10 fine-tuning
    /// iterations, dot scale 0.5) and `glocal-k-douban` (`λ₂ = 10`,
    /// `λ_s = 0.022`, 20 × 5 and 60 × 5, dot scale 2).
    pub fn preset(name: &str) -> Result<GlocalKConfig> {
        let d = GlocalKConfig::default();
        Ok(match name {
            "glocal-k" => d,
            "glocal-k-ml1m" => GlocalKConfig {
                lambda_2: 70.0,
                lambda_s: 0.018,
                pretrain_iters: 50,
                finetune_iters: 10,
                pretrain_epochs: 20,
                finetune_epochs: 30,
                dot_scale: 0.5,
                ..d
            },
            "glocal-k-douban" => GlocalKConfig {
                lambda_2: 10.0,
                lambda_s: 0.022,
                pretrain_epochs: 20,
                dot_scale: 2.0,
                ..d
            },
            other => {
                let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
                return Err(Error::config(format!(
                    "unknown GLocal-K preset {other:?} (known: {})",
                    names.join(", ")
                )));
            }
        })
    }

    /// Checks every setting.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::config(format!("glocal-k: {m}")));
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return bad(format!(
                "`hidden` must list at least one layer width, all ≥ 1, got {:?}",
                self.hidden
            ));
        }
        if self.kernel_dim == 0 {
            return bad("`kernel_dim` must be ≥ 1".into());
        }
        for (name, v) in [
            ("lambda_2", self.lambda_2),
            ("lambda_s", self.lambda_s),
            ("dot_scale", self.dot_scale.abs()),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("`{name}` must be finite and ≥ 0, got {v}"));
            }
        }
        if self.pretrain_iters == 0 || self.finetune_iters == 0 {
            return bad("`pretrain_iters` and `finetune_iters` must be ≥ 1".into());
        }
        if self.pretrain_epochs == 0 {
            return bad("`pretrain_epochs` must be ≥ 1".into());
        }
        if self.global_kernel_size == 0 {
            return bad("`global_kernel_size` must be ≥ 1".into());
        }
        if self.lbfgs_memory == 0 {
            return bad("`lbfgs_memory` must be ≥ 1".into());
        }
        if self.patience == Some(0) {
            return bad("`patience` must be ≥ 1 when given".into());
        }
        if !(self.max_memory_gib.is_finite() && self.max_memory_gib > 0.0) {
            return bad(format!(
                "`max_memory_gib` must be > 0, got {}",
                self.max_memory_gib
            ));
        }
        Ok(())
    }

    /// Number of parameters on `n_items × n_users` data: each kernelised
    /// layer's weights, kernel vectors and biases, and the global kernel's
    /// `n_items × size²` matrix.
    pub fn n_params(&self, n_items: usize, n_users: usize) -> usize {
        let widths = self.widths(n_users);
        let local: usize = widths
            .windows(2)
            .map(|w| w[0] * w[1] + (w[0] + w[1]) * self.kernel_dim + w[1])
            .sum();
        local + n_items * self.global_kernel_size * self.global_kernel_size
    }

    /// Layer widths from input to output: `n_users`, the hidden widths, `n_users`.
    pub(crate) fn widths(&self, n_users: usize) -> Vec<usize> {
        let mut w = Vec::with_capacity(self.hidden.len() + 2);
        w.push(n_users);
        w.extend(&self.hidden);
        w.push(n_users);
        w
    }

    /// Bytes a fit needs, estimated: the dense `n_items × n_users` matrices
    /// (ratings, mask, the convolved input, two passes' outputs and their
    /// gradients), the hidden activations of two passes with their
    /// gradients, the kernels and effective weights (`f32`), and the
    /// L-BFGS point, gradient, trial buffers and memory (`f64`).
    pub fn memory_bytes(&self, n_items: usize, n_users: usize) -> f64 {
        let cells = n_items as f64 * n_users as f64;
        let hidden: f64 = self.hidden.iter().map(|&h| h as f64).sum::<f64>() * n_items as f64;
        let widths = self.widths(n_users);
        let weights: f64 = widths.windows(2).map(|w| (w[0] * w[1]) as f64).sum();
        let params = self.n_params(n_items, n_users) as f64;
        4.0 * (8.0 * cells + 4.0 * hidden + 4.0 * weights)
            + 8.0 * params * (8.0 + 2.0 * self.lbfgs_memory as f64)
    }

    /// An error when a fit on `n_items × n_users` would exceed
    /// [`GlocalKConfig::max_memory_gib`], with the estimate.
    pub fn check_memory(&self, n_items: usize, n_users: usize) -> Result<()> {
        let gib = self.memory_bytes(n_items, n_users) / (1u64 << 30) as f64;
        if gib > self.max_memory_gib {
            return Err(Error::config(format!(
                "glocal-k is dense over items × users: {n_items} × {n_users} needs about \
                 {gib:.1} GiB, over `max_memory_gib` = {} (raise it if the memory is there, \
                 or use an autoencoder, which is sparse)",
                self.max_memory_gib
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_validate_and_differ() {
        for (name, _) in PRESETS {
            GlocalKConfig::preset(name).unwrap().validate().unwrap();
        }
        assert_ne!(
            GlocalKConfig::preset("glocal-k").unwrap(),
            GlocalKConfig::preset("glocal-k-ml1m").unwrap()
        );
        assert!(GlocalKConfig::preset("nope").is_err());
    }

    #[test]
    fn bad_settings_are_refused() {
        let d = GlocalKConfig::default();
        for c in [
            GlocalKConfig {
                hidden: vec![],
                ..d.clone()
            },
            GlocalKConfig {
                hidden: vec![5, 0],
                ..d.clone()
            },
            GlocalKConfig {
                kernel_dim: 0,
                ..d.clone()
            },
            GlocalKConfig {
                lambda_2: -1.0,
                ..d.clone()
            },
            GlocalKConfig {
                lambda_s: f64::NAN,
                ..d.clone()
            },
            GlocalKConfig {
                finetune_iters: 0,
                ..d.clone()
            },
            GlocalKConfig {
                patience: Some(0),
                ..d.clone()
            },
        ] {
            assert!(c.validate().is_err(), "{c:?}");
        }
    }

    #[test]
    fn parameter_count_by_hand() {
        // 4 users, one hidden layer of 3, kernel dim 2, 5 items, 3 × 3 kernel:
        // layer 4→3: 12 + (4+3)·2 + 3 = 29; layer 3→4: 12 + 14 + 4 = 30; global 45.
        let c = GlocalKConfig {
            hidden: vec![3],
            kernel_dim: 2,
            ..GlocalKConfig::default()
        };
        assert_eq!(c.n_params(5, 4), 29 + 30 + 45);
    }

    #[test]
    fn a_too_large_matrix_is_refused_with_the_estimate() {
        let c = GlocalKConfig::default();
        c.check_memory(1682, 943).unwrap();
        let err = c.check_memory(60_000, 160_000).unwrap_err().to_string();
        assert!(
            err.contains("GiB") && err.contains("60000 × 160000"),
            "{err}"
        );
    }
}
