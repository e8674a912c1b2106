//! Apache Parquet files, as pandas, pyarrow, polars, Spark and DuckDB write
//! them, through the `parquet` crate's Arrow reader.
//!
//! Only the chosen columns are decoded (a projection), one batch of
//! [`BATCH_ROWS`] rows at a time: the file's Arrow arrays are never held
//! whole, only the rating table they fill. Every row goes through the same
//! rules as a line of text: ids become dense indices in first-seen order
//! through the text reader's interner (so `42` read from an integer column
//! and `"42"` read from a CSV get the same id), a row is checked whole
//! before any of its ids is interned (so a skipped row adds no id), and the
//! duplicate policy and scale come from [`finish`]. The same ratings as CSV
//! and as Parquet therefore give the same table, bit for bit.
//!
//! A row is named in errors by its row group, its row in the group and its
//! row in the file, all counted from 0 as pandas and DuckDB count them.
//!
//! The decoder is not trusted with hostile files: the metadata is checked
//! before any column chunk is read (offsets and sizes inside the file, row
//! counts not negative), and every call into the crate runs under
//! [`guard`], which turns a panic into an error naming the file.

use std::cell::Cell;
use std::ops::Range;
use std::path::Path;
use std::sync::Once;

use arrow_array::cast::AsArray;
use arrow_array::types::{
    Date32Type, Date64Type, Decimal128Type, Decimal256Type, Decimal32Type, Decimal64Type,
    Float16Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type, Int8Type,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType, UInt16Type, UInt32Type, UInt64Type, UInt8Type,
};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Schema, TimeUnit};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::ProjectionMask;
use parquet::file::metadata::ParquetMetaData;
use parquet::file::reader::ChunkReader;

use super::finish::{finish, LineIndex};
use super::text::ids::{small_int, GlobalIds, DENSE_LIMIT};
use super::{Column, Encoding, Format, ReadOptions, ReadOutcome, SkippedLine, SKIPPED_EXAMPLES};
use crate::data::{RatingScale, Ratings};
use crate::error::{Error, ErrorKind, Result};

/// The four bytes a Parquet file starts and ends with.
pub const MAGIC: &[u8; 4] = b"PAR1";
/// Rows decoded per batch: large enough to amortise the decoder's
/// per-batch work, small enough that a batch of the widest id column
/// stays a few megabytes.
const BATCH_ROWS: usize = 64 * 1024;
/// The smallest possible Parquet file: magic, a footer length, magic.
const MIN_FILE: u64 = 12;

/// Usual column names (compared ignoring case) for a column left at its
/// default: MovieLens, the common `user_id`/`item_id`, Amazon's review
/// dumps (2014: `reviewerID`/`asin`/`overall`/`unixReviewTime`; the
/// ratings-only CSVs' `UserId`/`ProductId`), Spark ALS's `user`/`item`.
const USER_NAMES: &[&str] = &[
    "userId",
    "user_id",
    "user",
    "reviewerID",
    "reviewer_id",
    "customer_id",
    "uid",
];
const ITEM_NAMES: &[&str] = &[
    "movieId",
    "movie_id",
    "itemId",
    "item_id",
    "item",
    "asin",
    "parent_asin",
    "productId",
    "product_id",
    "iid",
];
const RATING_NAMES: &[&str] = &["rating", "overall", "score", "stars"];
const TIME_NAMES: &[&str] = &["timestamp", "time", "unixReviewTime", "ts", "datetime"];

/// Rows per row group of a Parquet file, read from its footer alone (no
/// column data is decoded). With [`read_parquet_row_groups`] this lets a
/// caller split the file among processes without reading it: each reads
/// its own range of row groups.
///
/// ```
/// # fn main() -> aerec::Result<()> {
/// # use std::sync::Arc;
/// # use arrow_array::{ArrayRef, Float32Array, RecordBatch, StringArray};
/// # let dir = tempfile::tempdir().unwrap();
/// # let path = dir.path().join("ratings.parquet");
/// # let batch = RecordBatch::try_from_iter([
/// #     ("user_id", Arc::new(StringArray::from(vec!["a", "a", "b"])) as ArrayRef),
/// #     ("item_id", Arc::new(StringArray::from(vec!["x", "y", "x"])) as ArrayRef),
/// #     ("rating", Arc::new(Float32Array::from(vec![4.0, 3.5, 5.0])) as ArrayRef),
/// # ]).unwrap();
/// # let props = parquet::file::properties::WriterProperties::builder()
/// #     .set_max_row_group_row_count(Some(2))
/// #     .build();
/// # let file = std::fs::File::create(&path).unwrap();
/// # let mut w = parquet::arrow::ArrowWriter::try_new(file, batch.schema(), Some(props)).unwrap();
/// # w.write(&batch).unwrap();
/// # w.close().unwrap();
/// // A file of three ratings in two row groups, written by pyarrow, polars
/// // or the `parquet` crate:
/// use aerec::data::read::{parquet_row_groups, read_parquet_row_groups, ReadOptions};
/// let groups = parquet_row_groups(&path)?;
/// assert_eq!(groups, [2, 1]);
/// // The second row group only: user "b"'s rating.
/// let out = read_parquet_row_groups(&path, 1..2, &ReadOptions::new())?;
/// assert_eq!(out.ratings.user_ids.ids(), ["b"]);
/// # Ok(())
/// # }
/// ```
pub fn parquet_row_groups(path: impl AsRef<Path>) -> Result<Vec<u64>> {
    let path = path.as_ref();
    let rows = || -> Result<Vec<u64>> {
        let file = std::fs::File::open(path)?;
        let meta = open(&file)?;
        Ok(group_rows(meta.metadata()))
    };
    rows().map_err(|e| e.with_path(path))
}

/// Reads only the row groups `groups` of a Parquet file (see
/// [`parquet_row_groups`]), with the same options and checks as
/// [`read_ratings`](super::read_ratings).
///
/// Ids get indices in first-seen order *within those row groups*, and the
/// duplicate policy sees only their rows: processes that read parts of one
/// file must agree on id maps and duplicates among themselves. Errors name
/// rows by their place in the whole file.
pub fn read_parquet_row_groups(
    path: impl AsRef<Path>,
    groups: Range<usize>,
    opts: &ReadOptions,
) -> Result<ReadOutcome> {
    let path = path.as_ref();
    let read = || -> Result<ReadOutcome> { read(std::fs::File::open(path)?, Some(groups), opts) };
    read().map_err(|e| e.with_path(path))
}

/// Reads a whole Parquet file (or the row groups `groups`) from any source
/// the crate can seek in: an open file, or bytes in memory.
pub(super) fn read<R: ChunkReader + 'static>(
    source: R,
    groups: Option<Range<usize>>,
    opts: &ReadOptions,
) -> Result<ReadOutcome> {
    let meta = open(&source)?;
    let n_groups = meta.metadata().num_row_groups();
    let groups = groups.unwrap_or(0..n_groups);
    if groups.start > groups.end || groups.end > n_groups {
        return Err(Error::config(format!(
            "row groups {}..{} asked for; the file has {n_groups}",
            groups.start, groups.end
        )));
    }
    let starts = group_starts(meta.metadata());
    let plan = Plan::resolve(meta.schema(), opts)?;
    let declared: u64 = group_rows(meta.metadata())[groups.clone()].iter().sum();
    if declared == 0 {
        return Err(Error::format("the file has no rows: no ratings"));
    }
    let build = decode(source, meta, &plan, opts, groups, &starts)?;
    build.finish(opts, starts)
}

/// The rows of the row groups `groups` (possibly none) of a Parquet file,
/// before the duplicate policy and the scale, named in errors by their
/// place in the whole file: one rank's part of a distributed read. Every
/// rank checks the footer and the columns alike, so a file that cannot be
/// read fails on every rank with the same error.
pub(super) fn read_part(
    path: &Path,
    groups: Range<usize>,
    opts: &ReadOptions,
) -> Result<super::text::Part> {
    let source = std::fs::File::open(path)?;
    let meta = open(&source)?;
    let n_groups = meta.metadata().num_row_groups();
    if groups.start > groups.end || groups.end > n_groups {
        return Err(Error::config(format!(
            "row groups {}..{} asked for; the file has {n_groups}",
            groups.start, groups.end
        )));
    }
    let starts = group_starts(meta.metadata());
    let plan = Plan::resolve(meta.schema(), opts)?;
    let declared: u64 = group_rows(meta.metadata())[groups.clone()].iter().sum();
    let build = if declared == 0 {
        Build::new(&plan, opts, 0)
    } else {
        decode(source, meta, &plan, opts, groups, &starts)?
    };
    build.into_part(starts)
}

/// Decodes the row groups `groups` (declaring at least one row) into a
/// table.
fn decode<'p, R: ChunkReader + 'static>(
    source: R,
    meta: ArrowReaderMetadata,
    plan: &'p Plan,
    opts: &ReadOptions,
    groups: Range<usize>,
    starts: &[u64],
) -> Result<Build<'p>> {
    let file_len = source.len();
    let declared = starts[groups.end] - starts[groups.start];
    let mask = ProjectionMask::roots(meta.parquet_schema(), plan.roots.iter().copied());
    let builder = ParquetRecordBatchReaderBuilder::new_with_metadata(source, meta)
        .with_projection(mask)
        .with_row_groups(groups.clone().collect())
        .with_batch_size(BATCH_ROWS);
    let mut reader = guard(|| builder.build())?.map_err(decode_error)?;
    // The declared row count sizes the table once, but a hostile footer may
    // declare any number: no more rows than the file has bytes are
    // reserved (untouched reserved memory costs nothing until written).
    let reserve = declared.min(file_len).min(u32::MAX as u64) as usize;
    let mut build = Build::new(plan, opts, reserve);
    let mut file_row = starts[groups.start];
    loop {
        let batch = match guard(|| reader.next())? {
            None => break,
            Some(batch) => batch.map_err(decode_error)?,
        };
        build.batch(&batch, file_row, starts)?;
        file_row += batch.num_rows() as u64;
    }
    // The decoder stops where the pages end: a footer that declares other
    // row counts is damaged, and its row numbers in messages would lie.
    let read = file_row - starts[groups.start];
    if read != declared {
        return Err(Error::format(format!(
            "damaged metadata: row groups {}..{} declare {declared} rows, their pages hold {read}",
            groups.start, groups.end
        )));
    }
    Ok(build)
}

/// Reads a Parquet file's footer and checks what the decoder will trust.
fn open<R: ChunkReader>(source: &R) -> Result<ArrowReaderMetadata> {
    let len = source.len();
    if len == 0 {
        return Err(Error::format("empty file: no ratings"));
    }
    if len < MIN_FILE {
        return Err(Error::format(format!(
            "not a Parquet file: {len} bytes, fewer than the {MIN_FILE} of the smallest one"
        )));
    }
    let head = guard(|| source.get_bytes(0, 4))?.map_err(decode_error)?;
    if head.as_ref() != MAGIC {
        return Err(Error::format(
            "not a Parquet file: it does not start with the magic bytes PAR1",
        ));
    }
    // The page index is not needed (no filtering) and stays unread.
    let options = ArrowReaderOptions::new();
    let meta = guard(|| ArrowReaderMetadata::load(source, options))?.map_err(|e| {
        Error::format(format!(
            "not a readable Parquet file (damaged footer or metadata): {e}"
        ))
    })?;
    check_metadata(meta.metadata(), len)?;
    Ok(meta)
}

/// Checks the footer's numbers before any column chunk is read: the
/// crate asserts some of them (a negative offset is a panic) and allocates
/// by others.
fn check_metadata(meta: &ParquetMetaData, len: u64) -> Result<()> {
    let mut total: u64 = 0;
    for (g, group) in meta.row_groups().iter().enumerate() {
        let rows = u64::try_from(group.num_rows()).map_err(|_| {
            Error::format(format!(
                "damaged metadata: row group {g} declares {} rows",
                group.num_rows()
            ))
        })?;
        total = total.checked_add(rows).ok_or_else(|| {
            Error::format("damaged metadata: the row groups declare more rows than can be counted")
        })?;
        for column in group.columns() {
            let name = column.column_path().string();
            let start = column
                .dictionary_page_offset()
                .unwrap_or(column.data_page_offset());
            let size = column.compressed_size();
            let inside = u64::try_from(start).ok().and_then(|s| {
                let size = u64::try_from(size).ok()?;
                s.checked_add(size).filter(|&end| end <= len)
            });
            if inside.is_none() || column.num_values() < 0 {
                return Err(Error::format(format!(
                    "damaged metadata: column {name:?} of row group {g} declares \
                     {size} bytes at offset {start} ({} values) in a file of {len} bytes",
                    column.num_values()
                )));
            }
        }
    }
    Ok(())
}

/// Rows declared per row group.
fn group_rows(meta: &ParquetMetaData) -> Vec<u64> {
    // check_metadata has refused negative counts.
    meta.row_groups()
        .iter()
        .map(|g| g.num_rows().max(0) as u64)
        .collect()
}

/// The file row each row group starts at, and one past the last row.
fn group_starts(meta: &ParquetMetaData) -> Vec<u64> {
    let mut starts = vec![0u64];
    for rows in group_rows(meta) {
        let last = starts[starts.len() - 1];
        starts.push(last.saturating_add(rows));
    }
    starts
}

/// Where file row `row` is, in words: row group, row in the group, row in
/// the file.
pub(super) fn describe_row(starts: &[u64], row: u64) -> String {
    let g = starts.partition_point(|&s| s <= row).saturating_sub(1);
    let in_group = row - starts.get(g).copied().unwrap_or(0);
    format!("row group {g}, row {in_group} (row {row} of the file, counting from 0)")
}

thread_local! {
    /// Set while [`guard`] runs: a panic then is the decoder's, and
    /// becomes an error rather than a message on stderr.
    static GUARDED: Cell<bool> = const { Cell::new(false) };
}

/// Runs a call into the Parquet crate, turning a panic (the crate has
/// panicked on malformed input before) into an error. The panic hook is
/// wrapped once so that the default hook does not print the panic and a
/// backtrace while a guarded call runs; any other panic prints as before.
fn guard<T>(f: impl FnOnce() -> T) -> Result<T> {
    static QUIET_HOOK: Once = Once::new();
    QUIET_HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !GUARDED.with(Cell::get) {
                previous(info);
            }
        }));
    });
    let was = GUARDED.with(|g| g.replace(true));
    let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(was));
    out.map_err(|payload| {
        let what = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "no message".to_string());
        Error::format(format!(
            "the Parquet decoder failed on this file ({what}): it is damaged"
        ))
    })
}

fn decode_error(e: impl std::fmt::Display) -> Error {
    Error::format(format!("cannot decode the Parquet data: {e}"))
}

/// The columns to read: their roots in the file, their types checked.
#[derive(Debug)]
struct Plan {
    /// Root column indices to decode, ascending (a projection keeps file order).
    roots: Vec<usize>,
    user: Chosen,
    item: Chosen,
    rating: Option<Chosen>,
    time: Option<Chosen>,
}

/// One chosen column: its name and where it lands in a decoded batch.
#[derive(Debug, Clone)]
struct Chosen {
    name: String,
    root: usize,
    at: usize,
}

impl Plan {
    fn resolve(schema: &Schema, opts: &ReadOptions) -> Result<Plan> {
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let find = |col: &Column, what: &str| -> Result<usize> {
            match col {
                Column::Index(i) if *i < names.len() => Ok(*i),
                Column::Index(i) => Err(Error::config(format!(
                    "no {what} column at position {i}; the file has {} columns {names:?}",
                    names.len()
                ))),
                Column::Name(n) => names
                    .iter()
                    .position(|f| f == n)
                    .or_else(|| names.iter().position(|f| f.eq_ignore_ascii_case(n)))
                    .ok_or_else(|| {
                        Error::config(format!(
                            "no {what} column named {n:?}; the file has {names:?}"
                        ))
                    }),
            }
        };
        // A column left at its default is looked for by its usual names
        // first, then taken by position as the text reader takes it.
        let usual = |known: &[&str]| {
            known
                .iter()
                .find_map(|k| names.iter().position(|f| f.eq_ignore_ascii_case(k)))
        };
        let user = match &opts.user_col {
            Column::Index(0) => {
                usual(USER_NAMES).map_or_else(|| find(&Column::Index(0), "user"), Ok)?
            }
            c => find(c, "user")?,
        };
        let item = match &opts.item_col {
            Column::Index(1) => {
                usual(ITEM_NAMES).map_or_else(|| find(&Column::Index(1), "item"), Ok)?
            }
            c => find(c, "item")?,
        };
        let time = match (&opts.time_col, opts.timestamps) {
            (_, false) => None,
            (Some(c), true) => Some(find(c, "timestamp")?),
            (None, true) => usual(TIME_NAMES).filter(|&t| t != user && t != item),
        };
        let rating = if opts.without_ratings {
            None
        } else {
            match &opts.rating_col {
                // No rating named and the third column taken (or absent):
                // a file of interactions, as a two-field text file is.
                Column::Index(2) => usual(RATING_NAMES).or_else(|| {
                    (names.len() > 2 && ![Some(user), Some(item), time].contains(&Some(2)))
                        .then_some(2)
                }),
                c => Some(find(c, "rating")?),
            }
        };
        let distinct = [Some(user), Some(item), rating, time];
        for (k, a) in distinct.iter().enumerate() {
            if a.is_some() && distinct[k + 1..].contains(a) {
                return Err(Error::config(
                    "user, item, rating and timestamp columns must differ",
                ));
            }
        }
        let mut roots: Vec<usize> = distinct.iter().flatten().copied().collect();
        roots.sort_unstable();
        let chosen = |root: usize| Chosen {
            name: names[root].to_string(),
            root,
            at: roots.iter().position(|&r| r == root).unwrap_or(0),
        };
        let plan = Plan {
            user: chosen(user),
            item: chosen(item),
            rating: rating.map(chosen),
            time: time.map(chosen),
            roots: roots.clone(),
        };
        let ty = |c: &Chosen| schema.field(c.root).data_type();
        check_id_type(ty(&plan.user), &plan.user.name, "user")?;
        check_id_type(ty(&plan.item), &plan.item.name, "item")?;
        if let Some(r) = &plan.rating {
            if !is_number(ty(r)) {
                return Err(Error::format(format!(
                    "column {:?} has type {}; a rating column holds numbers \
                     (floating point, integer or decimal)",
                    r.name,
                    ty(r)
                )));
            }
        }
        if let Some(t) = &plan.time {
            if !is_time(ty(t)) {
                return Err(Error::format(format!(
                    "column {:?} has type {}; a timestamp column holds integers \
                     (seconds), timestamps or dates",
                    t.name,
                    ty(t)
                )));
            }
        }
        Ok(plan)
    }
}

fn is_integer(t: &DataType) -> bool {
    t.is_integer()
}

fn is_number(t: &DataType) -> bool {
    is_integer(t)
        || matches!(
            t,
            DataType::Float16
                | DataType::Float32
                | DataType::Float64
                | DataType::Decimal32(..)
                | DataType::Decimal64(..)
                | DataType::Decimal128(..)
                | DataType::Decimal256(..)
        )
}

fn is_time(t: &DataType) -> bool {
    is_integer(t)
        || matches!(
            t,
            DataType::Timestamp(..) | DataType::Date32 | DataType::Date64
        )
}

fn is_text(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Binary
            | DataType::LargeBinary
            | DataType::BinaryView
    )
}

fn check_id_type(t: &DataType, name: &str, what: &str) -> Result<()> {
    let ok = match t {
        DataType::Dictionary(_, values) => is_text(values) || is_integer(values),
        t => is_text(t) || is_integer(t),
    };
    if ok {
        Ok(())
    } else {
        Err(Error::format(format!(
            "column {name:?} has type {t}; a {what} id column holds strings or integers"
        )))
    }
}

/// Why a row was refused, as the text reader's `Fault`.
enum Fault {
    Parse(String),
    Rating(f64, String),
}

/// A row's id before interning.
enum IdValue<'a> {
    Int(i128),
    Bytes(&'a [u8]),
}

/// Row `i`'s bytes of a string or binary column.
type BytesAt<'a> = Box<dyn Fn(usize) -> &'a [u8] + 'a>;

/// One id column of a batch, its type resolved once.
enum IdColumn<'a> {
    Int(Box<dyn Fn(usize) -> i128 + 'a>, &'a dyn Array),
    Bytes(BytesAt<'a>, &'a dyn Array, bool),
    Dict {
        keys: Vec<usize>,
        array: &'a dyn Array,
        values: Box<IdColumn<'a>>,
    },
}

macro_rules! int_getter {
    ($array:expr, $($t:ty),*) => {{
        let array: &dyn Array = $array;
        let mut getter: Option<Box<dyn Fn(usize) -> i128 + '_>> = None;
        $(
            if getter.is_none() {
                if let Some(a) = array.as_primitive_opt::<$t>() {
                    getter = Some(Box::new(move |i| a.value(i) as i128));
                }
            }
        )*
        getter
    }};
}

impl<'a> IdColumn<'a> {
    fn new(array: &'a ArrayRef) -> Option<IdColumn<'a>> {
        Self::of(array.as_ref())
    }

    fn of(array: &'a dyn Array) -> Option<IdColumn<'a>> {
        if let Some(d) = array.as_any_dictionary_opt() {
            return Some(IdColumn::Dict {
                keys: d.normalized_keys(),
                array,
                values: Box::new(Self::of(d.values().as_ref())?),
            });
        }
        if let Some(get) = int_getter!(
            array, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
            UInt64Type
        ) {
            return Some(IdColumn::Int(get, array));
        }
        let (get, utf8): (BytesAt<'a>, bool) = match array.data_type() {
            DataType::Utf8 => {
                let a = array.as_string::<i32>();
                (Box::new(move |i| a.value(i).as_bytes()), true)
            }
            DataType::LargeUtf8 => {
                let a = array.as_string::<i64>();
                (Box::new(move |i| a.value(i).as_bytes()), true)
            }
            DataType::Utf8View => {
                let a = array.as_string_view();
                (Box::new(move |i| a.value(i).as_bytes()), true)
            }
            DataType::Binary => {
                let a = array.as_binary::<i32>();
                (Box::new(move |i| a.value(i)), false)
            }
            DataType::LargeBinary => {
                let a = array.as_binary::<i64>();
                (Box::new(move |i| a.value(i)), false)
            }
            DataType::BinaryView => {
                let a = array.as_binary_view();
                (Box::new(move |i| a.value(i)), false)
            }
            _ => return None,
        };
        Some(IdColumn::Bytes(get, array, utf8))
    }

    /// The id of row `i`, or why there is none.
    fn get(&self, i: usize) -> std::result::Result<IdValue<'a>, String> {
        match self {
            IdColumn::Int(get, array) => {
                if array.is_null(i) {
                    return Err("null".into());
                }
                Ok(IdValue::Int(get(i)))
            }
            IdColumn::Bytes(get, array, _) => {
                if array.is_null(i) {
                    return Err("null".into());
                }
                Ok(IdValue::Bytes(get(i)))
            }
            IdColumn::Dict {
                keys,
                array,
                values,
            } => {
                if array.is_null(i) {
                    return Err("null".into());
                }
                match keys.get(i) {
                    Some(&k) if k < values.len() => values.get(k),
                    _ => Err("a dictionary key out of range".into()),
                }
            }
        }
    }

    fn len(&self) -> usize {
        match self {
            IdColumn::Int(_, array) | IdColumn::Bytes(_, array, _) => array.len(),
            IdColumn::Dict { array, .. } => array.len(),
        }
    }

    /// Whether the column's bytes are UTF-8 already (a string type).
    fn is_utf8(&self) -> bool {
        match self {
            IdColumn::Int(..) => true,
            IdColumn::Bytes(_, _, utf8) => *utf8,
            IdColumn::Dict { values, .. } => values.is_utf8(),
        }
    }
}

/// The rating column of a batch.
enum RatingColumn<'a> {
    None,
    Float(Box<dyn Fn(usize) -> f64 + 'a>, &'a dyn Array, bool),
    Int(Box<dyn Fn(usize) -> i128 + 'a>, &'a dyn Array),
    Decimal(Box<dyn Fn(usize) -> String + 'a>, &'a dyn Array),
}

impl<'a> RatingColumn<'a> {
    fn new(array: Option<&'a ArrayRef>) -> RatingColumn<'a> {
        let Some(array) = array else {
            return RatingColumn::None;
        };
        let array: &dyn Array = array.as_ref();
        if let Some(get) = int_getter!(
            array, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type, UInt32Type,
            UInt64Type
        ) {
            return RatingColumn::Int(get, array);
        }
        match array.data_type() {
            DataType::Float16 => {
                let a = array.as_primitive::<Float16Type>();
                RatingColumn::Float(Box::new(move |i| a.value(i).to_f64()), array, false)
            }
            DataType::Float32 => {
                let a = array.as_primitive::<Float32Type>();
                RatingColumn::Float(Box::new(move |i| a.value(i) as f64), array, false)
            }
            DataType::Float64 => {
                let a = array.as_primitive::<Float64Type>();
                RatingColumn::Float(Box::new(move |i| a.value(i)), array, true)
            }
            DataType::Decimal32(..) => {
                let a = array.as_primitive::<Decimal32Type>();
                RatingColumn::Decimal(Box::new(move |i| a.value_as_string(i)), array)
            }
            DataType::Decimal64(..) => {
                let a = array.as_primitive::<Decimal64Type>();
                RatingColumn::Decimal(Box::new(move |i| a.value_as_string(i)), array)
            }
            DataType::Decimal128(..) => {
                let a = array.as_primitive::<Decimal128Type>();
                RatingColumn::Decimal(Box::new(move |i| a.value_as_string(i)), array)
            }
            DataType::Decimal256(..) => {
                let a = array.as_primitive::<Decimal256Type>();
                RatingColumn::Decimal(Box::new(move |i| a.value_as_string(i)), array)
            }
            // Plan::resolve has checked the type; a batch of another type
            // than the schema said is the decoder's error, found per row.
            _ => RatingColumn::Decimal(Box::new(|_| String::new()), array),
        }
    }

    /// The rating of row `i` as a 32-bit float, rounded as the text reader
    /// rounds the same number written out.
    fn get(&self, i: usize) -> std::result::Result<f32, Fault> {
        let null = |a: &dyn Array| a.is_null(i);
        match self {
            RatingColumn::None => Ok(1.0),
            RatingColumn::Float(get, array, wide) => {
                if null(*array) {
                    return Err(Fault::Parse("null rating".into()));
                }
                let v = get(i);
                if !v.is_finite() {
                    return Err(Fault::Rating(v, "not a finite number".into()));
                }
                let f = v as f32;
                if *wide && !f.is_finite() {
                    return Err(Fault::Rating(v, "too large for a 32-bit float".into()));
                }
                Ok(f)
            }
            RatingColumn::Int(get, array) => {
                if null(*array) {
                    return Err(Fault::Parse("null rating".into()));
                }
                // Correctly rounded, as parsing the decimal text is.
                Ok(get(i) as f32)
            }
            RatingColumn::Decimal(get, array) => {
                if null(*array) {
                    return Err(Fault::Parse("null rating".into()));
                }
                let text = get(i);
                let wide: f64 = text
                    .parse()
                    .map_err(|_| Fault::Parse(format!("rating {text:?} is not a number")))?;
                let f: f32 = text
                    .parse()
                    .map_err(|_| Fault::Parse(format!("rating {text:?} is not a number")))?;
                if !f.is_finite() {
                    return Err(Fault::Rating(wide, "too large for a 32-bit float".into()));
                }
                Ok(f)
            }
        }
    }
}

/// The timestamp column of a batch, as whole seconds.
struct TimeColumn<'a> {
    get: Box<dyn Fn(usize) -> std::result::Result<i64, String> + 'a>,
    array: &'a dyn Array,
}

impl<'a> TimeColumn<'a> {
    fn new(array: &'a ArrayRef) -> TimeColumn<'a> {
        let array: &dyn Array = array.as_ref();
        let seconds = |per_second: i64| move |v: i64| v.div_euclid(per_second);
        let get: Box<dyn Fn(usize) -> std::result::Result<i64, String> + 'a> = match array
            .data_type()
        {
            DataType::Timestamp(unit, _) => {
                let (values, per_second): (&[i64], i64) = match unit {
                    TimeUnit::Second => (array.as_primitive::<TimestampSecondType>().values(), 1),
                    TimeUnit::Millisecond => (
                        array.as_primitive::<TimestampMillisecondType>().values(),
                        1_000,
                    ),
                    TimeUnit::Microsecond => (
                        array.as_primitive::<TimestampMicrosecondType>().values(),
                        1_000_000,
                    ),
                    TimeUnit::Nanosecond => (
                        array.as_primitive::<TimestampNanosecondType>().values(),
                        1_000_000_000,
                    ),
                };
                let to = seconds(per_second);
                Box::new(move |i| Ok(to(values[i])))
            }
            DataType::Date32 => {
                let a = array.as_primitive::<Date32Type>();
                Box::new(move |i| Ok(a.value(i) as i64 * 86_400))
            }
            DataType::Date64 => {
                let a = array.as_primitive::<Date64Type>();
                let to = seconds(1_000);
                Box::new(move |i| Ok(to(a.value(i))))
            }
            _ => match int_getter!(
                array, Int8Type, Int16Type, Int32Type, Int64Type, UInt8Type, UInt16Type,
                UInt32Type, UInt64Type
            ) {
                Some(get) => Box::new(move |i| {
                    let v = get(i);
                    i64::try_from(v).map_err(|_| format!("timestamp {v} is too large"))
                }),
                None => Box::new(|_| Err("timestamp has an unexpected type".into())),
            },
        };
        TimeColumn { get, array }
    }

    fn get(&self, i: usize) -> std::result::Result<i64, String> {
        if self.array.is_null(i) {
            return Err("null timestamp".into());
        }
        (self.get)(i)
    }
}

/// The table a read fills, batch after batch.
struct Build<'p> {
    plan: &'p Plan,
    users: Vec<u32>,
    items: Vec<u32>,
    values: Vec<f32>,
    times: Option<Vec<i64>>,
    user_ids: GlobalIds,
    item_ids: GlobalIds,
    lines: LineIndex,
    skipped: usize,
    examples: Vec<SkippedLine>,
    skip_bad: bool,
    scale: Option<RatingScale>,
    encoding: Encoding,
}

impl<'p> Build<'p> {
    fn new(plan: &'p Plan, opts: &ReadOptions, rows: usize) -> Self {
        Build {
            plan,
            users: Vec::with_capacity(rows),
            items: Vec::with_capacity(rows),
            values: Vec::with_capacity(rows),
            times: plan.time.as_ref().map(|_| Vec::with_capacity(rows)),
            // Parquet strings are UTF-8 by definition; only raw binary ids
            // are decoded by the chosen encoding, before interning.
            user_ids: GlobalIds::new(Encoding::Utf8),
            item_ids: GlobalIds::new(Encoding::Utf8),
            lines: LineIndex::default(),
            skipped: 0,
            examples: Vec::new(),
            skip_bad: opts.skip_bad_lines,
            scale: opts.scale,
            encoding: opts.encoding,
        }
    }

    /// Appends one decoded batch whose first row is `file_row` of the file.
    fn batch(&mut self, batch: &RecordBatch, file_row: u64, starts: &[u64]) -> Result<()> {
        let plan = self.plan;
        let column = |c: &Chosen| batch.columns().get(c.at);
        let wrong = |c: &Chosen| {
            Error::format(format!(
                "cannot decode the Parquet data: column {:?} came back as {}",
                c.name,
                column(c).map_or(DataType::Null, |a| a.data_type().clone())
            ))
        };
        let users = column(&plan.user)
            .and_then(IdColumn::new)
            .ok_or_else(|| wrong(&plan.user))?;
        let items = column(&plan.item)
            .and_then(IdColumn::new)
            .ok_or_else(|| wrong(&plan.item))?;
        let ratings = match &plan.rating {
            Some(r) => RatingColumn::new(Some(column(r).ok_or_else(|| wrong(r))?)),
            None => RatingColumn::None,
        };
        let times = match &plan.time {
            Some(t) => Some(TimeColumn::new(column(t).ok_or_else(|| wrong(t))?)),
            None => None,
        };
        let first = self.values.len();
        let mut gaps = Vec::new();
        for i in 0..batch.num_rows() {
            let row = self.row(i, &users, &items, &ratings, times.as_ref());
            let Err((column, fault)) = row else { continue };
            let at = file_row + i as u64;
            let place = format!("{}, column {column:?}", describe_row(starts, at));
            if !self.skip_bad {
                return Err(match fault {
                    Fault::Parse(m) => Error::format(m).context(place),
                    Fault::Rating(value, message) => Error::new(ErrorKind::Rating {
                        position: None,
                        value,
                        message,
                    })
                    .context(place),
                });
            }
            self.skipped += 1;
            gaps.push((self.values.len() - first) as u32);
            if self.examples.len() < SKIPPED_EXAMPLES {
                let reason = match fault {
                    Fault::Parse(m) => m,
                    Fault::Rating(v, m) => format!("rating {v}: {m}"),
                };
                self.examples.push(SkippedLine {
                    line: at,
                    reason,
                    text: place,
                });
            }
        }
        self.lines.push(first, file_row, gaps);
        Ok(())
    }

    /// Checks row `i` whole, then interns its ids and appends it; on a
    /// fault, says which column.
    fn row(
        &mut self,
        i: usize,
        users: &IdColumn,
        items: &IdColumn,
        ratings: &RatingColumn,
        times: Option<&TimeColumn>,
    ) -> std::result::Result<(), (&'p str, Fault)> {
        let plan = self.plan;
        let rating_name = plan.rating.as_ref().map_or("", |r| r.name.as_str());
        let value = ratings.get(i).map_err(|f| (rating_name, f))?;
        if let Some(scale) = self.scale.filter(|s| !s.contains(value)) {
            return Err((
                rating_name,
                Fault::Rating(
                    value as f64,
                    format!("outside the declared scale {}..{}", scale.min, scale.max),
                ),
            ));
        }
        let time = match (times, &plan.time) {
            (Some(t), Some(c)) => Some(t.get(i).map_err(|m| (c.name.as_str(), Fault::Parse(m)))?),
            _ => None,
        };
        let user = id_text(users, i, self.encoding)
            .map_err(|m| (plan.user.name.as_str(), Fault::Parse(format!("user {m}"))))?;
        let item = id_text(items, i, self.encoding)
            .map_err(|m| (plan.item.name.as_str(), Fault::Parse(format!("item {m}"))))?;
        self.users.push(intern(&mut self.user_ids, &user));
        self.items.push(intern(&mut self.item_ids, &item));
        self.values.push(value);
        if let (Some(ts), Some(t)) = (self.times.as_mut(), time) {
            ts.push(t);
        }
        Ok(())
    }

    /// The rows as decoded, for a reader of one part of the file.
    fn into_part(self, starts: Vec<u64>) -> Result<super::text::Part> {
        let (user_ids, item_ids) =
            rayon::join(|| self.user_ids.into_map(), || self.item_ids.into_map());
        Ok(super::text::Part {
            ratings: Ratings {
                users: self.users,
                items: self.items,
                values: self.values,
                timestamps: self.times,
                user_ids: std::sync::Arc::new(user_ids?),
                item_ids: std::sync::Arc::new(item_ids?),
            },
            skipped: self.skipped,
            examples: self.examples,
            lines: self.lines.into_rows(starts),
        })
    }

    fn finish(self, opts: &ReadOptions, starts: Vec<u64>) -> Result<ReadOutcome> {
        if self.values.is_empty() {
            return Err(Error::format(if self.skipped > 0 {
                format!("no valid rating: all {} rows were bad", self.skipped)
            } else {
                "the file has no rows: no ratings".to_string()
            }));
        }
        let (user_ids, item_ids) =
            rayon::join(|| self.user_ids.into_map(), || self.item_ids.into_map());
        let ratings = Ratings {
            users: self.users,
            items: self.items,
            values: self.values,
            timestamps: self.times,
            user_ids: std::sync::Arc::new(user_ids?),
            item_ids: std::sync::Arc::new(item_ids?),
        };
        let lines = self.lines.into_rows(starts);
        finish(
            ratings,
            Format::Parquet,
            opts,
            self.skipped,
            self.examples,
            &lines,
        )
    }
}

/// An id ready for interning: an integer, or text that is valid UTF-8.
enum IdText<'a> {
    Int(i128),
    Text(std::borrow::Cow<'a, [u8]>),
}

fn id_text<'a>(
    column: &IdColumn<'a>,
    i: usize,
    encoding: Encoding,
) -> std::result::Result<IdText<'a>, String> {
    let value = column.get(i).map_err(|m| format!("id is {m}"))?;
    match value {
        IdValue::Int(v) => Ok(IdText::Int(v)),
        IdValue::Bytes([]) => Err("id is empty".into()),
        IdValue::Bytes(b) if column.is_utf8() => Ok(IdText::Text(b.into())),
        IdValue::Bytes(b) => match encoding {
            Encoding::Utf8 => std::str::from_utf8(b)
                .map(|_| IdText::Text(b.into()))
                .map_err(|_| {
                    "id is not valid UTF-8 (use the Latin-1 encoding for such files)".into()
                }),
            Encoding::Latin1 => Ok(IdText::Text(
                b.iter()
                    .map(|&c| c as char)
                    .collect::<String>()
                    .into_bytes()
                    .into(),
            )),
        },
    }
}

/// Interns an id as the text reader does: a canonical decimal below
/// [`DENSE_LIMIT`] through the dense table, anything else by its text
/// (an integer by its decimal text, as a CSV of the same data spells it).
fn intern(ids: &mut GlobalIds, id: &IdText) -> u32 {
    match id {
        IdText::Int(v) if (0..DENSE_LIMIT as i128).contains(v) => ids.int(*v as u32),
        IdText::Int(v) => ids.string(v.to_string().as_bytes()),
        IdText::Text(t) => match small_int(t) {
            Some(v) => ids.int(v),
            None => ids.string(t),
        },
    }
}
