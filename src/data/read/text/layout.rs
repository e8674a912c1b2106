//! Where the fields are: the layout resolved from the options and the
//! first line, and the general field splitter (quotes, multi-byte
//! delimiters) that every line the fast scanner declines goes through.

use std::borrow::Cow;

use super::piece::parse_rating;
use crate::data::read::detect::{first_line, sniff_delimiter};
use crate::data::read::{Column, Encoding, Format, Header, ReadOptions};
use crate::data::RatingScale;
use crate::error::{Error, Position, Result};

/// Where the fields are, resolved from the options and the first line.
#[derive(Debug, Clone)]
pub(super) struct Layout {
    pub(super) delimiter: Vec<u8>,
    pub(super) n_fields: usize,
    pub(super) user: usize,
    pub(super) item: usize,
    /// `None`: the file has no rating column; every line is worth 1.
    pub(super) rating: Option<usize>,
    pub(super) time: Option<usize>,
    pub(super) scale: Option<RatingScale>,
    pub(super) encoding: Encoding,
}

impl Layout {
    pub(super) fn resolve(
        format: Format,
        opts: &ReadOptions,
        head: &[u8],
    ) -> Result<(Layout, bool)> {
        let delimiter = match (&opts.delimiter, format) {
            (Some(d), _) if d.is_empty() => return Err(Error::config("the delimiter is empty")),
            (Some(d), _) => d.clone(),
            (None, Format::Ml100k) => b"\t".to_vec(),
            (None, Format::MlDat) => b"::".to_vec(),
            (None, Format::MlCsv | Format::Amazon) => b",".to_vec(),
            (None, _) => sniff_delimiter(head),
        };
        let first = first_line(head);
        let mut names = Vec::new();
        split_fields(first, &delimiter, &mut names).map_err(|m| {
            Error::parse(
                Position { line: 1, byte: 0 },
                m,
                &String::from_utf8_lossy(first),
            )
        })?;
        let names: Vec<Cow<[u8]>> = names.iter().map(|f| f.get(first)).collect();
        // Two fields and no rating column asked for: user,item clicks.
        let no_rating =
            opts.without_ratings || (opts.rating_col == Column::Index(2) && names.len() == 2);
        let by_name = [&opts.user_col, &opts.item_col, &opts.rating_col]
            .into_iter()
            .chain(opts.time_col.as_ref())
            .any(|c| matches!(c, Column::Name(_)));
        let header = match opts.header.unwrap_or(match format {
            Format::MlCsv => Header::Yes,
            Format::Ml100k | Format::MlDat => Header::No,
            _ => Header::Auto,
        }) {
            Header::Yes => true,
            Header::No => false,
            Header::Auto if no_rating => {
                by_name
                    || names.iter().any(|f| {
                        let f = f.to_ascii_lowercase();
                        f.windows(4).any(|w| w == b"user" || w == b"item")
                    })
            }
            Header::Auto => {
                by_name
                    || match &opts.rating_col {
                        Column::Index(i) => names.get(*i).is_none_or(|f| parse_rating(f).is_err()),
                        Column::Name(_) => true,
                    }
            }
        };
        if by_name && !header {
            return Err(Error::config("columns chosen by name need a header line"));
        }
        let find = |col: &Column, what: &str| -> Result<usize> {
            match col {
                Column::Index(i) => Ok(*i),
                Column::Name(n) => names
                    .iter()
                    .position(|f| f.as_ref() == n.as_bytes())
                    .or_else(|| {
                        names
                            .iter()
                            .position(|f| f.eq_ignore_ascii_case(n.as_bytes()))
                    })
                    .ok_or_else(|| {
                        let have: Vec<String> = names
                            .iter()
                            .map(|f| String::from_utf8_lossy(f).into_owned())
                            .collect();
                        Error::config(format!(
                            "no {what} column named {n:?}; the header has {have:?}"
                        ))
                    }),
            }
        };
        let user = find(&opts.user_col, "user")?;
        let item = find(&opts.item_col, "item")?;
        let rating = if no_rating {
            None
        } else {
            Some(find(&opts.rating_col, "rating")?)
        };
        let n_fields = names.len();
        let time = match (&opts.time_col, opts.timestamps) {
            (_, false) => None,
            (Some(c), true) => Some(find(c, "timestamp")?),
            (None, true) if header => names.iter().position(|f| {
                f.eq_ignore_ascii_case(b"timestamp") || f.eq_ignore_ascii_case(b"time")
            }),
            (None, true) => {
                let ships_time = matches!(
                    format,
                    Format::Ml100k | Format::MlDat | Format::MlCsv | Format::Amazon
                );
                (ships_time && n_fields >= 4 && (user, item, rating) == (0, 1, Some(2)))
                    .then_some(3)
            }
        };
        let widest = [user, item, rating.unwrap_or(0), time.unwrap_or(0)]
            .into_iter()
            .max()
            .unwrap_or(0);
        if widest >= n_fields {
            return Err(Error::parse(
                Position { line: 1, byte: 0 },
                format!("expected at least {} fields, found {n_fields}", widest + 1),
                &String::from_utf8_lossy(first),
            ));
        }
        let distinct = [Some(user), Some(item), rating, time];
        for (k, a) in distinct.iter().enumerate() {
            if a.is_some() && distinct[k + 1..].contains(a) {
                return Err(Error::config(
                    "user, item, rating and timestamp columns must differ",
                ));
            }
        }
        let layout = Layout {
            delimiter,
            n_fields,
            user,
            item,
            rating,
            time,
            scale: opts.scale,
            encoding: opts.encoding,
        };
        Ok((layout, header))
    }
}

/// A field's byte range in its line, and whether it held `""` escapes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Field {
    start: usize,
    end: usize,
    escaped: bool,
}

impl Field {
    pub(super) fn get<'a>(&self, line: &'a [u8]) -> Cow<'a, [u8]> {
        let raw = &line[self.start..self.end];
        if self.escaped {
            let mut out = Vec::with_capacity(raw.len());
            let mut i = 0;
            while i < raw.len() {
                out.push(raw[i]);
                i += if raw[i] == b'"' { 2 } else { 1 };
            }
            Cow::Owned(out)
        } else {
            Cow::Borrowed(raw)
        }
    }
}

/// Splits a line into fields. A field that starts with `"` runs to the
/// closing quote (`""` inside is one quote, delimiters inside are text);
/// quoted fields may not span lines.
pub(super) fn split_fields(
    line: &[u8],
    delim: &[u8],
    out: &mut Vec<Field>,
) -> std::result::Result<(), String> {
    out.clear();
    if memchr::memchr(b'"', line).is_none() {
        let mut start = 0;
        if let [d] = delim {
            for at in memchr::memchr_iter(*d, line) {
                out.push(Field {
                    start,
                    end: at,
                    escaped: false,
                });
                start = at + 1;
            }
        } else {
            for at in memchr::memmem::find_iter(line, delim) {
                if at < start {
                    continue;
                }
                out.push(Field {
                    start,
                    end: at,
                    escaped: false,
                });
                start = at + delim.len();
            }
        }
        out.push(Field {
            start,
            end: line.len(),
            escaped: false,
        });
        return Ok(());
    }
    let mut start = 0;
    loop {
        if line.get(start) == Some(&b'"') {
            let mut i = start + 1;
            let mut escaped = false;
            let close = loop {
                match memchr::memchr(b'"', &line[i..]) {
                    None => return Err("unterminated quoted field".into()),
                    Some(k) if line.get(i + k + 1) == Some(&b'"') => {
                        escaped = true;
                        i += k + 2;
                    }
                    Some(k) => break i + k,
                }
            };
            out.push(Field {
                start: start + 1,
                end: close,
                escaped,
            });
            let after = close + 1;
            if after == line.len() {
                return Ok(());
            }
            if !line[after..].starts_with(delim) {
                return Err("text after a closing quote".into());
            }
            start = after + delim.len();
        } else {
            match memchr::memmem::find(&line[start..], delim) {
                Some(k) => {
                    out.push(Field {
                        start,
                        end: start + k,
                        escaped: false,
                    });
                    start += k + delim.len();
                }
                None => {
                    out.push(Field {
                        start,
                        end: line.len(),
                        escaped: false,
                    });
                    return Ok(());
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(line: &str, delim: &str) -> Vec<String> {
        let mut out = Vec::new();
        split_fields(line.as_bytes(), delim.as_bytes(), &mut out).unwrap();
        out.iter()
            .map(|f| String::from_utf8(f.get(line.as_bytes()).into_owned()).unwrap())
            .collect()
    }

    #[test]
    fn splits_plain_quoted_and_multibyte() {
        assert_eq!(fields("a,b,,c", ","), ["a", "b", "", "c"]);
        assert_eq!(fields("1::2::3", "::"), ["1", "2", "3"]);
        assert_eq!(
            fields("\"x,y\",\"say \"\"hi\"\"\",3", ","),
            ["x,y", "say \"hi\"", "3"]
        );
        let mut out = Vec::new();
        assert!(split_fields(b"\"open,1", b",", &mut out).is_err());
        assert!(split_fields(b"\"a\"b,1", b",", &mut out).is_err());
    }
}
