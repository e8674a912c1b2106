//! Recommend, predict and similar in original ids, on the hand-computed
//! fixture of `fixed_mf` (expected numbers are derived in its docs and
//! in the comments below).

mod fixed_mf;

use aerec::data::read::{read_item_ratings, read_pairs};
use aerec::model::{Fallback, ModelParts, Recommender, SparseRow};
use aerec::recommend::{self, SimilarityIndex};
use aerec::{ErrorKind, Result};

fn items(recs: &[recommend::Recommendation]) -> Vec<(&str, f32)> {
    recs.iter().map(|r| (r.item.as_str(), r.score)).collect()
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() < 1e-5
}

#[test]
fn known_user_gets_best_unrated_items() {
    let m = fixed_mf::fixture();
    let recs = recommend::for_user(&m, "u1", 3).unwrap();
    // u1 = (1, 0): scores i4 4.0, i6 3.9, i3 3.0, i5 2.5; i1 and i2 are rated.
    let got = items(&recs);
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        ["i4", "i6", "i3"]
    );
    assert!(close(got[0].1, 4.0) && close(got[1].1, 3.9) && close(got[2].1, 3.0));
    assert_eq!(recs[0].title.as_deref(), Some("Four, \"the\" film"));
    assert_eq!(recs[1].title, None);
    // n larger than the catalogue: every unrated item, once.
    assert_eq!(recommend::for_user(&m, "u1", 100).unwrap().len(), 4);
}

#[test]
fn unknown_user_is_an_unknown_id_error() {
    let m = fixed_mf::fixture();
    let err = recommend::for_user(&m, "nobody", 3).unwrap_err();
    assert!(matches!(
        err.kind(),
        ErrorKind::UnknownId { what: "user", .. }
    ));
}

#[test]
fn user_without_training_ratings_gets_the_bias_ranking() {
    let m = fixed_mf::fixture();
    let recs = recommend::for_user(&m, "u4", 6).unwrap();
    let fb = &m.fallback;
    for r in &recs {
        let i = m.item_ids.get(&r.item).unwrap() as usize;
        let expected = if fb.item_counts[i] > 0 {
            fb.mu + fb.item_bias[i]
        } else {
            fb.mu
        };
        assert!(close(r.score, expected), "{r:?}");
    }
    assert!(recs.windows(2).all(|w| w[0].score >= w[1].score));
}

#[test]
fn new_user_is_folded_in_and_unknown_items_reported() {
    let m = fixed_mf::fixture();
    let ratings = vec![
        ("i1".to_string(), 5.0),
        ("i3".to_string(), 1.0),
        ("zz".to_string(), 4.0),
        ("i6".to_string(), 2.0),
    ];
    let recs = recommend::for_new_user(&m, &ratings, 10).unwrap();
    // i6 has no training rating, so it counts as unknown too.
    assert_eq!(recs.unknown_items, ["zz", "i6"]);
    assert_eq!(recs.used_ratings, 2);
    // p = ((5−3)(1,0) + (1−3)(0,1)) / 2 = (1, −1): i4 4.0, i6 3.8, i2 3.0, i5 1.5.
    let got = items(&recs.items);
    let expected = [("i4", 4.0), ("i6", 3.8), ("i2", 3.0), ("i5", 1.5)];
    assert_eq!(got.len(), expected.len());
    for ((gi, gs), (ei, es)) in got.iter().zip(expected) {
        assert_eq!(*gi, ei);
        assert!(close(*gs, es), "{gi}: {gs} vs {es}");
    }
}

#[test]
fn new_user_ratings_are_checked() {
    let m = fixed_mf::fixture();
    for bad in [6.0, 0.5, f32::NAN] {
        let err = recommend::for_new_user(&m, &[("i1".into(), bad)], 3).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Rating { .. }), "{err}");
        assert!(err.to_string().contains("scale 1..5"), "{err}");
    }
    let twice = [("i1".into(), 4.0), ("i1".into(), 5.0)];
    let err = recommend::for_new_user(&m, &twice, 3).unwrap_err();
    assert!(err.to_string().contains("rated twice"), "{err}");
}

#[test]
fn pairs_use_the_model_or_a_flagged_fallback() {
    let m = fixed_mf::fixture();
    let pairs: Vec<(String, String)> = [
        ("u1", "i4"),
        ("u1", "zz"),
        ("zz", "i1"),
        ("zz", "yy"),
        ("u2", "i6"),
    ]
    .iter()
    .map(|(u, i)| (u.to_string(), i.to_string()))
    .collect();
    let p = recommend::predict_pairs(&m, &pairs).unwrap();
    let fb = &m.fallback;
    assert!(close(p[0].score, 4.0) && p[0].fallback.is_none());
    assert_eq!(p[1].fallback, Some(Fallback::UnknownItem));
    assert!(close(p[1].score, fb.mu + fb.user_bias[0]));
    assert_eq!(p[2].fallback, Some(Fallback::UnknownUser));
    assert!(close(p[2].score, fb.mu + fb.item_bias[0]));
    assert_eq!(p[3].fallback, Some(Fallback::UnknownUserAndItem));
    assert!(close(p[3].score, fb.mu));
    // i6 is in the id map but has no training rating: the fallback answers.
    assert_eq!(p[4].fallback, Some(Fallback::UnknownItem));
    assert_eq!((p[0].user.as_str(), p[0].item.as_str()), ("u1", "i4"));

    let mut csv = Vec::new();
    recommend::write_predictions(&mut csv, &p).unwrap();
    let text = String::from_utf8(csv).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "user,item,prediction,fallback");
    assert_eq!(lines[1], "u1,i4,4,");
    assert!(lines[4].starts_with("zz,yy,") && lines[4].ends_with(",unknown_user_and_item"));
}

#[test]
fn similar_items_by_cosine() {
    let m = fixed_mf::fixture();
    let index = SimilarityIndex::new(&m).unwrap();
    let sim = recommend::similar_items(&m, &index, "i1", 3).unwrap();
    // q(i1) = (1, 0): cos with i4 (2, 0) = 1, with i2 (.5, .5) = 0.7071, with
    // i3 (0, 1) = 0; i6 is left out (no training rating), i1 itself too.
    let got: Vec<(&str, f32)> = sim
        .iter()
        .map(|s| (s.item.as_str(), s.similarity))
        .collect();
    assert_eq!(
        got.iter().map(|g| g.0).collect::<Vec<_>>(),
        ["i4", "i2", "i3"]
    );
    assert!(
        close(got[0].1, 1.0)
            && close(got[1].1, std::f32::consts::FRAC_1_SQRT_2)
            && close(got[2].1, 0.0)
    );
    for unknown in ["i6", "zz"] {
        let err = recommend::similar_items(&m, &index, unknown, 3).unwrap_err();
        assert!(matches!(
            err.kind(),
            ErrorKind::UnknownId { what: "item", .. }
        ));
    }
}

/// The fixture's model with its item vectors hidden.
struct NoVectors(fixed_mf::FixedMf);

impl Recommender for NoVectors {
    fn kind(&self) -> &'static str {
        "no-vectors"
    }
    fn n_users(&self) -> usize {
        self.0.n_users()
    }
    fn n_items(&self) -> usize {
        self.0.n_items()
    }
    fn n_params(&self) -> usize {
        self.0.n_params()
    }
    fn score_items(
        &self,
        u: Option<u32>,
        r: SparseRow<'_>,
        i: &[u32],
        o: &mut [f32],
    ) -> Result<()> {
        self.0.score_items(u, r, i, o)
    }
    fn item_vectors(&self) -> Option<(usize, Vec<f32>)> {
        None
    }
    fn to_parts(&self) -> ModelParts {
        self.0.to_parts()
    }
}

#[test]
fn similar_needs_item_vectors() {
    let mut m = fixed_mf::fixture();
    let fixed = fixed_mf::FixedMf {
        dim: 1,
        p: vec![0.0; 4],
        q: vec![0.0; 6],
        b: vec![0.0; 6],
    };
    m.model = Box::new(NoVectors(fixed));
    let err = SimilarityIndex::new(&m).unwrap_err();
    assert!(err.to_string().contains("has no item vectors"), "{err}");
}

#[test]
fn all_users_stream_in_user_order() {
    let m = fixed_mf::fixture();
    let mut out = Vec::new();
    let done = std::sync::atomic::AtomicUsize::new(0);
    let rows = recommend::recommend_all(&m, 2, &mut out, |d| {
        done.store(d, std::sync::atomic::Ordering::Relaxed)
    })
    .unwrap();
    assert_eq!(rows, 8);
    assert_eq!(done.into_inner(), 4);
    let text = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        &lines[..3],
        ["user,rank,item,rating", "u1,1,i4,4", "u1,2,i6,3.9"]
    );
    // u2 = (0, 1): unrated i5 4.5, i6 3.1, i1 3.0.
    assert_eq!(&lines[3..5], ["u2,1,i5,4.5", "u2,2,i6,3.1"]);
    let users: Vec<&str> = lines[1..]
        .iter()
        .map(|l| l.split(',').next().unwrap())
        .collect();
    assert_eq!(users, ["u1", "u1", "u2", "u2", "u3", "u3", "u4", "u4"]);
}

#[test]
fn new_user_file_header_optional_errors_name_the_line() {
    let m = fixed_mf::fixture();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.csv");
    std::fs::write(&path, "item,rating\ni1, 5\n\ni3,1\n").unwrap();
    let r = read_item_ratings(&path, m.scale).unwrap();
    assert_eq!(r, vec![("i1".to_string(), 5.0), ("i3".to_string(), 1.0)]);
    std::fs::write(&path, "i1,5\n").unwrap();
    assert_eq!(read_item_ratings(&path, m.scale).unwrap().len(), 1);

    std::fs::write(&path, "i1,5\ni2,9\n").unwrap();
    let err = read_item_ratings(&path, m.scale).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Rating { .. }));
    assert_eq!(err.position().unwrap().line, 2);
    assert!(
        err.to_string()
            .starts_with(&format!("{}: line 2: rating 9", path.display())),
        "{err}"
    );

    std::fs::write(&path, "item,rating\ni1,5\ni2,good\n").unwrap();
    let err = read_item_ratings(&path, m.scale).unwrap_err();
    assert_eq!(err.position().unwrap().line, 3);
    assert!(err.to_string().contains("\"i2,good\""), "{err}");

    std::fs::write(&path, "i1,5,extra\n").unwrap();
    let err = read_item_ratings(&path, m.scale).unwrap_err();
    assert!(
        err.to_string()
            .contains("line 1: expected 2 fields, found 3"),
        "{err}"
    );
}

#[test]
fn pairs_file_with_and_without_header() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("pairs.csv");
    std::fs::write(&path, "User,Item\nu1,i1\nu2,i9\n").unwrap();
    let pairs = read_pairs(&path).unwrap();
    assert_eq!(
        pairs,
        vec![("u1".into(), "i1".into()), ("u2".into(), "i9".into())]
    );
    std::fs::write(&path, "u1,i1\n").unwrap();
    assert_eq!(read_pairs(&path).unwrap().len(), 1);
    std::fs::write(&path, "u1\n").unwrap();
    let err = read_pairs(&path).unwrap_err();
    assert!(
        err.to_string()
            .contains("line 1: expected 2 fields, found 1"),
        "{err}"
    );
}
