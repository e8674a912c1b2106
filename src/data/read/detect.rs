//! Format detection from a file name and the first bytes of the content.

use std::io::Read;

use super::Format;

/// Bytes looked at to detect a format.
const HEAD_BYTES: usize = 4096;

/// Reads the first bytes of a file (fewer when it is shorter) for detection.
pub(super) fn read_head(file: &mut std::fs::File) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(HEAD_BYTES);
    file.by_ref()
        .take(HEAD_BYTES as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// The name decides when it is one MovieLens or Amazon ships; otherwise the
/// first line does (zip magic, `::`, a known header, a tab).
pub(super) fn detect(name: &str, head: &[u8]) -> Format {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    if head.starts_with(b"PK\x03\x04") || base.ends_with(".npz") {
        return Format::Npz;
    }
    let lower_base = base.to_ascii_lowercase();
    if head.starts_with(super::parquet::MAGIC)
        || lower_base.ends_with(".parquet")
        || lower_base.ends_with(".parq")
    {
        return Format::Parquet;
    }
    let first = first_line(head);
    let lower: Vec<u8> = first.to_ascii_lowercase();
    if lower.starts_with(b"userid,productid") {
        return Format::Amazon;
    }
    if lower.starts_with(b"userid,movieid,rating") {
        return Format::MlCsv;
    }
    if memchr::memmem::find(first, b"::").is_some() {
        return Format::MlDat;
    }
    let ml100k_name = base == "u.data" || base.ends_with(".base") || base.ends_with(".test");
    if ml100k_name && memchr::memchr(b'\t', first).is_some() {
        return Format::Ml100k;
    }
    if first.split(|&b| b == b'\t').count() == 4
        && first
            .iter()
            .all(|b| b.is_ascii_digit() || *b == b'\t' || *b == b'.' || *b == b'\r')
    {
        return Format::Ml100k;
    }
    if base.starts_with("ratings_") && base.ends_with(".csv") {
        return Format::Amazon;
    }
    Format::Delimited
}

/// The first line without its line end (and without a UTF-8 byte-order mark).
pub(super) fn first_line(head: &[u8]) -> &[u8] {
    let head = head.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(head);
    let end = memchr::memchr(b'\n', head).unwrap_or(head.len());
    let line = &head[..end];
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Picks a delimiter for generic text from its first line: the first of tab,
/// `::`, comma, semicolon, pipe that occurs, else a single space.
pub(super) fn sniff_delimiter(head: &[u8]) -> Vec<u8> {
    let first = first_line(head);
    for cand in [&b"\t"[..], b"::", b",", b";", b"|"] {
        if memchr::memmem::find(first, cand).is_some() {
            return cand.to_vec();
        }
    }
    b" ".to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_shipped_layout() {
        assert_eq!(
            detect("ml-100k/u.data", b"196\t242\t3\t881250949\n"),
            Format::Ml100k
        );
        assert_eq!(detect("u1.base", b"1\t1\t5\t874965758\n"), Format::Ml100k);
        assert_eq!(
            detect("ratings.dat", b"1::1193::5::978300760\n"),
            Format::MlDat
        );
        assert_eq!(
            detect(
                "ratings.csv",
                b"userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n"
            ),
            Format::MlCsv
        );
        assert_eq!(
            detect(
                "x.csv",
                b"UserId,ProductId,Rating,Timestamp\nA39HTATAQ9V7YF,0205616461,5.0,1369699200\n"
            ),
            Format::Amazon
        );
        assert_eq!(
            detect(
                "ratings_Beauty.csv",
                b"A39HTATAQ9V7YF,0205616461,5.0,1369699200\n"
            ),
            Format::Amazon
        );
        assert_eq!(detect("a.npz", b""), Format::Npz);
        assert_eq!(detect("whatever", b"PK\x03\x04rest"), Format::Npz);
        assert_eq!(detect("r.txt", b"a;b;3\n"), Format::Delimited);
        assert_eq!(detect("part-00000.snappy.parquet", b""), Format::Parquet);
        assert_eq!(detect("R.PARQ", b""), Format::Parquet);
        assert_eq!(detect("ratings", b"PAR1\x15\x04\x15"), Format::Parquet);
    }

    #[test]
    fn sniffs_delimiters() {
        assert_eq!(sniff_delimiter(b"a;b;3\n"), b";");
        assert_eq!(sniff_delimiter(b"\xEF\xBB\xBFa|b|3\r\n"), b"|");
        assert_eq!(sniff_delimiter(b"a b 3\n"), b" ");
    }
}
