//! Readers: every supported rating format → one [`Ratings`] table.
//!
//! Built like rust-csv's `ReaderBuilder`: a [`ReadOptions`] value collects the
//! choices (format or auto-detection, delimiter, header, columns, what to do
//! with bad lines and duplicate pairs, the rating scale), then
//! [`read_ratings`] (a file) or [`read_ratings_bytes`] (bytes in memory) does
//! the work and returns a [`ReadOutcome`].
//!
//! ```
//! use aerec::data::read::{read_ratings_bytes, Duplicates, ReadOptions};
//!
//! let csv = b"user,item,rating\nu1,i1,4\nu2,i1,0\nu1,i2,3.5\n";
//! let out = read_ratings_bytes(csv, &ReadOptions::new().duplicates(Duplicates::Error)).unwrap();
//! assert_eq!(out.ratings.len(), 3);
//! assert_eq!(out.ratings.user_ids.ids(), ["u1", "u2"]);
//! // In text formats a rating of 0 is a real rating, not a missing one.
//! assert_eq!(out.ratings.values, [4.0, 0.0, 3.5]);
//! ```
//!
//! Ids are kept verbatim as strings (`"0205616461"` keeps its leading zero)
//! and get dense indices in first-seen order. Only the `.npz` reader treats a
//! 0 as a missing cell, because a scipy sparse matrix cannot say otherwise.

mod detect;
mod distributed;
pub mod embedded;
mod finish;
#[cfg(target_os = "linux")]
mod mapped;
mod npz;
mod parquet;
mod text;
mod two_columns;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

use crate::data::{RatingScale, Ratings};
use crate::error::{Error, Result};

pub use distributed::{read_distributed, DistributedRead, RowsBy};
pub use parquet::{parquet_row_groups, read_parquet_row_groups};
pub use two_columns::{read_item_ratings, read_pairs};

/// The rating file formats aerec reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// MovieLens 100K `u.data`: `user \t item \t rating \t timestamp`, no header.
    Ml100k,
    /// MovieLens 1M/10M `ratings.dat`: `user::item::rating::timestamp`, no header.
    MlDat,
    /// MovieLens latest/20M/25M/32M `ratings.csv`: header `userId,movieId,rating,timestamp`,
    /// CRLF line ends as shipped.
    MlCsv,
    /// Amazon ratings CSV: `UserId,ProductId,Rating,Timestamp`, header or not,
    /// string ids whose leading zeros are significant.
    Amazon,
    /// Generic delimited text: delimiter, header and columns as configured.
    Delimited,
    /// A scipy sparse matrix saved by `scipy.sparse.save_npz` (CSR, CSC or COO):
    /// rows are users, columns are items, 0 is a missing cell.
    Npz,
    /// Apache Parquet (pandas, pyarrow, polars, Spark, DuckDB): columns
    /// chosen by name, or found by their usual names (`userId`, `user_id`,
    /// `reviewerID`, `movieId`, `item_id`, `asin`, `rating`, `overall`,
    /// `timestamp`…).
    Parquet,
}

impl Format {
    /// Every format, in the order shown in help texts.
    pub const ALL: [Format; 7] = [
        Format::Ml100k,
        Format::MlDat,
        Format::MlCsv,
        Format::Amazon,
        Format::Delimited,
        Format::Npz,
        Format::Parquet,
    ];

    /// The name `--format` accepts.
    pub fn name(self) -> &'static str {
        match self {
            Format::Ml100k => "ml100k",
            Format::MlDat => "ml-dat",
            Format::MlCsv => "ml-csv",
            Format::Amazon => "amazon",
            Format::Delimited => "delimited",
            Format::Npz => "npz",
            Format::Parquet => "parquet",
        }
    }

    /// Guesses the format from a file name and the first bytes of its content.
    ///
    /// ```
    /// use aerec::data::read::Format;
    /// assert_eq!(Format::detect("ml-100k/u.data", b"196\t242\t3\t881250949\n"), Format::Ml100k);
    /// assert_eq!(Format::detect("x.txt", b"1::1193::5::978300760\n"), Format::MlDat);
    /// assert_eq!(Format::detect("r.csv", b"userId,movieId,rating,timestamp\r\n"), Format::MlCsv);
    /// assert_eq!(Format::detect("part-0.parquet", b""), Format::Parquet);
    /// assert_eq!(Format::detect("x", b"PAR1\x15\x04"), Format::Parquet);
    /// ```
    pub fn detect(name: &str, head: &[u8]) -> Format {
        detect::detect(name, head)
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Format {
    type Err = Error;

    /// Parses a `--format` value; a few common aliases are accepted.
    fn from_str(s: &str) -> Result<Format> {
        let lower = s.trim().to_ascii_lowercase();
        let format = match lower.as_str() {
            "ml100k" | "ml-100k" | "u.data" => Format::Ml100k,
            "ml-dat" | "mldat" | "dat" | "ml1m" | "ml-1m" | "ml10m" | "ml-10m" => Format::MlDat,
            "ml-csv" | "mlcsv" | "movielens" | "ml20m" | "ml-20m" | "ml-latest" => Format::MlCsv,
            "amazon" => Format::Amazon,
            "delimited" | "csv" | "tsv" | "text" => Format::Delimited,
            "npz" | "scipy" => Format::Npz,
            "parquet" | "parq" | "pq" => Format::Parquet,
            _ => {
                let names: Vec<&str> = Format::ALL.iter().map(|f| f.name()).collect();
                return Err(Error::config(format!(
                    "unknown format {s:?}; expected one of {}",
                    names.join(", ")
                )));
            }
        };
        Ok(format)
    }
}

/// Whether the first line is a header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Header {
    /// The first line names the columns.
    Yes,
    /// The first line is data.
    No,
    /// Decide from the content: a header when the rating field of the first
    /// line is not a number (or when columns are chosen by name).
    #[default]
    Auto,
}

/// A column chosen by its header name or its 0-based position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Column {
    /// 0-based position.
    Index(usize),
    /// Header name (exact match preferred, else case-insensitive).
    Name(String),
}

impl FromStr for Column {
    type Err = std::convert::Infallible;

    /// A number is a position, anything else a header name.
    fn from_str(s: &str) -> std::result::Result<Column, Self::Err> {
        Ok(match s.parse::<usize>() {
            Ok(i) => Column::Index(i),
            Err(_) => Column::Name(s.to_string()),
        })
    }
}

/// What to do when the same (user, item) pair appears more than once.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Duplicates {
    /// Stop with an error naming the line of the second occurrence.
    #[default]
    Error,
    /// Keep the last occurrence in file order.
    KeepLast,
    /// Keep one entry with the mean of the values (and the last timestamp).
    Mean,
}

impl FromStr for Duplicates {
    type Err = Error;

    fn from_str(s: &str) -> Result<Duplicates> {
        match s {
            "error" => Ok(Duplicates::Error),
            "keep-last" | "last" => Ok(Duplicates::KeepLast),
            "mean" => Ok(Duplicates::Mean),
            _ => Err(Error::config(format!(
                "unknown duplicate policy {s:?}; expected error, keep-last or mean"
            ))),
        }
    }
}

/// How the bytes of ids (and side-file text) are decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// UTF-8; invalid bytes in an id are a parse error.
    #[default]
    Utf8,
    /// Latin-1 (ISO-8859-1): every byte is one character. MovieLens `.dat`
    /// and `u.item` files use it.
    Latin1,
}

/// Choices for reading a rating file; start from [`ReadOptions::new`] and chain setters.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOptions {
    pub(crate) format: Option<Format>,
    pub(crate) delimiter: Option<Vec<u8>>,
    pub(crate) header: Option<Header>,
    pub(crate) user_col: Column,
    pub(crate) item_col: Column,
    pub(crate) rating_col: Column,
    pub(crate) without_ratings: bool,
    pub(crate) time_col: Option<Column>,
    pub(crate) timestamps: bool,
    pub(crate) skip_bad_lines: bool,
    pub(crate) duplicates: Duplicates,
    pub(crate) scale: Option<RatingScale>,
    pub(crate) encoding: Encoding,
}

impl Default for ReadOptions {
    fn default() -> Self {
        ReadOptions {
            format: None,
            delimiter: None,
            header: None,
            user_col: Column::Index(0),
            item_col: Column::Index(1),
            rating_col: Column::Index(2),
            without_ratings: false,
            time_col: None,
            timestamps: true,
            skip_bad_lines: false,
            duplicates: Duplicates::Error,
            scale: None,
            encoding: Encoding::Utf8,
        }
    }
}

impl ReadOptions {
    /// Auto-detected format, columns user, item, rating (, timestamp) in that
    /// order, bad lines and duplicates are errors, scale inferred.
    pub fn new() -> Self {
        Self::default()
    }

    /// Forces a format instead of detecting it.
    ///
    /// ```
    /// use aerec::data::read::{read_ratings_bytes, Format, ReadOptions};
    /// let out = read_ratings_bytes(b"7\t3\t5\t0\n", &ReadOptions::new().format(Format::Ml100k)).unwrap();
    /// assert_eq!(out.format, Format::Ml100k);
    /// ```
    pub fn format(mut self, format: Format) -> Self {
        self.format = Some(format);
        self
    }

    /// Sets the field delimiter (one or more bytes, e.g. `b"::"`); the default
    /// comes from the format, or is detected for generic text.
    ///
    /// ```
    /// use aerec::data::read::{read_ratings_bytes, ReadOptions};
    /// let out = read_ratings_bytes(b"a;x;1\nb;x;2\n", &ReadOptions::new().delimiter(b";")).unwrap();
    /// assert_eq!(out.ratings.len(), 2);
    /// ```
    pub fn delimiter(mut self, delimiter: &[u8]) -> Self {
        self.delimiter = Some(delimiter.to_vec());
        self
    }

    /// Says whether the first line is a header (default: the format's, else auto).
    ///
    /// ```
    /// use aerec::data::read::{read_ratings_bytes, Header, ReadOptions};
    /// let out = read_ratings_bytes(b"1,2,3\n", &ReadOptions::new().header(Header::No)).unwrap();
    /// assert_eq!(out.ratings.len(), 1);
    /// ```
    pub fn header(mut self, header: Header) -> Self {
        self.header = Some(header);
        self
    }

    /// The user column (default position 0).
    pub fn user_col(mut self, col: Column) -> Self {
        self.user_col = col;
        self
    }

    /// The item column (default position 1).
    pub fn item_col(mut self, col: Column) -> Self {
        self.item_col = col;
        self
    }

    /// The rating column (default position 2).
    ///
    /// ```
    /// use aerec::data::read::{read_ratings_bytes, Column, ReadOptions};
    /// let text = b"stars,who,what\n5,u,i\n";
    /// let opts = ReadOptions::new()
    ///     .user_col(Column::Name("who".into()))
    ///     .item_col(Column::Name("what".into()))
    ///     .rating_col(Column::Name("stars".into()));
    /// let out = read_ratings_bytes(text, &opts).unwrap();
    /// assert_eq!(out.ratings.values, [5.0]);
    /// ```
    pub fn rating_col(mut self, col: Column) -> Self {
        self.rating_col = col;
        self
    }

    /// Says the text file has no rating column (`user,item[,timestamp]`:
    /// clicks, plays, purchases): every line is one interaction of value 1.
    /// A text file whose first line has exactly two fields is read so
    /// without being told, unless a rating column was named; its first line
    /// is a header when a field names a user or an item (`user`, `itemId`…).
    ///
    /// ```
    /// use aerec::data::read::{read_ratings_bytes, ReadOptions};
    /// let out = read_ratings_bytes(b"user,item\na,x\nb,x\n", &ReadOptions::new()).unwrap();
    /// assert_eq!(out.ratings.values, vec![1.0, 1.0]);
    /// // No field names a user or an item: the first line is data.
    /// let out = read_ratings_bytes(b"a\tx\nb\ty\n", &ReadOptions::new()).unwrap();
    /// assert_eq!(out.ratings.len(), 2);
    /// let text = b"user,item,timestamp\na,x,100\n";
    /// let out = read_ratings_bytes(text, &ReadOptions::new().without_ratings()).unwrap();
    /// assert_eq!((out.ratings.values[0], out.ratings.timestamps), (1.0, Some(vec![100])));
    /// ```
    pub fn without_ratings(mut self) -> Self {
        self.without_ratings = true;
        self
    }

    /// The timestamp column. Default: a header field named `timestamp` or
    /// `time`, else position 3 when lines have at least four fields.
    pub fn time_col(mut self, col: Column) -> Self {
        self.time_col = Some(col);
        self
    }

    /// Keeps timestamps (default) or drops them, which saves 8 bytes a rating.
    pub fn timestamps(mut self, keep: bool) -> Self {
        self.timestamps = keep;
        self
    }

    /// Skips malformed lines (counted in [`ReadOutcome::skipped`], the first
    /// few kept in [`ReadOutcome::skipped_examples`]) instead of stopping.
    ///
    /// ```
    /// use aerec::data::read::{read_ratings_bytes, ReadOptions};
    /// let out = read_ratings_bytes(b"a,x,1\nb,y,oops\n", &ReadOptions::new().skip_bad_lines(true)).unwrap();
    /// assert_eq!((out.ratings.len(), out.skipped), (1, 1));
    /// assert_eq!(out.skipped_examples[0].line, 2);
    /// ```
    pub fn skip_bad_lines(mut self, skip: bool) -> Self {
        self.skip_bad_lines = skip;
        self
    }

    /// The duplicate (user, item) policy (default [`Duplicates::Error`]).
    ///
    /// ```
    /// use aerec::data::read::{read_ratings_bytes, Duplicates, ReadOptions};
    /// let out = read_ratings_bytes(b"u,i,1\nu,i,4\n", &ReadOptions::new().duplicates(Duplicates::Mean)).unwrap();
    /// assert_eq!(out.ratings.values, [2.5]);
    /// ```
    pub fn duplicates(mut self, policy: Duplicates) -> Self {
        self.duplicates = policy;
        self
    }

    /// Declares the rating scale: a rating outside it is an error naming its line.
    ///
    /// ```
    /// use aerec::data::{read::{read_ratings_bytes, ReadOptions}, RatingScale};
    /// let opts = ReadOptions::new().scale(RatingScale::new(1.0, 5.0).unwrap());
    /// let err = read_ratings_bytes(b"u,i,6\n", &opts).unwrap_err();
    /// assert!(err.to_string().contains("line 1"));
    /// ```
    pub fn scale(mut self, scale: RatingScale) -> Self {
        self.scale = Some(scale);
        self
    }

    /// How id bytes are decoded (default UTF-8).
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }
}

/// A line that `skip_bad_lines` skipped.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SkippedLine {
    /// 1-based line number; for Parquet, the row in the file counted
    /// from 0 (as pandas and DuckDB count), with the row group in `text`.
    pub line: u64,
    /// Why it was skipped.
    pub reason: String,
    /// The line's text (shortened).
    pub text: String,
}

/// How many skipped lines are kept as examples.
pub const SKIPPED_EXAMPLES: usize = 5;

/// What a read produced.
#[derive(Debug, Clone)]
pub struct ReadOutcome {
    /// The ratings, ids in first-seen order.
    pub ratings: Ratings,
    /// The format that was read (detected or forced).
    pub format: Format,
    /// Lines skipped under `skip_bad_lines`.
    pub skipped: usize,
    /// The first few skipped lines ([`SKIPPED_EXAMPLES`] at most).
    pub skipped_examples: Vec<SkippedLine>,
    /// Entries merged away by the duplicate policy.
    pub duplicates_merged: usize,
    /// The scale given, or else the one inferred from the smallest and largest
    /// rating (`None` when every rating is equal or there is none).
    pub scale: Option<RatingScale>,
}

/// Reads a rating file.
///
/// Errors carry the path; text errors also the line number and the offending
/// text. Missing files, directories and empty files are errors too.
pub fn read_ratings(path: impl AsRef<Path>, opts: &ReadOptions) -> Result<ReadOutcome> {
    let path = path.as_ref();
    read_path(path, opts).map_err(|e| e.with_path(path))
}

/// A compressed file read as text fails on its first line with a puzzling
/// parse error; its magic number says what it is and how to read it.
fn refuse_compressed(head: &[u8]) -> Result<()> {
    const KINDS: [(&[u8], &str, &str); 4] = [
        (b"\x1f\x8b", "gzip", "gunzip -k FILE"),
        (b"BZh", "bzip2", "bunzip2 -k FILE"),
        (b"\xfd7zXZ\x00", "xz", "unxz -k FILE"),
        (b"\x28\xb5\x2f\xfd", "zstd", "unzstd FILE"),
    ];
    for (magic, kind, command) in KINDS {
        // "BZh" could start a text line: bzip2 also needs the level digit
        // and the block magic (the digits of π) after it.
        let bzip2_block = head.get(4..10) == Some(b"1AY&SY") && head[3].is_ascii_digit();
        if head.starts_with(magic) && (kind != "bzip2" || bzip2_block) {
            return Err(Error::format(format!(
                "this is a {kind}-compressed file; decompress it first ({command}) \
                 or read it through a pipe (aerec stats <({} FILE))",
                match kind {
                    "gzip" => "zcat",
                    "bzip2" => "bzcat",
                    "xz" => "xzcat",
                    _ => "zstdcat",
                }
            )));
        }
    }
    Ok(())
}

fn read_path(path: &Path, opts: &ReadOptions) -> Result<ReadOutcome> {
    use std::io::Read;
    let meta = std::fs::metadata(path)?;
    if meta.is_dir() {
        return Err(Error::format("is a directory, not a rating file"));
    }
    let mut file = std::fs::File::open(path)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    // The first bytes are kept and read on from, never re-read: a pipe
    // (`aerec stats <(zcat ratings.csv.gz)`) cannot rewind.
    let head = detect::read_head(&mut file)?;
    refuse_compressed(&head)?;
    let format = opts.format.unwrap_or_else(|| Format::detect(name, &head));
    if format == Format::Npz {
        let mut bytes = head;
        file.read_to_end(&mut bytes)?;
        return npz::read(&bytes, opts);
    }
    if format == Format::Parquet {
        if meta.is_file() {
            // The reader seeks: the footer first, then each column chunk.
            return parquet::read(file, None, opts);
        }
        // A pipe cannot seek; its bytes are held instead.
        let mut bytes = head;
        file.read_to_end(&mut bytes)?;
        return parquet::read(bytes::Bytes::from(bytes), None, opts);
    }
    #[cfg(target_os = "linux")]
    {
        // Large regular files are parsed where the page cache holds them.
        let len = file.metadata()?.len();
        if meta.is_file() && len >= MAP_MIN_BYTES {
            if let Some(map) = usize::try_from(len)
                .ok()
                .and_then(|len| mapped::Mapped::new(&file, len))
            {
                return text::read_bytes(map.bytes(), format, opts, |next, done| {
                    map.fetch(next);
                    map.release(done);
                });
            }
        }
    }
    text::read(
        std::io::Cursor::new(head).chain(file),
        meta.len(),
        format,
        opts,
    )
}

/// Files at least this large are mapped into memory rather than read
/// through a buffer (see `mapped`); smaller ones fit in one buffer anyway.
#[cfg(target_os = "linux")]
const MAP_MIN_BYTES: u64 = 16 << 20;

/// Reads ratings from bytes in memory (any format; detected from the content
/// unless set).
pub fn read_ratings_bytes(bytes: &[u8], opts: &ReadOptions) -> Result<ReadOutcome> {
    refuse_compressed(bytes)?;
    let format = opts.format.unwrap_or_else(|| Format::detect("", bytes));
    match format {
        Format::Npz => npz::read(bytes, opts),
        Format::Parquet => parquet::read(bytes::Bytes::copy_from_slice(bytes), None, opts),
        _ => text::read_bytes(bytes, format, opts, |_, _| {}),
    }
}
