//! Small two-column files that commands read beside a model: (user, item)
//! pairs to predict, and one new user's (item, rating) list to fold in.
//! Comma-separated, fields trimmed, blank lines ignored; every error names
//! the path and the line.

use std::collections::HashMap;
use std::path::Path;

use crate::data::RatingScale;
use crate::error::{Error, ErrorKind, Position, Result};

/// Reads (user, item) pairs: `user,item` lines; a first line `user,item`
/// (any case) is a header.
///
/// ```
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("pairs.csv");
/// std::fs::write(&path, "User,Item\nu1, i1\n").unwrap();
/// let pairs = aerec::data::read::read_pairs(&path).unwrap();
/// assert_eq!(pairs, [("u1".to_string(), "i1".to_string())]);
/// ```
pub fn read_pairs(path: &Path) -> Result<Vec<(String, String)>> {
    let mut records = read_two_columns(path)?;
    if records
        .first()
        .is_some_and(|(_, u, i)| u.eq_ignore_ascii_case("user") && i.eq_ignore_ascii_case("item"))
    {
        records.remove(0);
    }
    Ok(records.into_iter().map(|(_, u, i)| (u, i)).collect())
}

/// Reads one user's ratings: `item,rating` lines, with an optional header
/// (a first line whose rating does not parse as a number). A rating that is
/// not a number or lies off `scale` (the model's), and an item rated twice,
/// are errors naming the line.
pub fn read_item_ratings(path: &Path, scale: RatingScale) -> Result<Vec<(String, f32)>> {
    let records = read_two_columns(path)?;
    let mut out = Vec::with_capacity(records.len());
    let mut first_line = HashMap::new();
    for (k, (pos, item, rating)) in records.into_iter().enumerate() {
        let value = match rating.trim().parse::<f32>() {
            Ok(v) => v,
            Err(_) if k == 0 => continue,
            Err(_) => {
                return Err(Error::parse(
                    pos,
                    "the rating is not a number",
                    &format!("{item},{rating}"),
                )
                .with_path(path))
            }
        };
        if !(value.is_finite() && scale.contains(value)) {
            return Err(Error::new(ErrorKind::Rating {
                position: Some(pos),
                value: value as f64,
                message: format!(
                    "the rating of item {item:?} is outside the model's scale {}..{}",
                    scale.min, scale.max
                ),
            })
            .with_path(path));
        }
        if let Some(first) = first_line.insert(item.clone(), pos.line) {
            return Err(Error::parse(
                pos,
                format!("item {item:?} is rated twice (first on line {first})"),
                &format!("{item},{rating}"),
            )
            .with_path(path));
        }
        out.push((item, value));
    }
    Ok(out)
}

/// Reads a comma-separated file of exactly two trimmed fields a line.
fn read_two_columns(path: &Path) -> Result<Vec<(Position, String, String)>> {
    let file = std::fs::File::open(path).map_err(|e| Error::from(e).with_path(path))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(std::io::BufReader::new(file));
    let mut out = Vec::new();
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| Error::from(e).with_path(path))?
    {
        let at = record
            .position()
            .map_or_else(Position::default, |p| Position {
                line: p.line(),
                byte: p.byte(),
            });
        if record.len() == 2 {
            out.push((at, record[0].to_string(), record[1].to_string()));
        } else if !record.iter().all(str::is_empty) {
            let text = record.iter().collect::<Vec<_>>().join(",");
            let why = format!("expected 2 fields, found {}", record.len());
            return Err(Error::parse(at, why, &text).with_path(path));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &[u8]) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("two.csv");
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    #[test]
    fn csv_errors_keep_path_and_line() {
        // Invalid UTF-8 on line 2: the csv reader's own error, mapped through
        // `From<csv::Error>` with its position kept.
        let (_dir, path) = file(b"u1,i1\nu2,\xff\n");
        let err = read_pairs(&path).unwrap_err();
        assert!(matches!(err.kind(), ErrorKind::Parse { .. }), "{err}");
        assert_eq!(err.position().unwrap().line, 2);
        assert!(err.to_string().starts_with(&path.display().to_string()));
    }

    #[test]
    fn ratings_off_scale_twice_rated_or_not_numbers_name_the_line() {
        let scale = RatingScale { min: 1.0, max: 5.0 };
        let (_dir, path) = file(b"item,rating\ni1,5\n\ni2,1\n");
        let got = read_item_ratings(&path, scale).unwrap();
        assert_eq!(got, [("i1".to_string(), 5.0), ("i2".to_string(), 1.0)]);
        for (text, line) in [
            (&b"i1,5\ni2,NaN\n"[..], 2),
            (b"i1,5\ni2,0.5\n", 2),
            (b"i1,5\ni2,4\ni1,3\n", 3),
            (b"i1,5\ni2,x\n", 2),
        ] {
            let (_dir, path) = file(text);
            let err = read_item_ratings(&path, scale).unwrap_err();
            assert_eq!(err.position().unwrap().line, line, "{err}");
        }
    }
}
