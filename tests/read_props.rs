//! Property tests: no reader panics on arbitrary bytes, and what the CSV
//! writer writes reads back to the same table.

use aerec::data::read::{read_ratings_bytes, Duplicates, Format, Header, ReadOptions};
use aerec::data::side::{
    item_genres_from_bytes, titles_from_bytes, user_features_from_bytes, TitleFormat,
};
use aerec::data::write::write_csv_to;
use aerec::IdMap;
use proptest::prelude::*;

/// Bytes that look a little like rating files, so that parsing gets deep.
fn ratingish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(b",".to_vec()),
        Just(b"::".to_vec()),
        Just(b"\t".to_vec()),
        Just(b"\n".to_vec()),
        Just(b"\r\n".to_vec()),
        Just(b"\"".to_vec()),
        Just(b"NaN".to_vec()),
        Just(b"-1e40".to_vec()),
        Just(b"\xff\xfe".to_vec()),
        "[0-9]{1,10}".prop_map(|s| s.into_bytes()),
        "[0-9]\\.[05]".prop_map(|s| s.into_bytes()),
        "[a-zA-Z]{1,4}".prop_map(|s| s.into_bytes()),
    ];
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

fn every_option_set() -> Vec<ReadOptions> {
    let mut sets = vec![
        ReadOptions::new(),
        ReadOptions::new()
            .skip_bad_lines(true)
            .duplicates(Duplicates::Mean),
    ];
    for f in Format::ALL {
        sets.push(ReadOptions::new().format(f));
        sets.push(
            ReadOptions::new()
                .format(f)
                .header(Header::Yes)
                .skip_bad_lines(true)
                .duplicates(Duplicates::KeepLast),
        );
    }
    sets
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn readers_never_panic(bytes in prop_oneof![ratingish(), prop::collection::vec(any::<u8>(), 0..300)]) {
        for opts in every_option_set() {
            let _ = read_ratings_bytes(&bytes, &opts);
        }
        let ids = IdMap::from_ids(vec!["1".into(), "2".into()]).unwrap();
        for f in [TitleFormat::UItem, TitleFormat::MoviesDat, TitleFormat::MoviesCsv] {
            let _ = titles_from_bytes(&bytes, f);
            let _ = item_genres_from_bytes(&bytes, f, &ids);
        }
        let _ = user_features_from_bytes(&bytes, &ids);
    }

    #[test]
    fn npz_reader_never_panics_on_damaged_archives(cut in 0usize..1400, flip in 0usize..1400, byte in any::<u8>()) {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/read/");
        for name in ["small_csr.npz", "small_csc_stored.npz"] {
            let mut bytes = std::fs::read(format!("{dir}{name}")).unwrap();
            if flip < bytes.len() {
                bytes[flip] = byte;
            }
            bytes.truncate(cut.max(1));
            let _ = read_ratings_bytes(&bytes, &ReadOptions::new().format(Format::Npz));
        }
    }

    #[test]
    fn csv_written_reads_back_the_same(
        rows in prop::collection::btree_map(("[a-z0-9,\" ]{1,6}", "[0-9]{1,4}"), (0u8..=10, 0i64..2_000_000_000), 1..40)
    ) {
        let mut text = String::from("user,item,rating,timestamp\n");
        let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
        for ((u, i), (half, t)) in &rows {
            text.push_str(&format!("{},{},{},{}\n", q(u), q(i), *half as f32 / 2.0, t));
        }
        let r = read_ratings_bytes(text.as_bytes(), &ReadOptions::new()).unwrap().ratings;
        prop_assert_eq!(r.len(), rows.len());
        let mut out = Vec::new();
        write_csv_to(&mut out, &r).unwrap();
        let back = read_ratings_bytes(&out, &ReadOptions::new()).unwrap().ratings;
        prop_assert_eq!(back.user_ids.ids(), r.user_ids.ids());
        prop_assert_eq!(back.item_ids.ids(), r.item_ids.ids());
        prop_assert_eq!(&back.values, &r.values);
        prop_assert_eq!(&back.timestamps, &r.timestamps);
    }
}
