//! Top-N selection and recommendation helpers.

/// The `n` highest scores, skipping the sorted indices in `exclude`, best
/// first, as (index, score). Partial selection: O(len + n log n). NaN scores
/// are never selected.
pub fn top_n(scores: &[f32], n: usize, exclude: &[u32]) -> Vec<(u32, f32)> {
    let mut cand: Vec<(u32, f32)> = scores
        .iter()
        .enumerate()
        .filter(|(i, s)| !s.is_nan() && exclude.binary_search(&(*i as u32)).is_err())
        .map(|(i, &s)| (i as u32, s))
        .collect();
    let by_score_desc = |a: &(u32, f32), b: &(u32, f32)| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0));
    if n == 0 {
        return Vec::new();
    }
    if cand.len() > n {
        cand.select_nth_unstable_by(n - 1, by_score_desc);
        cand.truncate(n);
    }
    cand.sort_unstable_by(by_score_desc);
    cand
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_best_unseen_in_order() {
        let s = [0.1, 0.9, 0.5, 0.7, f32::NAN, 0.7];
        assert_eq!(top_n(&s, 3, &[1]), vec![(3, 0.7), (5, 0.7), (2, 0.5)]);
        assert_eq!(top_n(&s, 10, &[]).len(), 5);
        assert!(top_n(&s, 0, &[]).is_empty());
    }
}
