//! Splits and filters on the shared MovieLens files, against numbers
//! computed independently with pandas 3.1.1 (the commands are in the
//! comments). Skipped, with a printed reason, when `../shared/data` is absent.

mod row_tables;

use aerec::data::filter::{filter, infer_scale, FilterConfig};
use aerec::data::split::{split, ColdStart, Input, SplitConfig, SplitMethod};
use row_tables::{ratings, read_rows, rows, shared_data, Row};

fn ml100k() -> Option<Vec<Row>> {
    shared_data("ml-100k/u.data").map(|p| read_rows(&p, '\t', false))
}

fn numeric_order(mut part: Vec<Row>) -> Vec<Row> {
    let key = |r: &Row| (r.0.parse::<u32>().unwrap(), r.1.parse::<u32>().unwrap());
    part.sort_by_key(key);
    part
}

#[test]
fn ml100k_u1_is_the_published_fold() {
    let Some(data) = ml100k() else { return };
    let config = SplitConfig {
        method: SplitMethod::Ml100k(1),
        ..Default::default()
    };
    let s = split(&Input::Whole(ratings(&data)), &config).unwrap();
    // The data README: u1.test = lines 1..=20000 of u.data sorted by user then item.
    assert_eq!(rows(&s.test), numeric_order(data[..20_000].to_vec()));
    assert_eq!(rows(&s.train), numeric_order(data[20_000..].to_vec()));
    // pandas: t = u.iloc[:20000].sort_values(['u','i']); t.u.nunique() == 459,
    // first rows [1,6,5,887431973], [1,10,3,875693118], last [462,682,5,886365231].
    let test = rows(&s.test);
    assert_eq!(test.len(), 20_000);
    assert_eq!(
        test.iter()
            .map(|r| &r.0)
            .collect::<std::collections::HashSet<_>>()
            .len(),
        459
    );
    let pair = |r: &Row| (r.0.clone(), r.1.clone(), r.2, r.3);
    assert_eq!(pair(&test[0]), ("1".into(), "6".into(), 5.0, 887_431_973));
    assert_eq!(pair(&test[1]), ("1".into(), "10".into(), 3.0, 875_693_118));
    assert_eq!(
        pair(&test[19_999]),
        ("462".into(), "682".into(), 5.0, 886_365_231)
    );
}

#[test]
fn ml100k_u5_takes_the_last_fifth() {
    let Some(data) = ml100k() else { return };
    let config = SplitConfig {
        method: SplitMethod::Ml100k(5),
        ..Default::default()
    };
    let s = split(&Input::Whole(ratings(&data)), &config).unwrap();
    assert_eq!(rows(&s.test), numeric_order(data[80_000..].to_vec()));
    assert_eq!(s.train.len(), 80_000);
}

#[test]
fn ml100k_k_core_matches_pandas() {
    let Some(data) = ml100k() else { return };
    let r = ratings(&data);
    // pandas: keep rows whose user and item both have ≥ 20 ratings
    // (value_counts on the current frame); once: 94,968 ratings, 943 users,
    // 939 items; repeated until stable: 94,443, 917, 937 after 4 passes.
    let once = FilterConfig {
        min_user: 20,
        min_item: 20,
        iterate: false,
    };
    let (kept, report) = filter(&r, &once);
    assert_eq!(
        (kept.len(), kept.n_users(), kept.n_items()),
        (94_968, 943, 939)
    );
    assert_eq!((report.rounds, report.ratings_removed), (1, 5_032));
    let (core, report) = filter(
        &r,
        &FilterConfig {
            iterate: true,
            ..once
        },
    );
    assert_eq!(
        (core.len(), core.n_users(), core.n_items()),
        (94_443, 917, 937)
    );
    assert_eq!(
        (report.rounds, report.users_removed, report.items_removed),
        (4, 26, 745)
    );
    let scale = infer_scale(&r).unwrap();
    assert_eq!(
        (scale.scale.min, scale.scale.max, scale.step),
        (1.0, 5.0, Some(1.0))
    );
}

#[test]
fn latest_small_time_split_matches_pandas() {
    let Some(path) = shared_data("ml-latest-small/ratings.csv") else {
        return;
    };
    let data = read_rows(&path, ',', true);
    // pandas: r = pd.read_csv('ratings.csv'); q = r.timestamp.quantile(0.98)
    // == 1529334436.3; (r.timestamp <= q).sum() == 98819, the rest 2017;
    // among those 2017: 15 users and 165 movies absent from train, 1829
    // ratings with either.
    let config = SplitConfig {
        method: SplitMethod::Time,
        time_quantile: 0.98,
        ..Default::default()
    };
    let s = split(&Input::Whole(ratings(&data)), &config).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (98_819, 2_017));
    assert_eq!(
        (s.cold.users, s.cold.items, s.cold.ratings),
        (15, 165, 1_829)
    );
    let dropped = split(
        &Input::Whole(ratings(&data)),
        &SplitConfig {
            cold_start: ColdStart::Drop,
            ..config
        },
    )
    .unwrap();
    assert_eq!(dropped.test.len(), 2_017 - 1_829);
    let scale = infer_scale(&s.train).unwrap();
    assert_eq!(
        (scale.scale.min, scale.scale.max, scale.step),
        (0.5, 5.0, Some(0.5))
    );
}
