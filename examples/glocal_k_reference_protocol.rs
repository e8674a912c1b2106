//! GLocal-K on ML-100K u1 under the reference implementation's protocol,
//! to check that aerec's GLocal-K reproduces the paper's number (0.8889):
//!
//! ```text
//! cargo run --release --example glocal_k_reference_protocol -- [SEED...]
//! ```
//!
//! The reference (`usydnlp/Glocal_K`) trains on all of u1.base and keeps the
//! fine-tuning epoch with the best **test** RMSE; the paper reports that
//! number. This example does the same by handing the test ratings to the
//! fit as its "validation" set, and prints, per seed, the best test epoch,
//! the test RMSE of the last epoch (what the fixed published schedule gives
//! without looking at test), and the CPU time. It is a reproduction check
//! only: choosing an epoch on test overstates accuracy, and aerec itself
//! never does it (`aerec train` chooses on a validation carve, or keeps the
//! last epoch; docs/glocal-k.md has both).

use aerec::data::read::{read_ratings, ReadOptions};
use aerec::data::split::{split, Input, SplitConfig, SplitMethod};
use aerec::model::glocal_k::GlocalKConfig;
use aerec::model::{FitOptions, ModelSpec, TrainedModel};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data");

fn cpu_seconds() -> f64 {
    // user + system time of this process, from /proc (Linux), in clock ticks.
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

fn main() -> aerec::Result<()> {
    let seeds: Vec<u64> = std::env::args()
        .skip(1)
        .map(|s| s.parse().expect("seeds are integers"))
        .collect();
    let seeds = if seeds.is_empty() { vec![1] } else { seeds };
    let path = format!("{DATA}/ml-100k/u.data");
    let read = read_ratings(&path, &ReadOptions::new())?;
    let scale = read.scale.expect("ML-100K has ratings 1 to 5");
    let u1 = SplitConfig {
        method: SplitMethod::Ml100k(1),
        ..SplitConfig::default()
    };
    let parts = split(&Input::Whole(read.ratings), &u1)?;
    let config = GlocalKConfig::preset("glocal-k")?;
    let pretrain = config.pretrain_epochs;
    let spec = ModelSpec::new(config)?;
    println!("seed\tbest test epoch\tbest test RMSE\tlast epoch test RMSE\tCPU s");
    for seed in seeds {
        let cpu0 = cpu_seconds();
        let opts = FitOptions {
            seed,
            ..FitOptions::default()
        };
        let model = TrainedModel::fit(&spec, &parts.train, Some(&parts.test), None, scale, &opts)?;
        let history = &model.report.history;
        let (best_epoch, best) = history
            .iter()
            // Fine-tuning epochs only, as the reference tracks its best.
            .filter(|e| e.epoch > pretrain)
            .filter_map(|e| Some((e.epoch, e.valid_rmse?)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .expect("every epoch is scored");
        let last = history
            .last()
            .and_then(|e| e.valid_rmse)
            .unwrap_or(f64::NAN);
        println!(
            "{seed}\t{best_epoch}\t{best:.4}\t{last:.4}\t{:.0}",
            cpu_seconds() - cpu0
        );
    }
    Ok(())
}
