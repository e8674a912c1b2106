//! Flags of the baseline models (help heading "Baselines"). The common model
//! flags (`--model --epochs --lr --l2 --factors`) are the train command's;
//! these only reach settings that exist for one baseline.

use clap::builder::PossibleValuesParser;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Baseline-specific settings, each optional: a flag left out keeps the
/// config's (or the model's default) value.
#[derive(Debug, Clone, Default, PartialEq, clap::Args)]
#[command(next_help_heading = "Baselines")]
pub struct BaselineArgs {
    /// svd: what unrated cells hold: 0 (as the SVD assignment) or the user's mean.
    #[arg(long, value_name = "FILL", value_parser = PossibleValuesParser::new(["zero", "mean"]))]
    pub svd_fill: Option<String>,
    /// svd: solver: dense exact SVD, randomized sparse SVD, or auto by size.
    #[arg(long, value_name = "METHOD", value_parser = PossibleValuesParser::new(["auto", "exact", "randomized"]))]
    pub svd_method: Option<String>,
    /// svd: largest users × items the exact solver densifies.
    #[arg(long, value_name = "CELLS")]
    pub svd_dense_limit: Option<usize>,
    /// svd: randomized solver's extra sketch columns.
    #[arg(long, value_name = "N")]
    pub svd_oversample: Option<usize>,
    /// svd: randomized solver's power iterations.
    #[arg(long, value_name = "N")]
    pub svd_power_iters: Option<usize>,
    /// biases: alternating least squares (Surprise's default) or SGD.
    #[arg(long, value_name = "METHOD", value_parser = PossibleValuesParser::new(["als", "sgd"]))]
    pub biases_method: Option<String>,
    /// biases (ALS): damping of the user biases (default 15).
    #[arg(long, value_name = "X")]
    pub reg_u: Option<f32>,
    /// biases (ALS): damping of the item biases (default 10).
    #[arg(long, value_name = "X")]
    pub reg_i: Option<f32>,
    /// mf, svdpp: standard deviation of the normal factor initialisation (default 0.1).
    #[arg(long, value_name = "X")]
    pub init_std: Option<f32>,
    /// mf, svdpp: mean of the normal factor initialisation (default 0).
    #[arg(long, value_name = "X")]
    pub init_mean: Option<f32>,
    /// mf, svdpp: no user and item biases (r̂ = q_iᵀ p_u).
    #[arg(long)]
    pub unbiased: bool,
}

impl BaselineArgs {
    /// The config keys these flags set for a model of `kind` (`"svd"`,
    /// `"biases"`, `"mf"`, `"svdpp"`, …). A flag that belongs to another
    /// kind is an error, so no flag is silently ignored.
    pub fn overrides(&self, kind: &str) -> Result<Map<String, Value>> {
        let float = |x: f32| Value::from(x as f64);
        let flags: [(&str, &str, &[&str], Option<Value>); 11] = [
            (
                "--svd-fill",
                "fill",
                &["svd"],
                self.svd_fill.clone().map(Value::from),
            ),
            (
                "--svd-method",
                "method",
                &["svd"],
                self.svd_method.clone().map(Value::from),
            ),
            (
                "--svd-dense-limit",
                "dense_limit",
                &["svd"],
                self.svd_dense_limit.map(Value::from),
            ),
            (
                "--svd-oversample",
                "oversample",
                &["svd"],
                self.svd_oversample.map(Value::from),
            ),
            (
                "--svd-power-iters",
                "power_iters",
                &["svd"],
                self.svd_power_iters.map(Value::from),
            ),
            (
                "--biases-method",
                "method",
                &["biases"],
                self.biases_method.clone().map(Value::from),
            ),
            ("--reg-u", "reg_u", &["biases"], self.reg_u.map(float)),
            ("--reg-i", "reg_i", &["biases"], self.reg_i.map(float)),
            (
                "--init-std",
                "init_std",
                &["mf", "svdpp"],
                self.init_std.map(float),
            ),
            (
                "--init-mean",
                "init_mean",
                &["mf", "svdpp"],
                self.init_mean.map(float),
            ),
            (
                "--unbiased",
                "biased",
                &["mf", "svdpp"],
                self.unbiased.then_some(Value::Bool(false)),
            ),
        ];
        let mut out = Map::new();
        for (flag, key, kinds, value) in flags {
            let Some(value) = value else { continue };
            if !kinds.contains(&kind) {
                return Err(Error::config(format!(
                    "{flag} applies to --model {}, not {kind}",
                    kinds.join("|")
                )));
            }
            out.insert(key.to_string(), value);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        baseline: BaselineArgs,
    }

    fn parse(args: &[&str]) -> BaselineArgs {
        Cli::try_parse_from(std::iter::once("t").chain(args.iter().copied()))
            .unwrap()
            .baseline
    }

    #[test]
    fn each_flag_sets_its_key_for_its_model() {
        let cases: [(&[&str], &str, &str, Value); 11] = [
            (&["--svd-fill", "zero"], "svd", "fill", "zero".into()),
            (
                &["--svd-method", "randomized"],
                "svd",
                "method",
                "randomized".into(),
            ),
            (
                &["--svd-dense-limit", "100"],
                "svd",
                "dense_limit",
                100.into(),
            ),
            (&["--svd-oversample", "5"], "svd", "oversample", 5.into()),
            (&["--svd-power-iters", "3"], "svd", "power_iters", 3.into()),
            (
                &["--biases-method", "sgd"],
                "biases",
                "method",
                "sgd".into(),
            ),
            (&["--reg-u", "5"], "biases", "reg_u", 5.0.into()),
            (&["--reg-i", "2.5"], "biases", "reg_i", 2.5.into()),
            (&["--init-std", "0.25"], "mf", "init_std", 0.25.into()),
            (&["--init-mean", "0.5"], "svdpp", "init_mean", 0.5.into()),
            (&["--unbiased"], "mf", "biased", false.into()),
        ];
        for (args, kind, key, value) in cases {
            let o = parse(args).overrides(kind).unwrap();
            assert_eq!(o.len(), 1, "{args:?}");
            assert_eq!(o[key], value, "{args:?}");
        }
    }

    #[test]
    fn a_flag_for_another_model_is_an_error() {
        let e = parse(&["--svd-fill", "mean"]).overrides("mf").unwrap_err();
        assert!(
            e.to_string().contains("--svd-fill applies to --model svd"),
            "{e}"
        );
        assert!(parse(&[]).overrides("autoencoder").unwrap().is_empty());
    }

    #[test]
    fn bad_values_are_refused_by_the_parser() {
        let bad = Cli::try_parse_from(["t", "--svd-fill", "median"]);
        assert!(bad.is_err());
    }

    #[test]
    fn overrides_deserialise_into_the_model_configs() {
        use crate::model::ModelSpec;
        let args = parse(&["--svd-fill", "zero", "--svd-method", "exact"]);
        let mut table = args.overrides("svd").unwrap();
        table.insert("model".into(), "svd".into());
        let spec: ModelSpec = serde_json::from_value(Value::Object(table)).unwrap();
        let c = spec
            .config::<crate::model::baseline::SvdConfig>()
            .expect("an svd config");
        assert_eq!(c.fill, crate::model::baseline::SvdFill::Zero);
        assert_eq!(c.method, crate::model::baseline::SvdMethod::Exact);
    }
}
