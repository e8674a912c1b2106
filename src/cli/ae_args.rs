//! Autoencoder flags of `aerec train` (and every command that fits a
//! model). Each flag is optional: given, it overrides the preset or the
//! config file key of the same name (see [`AutoencoderArgs::overrides`]).
//! `--epochs --lr --batch-size --l2` are the common model flags, not here.

use clap::Args;
use serde_json::{json, Map, Value};

use crate::model::autoencoder::{Activation, Based, Init, OptimizerKind, SparseUpdates};

/// Autoencoder and optimiser flags.
#[derive(Args, Debug, Default, Clone)]
pub struct AutoencoderArgs {
    /// What a row is: user (U-AutoRec) or item (I-AutoRec).
    #[arg(long, value_enum, help_heading = "Autoencoder")]
    pub based: Option<BasedArg>,
    /// Hidden widths, comma-separated (e.g. 512,512,1024).
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "W,W,..",
        help_heading = "Autoencoder"
    )]
    pub layers: Option<Vec<usize>>,
    /// Mirror --layers into the decoder (true/false).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", help_heading = "Autoencoder")]
    pub mirror: Option<bool>,
    /// Hidden activation.
    #[arg(long, value_enum, help_heading = "Autoencoder")]
    pub activation: Option<ActivationArg>,
    /// Output activation.
    #[arg(long, value_enum, help_heading = "Autoencoder")]
    pub output_activation: Option<ActivationArg>,
    /// Apply --activation on the output layer (DeepRecommender's default).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", help_heading = "Autoencoder")]
    pub last_layer_activation: Option<bool>,
    /// Tie decoder weights to the encoder's transpose.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", help_heading = "Autoencoder")]
    pub tied: Option<bool>,
    /// Dropout rate on the code layer.
    #[arg(value_parser = super::finite_f64, long, value_name = "P", help_heading = "Autoencoder")]
    pub dropout: Option<f64>,
    /// Dropout rate on observed input cells.
    #[arg(value_parser = super::finite_f64, long, value_name = "P", help_heading = "Autoencoder")]
    pub input_dropout: Option<f64>,
    /// Gaussian noise std on observed input cells.
    #[arg(value_parser = super::finite_f64, long, value_name = "STD", help_heading = "Autoencoder")]
    pub noise_std: Option<f64>,
    /// Put the noise on every cell (dense).
    #[arg(long, num_args = 0..=1, default_missing_value = "true", help_heading = "Autoencoder")]
    pub noise_all: Option<bool>,
    /// Unobserved input cells: zero, average, global, or a rating value.
    #[arg(long, value_name = "zero|average|global|X", value_parser = parse_default_rating, help_heading = "Autoencoder")]
    pub default_rating: Option<Value>,
    /// Subtract the global mean from observed cells.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", help_heading = "Autoencoder")]
    pub center: Option<bool>,
    /// Learn the residual of a fitted bias model (μ + b_u + b_i), added back to predictions.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", help_heading = "Autoencoder")]
    pub residual: Option<bool>,
    /// Dense re-feeding steps per batch.
    #[arg(long, value_name = "N", help_heading = "Autoencoder")]
    pub refeed: Option<usize>,
    /// Weight initialisation.
    #[arg(long, value_enum, help_heading = "Autoencoder")]
    pub init: Option<InitArg>,
    /// Optimiser.
    #[arg(long, value_enum, help_heading = "Optimiser")]
    pub optimizer: Option<OptimizerArg>,
    /// SGD momentum.
    #[arg(value_parser = super::finite_f64, long, help_heading = "Optimiser")]
    pub momentum: Option<f64>,
    /// Nesterov momentum.
    #[arg(long, num_args = 0..=1, default_missing_value = "true", help_heading = "Optimiser")]
    pub nesterov: Option<bool>,
    /// Decoupled weight decay.
    #[arg(value_parser = super::finite_f64, long, help_heading = "Optimiser")]
    pub weight_decay: Option<f64>,
    /// Learning-rate schedule: constant, step:EVERY:GAMMA, multistep:M1,M2:GAMMA.
    #[arg(long, value_name = "SCHEDULE", value_parser = parse_lr_schedule, help_heading = "Optimiser")]
    pub lr_schedule: Option<Value>,
    /// Clip each batch's gradient norm to this value.
    #[arg(value_parser = super::finite_f64, long, value_name = "NORM", help_heading = "Optimiser")]
    pub clip_norm: Option<f64>,
    /// Early stopping: epochs without validation improvement.
    #[arg(long, value_name = "EPOCHS", help_heading = "Optimiser")]
    pub patience: Option<usize>,
    /// Row updates of the item tables: auto, dense, lazy.
    #[arg(long, value_enum, help_heading = "Optimiser")]
    pub sparse_updates: Option<SparseUpdatesArg>,
}

macro_rules! value_enum_mirror {
    ($arg:ident => $target:ty { $($v:ident),* $(,)? }) => {
        #[doc = concat!("Command-line form of [`", stringify!($target), "`].")]
        #[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
        #[allow(missing_docs)]
        pub enum $arg { $($v),* }
        impl From<$arg> for $target {
            fn from(a: $arg) -> $target {
                match a { $($arg::$v => <$target>::$v),* }
            }
        }
    };
}

value_enum_mirror!(BasedArg => Based { User, Item });
value_enum_mirror!(ActivationArg => Activation {
    Sigmoid, Tanh, Relu, Relu6, Elu, Selu, Lrelu, Swish, Identity
});
value_enum_mirror!(InitArg => Init { Xavier, Kaiming });
value_enum_mirror!(OptimizerArg => OptimizerKind { Sgd, Adam, Adamw });
value_enum_mirror!(SparseUpdatesArg => SparseUpdates { Auto, Dense, Lazy });

fn to_value<T: serde::Serialize>(t: T) -> Value {
    serde_json::to_value(t).unwrap_or(Value::Null)
}

impl AutoencoderArgs {
    /// The config keys of the flags given, ready to merge over a preset.
    pub fn overrides(&self) -> Map<String, Value> {
        let mut m = Map::new();
        let mut put = |k: &str, v: Option<Value>| {
            if let Some(v) = v {
                m.insert(k.to_string(), v);
            }
        };
        put("based", self.based.map(|b| to_value(Based::from(b))));
        put("layers", self.layers.as_ref().map(|l| json!(l)));
        put("mirror", self.mirror.map(Value::from));
        put(
            "activation",
            self.activation.map(|a| to_value(Activation::from(a))),
        );
        put(
            "output_activation",
            self.output_activation
                .map(|a| to_value(Activation::from(a))),
        );
        put(
            "last_layer_activation",
            self.last_layer_activation.map(Value::from),
        );
        put("tied", self.tied.map(Value::from));
        put("dropout", self.dropout.map(Value::from));
        put("input_dropout", self.input_dropout.map(Value::from));
        put("noise_std", self.noise_std.map(Value::from));
        put("noise_all", self.noise_all.map(Value::from));
        put("default_rating", self.default_rating.clone());
        put("center", self.center.map(Value::from));
        put("residual", self.residual.map(Value::from));
        put("refeed", self.refeed.map(Value::from));
        put("init", self.init.map(|i| to_value(Init::from(i))));
        put(
            "optimizer",
            self.optimizer.map(|o| to_value(OptimizerKind::from(o))),
        );
        put("momentum", self.momentum.map(Value::from));
        put("nesterov", self.nesterov.map(Value::from));
        put("weight_decay", self.weight_decay.map(Value::from));
        put("lr_schedule", self.lr_schedule.clone());
        put("clip_norm", self.clip_norm.map(Value::from));
        put("patience", self.patience.map(Value::from));
        put(
            "sparse_updates",
            self.sparse_updates
                .map(|s| to_value(SparseUpdates::from(s))),
        );
        m
    }
}

/// `zero`, `average`, `global` or a number.
fn parse_default_rating(s: &str) -> Result<Value, String> {
    match s {
        "zero" | "average" | "global" => Ok(json!(s)),
        _ => s
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(|v| json!(v))
            .ok_or_else(|| format!("{s:?}: expected zero, average, global or a rating value")),
    }
}

/// `constant`, `step:EVERY:GAMMA` or `multistep:M1,M2,...:GAMMA`.
fn parse_lr_schedule(s: &str) -> Result<Value, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let gamma = |g: &str| {
        g.parse::<f64>()
            .ok()
            .filter(|g| g.is_finite())
            .ok_or_else(|| format!("{s:?}: gamma {g:?} is not a finite number"))
    };
    match parts.as_slice() {
        ["constant"] => Ok(json!("constant")),
        ["step", every, g] => {
            let every: usize = every
                .parse()
                .map_err(|_| format!("{s:?}: step size {every:?} is not a whole number"))?;
            Ok(json!({"step": {"every": every, "gamma": gamma(g)?}}))
        }
        ["multistep", ms, g] => {
            let milestones = ms
                .split(',')
                .map(|m| m.trim().parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| format!("{s:?}: milestones {ms:?} must be whole numbers"))?;
            Ok(json!({"multistep": {"milestones": milestones, "gamma": gamma(g)?}}))
        }
        _ => Err(format!(
            "{s:?}: expected constant, step:EVERY:GAMMA or multistep:M1,M2:GAMMA"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::autoencoder::AutoencoderConfig;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        ae: AutoencoderArgs,
    }

    fn parse(args: &[&str]) -> Map<String, Value> {
        let mut v = vec!["t"];
        v.extend_from_slice(args);
        Cli::try_parse_from(v).unwrap().ae.overrides()
    }

    /// Merges overrides into the default config, as the CLI does.
    fn config(args: &[&str]) -> AutoencoderConfig {
        let mut base = serde_json::to_value(AutoencoderConfig::default()).unwrap();
        for (k, v) in parse(args) {
            base[k] = v;
        }
        serde_json::from_value(base).unwrap()
    }

    #[test]
    fn no_flags_no_overrides() {
        assert!(parse(&[]).is_empty());
    }

    #[test]
    fn layers_list() {
        assert_eq!(
            config(&["--layers", "512,512,1024"]).layers,
            vec![512, 512, 1024]
        );
    }

    #[test]
    fn bool_flags_bare_and_valued() {
        let c = config(&[
            "--mirror",
            "--tied",
            "false",
            "--center",
            "--nesterov",
            "--residual",
        ]);
        assert!(c.mirror && !c.tied && c.center && c.nesterov && c.residual);
    }

    #[test]
    fn enums() {
        let c = config(&[
            "--based",
            "item",
            "--activation",
            "selu",
            "--output-activation",
            "relu6",
            "--init",
            "kaiming",
            "--optimizer",
            "adamw",
            "--sparse-updates",
            "lazy",
        ]);
        assert_eq!(c.based, Based::Item);
        assert_eq!(c.activation, Activation::Selu);
        assert_eq!(c.output_activation, Activation::Relu6);
        assert_eq!(c.init, Init::Kaiming);
        assert_eq!(c.optimizer, OptimizerKind::Adamw);
        assert_eq!(c.sparse_updates, SparseUpdates::Lazy);
    }

    #[test]
    fn default_rating_forms() {
        use crate::model::autoencoder::{DefaultKind, DefaultRating};
        assert_eq!(
            config(&["--default-rating", "average"]).default_rating,
            DefaultRating::Named(DefaultKind::Average)
        );
        assert_eq!(
            config(&["--default-rating", "3"]).default_rating,
            DefaultRating::Value(3.0)
        );
        assert!(Cli::try_parse_from(["t", "--default-rating", "mean"]).is_err());
    }

    #[test]
    fn lr_schedules() {
        use crate::model::autoencoder::LrSchedule;
        assert_eq!(
            config(&["--lr-schedule", "step:10:0.5"]).lr_schedule,
            LrSchedule::Step {
                every: 10,
                gamma: 0.5
            }
        );
        assert_eq!(
            config(&["--lr-schedule", "multistep:30,60:0.1"]).lr_schedule,
            LrSchedule::Multistep {
                milestones: vec![30, 60],
                gamma: 0.1
            }
        );
        assert_eq!(
            config(&["--lr-schedule", "constant"]).lr_schedule,
            LrSchedule::Constant
        );
        assert!(Cli::try_parse_from(["t", "--lr-schedule", "step:x:0.5"]).is_err());
    }

    #[test]
    fn numbers() {
        let c = config(&[
            "--dropout",
            "0.8",
            "--input-dropout",
            "0.7",
            "--noise-std",
            "0.1",
            "--noise-all",
            "--refeed",
            "2",
            "--momentum",
            "0.9",
            "--weight-decay",
            "0.01",
            "--clip-norm",
            "5",
            "--patience",
            "3",
            "--last-layer-activation",
        ]);
        assert_eq!((c.dropout, c.input_dropout, c.noise_std), (0.8, 0.7, 0.1));
        assert!(c.noise_all && c.last_layer_activation);
        assert_eq!((c.refeed, c.patience, c.clip_norm), (2, Some(3), Some(5.0)));
        assert_eq!((c.momentum, c.weight_decay), (0.9, 0.01));
    }
}
