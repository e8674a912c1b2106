//! Splits and filters on a MovieLens-1M-shaped synthetic set (1,000,209
//! ratings): each should cost a few passes over the ratings.
//!
//! Run: `cargo bench --bench prep_split`.

use aerec::data::filter::{filter, FilterConfig};
use aerec::data::split::{split, split_all, Input, SplitConfig, SplitMethod};
use aerec::data::synth::{generate, Shape, SynthConfig};
use criterion::{criterion_group, criterion_main, Criterion};

fn splits(c: &mut Criterion) {
    let input = Input::Whole(generate(&SynthConfig::shape(Shape::Ml1m, 1)).unwrap());
    let mut group = c.benchmark_group("split_ml1m");
    group.sample_size(10);
    for method in [
        SplitMethod::Random,
        SplitMethod::User,
        SplitMethod::Time,
        SplitMethod::UserTime,
    ] {
        let config = SplitConfig {
            method,
            ..Default::default()
        };
        group.bench_function(method.to_string(), |b| {
            b.iter(|| split(&input, &config).unwrap())
        });
    }
    let kfold = SplitConfig {
        method: SplitMethod::KFold,
        folds: 5,
        ..Default::default()
    };
    group.bench_function("kfold-5-all", |b| {
        b.iter(|| split_all(&input, &kfold).unwrap())
    });
    let with_valid = SplitConfig {
        valid_fraction: Some(0.1),
        ..Default::default()
    };
    group.bench_function("random+valid", |b| {
        b.iter(|| split(&input, &with_valid).unwrap())
    });
    let Input::Whole(ratings) = &input else {
        unreachable!()
    };
    let core = FilterConfig {
        min_user: 50,
        min_item: 50,
        iterate: true,
    };
    group.bench_function("k-core-50", |b| b.iter(|| filter(ratings, &core)));
    group.finish();
}

criterion_group!(benches, splits);
criterion_main!(benches);
