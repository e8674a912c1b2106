//! Finite-difference gradient checks (f64) of the sparse engine against a
//! dense reference written here, for every activation, tied and untied
//! weights, each default-rating mode, centering, side features, code dropout
//! re-feeding, and targets that are not the inputs (residual training:
//! ratings in, ratings minus a baseline out). The reference builds the full dense input matrix and runs
//! plain loops, so it shares no code with the sparse path but the parameters.

use aerec::model::autoencoder::config::{AutoencoderConfig, DefaultKind, DefaultRating};
use aerec::model::autoencoder::init::build;
use aerec::model::autoencoder::input::InputEncoder;
use aerec::model::autoencoder::network::{Network, Workspace};
use aerec::model::autoencoder::sparse::Batch;
use aerec::model::autoencoder::Activation;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const N_COLS: usize = 7;

/// A random sparse rating row: sorted columns, ratings 1..=5.
fn random_rows(rng: &mut SmallRng, rows: usize) -> Vec<(Vec<u32>, Vec<f32>)> {
    (0..rows)
        .map(|_| {
            let mut idx: Vec<u32> = (0..N_COLS as u32)
                .filter(|_| rng.random::<f64>() < 0.45)
                .collect();
            if idx.is_empty() {
                idx.push(rng.random_range(0..N_COLS as u32));
            }
            let val = idx.iter().map(|_| rng.random_range(1..=5) as f32).collect();
            (idx, val)
        })
        .collect()
}

struct Problem {
    net: Network<f64>,
    batch: Batch<f64>,
    /// Dense input rows (`rows × n_in`): what the reference feeds.
    dense_in: Vec<Vec<f64>>,
    /// Code-dropout multipliers, as the sparse forward drew them.
    mask: Option<Vec<f64>>,
}

fn problem(cfg: &AutoencoderConfig, n_side: usize, seed: u64) -> Problem {
    problem_with(cfg, n_side, seed, false)
}

/// Residual training's batch: the ratings as input, the ratings minus a
/// per-cell baseline (here μ + b_row + b_col with random biases) as targets.
fn residual_problem(cfg: &AutoencoderConfig, seed: u64) -> Problem {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0xB1A5);
    let row_bias: Vec<f32> = (0..4).map(|_| rng.random_range(-0.8..0.8)).collect();
    let col_bias: Vec<f32> = (0..N_COLS).map(|_| rng.random_range(-0.8..0.8)).collect();
    let mut p = problem_with(cfg, 0, seed, false);
    let mut batch = Batch::default();
    batch.clear();
    batch.seed = p.batch.seed;
    for (b, row_b) in row_bias.iter().enumerate().take(p.batch.rows()) {
        let (in_idx, in_val) = p.batch.input(b);
        batch.in_idx.extend_from_slice(in_idx);
        batch.in_val.extend_from_slice(in_val);
        let (tg_idx, tg_val) = p.batch.targets(b);
        batch.tg_idx.extend_from_slice(tg_idx);
        batch.tg_val.extend(
            tg_idx
                .iter()
                .zip(tg_val)
                .map(|(&j, &y)| y - 3.1 - (row_b + col_bias[j as usize]) as f64),
        );
        batch.end_row(p.batch.default[b]);
    }
    p.batch = batch;
    p
}

/// With `empty_row0`, row 0 keeps its targets but loses every input entry,
/// as input dropout leaves most rows of a sparse batch (the forward pass
/// then takes f(bias) for that row's first layer).
fn problem_with(cfg: &AutoencoderConfig, n_side: usize, seed: u64, empty_row0: bool) -> Problem {
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut net = build::<f64>(cfg, N_COLS, n_side, seed);
    // Non-zero biases so their gradients are exercised at a generic point.
    for p in &mut net.params {
        if !p.is_weight {
            p.data
                .iter_mut()
                .for_each(|x| *x = rng.random_range(-0.3..0.3));
        }
    }
    let rows = random_rows(&mut rng, 4);
    let mu = 3.1;
    let enc = InputEncoder::new(cfg, N_COLS, mu);
    let mut batch = Batch::default();
    batch.clear();
    batch.seed = seed;
    let mut dense_in = Vec::new();
    for (r, (idx, val)) in rows.iter().enumerate() {
        let (in_idx, in_val) = if empty_row0 && r == 0 {
            (&[][..], &[][..])
        } else {
            (&idx[..], &val[..])
        };
        let side: Vec<f32> = (0..n_side)
            .map(|_| {
                if rng.random::<bool>() {
                    rng.random_range(0.0..1.0)
                } else {
                    0.0
                }
            })
            .collect();
        let d = enc.push_input(
            &mut batch,
            in_idx,
            in_val,
            (n_side > 0).then_some(&side[..]),
            None,
        );
        enc.push_targets(&mut batch, idx, val);
        batch.end_row(d);
        // The reference: unobserved cells hold the default, observed the shifted rating.
        let mut x = vec![d; N_COLS + n_side];
        for (&j, &v) in in_idx.iter().zip(in_val) {
            x[j as usize] = v as f64 - enc.shift;
        }
        for (k, &s) in side.iter().enumerate() {
            x[N_COLS + k] = s as f64;
        }
        dense_in.push(x);
    }
    let mut ws = Workspace::default();
    net.forward(&batch, &mut ws, true);
    let mask = (cfg.dropout > 0.0).then(|| ws.mask.clone());
    Problem {
        net,
        batch,
        dense_in,
        mask,
    }
}

/// The masked MSE of the batch, computed densely.
fn dense_loss(
    net: &Network<f64>,
    batch: &Batch<f64>,
    dense_in: &[Vec<f64>],
    mask: Option<&[f64]>,
) -> f64 {
    let mut sum = 0.0;
    let n_targets = batch.tg_idx.len() as f64;
    for (b, x) in dense_in.iter().enumerate() {
        let w0 = &net.params[0];
        let h0 = w0.cols;
        let mut a: Vec<f64> = (0..h0)
            .map(|k| {
                net.params[1].data[k]
                    + (0..x.len())
                        .map(|j| x[j] * w0.data[j * h0 + k])
                        .sum::<f64>()
            })
            .map(|z| net.activation.apply(z))
            .collect();
        let drop = |a: &mut Vec<f64>, layer: usize| {
            if let (Some(m), true) = (mask, layer == net.code_layer) {
                let h = a.len();
                for k in 0..h {
                    a[k] *= m[b * h + k];
                }
            }
        };
        drop(&mut a, 0);
        for (i, layer) in net.dense.iter().enumerate() {
            let (h_in, h_out) = (net.widths[i], net.widths[i + 1]);
            let w = &net.params[layer.weight].data;
            let bias = &net.params[layer.bias].data;
            let mut next: Vec<f64> = (0..h_out)
                .map(|o| {
                    let s: f64 = (0..h_in)
                        .map(|k| {
                            a[k] * if layer.transposed {
                                w[o * h_in + k]
                            } else {
                                w[k * h_out + o]
                            }
                        })
                        .sum();
                    net.activation.apply(s + bias[o])
                })
                .collect();
            drop(&mut next, i + 1);
            a = next;
        }
        let v = &net.params[net.output_weight];
        let c = &net.params[net.output_bias].data;
        let (idx, val) = batch.targets(b);
        for (&j, &y) in idx.iter().zip(val) {
            let j = j as usize;
            let pre: f64 = (0..v.cols)
                .map(|k| a[k] * v.data[j * v.cols + k])
                .sum::<f64>()
                + c[j];
            let r = net.output_activation.apply(pre) - y;
            sum += r * r;
        }
    }
    sum / n_targets
}

/// Compares the sparse loss with the dense one and the sparse gradient with
/// central differences of the dense loss, entry by entry.
fn check(cfg: &AutoencoderConfig, n_side: usize, seed: u64) {
    check_with(cfg, n_side, seed, false);
}

fn check_with(cfg: &AutoencoderConfig, n_side: usize, seed: u64, empty_row0: bool) {
    check_problem(cfg, problem_with(cfg, n_side, seed, empty_row0), empty_row0);
}

fn check_problem(cfg: &AutoencoderConfig, problem: Problem, empty_row0: bool) {
    let Problem {
        mut net,
        batch,
        dense_in,
        mask,
    } = problem;
    assert_eq!(batch.input(0).0.is_empty(), empty_row0);
    let mut ws = Workspace::default();
    net.forward(&batch, &mut ws, true);
    let loss = net.backward(&batch, &mut ws, true);
    let sparse_loss = loss.sum_sq / loss.count as f64;
    let reference = dense_loss(&net, &batch, &dense_in, mask.as_deref());
    assert!(
        (sparse_loss - reference).abs() <= 1e-10 * reference.max(1.0),
        "{cfg:?}: sparse loss {sparse_loss} vs dense {reference}"
    );
    let h = 1e-6;
    for pi in 0..net.params.len() {
        let (rows, cols, row_sparse) = (
            net.params[pi].rows,
            net.params[pi].cols,
            net.params[pi].row_sparse,
        );
        for e in 0..rows * cols {
            let analytic = if row_sparse {
                let touched = if pi == 0 {
                    &ws.index.touched[..]
                } else {
                    &ws.index.touched[..ws.index.n_rating]
                };
                match touched.binary_search(&((e / cols) as u32)) {
                    Ok(t) => ws.grads[pi][t * cols + e % cols],
                    Err(_) => 0.0,
                }
            } else {
                ws.grads[pi][e]
            };
            let orig = net.params[pi].data[e];
            net.params[pi].data[e] = orig + h;
            let up = dense_loss(&net, &batch, &dense_in, mask.as_deref());
            net.params[pi].data[e] = orig - h;
            let down = dense_loss(&net, &batch, &dense_in, mask.as_deref());
            net.params[pi].data[e] = orig;
            let fd = (up - down) / (2.0 * h);
            assert!(
                (analytic - fd).abs() <= 1e-6 + 1e-5 * analytic.abs().max(fd.abs()),
                "{:?} {} entry {e}: analytic {analytic} vs finite difference {fd}",
                cfg.activation,
                net.params[pi].name
            );
        }
    }
}

fn base() -> AutoencoderConfig {
    AutoencoderConfig {
        layers: vec![5],
        ..Default::default()
    }
}

#[test]
fn every_activation_hidden_and_output_untied_and_tied() {
    for (k, act) in Activation::ALL.into_iter().enumerate() {
        for tied in [false, true] {
            let cfg = AutoencoderConfig {
                layers: vec![5, 3],
                mirror: true,
                tied,
                activation: act,
                output_activation: act,
                ..base()
            };
            check(&cfg, 0, 100 + k as u64);
        }
    }
}

#[test]
fn a_row_with_every_input_dropped() {
    for (k, act) in [Activation::Tanh, Activation::Sigmoid, Activation::Selu]
        .into_iter()
        .enumerate()
    {
        for (tied, center) in [(false, true), (true, false)] {
            let cfg = AutoencoderConfig {
                activation: act,
                tied,
                center,
                ..base()
            };
            check_with(&cfg, 0, 500 + k as u64, true);
        }
    }
}

#[test]
fn every_default_rating_mode_with_and_without_centering() {
    let modes = [
        DefaultRating::Named(DefaultKind::Zero),
        DefaultRating::Named(DefaultKind::Average),
        DefaultRating::Named(DefaultKind::Global),
        DefaultRating::Value(2.5),
    ];
    for (k, mode) in modes.into_iter().enumerate() {
        for center in [false, true] {
            let cfg = AutoencoderConfig {
                default_rating: mode,
                center,
                activation: Activation::Tanh,
                ..base()
            };
            check(&cfg, 0, 200 + k as u64);
        }
    }
}

#[test]
fn side_features_deep_untied_stack_and_code_dropout() {
    let cfg = AutoencoderConfig {
        layers: vec![4, 6, 4],
        activation: Activation::Elu,
        dropout: 0.5,
        ..base()
    };
    check(&cfg, 3, 300);
    let cfg = AutoencoderConfig { tied: true, ..cfg };
    check(&cfg, 2, 301);
    let cfg = AutoencoderConfig {
        default_rating: DefaultRating::Named(DefaultKind::Average),
        activation: Activation::Selu,
        ..cfg
    };
    check(&cfg, 2, 302);
}

#[test]
fn refeed_batch_of_dense_outputs() {
    let cfg = AutoencoderConfig {
        layers: vec![4, 3],
        mirror: true,
        tied: true,
        activation: Activation::Selu,
        ..base()
    };
    let Problem { net, batch, .. } = problem(&cfg, 0, 400);
    let mut ws = Workspace::default();
    let mut out = Vec::new();
    net.dense_output(&batch, &mut ws, &mut out);
    assert_eq!(out.len(), batch.rows() * N_COLS);
    // The re-feeding step: the dense output is both input and target.
    let mut refeed = Batch::default();
    refeed.clear();
    let mut dense_in = Vec::new();
    for b in 0..batch.rows() {
        let row = &out[b * N_COLS..(b + 1) * N_COLS];
        refeed.in_idx.extend(0..N_COLS as u32);
        refeed.in_val.extend_from_slice(row);
        refeed.tg_idx.extend(0..N_COLS as u32);
        refeed.tg_val.extend_from_slice(row);
        refeed.end_row(0.0);
        dense_in.push(row.to_vec());
    }
    let mut net = net;
    let mut ws = Workspace::default();
    net.forward(&refeed, &mut ws, false);
    let loss = net.backward(&refeed, &mut ws, false);
    let reference = dense_loss(&net, &refeed, &dense_in, None);
    assert!((loss.sum_sq / loss.count as f64 - reference).abs() < 1e-12);
    // Perturb one input-weight entry and one output bias: gradients agree.
    for (pi, e) in [(0usize, 5usize), (net.output_bias, 2)] {
        let h = 1e-6;
        let orig = net.params[pi].data[e];
        net.params[pi].data[e] = orig + h;
        let up = dense_loss(&net, &refeed, &dense_in, None);
        net.params[pi].data[e] = orig - h;
        let down = dense_loss(&net, &refeed, &dense_in, None);
        net.params[pi].data[e] = orig;
        let fd = (up - down) / (2.0 * h);
        let cols = net.params[pi].cols;
        let t = ws
            .index
            .touched
            .binary_search(&((e / cols) as u32))
            .unwrap();
        let analytic = ws.grads[pi][t * cols + e % cols];
        assert!(
            (analytic - fd).abs() <= 1e-6 + 1e-5 * fd.abs(),
            "{analytic} vs {fd}"
        );
    }
}

#[test]
fn residual_targets_differ_from_the_inputs() {
    for (k, act) in [Activation::Sigmoid, Activation::Selu]
        .into_iter()
        .enumerate()
    {
        for dropout in [0.0, 0.5] {
            let cfg = AutoencoderConfig {
                activation: act,
                dropout,
                residual: true,
                ..base()
            };
            let p = residual_problem(&cfg, 700 + k as u64);
            // The premise: targets are not the (shifted) inputs.
            let (idx, val) = p.batch.targets(1);
            let row = &p.dense_in[1];
            assert!(idx
                .iter()
                .zip(val)
                .any(|(&j, &y)| (row[j as usize] - y).abs() > 0.1));
            check_problem(&cfg, p, false);
        }
    }
}
