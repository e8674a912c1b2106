//! [`AutoencoderConfig`]: every hyperparameter of the engine (serde names are
//! the keys of TOML configs and of the CLI's overrides), its validation and
//! the named presets that reproduce the source notebooks' recipes.

use serde::{Deserialize, Serialize};

use super::activation::Activation;
use crate::error::{Error, Result};

/// What a row of the autoencoder's input is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Based {
    /// A row is a user's ratings of all items (U-AutoRec, DeepRecommender).
    #[default]
    User,
    /// A row is an item's ratings by all users (I-AutoRec).
    Item,
}

/// A named default for unobserved input cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DefaultKind {
    /// 0 in the model's input space (after centering, when `center`).
    Zero,
    /// The row's mean rating.
    Average,
    /// The global mean rating of the training set.
    Global,
}

/// The value unobserved input cells take: `"zero"`, `"average"`, `"global"`
/// or a number (a rating value).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum DefaultRating {
    /// One of the named defaults.
    Named(DefaultKind),
    /// A constant rating.
    Value(f64),
}

impl Default for DefaultRating {
    fn default() -> Self {
        DefaultRating::Named(DefaultKind::Zero)
    }
}

/// Weight initialisation of the weight matrices (biases start at 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Init {
    /// Glorot uniform: U(±√(6/(fan_in+fan_out))), as Keras and DeepRecommender.
    #[default]
    Xavier,
    /// He normal: N(0, 2/fan_in).
    Kaiming,
}

/// The optimiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    /// SGD with optional (Nesterov) momentum, PyTorch's form `v ← μv + g`.
    Sgd,
    /// Adam (Kingma & Ba 2015).
    #[default]
    Adam,
    /// Adam with decoupled weight decay (Loshchilov & Hutter 2019). In aerec
    /// `weight_decay` is always decoupled, so `adamw` and `adam` run the same
    /// update; the name is kept for recipes that say AdamW.
    Adamw,
}

/// How optimisers treat the rows of the item tables a batch did not touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SparseUpdates {
    /// Lazy when the batches touch a small share of the rows, else dense;
    /// the choice is written to `FitReport.notes`.
    #[default]
    Auto,
    /// Every row every step (exact reference).
    Dense,
    /// Touched rows only: exact for SGD (closed-form catch-up of L2 and
    /// weight decay, momentum included); LazyAdam / SparseAdam for Adam.
    Lazy,
}

/// Learning-rate schedule, applied per epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    /// The same rate every epoch.
    #[default]
    Constant,
    /// Multiply by `gamma` every `every` epochs.
    Step {
        /// Epochs between decays.
        every: usize,
        /// Factor per decay.
        gamma: f64,
    },
    /// Multiply by `gamma` at each milestone epoch (as PyTorch `MultiStepLR`).
    Multistep {
        /// Epochs (1-based, sorted) after which the rate decays.
        milestones: Vec<usize>,
        /// Factor per milestone.
        gamma: f64,
    },
}

impl LrSchedule {
    /// The learning rate of 1-based `epoch`.
    pub fn lr_at(&self, base: f64, epoch: usize) -> f64 {
        let done = epoch.saturating_sub(1);
        match self {
            LrSchedule::Constant => base,
            LrSchedule::Step { every, gamma } => base * gamma.powi((done / every) as i32),
            LrSchedule::Multistep { milestones, gamma } => {
                base * gamma.powi(milestones.iter().filter(|&&m| m <= done).count() as i32)
            }
        }
    }
}

/// Every hyperparameter of an autoencoder; see docs/engine-presets.md.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AutoencoderConfig {
    /// What a row is (user or item).
    pub based: Based,
    /// Hidden widths: the encoder when `mirror`, else the whole hidden stack.
    pub layers: Vec<usize>,
    /// Mirror `layers` into a decoder (DeepRecommender's `512,512,1024`).
    pub mirror: bool,
    /// Activation of the hidden layers.
    pub activation: Activation,
    /// Activation of the output layer.
    pub output_activation: Activation,
    /// DeepRecommender's last-layer switch: when true the output layer uses
    /// `activation` (then `output_activation` must be identity or equal).
    pub last_layer_activation: bool,
    /// Tie each decoder weight to its encoder's transpose (widths must be a palindrome).
    pub tied: bool,
    /// Dropout rate on the code (middle hidden) layer, inverted scaling.
    pub dropout: f64,
    /// Dropout rate on observed input cells (a dropped cell takes the default).
    pub input_dropout: f64,
    /// Standard deviation of Gaussian noise added to observed input cells.
    pub noise_std: f64,
    /// Add the noise to every input cell (dense: slow on big catalogues).
    pub noise_all: bool,
    /// Value of unobserved input cells.
    pub default_rating: DefaultRating,
    /// Subtract the global mean μ from observed cells (inputs and targets).
    pub center: bool,
    /// Learn the residual of a bias model: `μ + b_u + b_i` (the `biases`
    /// baseline with its defaults, fitted first) is subtracted from the
    /// targets and added back to predictions; the input stays the ratings
    /// (see [`super::residual`] for why).
    pub residual: bool,
    /// Dense re-feeding steps per batch (DeepRecommender's `aug_step`).
    pub refeed: usize,
    /// Weight initialisation.
    pub init: Init,
    /// Optimiser.
    pub optimizer: OptimizerKind,
    /// SGD momentum μ.
    pub momentum: f64,
    /// Nesterov momentum (SGD).
    pub nesterov: bool,
    /// Adam β₁.
    pub beta1: f64,
    /// Adam β₂.
    pub beta2: f64,
    /// Adam ε.
    pub eps: f64,
    /// Dense or lazy row-sparse optimiser updates.
    pub sparse_updates: SparseUpdates,
    /// Base learning rate.
    pub lr: f64,
    /// L2 penalty in the loss, Keras `kernel_regularizer=l2(l2)`: adds
    /// `l2·Σw²` over the weight matrices (not the biases) to each batch's loss.
    pub l2: f64,
    /// Decoupled weight decay: `w ← w − lr·weight_decay·w` each step (weights only).
    pub weight_decay: f64,
    /// Learning-rate schedule.
    pub lr_schedule: LrSchedule,
    /// Clip the global norm of each batch's data gradient to this value.
    pub clip_norm: Option<f64>,
    /// Maximum number of epochs.
    pub epochs: usize,
    /// Rows per batch (the last, partial batch is kept).
    pub batch_size: usize,
    /// Stop after this many epochs without validation improvement, restoring the best weights.
    pub patience: Option<usize>,
    /// Smallest decrease of validation RMSE that counts as improvement.
    pub min_delta: f64,
}

impl Default for AutoencoderConfig {
    fn default() -> Self {
        AutoencoderConfig {
            based: Based::User,
            layers: vec![500],
            mirror: false,
            activation: Activation::Sigmoid,
            output_activation: Activation::Identity,
            last_layer_activation: false,
            tied: false,
            dropout: 0.0,
            input_dropout: 0.0,
            noise_std: 0.0,
            noise_all: false,
            default_rating: DefaultRating::default(),
            center: false,
            residual: false,
            refeed: 0,
            init: Init::Xavier,
            optimizer: OptimizerKind::Adam,
            momentum: 0.0,
            nesterov: false,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
            sparse_updates: SparseUpdates::Auto,
            lr: 1e-3,
            l2: 0.0,
            weight_decay: 0.0,
            lr_schedule: LrSchedule::Constant,
            clip_norm: None,
            epochs: 20,
            batch_size: 128,
            patience: None,
            min_delta: 0.0,
        }
    }
}

/// The presets: name and where the recipe comes from.
pub const PRESETS: &[(&str, &str)] = &[
    (
        "tutorial",
        "Keras tutorial (seed 000): user-based, input dropout 0.7, 700 tanh, linear out, l2 1e-4, SGD 0.08 momentum 0.9, centered",
    ),
    (
        "autorec",
        "I-AutoRec (Sedhain et al. 2015) with the experiment report's baseline (seed 002): 500 sigmoid, linear out, l2 1e-3, Adam 1e-4, batch 256",
    ),
    (
        "deep",
        "NVIDIA DeepRecommender (Kuchaiev & Ginsburg 2017): 512,512,1024 mirrored selu, tied, dropout 0.8, re-feeding 1, SGD momentum 0.9 lr 0.005",
    ),
    (
        "assignment",
        "PyTorch assignment (seed 004): [items,512,512,1024] relu mirrored, tied (is_constrained=True), no last activation, Adam 1e-3, 40 epochs",
    ),
    (
        "deep-sbs",
        "Experiment report's best deep model (seed 002): 256,512,256 selu+selu, zero default, dropout 0.8, Adam 1e-4, l2 1e-3, batch 256",
    ),
];

impl AutoencoderConfig {
    /// The preset called `name` (see [`PRESETS`]).
    pub fn preset(name: &str) -> Result<AutoencoderConfig> {
        let d = AutoencoderConfig::default();
        Ok(match name {
            "tutorial" => AutoencoderConfig {
                based: Based::User,
                layers: vec![700],
                activation: Activation::Tanh,
                output_activation: Activation::Identity,
                input_dropout: 0.7,
                l2: 1e-4,
                optimizer: OptimizerKind::Sgd,
                lr: 0.08,
                momentum: 0.9,
                batch_size: 128,
                epochs: 20,
                center: true,
                ..d
            },
            "autorec" => AutoencoderConfig {
                based: Based::Item,
                layers: vec![500],
                activation: Activation::Sigmoid,
                output_activation: Activation::Identity,
                l2: 1e-3,
                optimizer: OptimizerKind::Adam,
                lr: 1e-4,
                batch_size: 256,
                epochs: 500,
                ..d
            },
            "deep" => AutoencoderConfig {
                based: Based::User,
                layers: vec![512, 512, 1024],
                mirror: true,
                activation: Activation::Selu,
                last_layer_activation: true,
                tied: true,
                dropout: 0.8,
                refeed: 1,
                optimizer: OptimizerKind::Sgd,
                momentum: 0.9,
                lr: 0.005,
                batch_size: 128,
                epochs: 12,
                lr_schedule: LrSchedule::Multistep {
                    milestones: vec![24, 36, 48, 66, 72],
                    gamma: 0.5,
                },
                ..d
            },
            "assignment" => AutoencoderConfig {
                based: Based::User,
                layers: vec![512, 512, 1024],
                mirror: true,
                activation: Activation::Relu,
                output_activation: Activation::Identity,
                tied: true,
                optimizer: OptimizerKind::Adam,
                lr: 1e-3,
                batch_size: 128,
                epochs: 40,
                ..d
            },
            "deep-sbs" => AutoencoderConfig {
                based: Based::User,
                layers: vec![256, 512, 256],
                activation: Activation::Selu,
                output_activation: Activation::Selu,
                dropout: 0.8,
                optimizer: OptimizerKind::Adam,
                lr: 1e-4,
                l2: 1e-3,
                batch_size: 256,
                epochs: 500,
                ..d
            },
            other => {
                let names: Vec<&str> = PRESETS.iter().map(|p| p.0).collect();
                return Err(Error::config(format!(
                    "unknown preset {other:?}; known: {}",
                    names.join(", ")
                )));
            }
        })
    }

    /// The whole hidden stack (encoder, and the mirrored decoder when `mirror`).
    pub fn hidden_widths(&self) -> Vec<usize> {
        let mut w = self.layers.clone();
        if self.mirror {
            w.extend(self.layers.iter().rev().skip(1));
        }
        w
    }

    /// Bytes that training this network on `n_rows` rows of `n_cols` columns (plus
    /// `n_side` side features) needs, overflow-checked: every weight matrix
    /// (input `(n_cols + n_side) × h₀`, hidden `hᵢ × hᵢ₊₁`, output
    /// `h_last × n_cols`, tied or not: an upper bound) with its gradient,
    /// optimiser state and early-stopping copy, plus one batch's activations
    /// and dense outputs. An estimate for refusing impossible sizes before
    /// allocating, not an exact account.
    pub fn training_bytes(
        &self,
        n_rows: usize,
        n_cols: usize,
        n_side: usize,
    ) -> crate::model::memory::Bytes {
        use crate::model::memory::{sum_of_products, Bytes};
        let widths = self.hidden_widths();
        let n_in = Bytes::of(n_cols).plus(Bytes::of(n_side));
        let Some(n_in) = n_in.0.and_then(|n| usize::try_from(n).ok()) else {
            return Bytes(None);
        };
        let mut shapes = vec![(n_in, widths[0])];
        shapes.extend(widths.windows(2).map(|w| (w[0], w[1])));
        shapes.push((
            *widths.last().expect("validated: at least one layer"),
            n_cols,
        ));
        let biases = widths
            .iter()
            .fold(Bytes::of(n_cols), |acc, &w| acc.plus(Bytes::of(w)));
        let params = sum_of_products(shapes).plus(biases);
        let optimiser_copies = match self.optimizer {
            OptimizerKind::Sgd if self.momentum == 0.0 => 0,
            OptimizerKind::Sgd => 1,
            OptimizerKind::Adam | OptimizerKind::Adamw => 2,
        };
        // Weights and gradients, the optimiser's state, the best weights.
        let copies = 2 + optimiser_copies + usize::from(self.patience.is_some());
        // Per batch row: each hidden layer's pre-activation, activation and
        // two gradient buffers, and the dense output, target and error.
        let per_row = widths
            .iter()
            .fold(Bytes::of(0), |acc, &w| acc.plus(Bytes::of(w).times(4)))
            .plus(Bytes::of(n_cols).times(3));
        let f32_bytes = std::mem::size_of::<f32>();
        params
            .times(copies)
            .plus(per_row.times(self.batch_size.min(n_rows)))
            .times(f32_bytes)
    }

    /// The output layer's activation after reconciling `last_layer_activation`.
    pub fn effective_output_activation(&self) -> Activation {
        if self.last_layer_activation {
            self.activation
        } else {
            self.output_activation
        }
    }

    /// Index (in the hidden stack) of the code layer that `dropout` acts on:
    /// the middle one.
    pub fn code_layer(&self) -> usize {
        (self.hidden_widths().len() - 1) / 2
    }

    /// Checks every setting; an invalid config is an error before any work.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::config(m));
        if self.layers.is_empty() || self.layers.contains(&0) {
            return bad(format!(
                "layers {:?}: need at least one non-zero width",
                self.layers
            ));
        }
        if self.tied {
            let w = self.hidden_widths();
            if w.iter().ne(w.iter().rev()) {
                return bad(format!(
                    "tied weights need a palindromic hidden stack, got {w:?} (use mirror = true)"
                ));
            }
        }
        if self.last_layer_activation
            && self.output_activation != Activation::Identity
            && self.output_activation != self.activation
        {
            return bad(format!(
                "last_layer_activation = true applies activation {:?} to the output, \
                 which conflicts with output_activation {:?}",
                self.activation, self.output_activation
            ));
        }
        for (name, p) in [
            ("dropout", self.dropout),
            ("input_dropout", self.input_dropout),
        ] {
            if !(0.0..1.0).contains(&p) {
                return bad(format!("{name} = {p}: must be in [0, 1)"));
            }
        }
        let finite_nonneg = [
            ("noise_std", self.noise_std),
            ("momentum", self.momentum),
            ("l2", self.l2),
            ("weight_decay", self.weight_decay),
            ("min_delta", self.min_delta),
        ];
        for (name, v) in finite_nonneg {
            if !(v.is_finite() && v >= 0.0) {
                return bad(format!("{name} = {v}: must be finite and >= 0"));
            }
        }
        if self.momentum >= 1.0 {
            return bad(format!("momentum = {}: must be < 1", self.momentum));
        }
        if self.nesterov && (self.optimizer != OptimizerKind::Sgd || self.momentum == 0.0) {
            return bad("nesterov needs optimizer = \"sgd\" and momentum > 0".into());
        }
        for (name, b) in [("beta1", self.beta1), ("beta2", self.beta2)] {
            if !(0.0..1.0).contains(&b) {
                return bad(format!("{name} = {b}: must be in [0, 1)"));
            }
        }
        if !(self.eps.is_finite() && self.eps > 0.0) {
            return bad(format!("eps = {}: must be > 0", self.eps));
        }
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return bad(format!("lr = {}: must be > 0", self.lr));
        }
        if let DefaultRating::Value(v) = self.default_rating {
            if !v.is_finite() {
                return bad(format!("default_rating = {v}: must be finite"));
            }
        }
        match &self.lr_schedule {
            LrSchedule::Constant => {}
            LrSchedule::Step { every, gamma } => {
                if *every == 0 || !(gamma.is_finite() && *gamma > 0.0) {
                    return bad(format!(
                        "lr_schedule step: every = {every} must be >= 1 and gamma = {gamma} > 0"
                    ));
                }
            }
            LrSchedule::Multistep { milestones, gamma } => {
                if milestones.windows(2).any(|w| w[0] >= w[1])
                    || gamma.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater)
                {
                    return bad(format!(
                        "lr_schedule multistep: milestones {milestones:?} must increase and gamma = {gamma} > 0"
                    ));
                }
            }
        }
        if let Some(c) = self.clip_norm {
            if !(c.is_finite() && c > 0.0) {
                return bad(format!("clip_norm = {c}: must be > 0"));
            }
        }
        if self.epochs == 0 || self.batch_size == 0 {
            return bad("epochs and batch_size must be at least 1".into());
        }
        if self.residual && self.refeed > 0 {
            return bad(
                "refeed feeds the output back as input, but with residual = true the output \
                 is a residual and the input a rating: use one or the other"
                    .into(),
            );
        }
        if self.patience == Some(0) {
            return bad("patience must be at least 1 epoch".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_preset_is_valid_and_named() {
        for (name, _) in PRESETS {
            AutoencoderConfig::preset(name).unwrap().validate().unwrap();
        }
        assert!(AutoencoderConfig::preset("nope").is_err());
    }

    #[test]
    fn parses_toml_with_every_default_rating_form() {
        let c: AutoencoderConfig = toml::from_str(
            "layers = [8, 4]\nmirror = true\ndefault_rating = 3.5\n\
             lr_schedule = { multistep = { milestones = [2, 4], gamma = 0.1 } }",
        )
        .unwrap();
        assert_eq!(c.hidden_widths(), vec![8, 4, 8]);
        assert_eq!(c.default_rating, DefaultRating::Value(3.5));
        assert!((c.lr_schedule.lr_at(1.0, 5) - 0.01).abs() < 1e-12);
        let c: AutoencoderConfig = toml::from_str("default_rating = \"average\"").unwrap();
        assert_eq!(c.default_rating, DefaultRating::Named(DefaultKind::Average));
        assert!(toml::from_str::<AutoencoderConfig>("layer = [3]").is_err());
    }

    #[test]
    fn rejects_untieable_and_conflicting_settings() {
        let c = AutoencoderConfig {
            layers: vec![4, 8],
            tied: true,
            ..Default::default()
        };
        assert!(c.validate().is_err());
        let c = AutoencoderConfig {
            last_layer_activation: true,
            output_activation: Activation::Tanh,
            ..Default::default()
        };
        assert!(c.validate().is_err());
    }
}
