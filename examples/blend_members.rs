//! A blend against its own members, on the same split and the same fits.
//!
//! ```text
//! cargo run --release --example blend_members -- DATASET CONFIG.toml SEED...
//! ```
//!
//! DATASET is `ml100k-u1` (`../shared/data/ml-100k/u.data`, the canonical
//! u1 split, as `--method ml100k-u1`) or `mlsmall` (`ml-latest-small`,
//! random 90/10, as `--test-fraction 0.1`). For each SEED the split and the
//! 5 % validation carve use that seed, as `aerec train --config CONFIG.toml
//! --valid-fraction 0.05 --seed SEED` does; every member of the blend CONFIG
//! is fitted once with the seed the blend gives it, scored on validation and
//! test, and the blend's weights are fitted from those validation
//! predictions (`BlendConfig::from_fitted`), once without and once with
//! meta-features, so the table compares blends and members that share every
//! fitted weight. The blend with CONFIG's own `meta_features` is exactly
//! what `aerec train` fits. Test RMSE is clipped to the rating scale, with
//! the bias fallback for cold pairs; CPU seconds are the process's user +
//! system time over each fit (rayon threads included).
//! docs/blend.md has the tables this prints.

use aerec::data::read::{read_ratings, ReadOptions};
use aerec::data::split::{split, Input, SplitConfig, SplitMethod};
use aerec::eval::{evaluate, EvalOptions};
use aerec::model::blend::{valid_predictions, BlendConfig, MEMBER_SEED_STRIDE};
use aerec::model::trained::BiasFallback;
use aerec::model::{FitData, FitOptions, FitReport, ModelSpec, TrainedModel};

/// User + system CPU seconds of this process so far.
fn cpu_seconds() -> f64 {
    // /proc/self/stat fields 14 and 15 (utime, stime) in clock ticks; Linux
    // reports them at USER_HZ = 100.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |k: usize| f.get(k).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) / 100.0
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dataset, config, seeds @ ..] = args.as_slice() else {
        anyhow::bail!("usage: blend_members DATASET CONFIG.toml SEED...");
    };
    let data_dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");
    let (path, method) = match dataset.as_str() {
        "ml100k-u1" => (format!("{data_dir}/ml-100k/u.data"), SplitMethod::Ml100k(1)),
        "mlsmall" => (
            format!("{data_dir}/ml-latest-small/ratings.csv"),
            SplitMethod::Random,
        ),
        other => anyhow::bail!("unknown data set {other:?} (ml100k-u1, mlsmall)"),
    };
    if !std::path::Path::new(&path).is_file() {
        println!("skipped: {path} is absent");
        return Ok(());
    }
    let table: toml::Table = toml::from_str(&std::fs::read_to_string(config)?)?;
    let spec = ModelSpec::from_json(&serde_json::to_value(table)?)?;
    let Some(blend) = spec.config::<BlendConfig>().cloned() else {
        anyhow::bail!("{config}: not a blend (model = \"blend\")");
    };
    let data = read_ratings(&path, &ReadOptions::new())?;
    let scale = data.scale.expect("the file has ratings");
    let input = Input::Whole(data.ratings);
    let eval = EvalOptions {
        clip: true,
        ranking: None,
    };
    println!("dataset {dataset}, config {config}");
    println!("seed  model                      valid    test     cpu_s");
    for seed in seeds {
        let seed: u64 = seed.parse()?;
        let parts = split(
            &input,
            &SplitConfig {
                method,
                test_fraction: 0.1,
                valid_fraction: Some(0.05),
                seed,
                ..SplitConfig::default()
            },
        )?;
        let valid = parts.valid.as_ref().expect("a validation fraction was set");
        let by_user = parts.train.by_user();
        let fit_data = FitData::new(
            &parts.train,
            &by_user,
            aerec::data::filter::declared_or_inferred_scale(None, &parts.train).unwrap(),
        )
        .unwrap()
        .with_valid(Some(valid));
        let fallback = BiasFallback::fit(&by_user);
        let wrap = |spec: &ModelSpec, model, report: FitReport| TrainedModel {
            model,
            spec: spec.clone(),
            user_ids: parts.train.user_ids.clone(),
            item_ids: parts.train.item_ids.clone(),
            train: by_user.clone(),
            fallback: fallback.clone(),
            scale,
            report,
            titles: Default::default(),
        };
        let mut fitted = Vec::new();
        let mut predictions = Vec::new();
        let mut members_cpu = 0.0;
        for (k, spec) in blend.members.iter().enumerate() {
            let opts = FitOptions {
                seed: seed.wrapping_add(k as u64 * MEMBER_SEED_STRIDE),
                progress: false,
                ..FitOptions::default()
            };
            let cpu = cpu_seconds();
            let (model, report) = spec.fit(&fit_data, &opts)?;
            let cpu = cpu_seconds() - cpu;
            members_cpu += cpu;
            predictions.push(valid_predictions(model.as_ref(), &by_user, valid)?);
            let trained = wrap(spec, model, report);
            let v = evaluate(&trained, valid, &eval)?.rating.rmse;
            let t = evaluate(&trained, &parts.test, &eval)?.rating.rmse;
            println!(
                "{seed:<5} {:<26} {v:.4}   {t:.4}   {cpu:.1}",
                format!("{}:{}", k + 1, spec.kind())
            );
            fitted.push(trained);
        }
        for meta in [false, true] {
            let config = BlendConfig {
                members: blend.members.clone(),
                meta_features: meta,
            };
            // from_fitted takes the members; the TrainedModels keep theirs,
            // so each member is rebuilt from its parts (an exact copy).
            let members = fitted
                .iter()
                .map(|t| aerec::model::registry::load_model(&t.model.to_parts()))
                .collect::<aerec::Result<Vec<_>>>()?;
            let cpu = cpu_seconds();
            let (model, fit) = config.from_fitted(members, &predictions, &fit_data)?;
            let cpu = cpu_seconds() - cpu + members_cpu;
            let spec = ModelSpec::new(config.clone())?;
            let trained = wrap(&spec, Box::new(model), FitReport::default());
            let v = evaluate(&trained, valid, &eval)?.rating.rmse;
            let t = evaluate(&trained, &parts.test, &eval)?.rating.rmse;
            let name = if meta { "blend+meta" } else { "blend" };
            println!("{seed:<5} {name:<26} {v:.4}   {t:.4}   {cpu:.1}");
            let notes = fit.notes();
            for note in &notes[notes.len() - 2..] {
                println!("      {note}");
            }
        }
    }
    Ok(())
}
