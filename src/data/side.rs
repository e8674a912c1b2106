//! Side information: item titles and user/item feature vectors (hybrid models).

/// Whether side features describe users or items.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SideOf {
    /// One feature row per user.
    Users,
    /// One feature row per item.
    Items,
}

impl SideOf {
    /// Guesses from a file name: a name that holds "user" (`u.user`,
    /// `users.dat`) describes users, any other one items (`u.item`,
    /// `movies.csv`).
    ///
    /// ```
    /// use aerec::data::side::SideOf;
    /// assert_eq!(SideOf::guess("ml-100k/u.user".as_ref()), SideOf::Users);
    /// assert_eq!(SideOf::guess("ml-1m/movies.dat".as_ref()), SideOf::Items);
    /// ```
    pub fn guess(path: &Path) -> SideOf {
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_ascii_lowercase();
        if name.contains("user") {
            SideOf::Users
        } else {
            SideOf::Items
        }
    }
}

/// Reads side features aligned with the id maps of `train` (the training
/// part of a split): user features or item genres, as `of` says, else as
/// [`SideOf::guess`] guesses from the file name.
pub fn read_side_features(
    path: &Path,
    of: Option<SideOf>,
    train: &Ratings,
) -> Result<SideFeatures> {
    match of.unwrap_or_else(|| SideOf::guess(path)) {
        SideOf::Users => read_user_features(path, &train.user_ids),
        SideOf::Items => read_item_genres(path, &train.item_ids),
    }
}

/// Dense side features aligned with an id map: row `r` describes index `r`
/// (rows for ids the side file lacks are all zero).
#[derive(Debug, Clone, PartialEq)]
pub struct SideFeatures {
    /// Users or items.
    pub of: SideOf,
    /// Number of rows (the size of the id map they align with).
    pub n_rows: usize,
    /// Features per row.
    pub dim: usize,
    /// Row-major `n_rows × dim` values.
    pub data: Vec<f32>,
    /// Name of each feature column (e.g. `gender=F`, `genre=Comedy`).
    pub names: Vec<String>,
}

impl SideFeatures {
    /// Features of row `r`.
    pub fn row(&self, r: usize) -> &[f32] {
        &self.data[r * self.dim..(r + 1) * self.dim]
    }
}

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use super::{IdMap, Ratings};
use crate::error::{Error, Position, Result};

/// The side-file layouts MovieLens ships.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TitleFormat {
    /// ML-100K `u.item`: `id|title|release|video|url|19 genre flags`, Latin-1.
    UItem,
    /// ML-1M/10M `movies.dat`: `id::title::Genre|Genre`, Latin-1.
    MoviesDat,
    /// ML latest/20M+ `movies.csv`: header `movieId,title,genres`, quoted UTF-8.
    MoviesCsv,
}

impl TitleFormat {
    /// From the file name, else from the content (`::` or `|` in the first line).
    pub fn detect(path: &Path, bytes: &[u8]) -> TitleFormat {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let first = bytes.split(|&b| b == b'\n').next().unwrap_or(b"");
        if name.ends_with(".dat") || memchr::memmem::find(first, b"::").is_some() {
            TitleFormat::MoviesDat
        } else if name == "u.item"
            || memchr::memchr(b'|', first).is_some() && memchr::memchr(b',', first).is_none()
        {
            TitleFormat::UItem
        } else {
            TitleFormat::MoviesCsv
        }
    }
}

/// The 19 genres of ML-100K `u.item`, in column order (from its `u.genre`).
pub const UITEM_GENRES: [&str; 19] = [
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
];

/// ML-1M's occupation codes 0–20 (from its README), in code order.
pub const ML1M_OCCUPATIONS: [&str; 21] = [
    "other",
    "academic/educator",
    "artist",
    "clerical/admin",
    "college/grad student",
    "customer service",
    "doctor/health care",
    "executive/managerial",
    "farmer",
    "homemaker",
    "K-12 student",
    "lawyer",
    "programmer",
    "retired",
    "sales/marketing",
    "scientist",
    "self-employed",
    "technician/engineer",
    "tradesman/craftsman",
    "unemployed",
    "writer",
];

/// Age buckets as ML-1M codes them (lower bounds); ML-100K's exact ages are
/// put into the same buckets so both files give the same features.
pub const AGE_BUCKETS: [u32; 7] = [1, 18, 25, 35, 45, 50, 56];

/// Decodes Latin-1: every byte is the code point of the same value.
pub fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| b as char).collect()
}

/// Non-blank lines with 1-based numbers and their byte offsets, `\r` stripped.
fn lines(text: &str) -> impl Iterator<Item = (Position, &str)> {
    let mut byte = 0u64;
    text.split('\n').enumerate().filter_map(move |(k, raw)| {
        let pos = Position {
            line: k as u64 + 1,
            byte,
        };
        byte += raw.len() as u64 + 1;
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        (!line.trim().is_empty()).then_some((pos, line))
    })
}

/// Splits a line and checks it has at least `min` fields.
fn fields<'a>(pos: Position, line: &'a str, sep: &str, min: usize) -> Result<Vec<&'a str>> {
    let f: Vec<&str> = line.split(sep).collect();
    if f.len() < min {
        return Err(Error::parse(
            pos,
            format!(
                "expected at least {min} fields separated by {sep:?}, found {}",
                f.len()
            ),
            line,
        ));
    }
    Ok(f)
}

/// Reads titles by original item id from `u.item`, `movies.dat` or `movies.csv`.
pub fn read_titles(path: impl AsRef<Path>) -> Result<HashMap<String, String>> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    titles_from_bytes(&bytes, TitleFormat::detect(path, &bytes)).map_err(|e| e.with_path(path))
}

fn read_file(path: &Path) -> Result<Vec<u8>> {
    if path.is_dir() {
        return Err(Error::format("is a directory, not a side file").with_path(path));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::from(e).with_path(path))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::format("empty file").with_path(path));
    }
    Ok(bytes)
}

/// Titles from the bytes of a side file of the given layout.
///
/// ```
/// use aerec::data::side::{titles_from_bytes, TitleFormat};
/// let t = titles_from_bytes(b"1::Caf\xe9 (1995)::Comedy\n", TitleFormat::MoviesDat).unwrap();
/// assert_eq!(t["1"], "Café (1995)");
/// ```
pub fn titles_from_bytes(bytes: &[u8], format: TitleFormat) -> Result<HashMap<String, String>> {
    let mut titles = HashMap::new();
    match format {
        TitleFormat::UItem | TitleFormat::MoviesDat => {
            let sep = if format == TitleFormat::UItem {
                "|"
            } else {
                "::"
            };
            for (pos, line) in lines(&latin1(bytes)) {
                let f = fields(pos, line, sep, 2)?;
                titles.insert(f[0].to_string(), f[1].to_string());
            }
        }
        TitleFormat::MoviesCsv => {
            for_each_csv_record(bytes, 2, |_, rec| {
                titles.insert(rec[0].to_string(), rec[1].to_string());
                Ok(())
            })?;
        }
    }
    Ok(titles)
}

/// Visits the records of a headed, quoted UTF-8 CSV with at least `min` fields.
fn for_each_csv_record(
    bytes: &[u8],
    min: usize,
    mut visit: impl FnMut(Position, &csv::StringRecord) -> Result<()>,
) -> Result<()> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes);
    for rec in reader.records() {
        let rec = rec.map_err(|e| Error::from(e).context("bad CSV record"))?;
        let pos = rec.position().map_or(Position::default(), |p| Position {
            line: p.line(),
            byte: p.byte(),
        });
        if rec.len() < min {
            let text: Vec<&str> = rec.iter().collect();
            return Err(Error::parse(
                pos,
                format!("expected at least {min} fields, found {}", rec.len()),
                &text.join(","),
            ));
        }
        visit(pos, &rec)?;
    }
    Ok(())
}

/// Builds features aligned to `ids` from `(id, active feature columns)` rows.
fn aligned(
    of: SideOf,
    ids: &IdMap,
    names: Vec<String>,
    rows: Vec<(String, Vec<usize>)>,
) -> SideFeatures {
    let dim = names.len();
    let mut data = vec![0f32; ids.len() * dim];
    for (id, active) in rows {
        if let Some(r) = ids.get(&id) {
            for c in active {
                data[r as usize * dim + c] = 1.0;
            }
        }
    }
    SideFeatures {
        of,
        n_rows: ids.len(),
        dim,
        data,
        names,
    }
}

fn age_bucket(age: u32) -> usize {
    AGE_BUCKETS.iter().rposition(|&lo| age >= lo).unwrap_or(0)
}

/// User features from ML-100K `u.user` (`id|age|gender|occupation|zip`) or
/// ML-1M `users.dat` (`id::gender::age code::occupation code::zip`): gender
/// (2 flags), age bucket (7 flags, [`AGE_BUCKETS`]) and occupation one-hot,
/// aligned to `users` (rows of users the file lacks are zero; users the map
/// lacks are ignored).
pub fn read_user_features(path: impl AsRef<Path>, users: &IdMap) -> Result<SideFeatures> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    user_features_from_bytes(&bytes, users).map_err(|e| e.with_path(path))
}

/// [`read_user_features`] on bytes in memory; the layout is told by `::`.
pub fn user_features_from_bytes(bytes: &[u8], users: &IdMap) -> Result<SideFeatures> {
    let text = latin1(bytes);
    let dat = text.contains("::");
    let (sep, gender_at, age_at, occ_at) = if dat { ("::", 1, 2, 3) } else { ("|", 2, 1, 3) };
    let mut parsed = Vec::new();
    for (pos, line) in lines(&text) {
        let f = fields(pos, line, sep, 4)?;
        let gender = match f[gender_at] {
            "M" => 0,
            "F" => 1,
            g => {
                return Err(Error::parse(
                    pos,
                    format!("gender {g:?} is neither M nor F"),
                    line,
                ))
            }
        };
        let age: u32 = f[age_at]
            .trim()
            .parse()
            .map_err(|_| Error::parse(pos, "age is not a whole number", line))?;
        let occupation = if dat {
            let code: usize = f[occ_at]
                .trim()
                .parse()
                .map_err(|_| Error::parse(pos, "occupation is not a code", line))?;
            ML1M_OCCUPATIONS
                .get(code)
                .ok_or_else(|| Error::parse(pos, "occupation code outside 0..=20", line))?
                .to_string()
        } else {
            f[occ_at].to_string()
        };
        parsed.push((f[0].to_string(), gender, age_bucket(age), occupation));
    }
    let occupations: Vec<String> = if dat {
        ML1M_OCCUPATIONS.iter().map(|s| s.to_string()).collect()
    } else {
        parsed
            .iter()
            .map(|p| p.3.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect()
    };
    let mut names = vec!["gender=M".to_string(), "gender=F".to_string()];
    names.extend(AGE_BUCKETS.iter().map(|a| format!("age>={a}")));
    names.extend(occupations.iter().map(|o| format!("occupation={o}")));
    let base = 2 + AGE_BUCKETS.len();
    let rows = parsed
        .into_iter()
        .map(|(id, g, a, o)| {
            let occ = occupations.iter().position(|x| *x == o).unwrap_or(0);
            (id, vec![g, 2 + a, base + occ])
        })
        .collect();
    Ok(aligned(SideOf::Users, users, names, rows))
}

/// Item genre flags from `u.item` (19 flags, [`UITEM_GENRES`]), `movies.dat`
/// or `movies.csv` (`Genre|Genre` lists; one flag per genre named in the
/// file, sorted), aligned to `items`.
pub fn read_item_genres(path: impl AsRef<Path>, items: &IdMap) -> Result<SideFeatures> {
    let path = path.as_ref();
    let bytes = read_file(path)?;
    item_genres_from_bytes(&bytes, TitleFormat::detect(path, &bytes), items)
        .map_err(|e| e.with_path(path))
}

/// [`read_item_genres`] on bytes in memory.
pub fn item_genres_from_bytes(
    bytes: &[u8],
    format: TitleFormat,
    items: &IdMap,
) -> Result<SideFeatures> {
    if format == TitleFormat::UItem {
        let mut rows = Vec::new();
        for (pos, line) in lines(&latin1(bytes)) {
            let f = fields(pos, line, "|", 5 + UITEM_GENRES.len())?;
            let flags = &f[f.len() - UITEM_GENRES.len()..];
            let mut active = Vec::new();
            for (g, flag) in flags.iter().enumerate() {
                match flag.trim() {
                    "1" => active.push(g),
                    "0" => {}
                    _ => {
                        return Err(Error::parse(
                            pos,
                            format!("genre flag {flag:?} is not 0 or 1"),
                            line,
                        ))
                    }
                }
            }
            rows.push((f[0].to_string(), active));
        }
        let names = UITEM_GENRES.iter().map(|g| format!("genre={g}")).collect();
        return Ok(aligned(SideOf::Items, items, names, rows));
    }
    let mut lists: Vec<(String, String)> = Vec::new();
    if format == TitleFormat::MoviesDat {
        for (pos, line) in lines(&latin1(bytes)) {
            let f = fields(pos, line, "::", 3)?;
            lists.push((f[0].to_string(), f[2].to_string()));
        }
    } else {
        for_each_csv_record(bytes, 3, |_, rec| {
            lists.push((rec[0].to_string(), rec[2].to_string()));
            Ok(())
        })?;
    }
    let genres: Vec<&str> = lists
        .iter()
        .flat_map(|(_, l)| l.split('|'))
        .filter(|g| !g.is_empty() && *g != "(no genres listed)")
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let rows = lists
        .iter()
        .map(|(id, l)| {
            (
                id.clone(),
                l.split('|')
                    .filter_map(|g| genres.iter().position(|x| *x == g))
                    .collect(),
            )
        })
        .collect();
    let names = genres.iter().map(|g| format!("genre={g}")).collect();
    Ok(aligned(SideOf::Items, items, names, rows))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn side_of_is_guessed_from_the_name_unless_given() {
        let dir = tempfile::tempdir().unwrap();
        let text = "1|24|M|technician|85711\n2|53|F|other|94043\n";
        let named = dir.path().join("u.user");
        let plain = dir.path().join("side.txt");
        std::fs::write(&named, text).unwrap();
        std::fs::write(&plain, text).unwrap();
        let mut users = IdMap::new();
        users.intern("2");
        let train = Ratings {
            users: vec![0],
            items: vec![0],
            values: vec![4.0],
            timestamps: None,
            user_ids: std::sync::Arc::new(users),
            item_ids: std::sync::Arc::new(IdMap::new()),
        };
        let guessed = read_side_features(&named, None, &train).unwrap();
        assert_eq!(guessed.of, SideOf::Users);
        assert_eq!(guessed.n_rows, 1);
        let told = read_side_features(&plain, Some(SideOf::Users), &train).unwrap();
        assert_eq!(told, guessed);
    }

    #[test]
    fn age_buckets_follow_ml1m_codes() {
        // ML-1M README: 1 "Under 18", 18 "18-24", 25 "25-34", ..., 56 "56+".
        assert_eq!(
            [
                age_bucket(7),
                age_bucket(17),
                age_bucket(18),
                age_bucket(49),
                age_bucket(50),
                age_bucket(73)
            ],
            [0, 0, 1, 4, 5, 6]
        );
    }

    #[test]
    fn user_features_align_to_the_map_and_ignore_unknown_ids() {
        let users = IdMap::from_ids(vec!["2".into(), "9".into(), "1".into()]).unwrap();
        let f = user_features_from_bytes(
            b"1|24|M|technician|85711\n2|53|F|other|94043\n5|30|F|writer|1\n",
            &users,
        )
        .unwrap();
        assert_eq!((f.n_rows, f.dim), (3, 2 + 7 + 3));
        let on = |r: usize| -> Vec<&str> {
            f.names
                .iter()
                .zip(f.row(r))
                .filter(|(_, &v)| v == 1.0)
                .map(|(n, _)| n.as_str())
                .collect()
        };
        assert_eq!(on(0), ["gender=F", "age>=50", "occupation=other"]);
        assert!(on(1).is_empty());
        assert_eq!(on(2), ["gender=M", "age>=18", "occupation=technician"]);
    }

    #[test]
    fn users_dat_uses_ml1m_codes() {
        let users = IdMap::from_ids(vec!["1".into()]).unwrap();
        let f = user_features_from_bytes(b"1::F::1::10::48067\n", &users).unwrap();
        let on: Vec<&str> = f
            .names
            .iter()
            .zip(f.row(0))
            .filter(|(_, &v)| v == 1.0)
            .map(|(n, _)| n.as_str())
            .collect();
        assert_eq!(on, ["gender=F", "age>=1", "occupation=K-12 student"]);
    }

    #[test]
    fn bad_side_lines_name_their_line() {
        let users = IdMap::new();
        let e = user_features_from_bytes(b"1|24|M|x|1\n2|old|F|x|1\n", &users).unwrap_err();
        assert_eq!(e.position().unwrap().line, 2);
        assert!(e.to_string().contains("2|old|F|x|1"), "{e}");
    }

    #[test]
    fn genres_from_csv_lists() {
        let items = IdMap::from_ids(vec!["2".into(), "1".into()]).unwrap();
        let csv = b"movieId,title,genres\n1,\"Toy Story, The (1995)\",Animation|Comedy\n2,X,(no genres listed)\n";
        let f = item_genres_from_bytes(csv, TitleFormat::MoviesCsv, &items).unwrap();
        assert_eq!(f.names, ["genre=Animation", "genre=Comedy"]);
        assert_eq!(f.row(0), [0.0, 0.0]);
        assert_eq!(f.row(1), [1.0, 1.0]);
        let t = titles_from_bytes(csv, TitleFormat::MoviesCsv).unwrap();
        assert_eq!(t["1"], "Toy Story, The (1995)");
    }
}
