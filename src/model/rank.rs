//! Ranking one row of scores: the `n` best, skipping what the user already
//! rated. Every model's top-N ends here, or matches it exactly (the 4-bit
//! quantised scan in [`super::quantized`] rescored).

use std::collections::BinaryHeap;

/// The `n` highest scores, skipping the sorted indices in `exclude`, best
/// first, as (index, score); ties go to the lower index. NaN scores are never
/// selected.
///
/// One pass with a bounded heap of the `n` best so far: O(len + k log n) for
/// k replacements, and no allocation beyond the heap, so selecting from a
/// 100k-item catalogue costs about as much as reading the scores once.
pub fn top_n(scores: &[f32], n: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
    if n == 0 {
        return Vec::new();
    }
    let mut heap: BinaryHeap<Ranked> = BinaryHeap::with_capacity(n.min(scores.len()) + 1);
    let mut excluded = exclude.iter().copied().peekable();
    for (i, &score) in scores.iter().enumerate() {
        let i = i as u32;
        while excluded.next_if(|&e| e < i).is_some() {}
        if excluded.next_if_eq(&i).is_some() || score.is_nan() {
            continue;
        }
        let candidate = Ranked(i, score);
        if heap.len() < n {
            heap.push(candidate);
        } else if heap.peek().is_some_and(|worst| candidate < *worst) {
            heap.pop();
            heap.push(candidate);
        }
    }
    heap.into_sorted_vec()
        .into_iter()
        .map(|r| (r.0, r.1))
        .collect()
}

/// An (index, score) ordered best first: a higher score, then a lower index,
/// compares as smaller, so a max-heap keeps the worst of the kept on top.
#[derive(Debug, Clone, Copy)]
struct Ranked(u32, f32);

impl Ord for Ranked {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other.1.total_cmp(&self.1).then(self.0.cmp(&other.0))
    }
}

impl PartialOrd for Ranked {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for Ranked {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}

impl Eq for Ranked {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_best_unseen_in_order() {
        let s = [0.1, 0.9, 0.5, 0.7, f32::NAN, 0.7];
        assert_eq!(top_n(&s, 3, &[1]), vec![(3, 0.7), (5, 0.7), (2, 0.5)]);
        assert_eq!(top_n(&s, 10, &[]).len(), 5);
        assert!(top_n(&s, 0, &[]).is_empty());
        assert_eq!(top_n(&s, 2, &[0, 3, 9]), vec![(1, 0.9), (5, 0.7)]);
    }

    /// Against the obvious reference: sort every unexcluded, non-NaN score.
    #[test]
    fn matches_a_full_sort() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::SmallRng::seed_from_u64(5);
        for trial in 0..200 {
            let len = rng.random_range(0..300);
            // Few distinct values, so ties are common.
            let scores: Vec<f32> = (0..len)
                .map(|_| {
                    if rng.random_bool(0.05) {
                        f32::NAN
                    } else {
                        rng.random_range(0..20) as f32 / 4.0
                    }
                })
                .collect();
            let exclude: Vec<u32> = (0..len as u32).filter(|_| rng.random_bool(0.2)).collect();
            let n = rng.random_range(1..40);
            let mut reference: Vec<(u32, f32)> = scores
                .iter()
                .enumerate()
                .filter(|(i, s)| !s.is_nan() && !exclude.contains(&(*i as u32)))
                .map(|(i, &s)| (i as u32, s))
                .collect();
            reference.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            reference.truncate(n);
            assert_eq!(top_n(&scores, n, &exclude), reference, "trial {trial}");
        }
    }
}
