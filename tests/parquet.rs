//! Parquet input (issue 18): the same ratings as CSV and as Parquet give the
//! same table, bit for bit, and so the same `stats`, splits and trained
//! models; column types and names as pandas, polars, Spark and DuckDB write
//! them; rows named by row group and row in every error; reading a range of
//! row groups; and the files of `tests/fixtures/read/` written by pyarrow
//! and polars (made by `make_parquet.py` there).
//!
//! Files are written here with the `parquet` crate's own Arrow writer.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use aerec::data::read::{
    embedded, parquet_row_groups, read_parquet_row_groups, read_ratings, read_ratings_bytes,
    Column, Duplicates, Format, ReadOptions,
};
use aerec::data::RatingScale;
use aerec::{ErrorKind, Ratings};
use arrow_array::builder::StringDictionaryBuilder;
use arrow_array::types::Int32Type;
use arrow_array::{
    ArrayRef, Date32Array, Decimal128Array, Float32Array, Float64Array, Int32Array, Int64Array,
    RecordBatch, StringArray, TimestampMillisecondArray, UInt64Array,
};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::WriterProperties;

/// Writes named columns as a Parquet file with row groups of `group_rows`.
fn write(path: &Path, columns: Vec<(&str, ArrayRef)>, group_rows: usize, codec: Compression) {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|(name, a)| Field::new(*name, a.data_type().clone(), a.null_count() > 0))
            .collect::<Vec<_>>(),
    ));
    let batch =
        RecordBatch::try_new(schema.clone(), columns.into_iter().map(|c| c.1).collect()).unwrap();
    let props = WriterProperties::builder()
        .set_max_row_group_row_count(Some(group_rows))
        .set_compression(codec)
        .build();
    let mut w =
        ArrowWriter::try_new(std::fs::File::create(path).unwrap(), schema, Some(props)).unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn col(a: impl arrow_array::Array + 'static) -> ArrayRef {
    Arc::new(a)
}

/// The embedded `ratings.csv` (ml-latest-small) as columns, typed as
/// pandas reads it: int64 ids and times, float64 ratings.
fn embedded_columns() -> (Vec<i64>, Vec<i64>, Vec<f64>, Vec<i64>) {
    let text = std::str::from_utf8(embedded::RATINGS_CSV).unwrap();
    let (mut u, mut i, mut r, mut t) = (vec![], vec![], vec![], vec![]);
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.trim_end().split(',').collect();
        u.push(f[0].parse().unwrap());
        i.push(f[1].parse().unwrap());
        r.push(f[2].parse().unwrap());
        t.push(f[3].parse().unwrap());
    }
    (u, i, r, t)
}

/// The embedded set as a Parquet file of four snappy row groups.
fn embedded_parquet(path: &Path) {
    let (u, i, r, t) = embedded_columns();
    write(
        path,
        vec![
            ("userId", col(Int64Array::from(u))),
            ("movieId", col(Int64Array::from(i))),
            ("rating", col(Float64Array::from(r))),
            ("timestamp", col(Int64Array::from(t))),
        ],
        30_000,
        Compression::SNAPPY,
    );
}

/// Fails unless two tables are the same bit for bit, id maps included.
#[track_caller]
fn same_table(a: &Ratings, b: &Ratings) {
    assert_eq!(a.users, b.users);
    assert_eq!(a.items, b.items);
    let bits = |r: &Ratings| r.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(a), bits(b));
    assert_eq!(a.timestamps, b.timestamps);
    assert_eq!(a.user_ids.ids(), b.user_ids.ids());
    assert_eq!(a.item_ids.ids(), b.item_ids.ids());
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/read")
        .join(name)
}

fn err_text(path: &Path, opts: &ReadOptions) -> String {
    read_ratings(path, opts).unwrap_err().to_string()
}

#[test]
fn the_embedded_set_as_parquet_is_the_same_table() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ratings.parquet");
    embedded_parquet(&path);
    assert_eq!(
        parquet_row_groups(&path).unwrap(),
        [30_000, 30_000, 30_000, 10_836]
    );
    let csv = read_ratings_bytes(embedded::RATINGS_CSV, &ReadOptions::new()).unwrap();
    let pq = read_ratings(&path, &ReadOptions::new()).unwrap();
    assert_eq!(pq.format, Format::Parquet);
    same_table(&csv.ratings, &pq.ratings);
    assert_eq!(csv.scale, pq.scale);
    // From bytes in memory too, detected by the magic.
    let bytes = std::fs::read(&path).unwrap();
    same_table(
        &csv.ratings,
        &read_ratings_bytes(&bytes, &ReadOptions::new())
            .unwrap()
            .ratings,
    );
}

/// `aerec` on `args`, in `dir`; stdout, or a failure with stderr.
fn aerec(dir: &Path, args: &[&str]) -> Vec<u8> {
    let out = std::process::Command::new(assert_cmd::cargo::cargo_bin("aerec"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "aerec {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn stats_splits_and_models_are_the_same_from_csv_and_parquet() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("ratings.csv"), embedded::RATINGS_CSV).unwrap();
    embedded_parquet(&d.join("ratings.parquet"));
    std::fs::write(
        d.join("pairs.csv"),
        "user,item\n1,1\n1,50\n610,2\n7,999999\n",
    )
    .unwrap();
    let mut outputs = Vec::new();
    for name in ["ratings.csv", "ratings.parquet"] {
        let mut stats: serde_json::Value =
            serde_json::from_slice(&aerec(d, &["-q", "stats", name, "--json"])).unwrap();
        assert_eq!(stats["ratings"], 100_836);
        stats["source"] = "".into();
        stats["format"] = "".into();
        let parts = d.join(format!("split-{name}"));
        let parts = parts.to_str().unwrap();
        aerec(d, &["-q", "split", name, "--seed", "7", "--out", parts]);
        let model = format!("{name}.aerec");
        let preds = format!("{name}.preds.csv");
        aerec(
            d,
            &[
                "-q", "train", "--data", name, "--model", "mf", "--epochs", "2", "--seed", "3",
                "--out", &model,
            ],
        );
        aerec(
            d,
            &[
                "-q",
                "predict",
                "--model",
                &model,
                "--pairs",
                "pairs.csv",
                "--out",
                &preds,
            ],
        );
        let read = |p: String| std::fs::read(d.join(p)).unwrap();
        outputs.push((
            stats,
            read(format!("{parts}/train.csv")),
            read(format!("{parts}/test.csv")),
            read(preds),
        ));
    }
    assert_eq!(outputs[0].0, outputs[1].0, "stats");
    assert!(outputs[0].1 == outputs[1].1, "split train.csv differs");
    assert!(outputs[0].2 == outputs[1].2, "split test.csv differs");
    assert!(outputs[0].3 == outputs[1].3, "predictions differ");
    assert!(outputs[0].3.len() > 40);
}

/// The text a CSV of the same rows would hold, read by the text reader.
fn csv_twin(text: &str, opts: &ReadOptions) -> Ratings {
    read_ratings_bytes(text.as_bytes(), opts).unwrap().ratings
}

#[test]
fn string_and_dictionary_ids_keep_their_text_and_order() {
    let dir = tempfile::tempdir().unwrap();
    // Amazon-like ids: leading zeros are significant, "42" and "042" differ.
    let users = ["A39HTATAQ9V7YF", "42", "042", "A39HTATAQ9V7YF", "x"];
    let items = [
        "0205616461",
        "0558925278",
        "0205616461",
        "B00012",
        "0558925278",
    ];
    let ratings = [5.0, 4.0, 1.0, 3.0, 2.0];
    let mut dict = StringDictionaryBuilder::<Int32Type>::new();
    for u in users {
        dict.append_value(u);
    }
    let path = dir.path().join("amazon.parquet");
    write(
        &path,
        vec![
            ("reviewerID", col(dict.finish())),
            ("asin", col(StringArray::from(items.to_vec()))),
            ("overall", col(Float64Array::from(ratings.to_vec()))),
        ],
        2,
        Compression::SNAPPY,
    );
    let pq = read_ratings(&path, &ReadOptions::new()).unwrap().ratings;
    let mut text = String::new();
    for k in 0..users.len() {
        text.push_str(&format!("{},{},{}\n", users[k], items[k], ratings[k]));
    }
    let csv = csv_twin(&text, &ReadOptions::new());
    same_table(&csv, &pq);
    assert_eq!(pq.user_ids.ids(), ["A39HTATAQ9V7YF", "42", "042", "x"]);
}

#[test]
fn integer_ids_read_as_their_decimal_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ids.parquet");
    // Negative, beyond the dense table (2^24), beyond i64 (u64).
    let users: Vec<u64> = vec![3, 16_777_216, u64::MAX, 3, 0];
    let items: Vec<i32> = vec![-5, 7, 7, 8, -5];
    write(
        &path,
        vec![
            ("user", col(UInt64Array::from(users.clone()))),
            ("item", col(Int32Array::from(items.clone()))),
            ("rating", col(Int32Array::from(vec![1, 2, 3, 4, 5]))),
        ],
        3,
        Compression::UNCOMPRESSED,
    );
    let pq = read_ratings(&path, &ReadOptions::new()).unwrap().ratings;
    let text: String = (0..5)
        .map(|k| format!("{},{},{}\n", users[k], items[k], k + 1))
        .collect();
    same_table(&csv_twin(&text, &ReadOptions::new()), &pq);
    assert_eq!(
        pq.user_ids.ids(),
        ["3", "16777216", "18446744073709551615", "0"]
    );
}

#[test]
fn rating_and_time_types_read_as_the_text_of_the_same_values() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("types.parquet");
    let decimals = Decimal128Array::from(vec![35_i128, 40, 5, 1234])
        .with_precision_and_scale(6, 1)
        .unwrap();
    write(
        &path,
        vec![
            ("user_id", col(StringArray::from(vec!["a", "b", "c", "d"]))),
            ("item_id", col(StringArray::from(vec!["x", "x", "y", "y"]))),
            ("rating", col(decimals)),
            (
                "timestamp",
                col(TimestampMillisecondArray::from(vec![
                    1_000_999,
                    -1,
                    0,
                    1_260_759_144_000,
                ])),
            ),
            ("float", col(Float32Array::from(vec![0.1, 2.5, 3.0, 1e-3]))),
            ("day", col(Date32Array::from(vec![0, 1, -1, 19_000]))),
        ],
        1024,
        Compression::ZSTD(ZstdLevel::default()),
    );
    let pq = read_ratings(&path, &ReadOptions::new()).unwrap().ratings;
    let csv = csv_twin(
        "a,x,3.5,1000\nb,x,4.0,-1\nc,y,0.5,0\nd,y,123.4,1260759144\n",
        &ReadOptions::new().time_col(Column::Index(3)),
    );
    same_table(&csv, &pq);
    // A float32 rating column and a date column, chosen by name.
    let opts = ReadOptions::new()
        .rating_col(Column::Name("float".into()))
        .time_col(Column::Name("day".into()));
    let pq = read_ratings(&path, &opts).unwrap().ratings;
    assert_eq!(pq.values, [0.1f32, 2.5, 3.0, 1e-3]);
    assert_eq!(
        pq.timestamps,
        Some(vec![0, 86_400, -86_400, 19_000 * 86_400])
    );
}

#[test]
fn columns_are_found_by_name_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("order.parquet");
    write(
        &path,
        vec![
            ("extra", col(Int64Array::from(vec![9, 9]))),
            ("timestamp", col(Int64Array::from(vec![100, 200]))),
            ("rating", col(Float64Array::from(vec![4.0, 2.0]))),
            ("movieId", col(Int64Array::from(vec![10, 11]))),
            ("userId", col(StringArray::from(vec!["u1", "u2"]))),
        ],
        10,
        Compression::SNAPPY,
    );
    let r = read_ratings(&path, &ReadOptions::new()).unwrap().ratings;
    assert_eq!(r.user_ids.ids(), ["u1", "u2"]);
    assert_eq!(r.item_ids.ids(), ["10", "11"]);
    assert_eq!(
        (r.values.clone(), r.timestamps.clone()),
        (vec![4.0, 2.0], Some(vec![100, 200]))
    );
    // Named explicitly: the flags win over the usual names.
    let opts = ReadOptions::new()
        .user_col(Column::Name("movieid".into()))
        .item_col(Column::Name("userId".into()))
        .rating_col(Column::Name("extra".into()));
    let r = read_ratings(&path, &opts).unwrap().ratings;
    assert_eq!(
        (r.user_ids.ids(), r.values.as_slice()),
        (&["10".to_string(), "11".into()][..], &[9.0f32, 9.0][..])
    );
    // A missing name lists what the file has.
    let e = err_text(
        &path,
        &ReadOptions::new().rating_col(Column::Name("stars".into())),
    );
    assert!(
        e.contains("no rating column named \"stars\"") && e.contains("\"movieId\""),
        "{e}"
    );
    let e = err_text(&path, &ReadOptions::new().user_col(Column::Index(9)));
    assert!(e.contains("no user column at position 9"), "{e}");
}

#[test]
fn files_without_ratings_are_interactions() {
    let dir = tempfile::tempdir().unwrap();
    let two = dir.path().join("clicks.parquet");
    write(
        &two,
        vec![
            ("user_id", col(StringArray::from(vec!["a", "a", "b"]))),
            ("item_id", col(StringArray::from(vec!["x", "y", "x"]))),
        ],
        10,
        Compression::SNAPPY,
    );
    let r = read_ratings(&two, &ReadOptions::new()).unwrap().ratings;
    assert_eq!(
        (r.values.clone(), r.n_users(), r.n_items()),
        (vec![1.0; 3], 2, 2)
    );
    let three = dir.path().join("plays.parquet");
    write(
        &three,
        vec![
            ("user_id", col(StringArray::from(vec!["a", "b"]))),
            ("item_id", col(StringArray::from(vec!["x", "x"]))),
            ("timestamp", col(Int64Array::from(vec![5, 6]))),
        ],
        10,
        Compression::SNAPPY,
    );
    let r = read_ratings(&three, &ReadOptions::new()).unwrap().ratings;
    assert_eq!(
        (r.values.clone(), r.timestamps.clone()),
        (vec![1.0; 2], Some(vec![5, 6]))
    );
    let r = read_ratings(
        &three,
        &ReadOptions::new().without_ratings().timestamps(false),
    )
    .unwrap()
    .ratings;
    assert_eq!(
        (r.values.clone(), r.timestamps.clone()),
        (vec![1.0; 2], None)
    );
}

/// Ten rows in row groups of four; row 6 (row group 1, row 2) holds `bad`.
fn with_bad_row(path: &Path, users: ArrayRef, ratings: ArrayRef) {
    write(
        path,
        vec![
            ("user_id", users),
            (
                "item_id",
                col(Int64Array::from((0..10).collect::<Vec<i64>>())),
            ),
            ("rating", ratings),
        ],
        4,
        Compression::SNAPPY,
    );
}

fn users_with(bad: Option<&str>) -> ArrayRef {
    col(StringArray::from(
        (0..10)
            .map(|k| if k == 6 { bad } else { Some("u") })
            .collect::<Vec<_>>(),
    ))
}

fn ratings_with(bad: Option<f64>) -> ArrayRef {
    col(Float64Array::from(
        (0..10)
            .map(|k| if k == 6 { bad } else { Some(3.0) })
            .collect::<Vec<_>>(),
    ))
}

const ROW_6: &str = "row group 1, row 2 (row 6 of the file, counting from 0)";

#[test]
fn bad_rows_are_named_by_row_group_row_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.parquet");
    for (users, ratings, column, why) in [
        (
            users_with(None),
            ratings_with(Some(3.0)),
            "user_id",
            "user id is null",
        ),
        (
            users_with(Some("")),
            ratings_with(Some(3.0)),
            "user_id",
            "user id is empty",
        ),
        (
            users_with(Some("u")),
            ratings_with(None),
            "rating",
            "null rating",
        ),
        (
            users_with(Some("u")),
            ratings_with(Some(f64::NAN)),
            "rating",
            "not a finite number",
        ),
        (
            users_with(Some("u")),
            ratings_with(Some(1e300)),
            "rating",
            "too large for a 32-bit float",
        ),
    ] {
        with_bad_row(&path, users, ratings);
        let e = err_text(&path, &ReadOptions::new());
        for piece in ["bad.parquet", ROW_6, &format!("column {column:?}"), why] {
            assert!(e.contains(piece), "{e:?} lacks {piece:?}");
        }
        // Skipped instead: nine rows, and the example says where.
        let out = read_ratings(&path, &ReadOptions::new().skip_bad_lines(true)).unwrap();
        assert_eq!((out.ratings.len(), out.skipped), (9, 1));
        assert_eq!(out.skipped_examples[0].line, 6);
        assert!(out.skipped_examples[0].text.contains(ROW_6));
    }
    // Outside a declared scale.
    with_bad_row(&path, users_with(Some("u")), ratings_with(Some(7.0)));
    let opts = ReadOptions::new().scale(RatingScale::new(1.0, 5.0).unwrap());
    let e = read_ratings(&path, &opts).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Rating { value, .. } if *value == 7.0));
    assert!(e.to_string().contains(ROW_6), "{e}");
}

#[test]
fn a_skipped_row_adds_no_id_and_duplicates_name_their_row() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dup.parquet");
    // Row 6's user "new" comes with a null rating: skipped, never interned.
    let users = col(StringArray::from(
        (0..10)
            .map(|k| if k == 6 { "new" } else { "u" })
            .collect::<Vec<_>>(),
    ));
    with_bad_row(&path, users, ratings_with(None));
    let out = read_ratings(&path, &ReadOptions::new().skip_bad_lines(true)).unwrap();
    assert_eq!(out.ratings.user_ids.ids(), ["u"]);
    // Item 8 again at row 9 (row group 2, row 1): a duplicate, named so,
    // also past a skipped row.
    let items: Vec<i64> = vec![0, 1, 2, 3, 4, 5, 6, 7, 8, 8];
    write(
        &path,
        vec![
            ("user_id", users_with(Some("new"))),
            ("item_id", col(Int64Array::from(items))),
            ("rating", ratings_with(None)),
        ],
        4,
        Compression::SNAPPY,
    );
    let e = read_ratings(&path, &ReadOptions::new().skip_bad_lines(true)).unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Duplicate { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("row group 2, row 1 (row 9 of the file, counting from 0)"),
        "{e}"
    );
    let out = read_ratings(
        &path,
        &ReadOptions::new()
            .skip_bad_lines(true)
            .duplicates(Duplicates::KeepLast),
    )
    .unwrap();
    assert_eq!((out.ratings.len(), out.duplicates_merged), (8, 1));
}

#[test]
fn wrong_column_types_are_refused_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("types.parquet");
    write(
        &path,
        vec![
            ("user_id", col(Float64Array::from(vec![1.5]))),
            ("item_id", col(StringArray::from(vec!["x"]))),
            ("rating", col(StringArray::from(vec!["five"]))),
            ("timestamp", col(Float64Array::from(vec![1.5]))),
        ],
        4,
        Compression::SNAPPY,
    );
    let e = err_text(&path, &ReadOptions::new());
    assert!(e.contains("column \"user_id\" has type Float64"), "{e}");
    let e = err_text(
        &path,
        &ReadOptions::new()
            .user_col(Column::Name("item_id".into()))
            .item_col(Column::Index(0)),
    );
    assert!(e.contains("column \"user_id\" has type Float64"), "{e}");
    let opts = ReadOptions::new()
        .user_col(Column::Name("item_id".into()))
        .item_col(Column::Name("rating".into()))
        .rating_col(Column::Name("user_id".into()));
    let e = err_text(&path, &opts);
    assert!(e.contains("column \"timestamp\" has type Float64"), "{e}");
    let e = err_text(
        &path,
        &ReadOptions::new()
            .user_col(Column::Name("item_id".into()))
            .item_col(Column::Name("timestamp".into()))
            .timestamps(false),
    );
    assert!(
        e.contains("column \"timestamp\" has type Float64; a item id column"),
        "{e}"
    );
    let e = err_text(
        &path,
        &ReadOptions::new()
            .user_col(Column::Name("item_id".into()))
            .item_col(Column::Name("item_id".into())),
    );
    assert!(e.contains("must differ"), "{e}");
}

#[test]
fn row_groups_read_apart_hold_the_whole_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ratings.parquet");
    embedded_parquet(&path);
    let whole = read_ratings(&path, &ReadOptions::new()).unwrap().ratings;
    let groups = parquet_row_groups(&path).unwrap();
    let mut triples = Vec::new();
    for (g, &rows) in groups.iter().enumerate() {
        let part = read_parquet_row_groups(&path, g..g + 1, &ReadOptions::new())
            .unwrap()
            .ratings;
        assert_eq!(part.len() as u64, rows);
        for k in 0..part.len() {
            triples.push((
                part.user_ids.id(part.users[k]).to_string(),
                part.item_ids.id(part.items[k]).to_string(),
                part.values[k],
            ));
        }
    }
    let want: Vec<_> = (0..whole.len())
        .map(|k| {
            (
                whole.user_ids.id(whole.users[k]).to_string(),
                whole.item_ids.id(whole.items[k]).to_string(),
                whole.values[k],
            )
        })
        .collect();
    assert_eq!(triples, want);
    let e = read_parquet_row_groups(&path, 3..5, &ReadOptions::new()).unwrap_err();
    assert!(e.to_string().contains("the file has 4"), "{e}");
    let e = read_parquet_row_groups(&path, 2..2, &ReadOptions::new()).unwrap_err();
    assert!(e.to_string().contains("no rows"), "{e}");
}

/// The fixtures written by pyarrow and polars (`make_parquet.py`): each is
/// the same as the CSV written beside it by the same script.
#[test]
fn files_from_pyarrow_and_polars_read_as_their_csv() {
    for (parquet, csv) in [
        ("pandas_snappy_dict.parquet", "pandas_snappy_dict.csv"),
        ("polars_zstd.parquet", "polars_zstd.csv"),
        ("pyarrow_gzip_strings.parquet", "pyarrow_gzip_strings.csv"),
        (
            "pyarrow_lz4_timestamps.parquet",
            "pyarrow_lz4_timestamps.csv",
        ),
    ] {
        let pq = read_ratings(fixture(parquet), &ReadOptions::new()).unwrap();
        let text = read_ratings(fixture(csv), &ReadOptions::new()).unwrap();
        same_table(&text.ratings, &pq.ratings);
    }
    assert!(
        parquet_row_groups(fixture("pandas_snappy_dict.parquet"))
            .unwrap()
            .len()
            >= 3
    );
    // Nulls from pandas: named, or skipped.
    let e = err_text(&fixture("pandas_nulls.parquet"), &ReadOptions::new());
    assert!(
        e.contains("pandas_nulls.parquet")
            && e.contains("row 2 of the file")
            && e.contains("null rating"),
        "{e}"
    );
    let out = read_ratings(
        fixture("pandas_nulls.parquet"),
        &ReadOptions::new().skip_bad_lines(true),
    )
    .unwrap();
    assert_eq!((out.ratings.len(), out.skipped), (4, 2));
}
