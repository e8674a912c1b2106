//! Synthetic data shared by the engine's integration tests.

use std::sync::Arc;

use aerec::data::{IdMap, Ratings};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

/// Ratings from a rank-2 model plus noise, on a 1–5 scale, 40 % observed,
/// split 85/15 into train and validation with shared id maps.
pub fn low_rank(n_users: usize, n_items: usize, seed: u64) -> (Ratings, Ratings) {
    let mut rng = SmallRng::seed_from_u64(seed);
    let uf: Vec<[f64; 2]> = (0..n_users)
        .map(|_| [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
        .collect();
    let itf: Vec<[f64; 2]> = (0..n_items)
        .map(|_| [rng.random_range(-1.0..1.0), rng.random_range(-1.0..1.0)])
        .collect();
    let (mut t, mut v) = (Vec::new(), Vec::new());
    for (u, fu) in uf.iter().enumerate() {
        for (i, fi) in itf.iter().enumerate() {
            if rng.random::<f64>() < 0.4 {
                let r =
                    3.0 + 1.5 * (fu[0] * fi[0] + fu[1] * fi[1]) * 2.0 + rng.random_range(-0.3..0.3);
                let r = (r.round()).clamp(1.0, 5.0) as f32;
                if rng.random::<f64>() < 0.85 {
                    t.push((u as u32, i as u32, r));
                } else {
                    v.push((u as u32, i as u32, r));
                }
            }
        }
    }
    let users = Arc::new(IdMap::from_ids((0..n_users).map(|u| format!("u{u}")).collect()).unwrap());
    let items = Arc::new(IdMap::from_ids((0..n_items).map(|i| format!("i{i}")).collect()).unwrap());
    let mk = |x: &[(u32, u32, f32)]| Ratings {
        users: x.iter().map(|p| p.0).collect(),
        items: x.iter().map(|p| p.1).collect(),
        values: x.iter().map(|p| p.2).collect(),
        timestamps: None,
        user_ids: Arc::clone(&users),
        item_ids: Arc::clone(&items),
    };
    (mk(&t), mk(&v))
}
