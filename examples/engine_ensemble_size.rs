//! How many members a seed ensemble needs, chosen on validation.
//!
//! `cargo run --release --example engine_ensemble_size -- CONFIG.toml K SEED [--test]`
//!
//! Builds the canonical ML-100K u1 split from `../shared/data/ml-100k/u.data`,
//! carves 5 % of u1.base as validation with `SEED`, fits `K` members of the
//! config with seeds `SEED·1000 + k` on the same data, and prints after each
//! member the validation RMSE of that member and of the mean of the first k.
//! The test RMSE of the mean is printed only with `--test`: the member count
//! is chosen on validation, and the test set is touched once, for the choice.
//! BENCHMARKS.md (issue 3, accuracy) has the table this prints.

use aerec::data::read::{read_ratings, ReadOptions};
use aerec::data::split::{split, Input, SplitConfig, SplitMethod};
use aerec::model::{FitOptions, ModelSpec, TrainedModel};
use aerec::Ratings;

fn rmse(sum: &[f64], n: usize, truth: &Ratings) -> f64 {
    let se: f64 = sum
        .iter()
        .zip(&truth.values)
        .map(|(s, &r)| (s / n as f64 - r as f64).powi(2))
        .sum();
    (se / sum.len() as f64).sqrt()
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [config, k, seed, rest @ ..] = args.as_slice() else {
        anyhow::bail!("usage: engine_ensemble_size CONFIG.toml K SEED [--test]");
    };
    let show_test = rest.iter().any(|a| a == "--test");
    let members: usize = k.parse()?;
    let seed: u64 = seed.parse()?;
    let table: toml::Table = toml::from_str(&std::fs::read_to_string(config)?)?;
    let mut settings = serde_json::to_value(table)?;
    // The members are fitted one by one here, so that every prefix is scored.
    settings.as_object_mut().map(|m| m.remove("ensemble"));
    let spec = ModelSpec::from_json(&settings)?;
    let path = "../shared/data/ml-100k/u.data";
    if !std::path::Path::new(path).is_file() {
        println!("skipped: {path} is absent (MovieLens 100K is not redistributed)");
        return Ok(());
    }
    let data = read_ratings(path, &ReadOptions::new())?;
    let scale = data.scale.expect("u.data has ratings");
    let config = SplitConfig {
        method: SplitMethod::Ml100k(1),
        valid_fraction: Some(0.05),
        seed,
        ..SplitConfig::default()
    };
    let parts = split(&Input::Whole(data.ratings), &config)?;
    let valid = parts.valid.as_ref().expect("a validation fraction was set");
    let (mut valid_sum, mut test_sum) = (vec![0f64; valid.len()], vec![0f64; parts.test.len()]);
    println!(
        "members  member_valid  mean_valid{}",
        if show_test { "  mean_test" } else { "" }
    );
    for k in 0..members {
        let opts = FitOptions {
            seed: seed * 1000 + k as u64,
            progress: false,
            ..FitOptions::default()
        };
        let model = TrainedModel::fit(&spec, &parts.train, Some(valid), None, scale, &opts)?;
        let clip = |r: &Ratings| -> aerec::Result<Vec<f64>> {
            Ok(model
                .predict_ratings(r)?
                .iter()
                .map(|p| scale.clip(p.value) as f64)
                .collect())
        };
        let v = clip(valid)?;
        let one = rmse(&v, 1, valid);
        valid_sum.iter_mut().zip(&v).for_each(|(s, x)| *s += x);
        clip(&parts.test)?
            .iter()
            .zip(test_sum.iter_mut())
            .for_each(|(x, s)| *s += x);
        print!(
            "{:7}  {one:12.4}  {:10.4}",
            k + 1,
            rmse(&valid_sum, k + 1, valid)
        );
        if show_test {
            print!("  {:9.4}", rmse(&test_sum, k + 1, &parts.test));
        }
        println!();
    }
    Ok(())
}
