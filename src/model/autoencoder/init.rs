//! Building a network from a config: parameter layout, names and the
//! initial weights (Xavier/Glorot uniform or Kaiming/He normal; biases 0).

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

use super::config::{AutoencoderConfig, Init};
use super::network::{DenseLayer, Network, Param};
use super::real::{zeroed_table, Real};

/// Builds the network for `n_cols` rating columns and `n_side` side
/// features, with weights drawn from `seed`.
///
/// Naming (docs/engine-tensors.md): the hidden stack has `L` widths, so
/// `L + 1` weight matrices; the first `⌈(L+1)/2⌉` are `encoder.{k}`, the rest
/// `decoder.{k}`. Sparse tables are stored one row per rating column:
/// `encoder.0.weight` is `(n_cols + n_side) × h_0`, the output weight is
/// `n_cols × h_last`. Dense weights are `in × out`. Tied decoder weights are
/// not stored: they are their encoder partner, transposed (the output layer
/// reads rows of `encoder.0.weight`).
pub fn build<T: Real>(
    cfg: &AutoencoderConfig,
    n_cols: usize,
    n_side: usize,
    seed: u64,
) -> Network<T> {
    let widths = cfg.hidden_widths();
    let l = widths.len();
    let n_mats = l + 1;
    let n_enc = n_mats.div_ceil(2);
    let name = |k: usize, what: &str| {
        if k < n_enc {
            format!("encoder.{k}.{what}")
        } else {
            format!("decoder.{}.{what}", k - n_enc)
        }
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut params = Vec::new();
    let n_in = n_cols + n_side;
    params.push(Param {
        name: name(0, "weight"),
        rows: n_in,
        cols: widths[0],
        data: init_weights(cfg.init, n_in, widths[0], n_in * widths[0], &mut rng),
        row_sparse: true,
        is_weight: true,
    });
    params.push(bias(name(0, "bias"), 1, widths[0], false));
    let mut dense: Vec<DenseLayer> = Vec::with_capacity(l.saturating_sub(1));
    for i in 0..l.saturating_sub(1) {
        let k = i + 1;
        let partner = l - k;
        let (h_in, h_out) = (widths[i], widths[i + 1]);
        let weight = if cfg.tied && partner < k {
            // Dense layer `partner - 1` holds matrix `partner`.
            let owner = dense[partner - 1];
            Some(owner.weight)
        } else {
            None
        };
        let weight = match weight {
            Some(w) => w,
            None => {
                params.push(Param {
                    name: name(k, "weight"),
                    rows: h_in,
                    cols: h_out,
                    data: init_weights(cfg.init, h_in, h_out, h_in * h_out, &mut rng),
                    row_sparse: false,
                    is_weight: true,
                });
                params.len() - 1
            }
        };
        params.push(bias(name(k, "bias"), 1, h_out, false));
        dense.push(DenseLayer {
            weight,
            transposed: cfg.tied && partner < k,
            bias: params.len() - 1,
        });
    }
    let h_last = widths[l - 1];
    let output_weight = if cfg.tied {
        0
    } else {
        params.push(Param {
            name: name(l, "weight"),
            rows: n_cols,
            cols: h_last,
            data: init_weights(cfg.init, h_last, n_cols, n_cols * h_last, &mut rng),
            row_sparse: true,
            is_weight: true,
        });
        params.len() - 1
    };
    params.push(bias(name(l, "bias"), n_cols, 1, true));
    let output_bias = params.len() - 1;
    Network {
        n_cols,
        n_side,
        code_layer: cfg.code_layer(),
        dropout: cfg.dropout,
        activation: cfg.activation,
        output_activation: cfg.effective_output_activation(),
        widths,
        params,
        dense,
        output_weight,
        output_bias,
    }
}

fn bias<T: Real>(name: String, rows: usize, cols: usize, row_sparse: bool) -> Param<T> {
    Param {
        name,
        rows,
        cols,
        data: zeroed_table(rows * cols),
        row_sparse,
        is_weight: false,
    }
}

fn init_weights<T: Real>(
    init: Init,
    fan_in: usize,
    fan_out: usize,
    len: usize,
    rng: &mut SmallRng,
) -> Vec<T> {
    let mut w = zeroed_table::<T>(len);
    match init {
        Init::Xavier => {
            let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
            w.iter_mut()
                .for_each(|x| *x = T::of(rng.random_range(-a..a)));
        }
        Init::Kaiming => {
            let normal = Normal::new(0.0, (2.0 / fan_in as f64).sqrt()).expect("finite std");
            w.iter_mut().for_each(|x| *x = T::of(normal.sample(rng)));
        }
    }
    w
}
