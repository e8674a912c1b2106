//! One error type for the whole library.
//!
//! Modelled on rust-csv: a boxed [`ErrorKind`] keeps `Result<T>` small, a
//! [`Position`] says where in an input the problem was, and the path of the
//! file is attached by [`Error::with_path`] at the place that opened it.

use std::fmt;
use std::path::{Path, PathBuf};

/// Result alias used across aerec.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where in a text input an error happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Position {
    /// 1-based line number.
    pub line: u64,
    /// 0-based byte offset of the start of the line.
    pub byte: u64,
}

/// What went wrong.
#[derive(Debug)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An operating-system I/O error.
    Io(std::io::Error),
    /// A line or record could not be parsed; `text` is the offending text (truncated).
    Parse {
        /// Where.
        position: Position,
        /// Why.
        message: String,
        /// The offending text, shortened to at most 120 characters.
        text: String,
    },
    /// The input is structurally wrong (empty file, wrong shape, bad container).
    Format(String),
    /// A rating is outside the declared scale, or not finite.
    Rating {
        /// Where, when known.
        position: Option<Position>,
        /// The value that was read.
        value: f64,
        /// Why it was rejected.
        message: String,
    },
    /// The same (user, item) pair appears twice under the `error` duplicate policy.
    Duplicate {
        /// Original user id.
        user: String,
        /// Original item id.
        item: String,
        /// Where the second occurrence is, when known.
        position: Option<Position>,
    },
    /// An invalid configuration or argument, found before any work starts.
    Config(String),
    /// An id that the model or data set does not know.
    UnknownId {
        /// "user" or "item".
        what: &'static str,
        /// The id as given.
        id: String,
    },
    /// A model file that is truncated, corrupted, foreign or from a newer version.
    ModelFile(String),
    /// Training diverged (NaN or infinite loss).
    Diverged(String),
    /// Anything else, with a message.
    Other(String),
}

/// The library's error: a kind plus, where known, the file it concerns.
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    path: Option<PathBuf>,
    /// What was being done, innermost first ("model \"mf\"", "ensemble member 2 of 8").
    context: Vec<String>,
}

impl Error {
    /// Makes an error of the given kind.
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                path: None,
                context: Vec::new(),
            }),
        }
    }

    /// Attaches the path of the file the error concerns (kept if one is already set).
    pub fn with_path(mut self, path: impl AsRef<Path>) -> Self {
        if self.inner.path.is_none() {
            self.inner.path = Some(path.as_ref().to_path_buf());
        }
        self
    }

    /// Says what was being done when the error happened ("model \"mf\"",
    /// "ensemble member 2 of 8"); the kind, path and position stay as they
    /// were. Shown before the message, outermost first.
    pub fn context(mut self, what: impl Into<String>) -> Self {
        self.inner.context.push(what.into());
        self
    }

    /// The kind of error.
    pub fn kind(&self) -> &ErrorKind {
        &self.inner.kind
    }

    /// The file the error concerns, if known.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// The position in the input, if known.
    pub fn position(&self) -> Option<Position> {
        match &self.inner.kind {
            ErrorKind::Parse { position, .. } => Some(*position),
            ErrorKind::Rating { position, .. } | ErrorKind::Duplicate { position, .. } => *position,
            _ => None,
        }
    }

    /// Shorthand for a [`ErrorKind::Parse`] error; `text` is shortened.
    pub fn parse(position: Position, message: impl Into<String>, text: &str) -> Self {
        Error::new(ErrorKind::Parse {
            position,
            message: message.into(),
            text: shorten(text),
        })
    }

    /// Shorthand for a [`ErrorKind::Format`] error.
    pub fn format(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Format(message.into()))
    }

    /// Shorthand for a [`ErrorKind::Config`] error.
    pub fn config(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Config(message.into()))
    }

    /// Shorthand for a [`ErrorKind::ModelFile`] error.
    pub fn model_file(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::ModelFile(message.into()))
    }

    /// Shorthand for a [`ErrorKind::Other`] error.
    pub fn other(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Other(message.into()))
    }

    /// Shorthand for a [`ErrorKind::UnknownId`] error.
    pub fn unknown_id(what: &'static str, id: impl Into<String>) -> Self {
        Error::new(ErrorKind::UnknownId {
            what,
            id: id.into(),
        })
    }
}

/// Shortens offending text for messages to at most 120 characters, on a
/// character boundary, without its line ending.
pub(crate) fn shorten(text: &str) -> String {
    const MAX: usize = 120;
    let trimmed = text.trim_end_matches(['\r', '\n']);
    if trimmed.chars().count() <= MAX {
        trimmed.to_string()
    } else {
        let cut: String = trimmed.chars().take(MAX).collect();
        format!("{cut}…")
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = &self.inner.path {
            write!(f, "{}: ", path.display())?;
        }
        for what in self.inner.context.iter().rev() {
            write!(f, "{what}: ")?;
        }
        match &self.inner.kind {
            ErrorKind::Io(e) => write!(f, "{e}"),
            ErrorKind::Parse {
                position,
                message,
                text,
            } => write!(f, "line {}: {message}: {text:?}", position.line),
            ErrorKind::Format(m) => write!(f, "{m}"),
            ErrorKind::Rating {
                position,
                value,
                message,
            } => {
                if let Some(p) = position {
                    write!(f, "line {}: ", p.line)?;
                }
                write!(f, "rating {value}: {message}")
            }
            ErrorKind::Duplicate {
                user,
                item,
                position,
            } => {
                if let Some(p) = position {
                    write!(f, "line {}: ", p.line)?;
                }
                write!(
                    f,
                    "duplicate rating for user {user:?} and item {item:?} \
                     (choose a duplicate policy: keep-last or mean)"
                )
            }
            ErrorKind::Config(m) => write!(f, "invalid configuration: {m}"),
            ErrorKind::UnknownId { what, id } => write!(f, "unknown {what} {id:?}"),
            ErrorKind::ModelFile(m) => write!(f, "model file: {m}"),
            ErrorKind::Diverged(m) => write!(f, "training diverged: {m}"),
            ErrorKind::Other(m) => write!(f, "{m}"),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Error({self})")
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.inner.kind {
            ErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::new(ErrorKind::Io(e))
    }
}

/// A CSV reader's or writer's error: I/O stays I/O; a malformed record is a
/// parse error at its line.
impl From<csv::Error> for Error {
    fn from(e: csv::Error) -> Self {
        let position = e.position().map(|p| Position {
            line: p.line(),
            byte: p.byte(),
        });
        let message = e.to_string();
        match (e.into_kind(), position) {
            (csv::ErrorKind::Io(io), _) => Error::from(io),
            (_, Some(at)) => Error::parse(at, message, ""),
            (_, None) => Error::format(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_path_line_and_text() {
        let e = Error::parse(Position { line: 7, byte: 100 }, "bad rating", "1,2,x\r\n")
            .with_path("ratings.csv");
        assert_eq!(e.to_string(), "ratings.csv: line 7: bad rating: \"1,2,x\"");
        assert_eq!(e.position().unwrap().line, 7);
    }

    #[test]
    fn context_reads_outermost_first_and_keeps_the_kind() {
        let e = Error::config("lr must be positive")
            .context("model \"mf\"")
            .context("ensemble member 2 of 8");
        assert_eq!(
            e.to_string(),
            "ensemble member 2 of 8: model \"mf\": invalid configuration: lr must be positive"
        );
        assert!(matches!(e.kind(), ErrorKind::Config(_)));
    }

    #[test]
    fn csv_errors_keep_their_line_and_io_kind() {
        let mut r = csv::ReaderBuilder::new()
            .has_headers(false)
            .from_reader(&b"1,2\n3,4,5\n"[..]);
        let e: Error = r.records().nth(1).unwrap().unwrap_err().into();
        assert_eq!(e.position().map(|p| p.line), Some(2));
        let io = csv::Error::from(std::io::Error::other("disk full"));
        assert!(matches!(Error::from(io).kind(), ErrorKind::Io(_)));
    }

    #[test]
    fn long_text_is_shortened() {
        let long = "a".repeat(500);
        let e = Error::parse(Position::default(), "m", &long);
        assert!(e.to_string().chars().count() < 200);
    }
}
