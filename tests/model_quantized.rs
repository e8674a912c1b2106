//! The 4-bit top-N ([`QuantizedRows`]) must give exactly what scoring every
//! row in f32 and selecting gives: the same items, in the same order, with
//! bit-identical scores. The reference here is that full scan, written out
//! with the engine's own `dot` and `model::top_n`.

use aerec::data::synth::{generate, SynthConfig};
use aerec::model::autoencoder::config::{AutoencoderConfig, Based, OptimizerKind};
use aerec::model::autoencoder::real::dot;
use aerec::model::autoencoder::{Activation, Autoencoder, QUANTIZED_MIN_CELLS};
use aerec::model::quantized::{Bias, QuantizedRows, RowScorer, CANDIDATES_PER_ITEM};
use aerec::model::top_n;
use aerec::model::{FitData, FitOptions, Recommender, SparseRow};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// One random case: a matrix, a query, biases, exclusions, an activation.
struct Case {
    rows: usize,
    dim: usize,
    data: Vec<f32>,
    x: Vec<f32>,
    bias: Vec<f32>,
    exclude: Vec<u32>,
    act: Activation,
    shift: f32,
}

impl Case {
    fn random(rng: &mut SmallRng) -> Self {
        let rows = rng.random_range(200..1500);
        let dim = rng.random_range(1..150);
        let spread = [0.01f32, 1.0, 30.0][rng.random_range(0..3)];
        let mut data: Vec<f32> = (0..rows * dim)
            .map(|_| rng.random_range(-spread..spread))
            .collect();
        // Exact ties: copies of earlier rows, which only the index orders.
        for _ in 0..rng.random_range(0..20) {
            let (from, to) = (rng.random_range(0..rows), rng.random_range(0..rows));
            let row = data[from * dim..(from + 1) * dim].to_vec();
            data[to * dim..(to + 1) * dim].copy_from_slice(&row);
        }
        // A positive code with a large mean (after a sigmoid) or a centred one.
        let x: Vec<f32> = if rng.random_bool(0.5) {
            (0..dim).map(|_| rng.random_range(0.0..1.0)).collect()
        } else {
            (0..dim).map(|_| rng.random_range(-2.0..2.0)).collect()
        };
        let bias = (0..rows).map(|_| rng.random_range(-1.0..1.0)).collect();
        let exclude = (0..rows as u32).filter(|_| rng.random_bool(0.1)).collect();
        // Relu and a steep sigmoid saturate: many exactly equal scores.
        let act = [
            Activation::Identity,
            Activation::Sigmoid,
            Activation::Relu,
            Activation::Relu6,
            Activation::Elu,
            Activation::Selu,
            Activation::Lrelu,
        ][rng.random_range(0..7)];
        Case {
            rows,
            dim,
            data,
            x,
            bias,
            exclude,
            act,
            shift: [0.0, 3.5][rng.random_range(0..2)],
        }
    }

    fn row(&self, i: usize) -> &[f32] {
        &self.data[i * self.dim..(i + 1) * self.dim]
    }

    fn g(&self) -> impl Fn(f32) -> f32 + '_ {
        move |p| self.act.apply(p) + self.shift
    }

    /// The full f32 scan and selection.
    fn reference(&self, shared: bool, n: usize) -> Vec<(u32, f32)> {
        let scores: Vec<f32> = (0..self.rows)
            .map(|i| (self.g())(self.pre(shared, i)))
            .collect();
        top_n(&scores, n, &self.exclude)
    }

    fn pre(&self, shared: bool, i: usize) -> f32 {
        let c = if shared { self.bias[0] } else { self.bias[i] };
        dot(self.row(i), &self.x) + c
    }

    fn quantized(
        &self,
        index: &QuantizedRows,
        shared: bool,
        n: usize,
        parallel: bool,
    ) -> Option<(Vec<(u32, f32)>, usize)> {
        let bias = if shared {
            Bias::Shared(self.bias[0])
        } else {
            Bias::PerRow(&self.bias)
        };
        let scorer = RowScorer {
            x: &self.x,
            bias,
            g: self.g(),
            exact: |i| self.pre(shared, i),
        };
        index
            .top_n(&scorer, n, &self.exclude, parallel)
            .map(|t| (t.items, t.rescored))
    }
}

#[test]
fn equals_the_full_f32_scan_on_random_cases() {
    let mut rng = SmallRng::seed_from_u64(11);
    let (mut answered, mut widened) = (0, 0);
    for case_no in 0..120 {
        let case = Case::random(&mut rng);
        let index = QuantizedRows::new(&case.data, case.rows, case.dim).unwrap();
        for n in [1, 3, 10, 40] {
            let shared = rng.random_bool(0.3);
            let parallel = rng.random_bool(0.5);
            let want = case.reference(shared, n);
            match case.quantized(&index, shared, n, parallel) {
                Some((got, rescored)) => {
                    assert_eq!(got, want, "case {case_no}, n = {n}, {:?}", case.act);
                    answered += 1;
                    if rescored > n * CANDIDATES_PER_ITEM {
                        widened += 1;
                    }
                }
                // Only when the catalogue is too small to save anything,
                // or the n-th score is the activation's floor (relu's 0),
                // which every row might reach, so nothing can be ruled out.
                None => assert!(
                    case.rows <= n * CANDIDATES_PER_ITEM + case.exclude.len()
                        || want.len() < n
                        || want[n - 1].1 == (case.g())(-f32::MAX),
                    "case {case_no}: no answer for n = {n} ({:?})",
                    case.act
                ),
            }
        }
    }
    assert!(answered > 300, "only {answered} cases took the 4-bit path");
    // The bound must have had to widen the candidate set now and then, or
    // the test never exercised it.
    assert!(
        widened > 10,
        "the bound widened only {widened} candidate sets"
    );
}

/// Rows that differ by less than the quantization step: the 4-bit scan
/// cannot order them, so the true top-n lies outside the preselected
/// candidates and only the bound's second pass finds it.
#[test]
fn near_duplicates_beyond_the_candidates_are_found() {
    let (rows, dim) = (2000, 64);
    let mut rng = SmallRng::seed_from_u64(5);
    let base: Vec<f32> = (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect();
    let data: Vec<f32> = (0..rows)
        .flat_map(|_| {
            base.iter()
                .map(|&b| b + rng.random_range(-1e-4..1e-4))
                .collect::<Vec<f32>>()
        })
        .collect();
    let case = Case {
        rows,
        dim,
        data,
        x: (0..dim).map(|_| rng.random_range(-1.0..1.0)).collect(),
        bias: vec![0.0; rows],
        exclude: vec![3, 4, 1999],
        act: Activation::Identity,
        shift: 0.0,
    };
    let index = QuantizedRows::new(&case.data, rows, dim).unwrap();
    for n in [1, 10, 100] {
        let (got, rescored) = case.quantized(&index, false, n, true).unwrap();
        assert_eq!(got, case.reference(false, n), "n = {n}");
        assert!(
            rescored > n * CANDIDATES_PER_ITEM,
            "n = {n}: {rescored} rescored"
        );
    }
}

#[test]
fn declines_what_it_cannot_answer() {
    let data = vec![1.0f32; 100 * 4];
    let index = QuantizedRows::new(&data, 100, 4).unwrap();
    let scorer = |x: &'static [f32]| RowScorer {
        x,
        bias: Bias::Shared(0.0),
        g: |p: f32| p,
        exact: |_: usize| 4.0f32,
    };
    // More candidates than rows: the caller scans.
    assert!(index.top_n(&scorer(&[1.0; 4]), 20, &[], false).is_none());
    // A query that is not finite, or of the wrong width.
    let nan = &[f32::NAN, 0.0, 0.0, 0.0];
    assert!(index.top_n(&scorer(nan), 1, &[], false).is_none());
    assert!(index.top_n(&scorer(&[1.0; 3]), 1, &[], false).is_none());
    // All equal scores: every row ties, the lowest indices win.
    let top = index.top_n(&scorer(&[1.0; 4]), 3, &[0], false).unwrap();
    assert_eq!(top.items, vec![(1, 4.0), (2, 4.0), (3, 4.0)]);
    assert_eq!(top.rescored, 99, "every tie must be rescored");
    assert!(QuantizedRows::new(&[1.0, f32::INFINITY], 1, 2).is_none());
    assert!(QuantizedRows::new(&[1.0; 6], 2, 2).is_none());
}

/// The activations the 4-bit path trusts must be monotone in f32, which
/// its proof needs; checked on a dense grid through every decade.
#[test]
fn trusted_activations_are_monotone_in_f32() {
    for act in [
        Activation::Identity,
        Activation::Sigmoid,
        Activation::Relu,
        Activation::Relu6,
        Activation::Elu,
        Activation::Selu,
        Activation::Lrelu,
    ] {
        let mut xs: Vec<f32> = Vec::new();
        for e in -30..=30 {
            let scale = 10f32.powi(e);
            xs.extend((1..=2000).map(|k| k as f32 * scale / 200.0));
        }
        xs.extend(xs.clone().iter().map(|x| -x));
        xs.extend([0.0, -0.0, f32::MAX, -f32::MAX]);
        xs.sort_by(f32::total_cmp);
        for w in xs.windows(2) {
            let (a, b) = (act.apply(w[0]), act.apply(w[1]));
            assert!(
                a.total_cmp(&b).is_le(),
                "{act:?}: f({}) = {a} > f({}) = {b}",
                w[0],
                w[1]
            );
        }
    }
}

fn fit(based: Based, output: Activation) -> (Autoencoder, aerec::Csr) {
    let ratings = generate(&SynthConfig::custom(300, 2100, 9000, 7)).unwrap();
    let config = AutoencoderConfig {
        based,
        layers: vec![500],
        epochs: 1,
        optimizer: OptimizerKind::Sgd,
        lr: 0.05,
        output_activation: output,
        ..AutoencoderConfig::default()
    };
    let by_user = ratings.by_user();
    let data = FitData::new(
        &ratings,
        &by_user,
        aerec::data::filter::declared_or_inferred_scale(None, &ratings).unwrap(),
    )
    .unwrap();
    let (model, _) = config.fit(&data, &FitOptions::default()).unwrap();
    (model, by_user)
}

/// Models big enough for the serving copy: top-N for known users and for
/// a new user equals the full scan, and a reloaded model rebuilds the copy.
#[test]
fn models_rank_exactly_with_their_serving_copy() {
    for (based, output) in [
        (Based::User, Activation::Identity),
        (Based::User, Activation::Sigmoid),
        (Based::Item, Activation::Identity),
    ] {
        let (model, train) = fit(based, output);
        let cells = model.n_items() * 500;
        assert!(cells >= QUANTIZED_MIN_CELLS && model.has_quantized_top_n());
        let mut scores = vec![0f32; model.n_items()];
        for u in (0..train.n_rows as u32).step_by(7) {
            let row = SparseRow::of(&train, u as usize);
            let seen = train.row(u as usize).0;
            model.score_all(Some(u), row, &mut scores).unwrap();
            for n in [1, 10, 50] {
                let want = top_n(&scores, n, seen);
                assert_eq!(
                    model.top_n(Some(u), row, n, seen).unwrap(),
                    want,
                    "{based:?} user {u}"
                );
                let quick = model
                    .quantized_top_n(Some(u), row, n, seen)
                    .unwrap()
                    .unwrap();
                assert_eq!(quick.items, want);
            }
        }
        // A new user, folded in from a few ratings.
        let (idx, val) = ([3u32, 40, 1000], [5.0f32, 1.0, 4.0]);
        let row = SparseRow {
            indices: &idx,
            values: &val,
        };
        model.score_all(None, row, &mut scores).unwrap();
        assert_eq!(
            model.top_n(None, row, 10, &idx).unwrap(),
            top_n(&scores, 10, &idx)
        );
        assert!(model
            .quantized_top_n(None, row, 10, &idx)
            .unwrap()
            .is_some());
        let back = Autoencoder::from_parts(&model.to_parts()).unwrap();
        assert!(back.has_quantized_top_n(), "{based:?}: not rebuilt at load");
    }
    // Tanh's f32 approximation is not trusted to be monotone: exact path.
    let (tanh, _) = fit(Based::User, Activation::Tanh);
    assert!(!tanh.has_quantized_top_n());
}
