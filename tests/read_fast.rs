//! The text reader's fast line scanner must change speed only, never results.
//!
//! The scanner handles lines shaped `user,item,rating[,time]` in positions
//! 0, 1, 2 (, 3). The same lines with their columns permuted (and the
//! columns named by position) can only go through the general field
//! splitter, so reading both and comparing everything the reader returns
//! proves the two roads agree, on every kind of line the scanner meets:
//! plain decimals, CRLF, quoted fields, string ids, leading zeros, ids and
//! ratings and timestamps of every length, blank and bad lines.

use aerec::data::read::{read_ratings_bytes, Column, Duplicates, Format, Header, ReadOptions};
use aerec::Ratings;
use proptest::prelude::*;

/// One line as (user, item, rating, time) fields and its line end. (No
/// `\r\r\n`: its stray `\r` belongs to whichever field comes last, which
/// differs between the two column orders.)
type Line = ([String; 4], &'static str);

/// Joins fields in the order `order` (field k of the output is `fields[order[k]]`).
fn text(lines: &[Line], order: [usize; 4], four: bool) -> Vec<u8> {
    let mut out = String::new();
    for (fields, end) in lines {
        let n = if four { 4 } else { 3 };
        let cols: Vec<&str> = order[..n].iter().map(|&k| fields[k].as_str()).collect();
        out.push_str(&cols.join(","));
        out.push_str(end);
    }
    out.into_bytes()
}

/// Reads the lines in scanner order and in a permuted order; both outcomes
/// as comparable values (the table, skipped lines, or the error's line).
fn both_roads(lines: &[Line], four: bool) -> (String, String) {
    let mut direct = ReadOptions::new()
        .format(Format::Delimited)
        .delimiter(b",")
        .header(Header::No)
        .skip_bad_lines(true)
        .duplicates(Duplicates::KeepLast)
        .timestamps(four);
    if four {
        direct = direct.time_col(Column::Index(3));
    }
    let (order, user, item, rating) = if four {
        ([3, 2, 0, 1], 2, 3, 1)
    } else {
        ([2, 0, 1, 3], 1, 2, 0)
    };
    let mut permuted = direct
        .clone()
        .user_col(Column::Index(user))
        .item_col(Column::Index(item))
        .rating_col(Column::Index(rating));
    if four {
        permuted = permuted.time_col(Column::Index(0));
    }
    let show = |bytes: &[u8], opts: &ReadOptions| match read_ratings_bytes(bytes, opts) {
        Ok(out) => format!(
            "{}\nskipped {} {:?}\nmerged {}",
            table(&out.ratings),
            out.skipped,
            out.skipped_examples
                .iter()
                .map(|s| (s.line, s.reason.clone()))
                .collect::<Vec<_>>(),
            out.duplicates_merged
        ),
        Err(e) => format!("error {}", e.to_string().split(':').next().unwrap_or("")),
    };
    (
        show(&text(lines, [0, 1, 2, 3], four), &direct),
        show(&text(lines, order, four), &permuted),
    )
}

fn table(r: &Ratings) -> String {
    format!(
        "users {:?}\nitems {:?}\nvalues {:?}\ntimes {:?}\nuser ids {:?}\nitem ids {:?}",
        r.users,
        r.items,
        r.values.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        r.timestamps,
        r.user_ids.ids(),
        r.item_ids.ids()
    )
}

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        // Up to 5 digits: the dense id table grows to the largest id, and
        // hundreds of cases with 7-digit ids would each fill tens of MiB
        // (the 7-digit road is covered by `scanned_values_are_exact`).
        6 => "[1-9][0-9]{0,4}",
        1 => "0",
        1 => "0[0-9]{1,5}",
        // 8 digits and more: the scanner declines them (from 2*10^7 on,
        // above the dense table's 2^24 limit, for the reason above).
        1 => "[2-9][0-9]{7,9}",
        1 => "A[0-9A-Z]{3,12}",
        1 => "\"[1-9][0-9]{0,3}\"",
        1 => "\"x,\"\"y\"\"\"",
        1 => "",
        1 => " [0-9]{1,3}",
    ]
}

fn rating() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[0-5]",
        6 => "[0-4]\\.[05]",
        2 => "[0-9]{1,7}(\\.[0-9]{1,6})?",
        1 => "\\.[0-9]",
        1 => "[0-9]\\.",
        1 => "1e0",
        1 => " [1-5] ",
        1 => "\"4\"",
        1 => "NaN|inf|x",
        1 => "",
    ]
}

fn time() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[1-9][0-9]{8,9}",
        2 => "[0-9]{1,20}",
        1 => "-[0-9]{1,5}",
        1 => "\"12\"",
        1 => " 7",
        1 => "t|",
    ]
}

fn line() -> impl Strategy<Value = Line> {
    (
        id(),
        id(),
        rating(),
        time(),
        prop_oneof![
            8 => Just("\n"),
            3 => Just("\r\n"),
            1 => Just(",\n"),
            1 => Just("\n\n"),
        ],
    )
        .prop_map(|(u, i, r, t, end)| ([u, i, r, t], end))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn scanner_and_general_parser_agree(lines in prop::collection::vec(line(), 1..60), four in any::<bool>()) {
        let (direct, permuted) = both_roads(&lines, four);
        prop_assert_eq!(direct, permuted);
    }
}

/// Thousands of ML-20M-like lines, a few odd ones among them: most go
/// through the scanner, and the result is what the general parser says.
#[test]
fn movielens_lines_agree_with_odd_lines_mixed_in() {
    let mut lines: Vec<Line> = Vec::new();
    for k in 0..5_000u64 {
        let user = (k / 37 + 1).to_string();
        let item = ((k * 7_919) % 131_262 + 1).to_string();
        let rating = match k % 4 {
            0 => "4".to_string(),
            1 => "3.5".to_string(),
            2 => "0.5".to_string(),
            _ => "5.0".to_string(),
        };
        let time = (789_652_009 + k * 104_729).to_string();
        let end = if k % 3 == 0 { "\r\n" } else { "\n" };
        lines.push(([user, item, rating, time], end));
    }
    let odd: [[&str; 4]; 8] = [
        ["\"12\"", "5", "4", "1"],
        ["0205616461", "A39HTATAQ9V7YF", "5", "1"],
        ["16777216", "99999999", "2.75", "123456789012345678"],
        ["7", "07", "1e0", "-5"],
        ["8", "9", "10", "1234567890123456"],
        ["8", "10", " 3 ", " 7"],
        ["9", "11", "x", "1"],
        ["", "12", "1", "1"],
    ];
    for (k, fields) in odd.iter().enumerate() {
        lines.insert(
            500 + k * 400,
            (
                fields.map(str::to_string),
                if k % 2 == 0 { "\n" } else { "\r\n" },
            ),
        );
    }
    for four in [true, false] {
        let (direct, permuted) = both_roads(&lines, four);
        assert!(
            direct.contains("skipped 2"),
            "{}",
            &direct[direct.len() - 300..]
        );
        assert_eq!(direct, permuted);
    }
}

/// The scanner's exact values: ratings rounded as the standard parser rounds
/// them, timestamps of 1 to 15 digits, ids read as canonical decimals only.
#[test]
fn scanned_values_are_exact() {
    let mut csv = String::new();
    let ratings = ["0", "5", "0.5", "3.5", "2.75", "1234567", "12.34567", "0.1"];
    let times = [
        "0",
        "9",
        "12345678",
        "123456789",
        "1425784250",
        "999999999999999",
    ];
    for (k, r) in ratings.iter().enumerate() {
        for (j, t) in times.iter().enumerate() {
            csv.push_str(&format!("{},{},{r},{t}\n", k + 1, 1_000_000 + j));
        }
    }
    let out = read_ratings_bytes(
        csv.as_bytes(),
        &ReadOptions::new()
            .header(Header::No)
            .time_col(Column::Index(3))
            .duplicates(Duplicates::Error),
    )
    .unwrap();
    let r = out.ratings;
    assert_eq!(r.len(), ratings.len() * times.len());
    for (row, (k, j)) in (0..ratings.len())
        .flat_map(|k| (0..times.len()).map(move |j| (k, j)))
        .enumerate()
    {
        let want: f32 = ratings[k].parse().unwrap();
        assert_eq!(r.values[row], want, "rating {}", ratings[k]);
        let want_t: i64 = times[j].parse().unwrap();
        assert_eq!(r.timestamps.as_ref().unwrap()[row], want_t);
        assert_eq!(r.user_ids.id(r.users[row]), (k + 1).to_string());
        assert_eq!(r.item_ids.id(r.items[row]), (1_000_000 + j).to_string());
    }
}

/// An ML-latest-shaped CSV of 800,000 ratings (more than one 16 MiB block,
/// CRLF line ends), whose last line brings a new item.
fn two_block_csv() -> String {
    let n = 800_000u64;
    let mut csv = String::with_capacity(n as usize * 32);
    csv.push_str("userId,movieId,rating,timestamp\r\n");
    for k in 0..n {
        let item = if k == n - 1 {
            99_999
        } else {
            (k * 7) % 5_000 + 1
        };
        csv.push_str(&format!(
            "{},{item},{}.5,{}\r\n",
            k / 50 + 1,
            k % 5,
            1_000_000_000 + k
        ));
    }
    assert!(csv.len() > 17 << 20);
    csv
}

/// The same CSV with a bad line inserted as line 700,002.
fn with_bad_line(csv: &str) -> String {
    let mut csv = csv.to_string();
    let bad_at = csv.match_indices("\r\n").nth(700_000).unwrap().0 + 2;
    csv.insert_str(bad_at, "1,2,oops,3\r\n");
    csv
}

/// More than one 16 MiB block: lines cut by a block boundary, ids first
/// seen in a later block, and line numbers counted across blocks.
#[test]
fn inputs_larger_than_a_block_read_whole() {
    let csv = two_block_csv();
    let n = 800_000;
    let opts = ReadOptions::new().duplicates(Duplicates::Error);
    let r = read_ratings_bytes(csv.as_bytes(), &opts).unwrap().ratings;
    assert_eq!(r.len(), n);
    assert_eq!((r.n_users(), r.n_items()), (16_000, 5_001));
    let times = r.timestamps.as_ref().unwrap();
    for k in [0, 1, 671_088, 699_999, 799_999] {
        assert_eq!(times[k], 1_000_000_000 + k as i64);
        assert_eq!(r.values[k], (k % 5) as f32 + 0.5);
        assert_eq!(r.user_ids.id(r.users[k]), (k / 50 + 1).to_string());
    }
    assert_eq!(r.item_ids.id(r.items[799_999]), "99999");
    // A bad line in the second block is reported with its file line number.
    let err = read_ratings_bytes(with_bad_line(&csv).as_bytes(), &opts)
        .unwrap_err()
        .to_string();
    assert!(err.contains("line 700002"), "{err}");
}

/// A large file is read three ways: mapped (a regular file over 16 MiB),
/// streamed through a buffer (a named pipe, as `<(zcat ratings.csv.gz)`
/// gives), and from bytes in memory. All three give the same table, and
/// the same line number for a bad line in the second block.
#[cfg(unix)]
#[test]
fn mapped_streamed_and_in_memory_reads_agree() {
    let csv = two_block_csv();
    let dir = tempfile::tempdir().unwrap();
    let opts = ReadOptions::new().duplicates(Duplicates::Error);
    let file = dir.path().join("ratings.csv");
    let pipe = dir.path().join("ratings-pipe");
    let through_pipe = |text: String| {
        let made = std::process::Command::new("mkfifo").arg(&pipe).status();
        assert!(made.unwrap().success(), "mkfifo");
        let to = pipe.clone();
        let writer = std::thread::spawn(move || {
            // A broken pipe (the reader stopped at an error) is expected.
            let _ = std::fs::write(to, text);
        });
        // When the reader stops early, its closed end fails the writer's
        // write (Rust ignores SIGPIPE), which ends the thread.
        let out = aerec::data::read::read_ratings(&pipe, &opts);
        writer.join().unwrap();
        std::fs::remove_file(&pipe).unwrap();
        out
    };
    let want = read_ratings_bytes(csv.as_bytes(), &opts).unwrap().ratings;
    std::fs::write(&file, &csv).unwrap();
    let mapped = aerec::data::read::read_ratings(&file, &opts)
        .unwrap()
        .ratings;
    let streamed = through_pipe(csv.clone()).unwrap().ratings;
    for (how, got) in [("mapped", &mapped), ("streamed", &streamed)] {
        assert_eq!(got.users, want.users, "{how}");
        assert_eq!(got.items, want.items, "{how}");
        assert_eq!(got.values, want.values, "{how}");
        assert_eq!(got.timestamps, want.timestamps, "{how}");
        assert_eq!(got.user_ids.ids(), want.user_ids.ids(), "{how}");
        assert_eq!(got.item_ids.ids(), want.item_ids.ids(), "{how}");
    }
    let bad = with_bad_line(&csv);
    std::fs::write(&file, &bad).unwrap();
    let mapped = aerec::data::read::read_ratings(&file, &opts).unwrap_err();
    let streamed = through_pipe(bad).unwrap_err();
    for err in [mapped.to_string(), streamed.to_string()] {
        assert!(err.contains("line 700002") && err.contains("oops"), "{err}");
    }
}

/// A file large enough to be cut into many pieces, whose ids first appear
/// in every piece (numeric ids in most, string ids in a few): the id maps are
/// in first-seen order and every row's indices point at its own ids, as a
/// one-line-at-a-time reference reads them.
#[test]
fn ids_keep_first_seen_order_across_pieces() {
    let mut text = String::new();
    let mut x: u64 = 7;
    let mut rows = Vec::new();
    for line in 0..200_000u64 {
        x = x
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        // Ids grow with the line number, so new ones keep appearing late.
        let user = (line / 7 + (x >> 60)).to_string();
        let mut item = ((x >> 33) % (line / 3 + 10)).to_string();
        if (line / 20_000) % 4 == 3 && line % 5 == 0 {
            item = format!("B{item}");
        }
        text.push_str(&format!(
            "{user},{item},{}.5,{}\n",
            (x >> 20) % 5,
            1_000_000 + line
        ));
        rows.push((user, item));
    }
    assert!(text.len() > 4 << 20, "{} bytes: too few pieces", text.len());
    let opts = ReadOptions::new()
        .format(Format::Delimited)
        .delimiter(b",")
        .header(Header::No)
        .duplicates(Duplicates::KeepLast);
    let out = read_ratings_bytes(text.as_bytes(), &opts).unwrap();
    let first_seen = |ids: &mut dyn Iterator<Item = &String>| {
        let mut seen = std::collections::HashSet::new();
        ids.filter(|id| seen.insert(id.to_string()))
            .cloned()
            .collect::<Vec<String>>()
    };
    let users = first_seen(&mut rows.iter().map(|r| &r.0));
    let items = first_seen(&mut rows.iter().map(|r| &r.1));
    assert_eq!(out.ratings.user_ids.ids(), &users[..]);
    assert_eq!(out.ratings.item_ids.ids(), &items[..]);
    // Rows (after keep-last merging) name the ids of their lines.
    let r = &out.ratings;
    for k in (0..r.len()).step_by(997) {
        let (u, i) = (r.user_ids.id(r.users[k]), r.item_ids.id(r.items[k]));
        assert!(
            rows.iter().any(|(ru, ri)| ru == u && ri == i),
            "row {k}: {u},{i}"
        );
    }
}
