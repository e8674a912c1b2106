//! Every reader on small inputs written here, the scipy `.npz` fixtures of
//! `tests/fixtures/read/` (made by `make_npz.py` there), writers, and the
//! real MovieLens files of `../shared/data` (counts from its README.md).

use std::path::{Path, PathBuf};

use aerec::data::read::{
    read_ratings, read_ratings_bytes, Duplicates, Encoding, Format, Header, ReadOptions,
};
use aerec::data::side::{read_item_genres, read_titles, read_user_features};
use aerec::data::stats::Stats;
use aerec::data::write::{write_csv, write_npz};
use aerec::{ErrorKind, Ratings};

fn read(bytes: &[u8], opts: ReadOptions) -> Ratings {
    read_ratings_bytes(bytes, &opts).unwrap().ratings
}

fn triples(r: &Ratings) -> Vec<(String, String, f32)> {
    (0..r.len())
        .map(|k| {
            (
                r.user_ids.id(r.users[k]).to_string(),
                r.item_ids.id(r.items[k]).to_string(),
                r.values[k],
            )
        })
        .collect()
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/read")
        .join(name)
}

fn shared_data() -> Option<PathBuf> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/data"));
    if dir.is_dir() {
        Some(dir)
    } else {
        eprintln!("skipping: {} is absent", dir.display());
        None
    }
}

#[test]
fn ml_csv_with_crlf_and_header() {
    let text = b"userId,movieId,rating,timestamp\r\n1,31,2.5,1260759144\r\n1,1029,3.0,1260759179\r\n2,31,4.0,835355493\r\n";
    let out = read_ratings_bytes(text, &ReadOptions::new()).unwrap();
    assert_eq!(out.format, Format::MlCsv);
    let r = out.ratings;
    assert_eq!(r.user_ids.ids(), ["1", "2"]);
    assert_eq!(r.item_ids.ids(), ["31", "1029"]);
    assert_eq!(r.values, [2.5, 3.0, 4.0]);
    assert_eq!(r.timestamps.unwrap(), [1260759144, 1260759179, 835355493]);
}

#[test]
fn ml100k_and_ml_dat() {
    let r = read(
        b"196\t242\t3\t881250949\n186\t302\t3\t891717742\n",
        ReadOptions::new().format(Format::Ml100k),
    );
    assert_eq!(
        triples(&r),
        [
            ("196".into(), "242".into(), 3.0),
            ("186".into(), "302".into(), 3.0)
        ]
    );
    let out = read_ratings_bytes(
        b"1::1193::5::978300760\n1::661::3::978302109\n",
        &ReadOptions::new(),
    )
    .unwrap();
    assert_eq!(out.format, Format::MlDat);
    assert_eq!(out.ratings.timestamps.unwrap(), [978300760, 978302109]);
}

#[test]
fn amazon_ids_keep_leading_zeros_with_or_without_header() {
    let body = "A39HTATAQ9V7YF,0205616461,5.0,1369699200\nA3JM6GV9MNOF9X,0558925278,3.0,1355443200\nA39HTATAQ9V7YF,205616461,4.0,1369699200\n";
    for text in [
        body.to_string(),
        format!("UserId,ProductId,Rating,Timestamp\n{body}"),
    ] {
        let r = read(text.as_bytes(), ReadOptions::new().format(Format::Amazon));
        assert_eq!(r.user_ids.ids(), ["A39HTATAQ9V7YF", "A3JM6GV9MNOF9X"]);
        // "0205616461" and "205616461" are different products.
        assert_eq!(r.item_ids.ids(), ["0205616461", "0558925278", "205616461"]);
        assert_eq!(r.len(), 3);
    }
}

#[test]
fn generic_delimited_by_name_and_position_with_quotes() {
    let text = b"when;stars;who;what\n5;4;\"u;1\";\"i \"\"x\"\"\"\n6;2;u2;i2\n";
    let opts = ReadOptions::new()
        .delimiter(b";")
        .user_col("who".parse().unwrap())
        .item_col("what".parse().unwrap())
        .rating_col("stars".parse().unwrap())
        .time_col("when".parse().unwrap());
    let r = read(text, opts);
    assert_eq!(
        triples(&r),
        [
            ("u;1".into(), "i \"x\"".into(), 4.0),
            ("u2".into(), "i2".into(), 2.0)
        ]
    );
    assert_eq!(r.timestamps.unwrap(), [5, 6]);
    let r = read(
        b"x|7|a|1\ny|8|b|1\n",
        ReadOptions::new()
            .user_col("2".parse().unwrap())
            .item_col("0".parse().unwrap())
            .rating_col("1".parse().unwrap())
            .header(Header::No),
    );
    assert_eq!(triples(&r)[1], ("b".into(), "y".into(), 8.0));
    assert!(
        r.timestamps.is_none(),
        "generic text without a header has no timestamp column by default"
    );
}

#[test]
fn latin1_ids_decode_and_utf8_rejects_them() {
    let text = b"Jos\xe9::1::5::0\n";
    let r = read(text, ReadOptions::new().encoding(Encoding::Latin1));
    assert_eq!(r.user_ids.ids(), ["José"]);
    let e = read_ratings_bytes(text, &ReadOptions::new()).unwrap_err();
    assert!(e.to_string().contains("UTF-8"), "{e}");
}

#[test]
fn zero_is_a_real_rating_in_text() {
    let r = read(b"a,x,0\n", ReadOptions::new());
    assert_eq!(r.values, [0.0]);
}

#[test]
fn duplicate_policies() {
    let text = b"u,i,1,10\nv,i,2,11\nu,i,5,12\nu,j,3,13\nu,i,3,14\n";
    let e = read_ratings_bytes(text, &ReadOptions::new().format(Format::Amazon)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Duplicate { .. }));
    assert_eq!(e.position().unwrap().line, 3, "{e}");
    let last = read(
        text,
        ReadOptions::new()
            .format(Format::Amazon)
            .duplicates(Duplicates::KeepLast),
    );
    assert_eq!(
        triples(&last),
        [
            ("v".into(), "i".into(), 2.0),
            ("u".into(), "j".into(), 3.0),
            ("u".into(), "i".into(), 3.0)
        ]
    );
    assert_eq!(last.timestamps.unwrap(), [11, 13, 14]);
    let mean = read(
        text,
        ReadOptions::new()
            .format(Format::Amazon)
            .duplicates(Duplicates::Mean),
    );
    assert_eq!(mean.values, [2.0, 3.0, 3.0]); // (1 + 5 + 3) / 3 = 3
}

#[test]
fn duplicate_line_numbers_count_header_blank_and_skipped_lines() {
    let text = b"user,item,rating\n\na,x,1\nbad line\na,y,2\n\na,x,3\n";
    let e = read_ratings_bytes(text, &ReadOptions::new().skip_bad_lines(true)).unwrap_err();
    assert_eq!(e.position().unwrap().line, 7, "{e}");
}

#[test]
fn error_lines_are_right_across_pieces_and_blocks() {
    // ~40 MB: several 16 MiB blocks, each cut into parallel pieces.
    let mut text = Vec::new();
    let n = 2_000_000;
    for k in 0..n {
        text.extend_from_slice(
            format!(
                "{},{},{}.5,{}\n",
                k % 1000,
                k / 1000,
                k % 5,
                1_000_000_000 + k
            )
            .as_bytes(),
        );
    }
    text.extend_from_slice(b"7,8,oops,1\n");
    let e = read_ratings_bytes(&text, &ReadOptions::new().format(Format::Amazon)).unwrap_err();
    assert_eq!(e.position().unwrap().line, n + 1, "{e}");
    assert!(e.to_string().contains("7,8,oops,1"), "{e}");
    let out = read_ratings_bytes(
        &text,
        &ReadOptions::new()
            .format(Format::Amazon)
            .skip_bad_lines(true),
    )
    .unwrap();
    assert_eq!((out.ratings.len(), out.skipped), (n as usize, 1));
    assert_eq!(out.ratings.n_users(), 1000);
    assert_eq!(out.ratings.user_ids.id(999), "999");
    assert_eq!(out.ratings.item_ids.id(1999), "1999");
}

fn npz_triples(name: &str) -> Vec<(String, String, f32)> {
    let out = read_ratings(fixture(name), &ReadOptions::new()).unwrap();
    assert_eq!(out.format, Format::Npz);
    assert_eq!((out.ratings.n_users(), out.ratings.n_items()), (4, 5));
    let mut t = triples(&out.ratings);
    t.sort_by(|a, b| a.partial_cmp(b).unwrap());
    t
}

#[test]
fn npz_csr_csc_coo_compressed_or_not() {
    // make_npz.py: (0,1)=5, (0,4)=3.5, (1,0)=1, (2,2)=4, (3,3)=2, (3,0)=0.5, (1,3)=explicit 0.
    let want: Vec<(String, String, f32)> = [
        ("0", "1", 5.0),
        ("0", "4", 3.5),
        ("1", "0", 1.0),
        ("2", "2", 4.0),
        ("3", "0", 0.5),
        ("3", "3", 2.0),
    ]
    .iter()
    .map(|&(u, i, v)| (u.to_string(), i.to_string(), v))
    .collect();
    for name in [
        "small_csr.npz",
        "small_csr_stored.npz",
        "small_csc.npz",
        "small_csc_stored.npz",
        "small_coo.npz",
    ] {
        assert_eq!(npz_triples(name), want, "{name}");
    }
}

#[test]
fn keras_tutorial_layout_shares_ids_by_row_number() {
    let train = read_ratings(fixture("Atrain.npz"), &ReadOptions::new())
        .unwrap()
        .ratings;
    let test = read_ratings(fixture("Atest.npz"), &ReadOptions::new())
        .unwrap()
        .ratings;
    assert_eq!(train.user_ids, test.user_ids);
    assert_eq!(
        triples(&train),
        [
            ("1".into(), "1".into(), 5.0),
            ("1".into(), "2".into(), 3.0),
            ("2".into(), "1".into(), 4.0)
        ]
    );
    assert_eq!(
        triples(&test),
        [("2".into(), "3".into(), 2.0), ("3".into(), "1".into(), 1.0)]
    );
}

#[test]
fn csv_and_npz_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let text = b"user,item,rating,timestamp\n007,\"a,b\",3.5,1\nx,i,1,2\n007,i,0.1,3\n";
    let r = read(text, ReadOptions::new());
    let csv = dir.path().join("out.csv");
    write_csv(&csv, &r).unwrap();
    let back = read_ratings(&csv, &ReadOptions::new()).unwrap().ratings;
    assert_eq!(triples(&back), triples(&r));
    assert_eq!(back.timestamps, r.timestamps);
    let npz = dir.path().join("out.npz");
    write_npz(&npz, &r).unwrap();
    let back = read_ratings(&npz, &ReadOptions::new()).unwrap().ratings;
    // .npz keeps index order, not ids: index k reads back as id "k".
    let by_index = |r: &Ratings| {
        let mut t: Vec<(u32, u32, f32)> = (0..r.len())
            .map(|k| (r.users[k], r.items[k], r.values[k]))
            .collect();
        t.sort_by(|a, b| a.partial_cmp(b).unwrap());
        t
    };
    assert_eq!(by_index(&back), by_index(&r));
}

#[test]
fn embedded_dataset_counts() {
    // ../shared/data/README.md: 610 users, 9,724 movies rated, 100,836 ratings.
    let r = aerec::data::read::embedded::ratings();
    let s = Stats::of(&r);
    assert_eq!((s.users, s.items, s.ratings), (610, 9_724, 100_836));
    assert_eq!(
        s.histogram.first().map(|b| (b.value, b.count)),
        Some((0.5, 1_370))
    );
    assert_eq!(aerec::data::read::embedded::titles().len(), 9_742);
}

/// The matrix built by taking the table's columns (the embedded file is
/// grouped by user) and the one built by copying them are the same, and so
/// is the scattered build of the same ratings shuffled.
#[test]
fn matrix_taking_the_columns_equals_the_copy() {
    let r = aerec::data::read::embedded::ratings();
    let copied = r.by_user();
    assert_eq!(r.clone().into_by_user(), copied);
    let order: Vec<usize> = (0..r.len()).map(|k| (k * 7_919) % r.len()).collect();
    let shuffled = r.select(&order);
    assert_eq!(shuffled.into_by_user(), copied);
    assert_eq!(copied.nnz(), 100_836);
}

#[test]
fn ml100k_real_files() {
    let Some(dir) = shared_data() else { return };
    let out = read_ratings(dir.join("ml-100k/u.data"), &ReadOptions::new()).unwrap();
    assert_eq!(out.format, Format::Ml100k);
    let s = Stats::of(&out.ratings);
    // README.md: 943 users, 1,682 items, 100,000 ratings; histogram 1: 6,110 ... 5: 21,201.
    assert_eq!((s.users, s.items, s.ratings), (943, 1_682, 100_000));
    let hist: Vec<(f32, usize)> = s.histogram.iter().map(|b| (b.value, b.count)).collect();
    assert_eq!(
        hist,
        [
            (1.0, 6_110),
            (2.0, 11_370),
            (3.0, 27_145),
            (4.0, 34_174),
            (5.0, 21_201)
        ]
    );
    assert_eq!(out.ratings.user_ids.id(0), "196");
    let titles = read_titles(dir.join("ml-100k/u.item")).unwrap();
    assert_eq!(titles.len(), 1_682);
    assert_eq!(titles["1"], "Toy Story (1995)");
    // u.item is Latin-1: item 1633's title has an é in it.
    assert!(titles.values().any(|t| t.contains('é')));
    let genres = read_item_genres(dir.join("ml-100k/u.item"), &out.ratings.item_ids).unwrap();
    let toy = out.ratings.item_ids.get("1").unwrap() as usize;
    let on: Vec<&str> = genres
        .names
        .iter()
        .zip(genres.row(toy))
        .filter(|(_, &v)| v == 1.0)
        .map(|(n, _)| n.as_str())
        .collect();
    assert_eq!(on, ["genre=Animation", "genre=Children's", "genre=Comedy"]);
    let users = read_user_features(dir.join("ml-100k/u.user"), &out.ratings.user_ids).unwrap();
    // u.occupation lists 21 occupations; every user has exactly 3 active flags.
    assert_eq!(users.dim, 2 + 7 + 21);
    assert!((0..users.n_rows).all(|r| users.row(r).iter().sum::<f32>() == 3.0));
}

#[test]
fn ml_latest_small_real_files() {
    let Some(dir) = shared_data() else { return };
    let out = read_ratings(dir.join("ml-latest-small/ratings.csv"), &ReadOptions::new()).unwrap();
    assert_eq!(out.format, Format::MlCsv);
    let s = Stats::of(&out.ratings);
    assert_eq!((s.users, s.items, s.ratings), (610, 9_724, 100_836));
    let titles = read_titles(dir.join("ml-latest-small/movies.csv")).unwrap();
    assert_eq!(titles.len(), 9_742);
}
