//! The SVD assignment (CPSC 552, seed 004) with aerec: factor its 18 users ×
//! 10 products matrix, keep 3 singular values, print the rounded rank-3
//! reconstruction as the assignment's numpy program does, and recommend to
//! user 2 the unrated product with the highest reconstructed rating (the
//! assignment finds product 7).
//!
//! `cargo run --release --example svd_assignment`
//!
//! Users and products are numbered from 1 as in the assignment's text; a 0
//! in the matrix is an unrated cell, which the `svd` model with `fill =
//! "zero"` treats exactly as the assignment's dense `np.linalg.svd` does.
//! `tests/recipes.rs` runs [`run`] and checks its output against a dense
//! reference.

use std::sync::Arc;

use aerec::data::{IdMap, RatingScale, Ratings};
use aerec::model::baseline::{SvdConfig, SvdFill, SvdMethod};
use aerec::model::{FitOptions, ModelSpec, TrainedModel};

/// The assignment's `UP_Rating`: 18 users × 10 products, 0 = not rated.
pub const UP_RATING: [[f32; 10]; 18] = [
    [0., 2., 0., 0., 3., 0., 0., 0., 0., 0.],
    [4., 0., 0., 0., 3., 0., 0., 0., 5., 0.],
    [0., 0., 0., 0., 0., 3., 0., 0., 0., 0.],
    [0., 5., 0., 0., 0., 0., 0., 0., 0., 2.],
    [0., 0., 0., 0., 0., 0., 0., 5., 0., 0.],
    [5., 2., 0., 0., 0., 0., 0., 0., 0., 0.],
    [0., 0., 0., 3., 0., 0., 4., 0., 5., 2.],
    [0., 3., 0., 4., 0., 0., 0., 0., 0., 0.],
    [0., 0., 4., 0., 0., 2., 0., 0., 0., 1.],
    [0., 0., 0., 0., 5., 0., 3., 0., 2., 0.],
    [1., 5., 0., 0., 0., 4., 0., 0., 0., 0.],
    [0., 0., 4., 0., 5., 0., 0., 3., 0., 2.],
    [1., 0., 0., 4., 0., 0., 0., 1., 0., 0.],
    [0., 5., 0., 3., 0., 0., 0., 0., 4., 0.],
    [4., 0., 0., 0., 4., 0., 0., 0., 0., 0.],
    [0., 0., 0., 5., 0., 2., 0., 0., 0., 0.],
    [0., 3., 0., 0., 0., 0., 4., 0., 0., 0.],
    [3., 3., 0., 0., 0., 0., 0., 0., 0., 5.],
];

/// Number of singular values kept (`num_components` in the assignment).
pub const RANK: usize = 3;

/// What the recipe computes.
#[derive(Debug)]
pub struct Outcome {
    /// The rank-3 reconstruction, users × products.
    pub reconstruction: Vec<[f32; 10]>,
    /// Product id (1-based) recommended to user 2, and its reconstructed rating.
    pub user2_pick: (String, f32),
}

/// The rating table of [`UP_RATING`]: user `r + 1`, product `c + 1`. Every
/// user and product is in the id maps (in order), rated or not, so indices
/// are matrix positions.
pub fn ratings() -> aerec::Result<Ratings> {
    let ids = |n: usize| IdMap::from_ids((1..=n).map(|k| k.to_string()).collect());
    let (mut users, mut items, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (r, row) in UP_RATING.iter().enumerate() {
        for (c, &x) in row.iter().enumerate() {
            if x != 0.0 {
                users.push(r as u32);
                items.push(c as u32);
                values.push(x);
            }
        }
    }
    Ok(Ratings {
        users,
        items,
        values,
        timestamps: None,
        user_ids: Arc::new(ids(UP_RATING.len())?),
        item_ids: Arc::new(ids(10)?),
    })
}

/// Fits the rank-3 SVD, reads the reconstruction off the model and asks it
/// for user 2's top product.
pub fn run() -> aerec::Result<Outcome> {
    let train = ratings()?;
    let spec = ModelSpec::new(SvdConfig {
        factors: RANK,
        fill: SvdFill::Zero,
        method: SvdMethod::Exact,
        ..SvdConfig::default()
    })
    .unwrap();
    // The assignment's matrix uses 1–5 stars; the scale only clips evaluation.
    let scale = RatingScale::new(1.0, 5.0)?;
    let model = TrainedModel::fit(&spec, &train, None, None, scale, &FitOptions::default())?;
    let mut reconstruction = Vec::with_capacity(UP_RATING.len());
    for u in 0..UP_RATING.len() {
        let scores = model.score_user(u as u32)?;
        let mut row = [0f32; 10];
        row.copy_from_slice(&scores);
        reconstruction.push(row);
    }
    // A recommendation leaves out the products user 2 already rated, as the assignment does.
    let pick = aerec::recommend::for_user(&model, "2", 1)?.remove(0);
    Ok(Outcome {
        reconstruction,
        user2_pick: (pick.item, pick.score),
    })
}

#[allow(dead_code)] // `tests/recipes.rs` includes this file for `run` alone.
fn main() -> aerec::Result<()> {
    let out = run()?;
    println!("-----reconstructed user-product rating matrix (rank {RANK}, rounded)");
    for row in &out.reconstruction {
        // `+ 0.0` turns numpy's `-0.` into 0.
        let cells: Vec<String> = row
            .iter()
            .map(|v| format!("{:2}", v.round() + 0.0))
            .collect();
        println!("[{}]", cells.join(" "));
    }
    let (item, score) = &out.user2_pick;
    println!("user 2 rated {:?}", UP_RATING[1]);
    println!("recommend product {item} to user 2 (reconstructed rating {score:.3})");
    Ok(())
}
