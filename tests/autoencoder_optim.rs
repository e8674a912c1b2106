//! Optimisers against hand-computed steps (worked out in the comments from
//! the update rules of PyTorch's `SGD` and `Adam`/`AdamW` docs), and lazy
//! row-sparse SGD against the dense update.

use aerec::model::autoencoder::network::Param;
use aerec::model::autoencoder::optim::{OptimSettings, Optimizer};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

fn settings() -> OptimSettings {
    OptimSettings {
        adam: false,
        momentum: 0.0,
        nesterov: false,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        l2: 0.0,
        weight_decay: 0.0,
        lazy: false,
    }
}

fn weight(rows: usize, cols: usize, value: f64, row_sparse: bool) -> Param<f64> {
    Param {
        name: "w".into(),
        rows,
        cols,
        data: vec![value; rows * cols],
        row_sparse,
        is_weight: true,
    }
}

/// Runs `steps` steps of gradient `g` on a single weight starting at 1.
fn run(s: OptimSettings, lr: f64, grads: &[f64]) -> f64 {
    let mut params = vec![weight(1, 1, 1.0, false)];
    let mut opt = Optimizer::new(s, &params);
    opt.begin_epoch(lr);
    for &g in grads {
        opt.step(&mut params, &[vec![g]], &[], &[]);
    }
    params[0].data[0]
}

fn close(a: f64, b: f64) {
    assert!((a - b).abs() < 1e-9, "{a} vs {b}");
}

#[test]
fn sgd_plain_momentum_nesterov() {
    // w = 1 − 0.1·0.5.
    close(run(settings(), 0.1, &[0.5]), 0.95);
    let m = OptimSettings {
        momentum: 0.9,
        ..settings()
    };
    // v1 = 1, w1 = 0.9; v2 = 0.9 + 1 = 1.9, w2 = 0.9 − 0.19 = 0.71.
    close(run(m, 0.1, &[1.0, 1.0]), 0.71);
    let n = OptimSettings {
        nesterov: true,
        ..m
    };
    // v1 = 1, update g + μ·v1 = 1.9, w1 = 1 − 0.19.
    close(run(n, 0.1, &[1.0]), 0.81);
}

#[test]
fn l2_in_the_loss_and_decoupled_decay() {
    // l2 = 0.5 adds 2·0.5·w = 1 to the gradient: w = 1 − 0.1·1.
    let s = OptimSettings {
        l2: 0.5,
        ..settings()
    };
    close(run(s, 0.1, &[0.0]), 0.9);
    // Decoupled: w = (1 − 0.1·0.1)·1 − 0.1·0.5 = 0.94.
    let s = OptimSettings {
        weight_decay: 0.1,
        ..settings()
    };
    close(run(s, 0.1, &[0.5]), 0.94);
}

#[test]
fn adam_and_adamw_steps() {
    let s = OptimSettings {
        adam: true,
        ..settings()
    };
    // Step 1: m̂ = g, v̂ = g², w = 1 − 0.1·0.5/(0.5 + 1e-8).
    close(run(s, 0.1, &[0.5]), 1.0 - 0.1 * 0.5 / (0.5 + 1e-8));
    // Step 2 with the same g: m̂ = 0.5, v̂ = 0.25 again, so another −0.1.
    let two = run(s, 0.1, &[0.5, 0.5]);
    assert!((two - 0.8).abs() < 1e-7, "{two}");
    // AdamW: w = (1 − 0.1·0.1) − 0.1·1 = 0.89 (up to ε).
    let w = OptimSettings {
        weight_decay: 0.1,
        ..s
    };
    assert!((run(w, 0.1, &[0.5]) - 0.89).abs() < 1e-7);
}

/// Dense and lazy SGD on the same row-sparse gradients end equal after the
/// epoch's flush: the lazy catch-up of L2, decay and momentum is exact.
#[test]
fn lazy_sgd_equals_dense_sgd() {
    for (momentum, nesterov) in [(0.0, false), (0.9, false), (0.8, true)] {
        let base = OptimSettings {
            momentum,
            nesterov,
            l2: 0.01,
            weight_decay: 0.05,
            ..settings()
        };
        let mut rng = SmallRng::seed_from_u64(7);
        let (rows, cols) = (9, 3);
        let init: Vec<f64> = (0..rows * cols)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let mut dense = vec![weight(rows, cols, 0.0, true)];
        dense[0].data.clone_from(&init);
        let mut lazy = dense.clone();
        let mut od = Optimizer::new(base, &dense);
        let mut ol = Optimizer::new(OptimSettings { lazy: true, ..base }, &lazy);
        for (epoch, lr) in [(0, 0.1), (1, 0.05)] {
            od.begin_epoch(lr);
            ol.begin_epoch(lr);
            for _ in 0..12 {
                let touched: Vec<u32> = (0..rows as u32)
                    .filter(|_| rng.random::<f64>() < 0.3)
                    .collect();
                let grad: Vec<f64> = (0..touched.len() * cols)
                    .map(|_| rng.random_range(-1.0..1.0))
                    .collect();
                // Rows marked inactive must carry a zero gradient; skipping them is exact.
                let inactive: Vec<bool> = (0..touched.len()).map(|t| t % 3 == 0).collect();
                let mut grad = grad;
                for (t, &off) in inactive.iter().enumerate() {
                    if off {
                        grad[t * cols..(t + 1) * cols]
                            .iter_mut()
                            .for_each(|g| *g = 0.0);
                    }
                }
                od.step(&mut dense, &[grad.clone()], &touched, &[]);
                ol.step(&mut lazy, &[grad], &touched, &inactive);
            }
            od.flush(&mut dense);
            ol.flush(&mut lazy);
            for (a, b) in dense[0].data.iter().zip(&lazy[0].data) {
                assert!(
                    (a - b).abs() < 1e-12,
                    "epoch {epoch} μ {momentum}: {a} vs {b}"
                );
            }
        }
    }
}

/// Lazy Adam is LazyAdam: rows the batch did not touch keep their weights
/// and moments, touched rows follow the dense rule.
#[test]
fn lazy_adam_moves_only_touched_rows() {
    let s = OptimSettings {
        adam: true,
        lazy: true,
        ..settings()
    };
    let mut params = vec![weight(3, 2, 1.0, true)];
    let mut opt = Optimizer::new(s, &params);
    opt.begin_epoch(0.1);
    opt.step(&mut params, &[vec![0.5, -0.5]], &[1], &[]);
    opt.flush(&mut params);
    assert_eq!(&params[0].data[0..2], &[1.0, 1.0]);
    assert!((params[0].data[2] - 0.9).abs() < 1e-7);
    assert!((params[0].data[3] - 1.1).abs() < 1e-7);
    assert_eq!(&params[0].data[4..6], &[1.0, 1.0]);
}
