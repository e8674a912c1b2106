//! Data flags shared by every command that reads ratings.
//!
//! [`ReadArgs`] holds the flags that say how to read a file; [`DataArgs`]
//! (`--data FILE` or `--train FILE --test FILE`) and [`FileArgs`] (a
//! positional `FILE`, for `aerec stats`) flatten it, so the flags read the
//! same everywhere. Without a file, the embedded MovieLens latest-small is used.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::data::implicit::{self, ImplicitOptions, Positives, Weighting};
use crate::data::read::{
    self, embedded, Column, Duplicates, Format, Header, ReadOptions, ReadOutcome,
};
use crate::data::side::read_titles;
use crate::data::split::Input;
use crate::data::RatingScale;

/// How to read a rating file (help heading "Data").
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Data")]
pub struct ReadArgs {
    /// Input format: ml100k, ml-dat, ml-csv, amazon, delimited, npz, parquet (default: detected).
    #[arg(long, value_name = "FORMAT", value_parser = parse_format)]
    pub format: Option<Format>,
    /// Field delimiter, e.g. ',' '\t' '::' (default: from the format or the first line).
    #[arg(long, value_name = "TEXT")]
    pub delimiter: Option<String>,
    /// The first line is a header.
    #[arg(long, conflicts_with = "no_header")]
    pub header: bool,
    /// The first line is data.
    #[arg(long)]
    pub no_header: bool,
    /// User column: 0-based position or header name (Parquet: column name).
    #[arg(long, value_name = "COL")]
    pub user_col: Option<String>,
    /// Item column: 0-based position or header name.
    #[arg(long, value_name = "COL")]
    pub item_col: Option<String>,
    /// Rating column: 0-based position or header name.
    #[arg(long, value_name = "COL")]
    pub rating_col: Option<String>,
    /// Timestamp column: 0-based position or header name.
    #[arg(long, value_name = "COL")]
    pub time_col: Option<String>,
    /// Skip malformed lines (counted and reported) instead of stopping.
    #[arg(long)]
    pub skip_bad_lines: bool,
    /// What to do with a repeated (user, item) pair.
    #[arg(long, value_name = "POLICY", default_value = "error", value_parser = ["error", "keep-last", "mean"])]
    pub duplicates: String,
    /// Declared rating scale MIN:MAX; ratings outside it are errors.
    #[arg(long, value_name = "MIN:MAX", value_parser = parse_scale)]
    pub scale: Option<RatingScale>,
    /// Item titles: u.item, movies.dat or movies.csv.
    #[arg(long, value_name = "FILE")]
    pub titles: Option<PathBuf>,
    /// The file has no rating column (user,item[,timestamp]): every line is
    /// one interaction of value 1 (a two-field file is read so unasked).
    #[arg(long, conflicts_with = "rating_col")]
    pub no_rating: bool,
    /// Read the file as implicit feedback: every interaction is a positive
    /// of weight 1 (see --positive and --weighted).
    #[arg(long)]
    pub implicit: bool,
    /// Implicit feedback: only values of at least T are positives, e.g. 4
    /// for MovieLens (implies --implicit).
    #[arg(long, value_name = "T", allow_negative_numbers = true)]
    pub positive: Option<f32>,
    /// Implicit feedback: each positive keeps its value as its weight
    /// (counts, plays) instead of 1 (implies --implicit).
    #[arg(long)]
    pub weighted: bool,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse().map_err(|e: crate::Error| e.to_string())
}

/// Parses `MIN:MAX` (e.g. `1:5`, `0.5:5`).
pub fn parse_scale(s: &str) -> Result<RatingScale, String> {
    let (lo, hi) = s.split_once(':').ok_or("expected MIN:MAX, e.g. 1:5")?;
    let num = |t: &str| {
        t.trim()
            .parse::<f32>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| format!("{t:?} is not a finite number"))
    };
    RatingScale::new(num(lo)?, num(hi)?).map_err(|e| e.to_string())
}

/// Turns the text of `--delimiter` into bytes; `\t` and `tab` mean a tab.
fn delimiter_bytes(s: &str) -> Vec<u8> {
    match s {
        "\\t" | "tab" | "TAB" => b"\t".to_vec(),
        "space" => b" ".to_vec(),
        _ => s.as_bytes().to_vec(),
    }
}

impl ReadArgs {
    /// The reader options these flags describe.
    pub fn options(&self) -> anyhow::Result<ReadOptions> {
        let mut o = ReadOptions::new().skip_bad_lines(self.skip_bad_lines);
        if let Some(f) = self.format {
            o = o.format(f);
        }
        if let Some(d) = &self.delimiter {
            o = o.delimiter(&delimiter_bytes(d));
        }
        if self.header {
            o = o.header(Header::Yes);
        } else if self.no_header {
            o = o.header(Header::No);
        }
        let col = |s: &String| s.parse::<Column>().unwrap_or_else(|never| match never {});
        if let Some(c) = &self.user_col {
            o = o.user_col(col(c));
        }
        if let Some(c) = &self.item_col {
            o = o.item_col(col(c));
        }
        if let Some(c) = &self.rating_col {
            o = o.rating_col(col(c));
        }
        if let Some(c) = &self.time_col {
            o = o.time_col(col(c));
        }
        if self.no_rating {
            o = o.without_ratings();
        }
        o = o.duplicates(self.duplicates.parse::<Duplicates>()?);
        if let Some(s) = self.scale {
            o = o.scale(s);
        }
        Ok(o)
    }

    /// Reads one rating file with these flags (as implicit feedback when
    /// they ask for it).
    pub fn read(&self, path: &Path) -> anyhow::Result<ReadOutcome> {
        let out = read::read_ratings(path, &self.options()?)?;
        self.to_implicit(out)
            .with_context(|| format!("reading {} as implicit feedback", path.display()))
    }

    /// The implicit-feedback conversion these flags ask for, if any.
    pub fn implicit_options(&self) -> Option<ImplicitOptions> {
        (self.implicit || self.positive.is_some() || self.weighted).then(|| ImplicitOptions {
            positives: self.positive.map_or(Positives::All, Positives::AtLeast),
            weighting: if self.weighted {
                Weighting::Value
            } else {
                Weighting::Binary
            },
        })
    }

    /// `out` converted to implicit feedback when the flags ask for it; its
    /// scale becomes the weights' (0..1 for binary positives).
    /// A file without ratings (every value 1, no scale to infer) is
    /// implicit feedback already: its scale becomes 0..1.
    fn to_implicit(&self, mut out: ReadOutcome) -> anyhow::Result<ReadOutcome> {
        if let Some(opts) = self.implicit_options() {
            out.ratings = implicit::to_implicit(&out.ratings, &opts)?;
            out.scale = Some(opts.scale(&out.ratings));
        } else if self.scale.is_none()
            && !out.ratings.is_empty()
            && out.ratings.values.iter().all(|&v| v == 1.0)
        {
            out.scale = Some(RatingScale { min: 0.0, max: 1.0 });
        }
        Ok(out)
    }

    /// The titles `--titles` names, if any.
    pub fn titles(&self) -> anyhow::Result<Option<HashMap<String, String>>> {
        self.titles
            .as_ref()
            .map(|p| read_titles(p).context("reading --titles"))
            .transpose()
    }
}

/// `--data FILE` or `--train FILE --test FILE`, plus the read flags.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Data")]
pub struct DataArgs {
    /// Rating file (default: the embedded MovieLens latest-small).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["train", "test"])]
    pub data: Option<PathBuf>,
    /// Training ratings of a pre-split set (needs --test).
    #[arg(long, value_name = "FILE", requires = "test")]
    pub train: Option<PathBuf>,
    /// Test ratings of a pre-split set (needs --train).
    #[arg(long, value_name = "FILE", requires = "train")]
    pub test: Option<PathBuf>,
    /// How to read the files.
    #[command(flatten)]
    pub read: ReadArgs,
}

impl DataArgs {
    /// Every file these flags read (ratings, pre-split parts, titles): an
    /// output path may be none of them.
    pub fn input_paths(&self) -> Vec<&Path> {
        [&self.data, &self.train, &self.test, &self.read.titles]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
            .collect()
    }
}

/// A positional `FILE`, plus the read flags (for `aerec stats`).
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Data")]
pub struct FileArgs {
    /// Rating file (default: the embedded MovieLens latest-small).
    #[arg(value_name = "FILE")]
    pub file: Option<PathBuf>,
    /// How to read the file.
    #[command(flatten)]
    pub read: ReadArgs,
}

/// What the data flags loaded.
#[derive(Debug, Clone)]
pub struct Loaded {
    /// One table, or a pre-split train/test pair.
    pub input: Input,
    /// Item titles by original id, when known (`--titles`, or the embedded set's).
    pub titles: Option<HashMap<String, String>>,
    /// Where the data came from, e.g. `ratings.csv (ml-csv)`.
    pub source: String,
    /// The format read (of the training file for a pre-split pair).
    pub format: Format,
    /// Lines skipped under `--skip-bad-lines`, all files together.
    pub skipped: usize,
    /// The first skipped lines, for messages.
    pub skipped_examples: Vec<read::SkippedLine>,
    /// The declared or inferred rating scale.
    pub scale: Option<RatingScale>,
}

impl Loaded {
    fn from_outcome(
        out: ReadOutcome,
        source: String,
        titles: Option<HashMap<String, String>>,
    ) -> Loaded {
        Loaded {
            input: Input::Whole(out.ratings),
            titles,
            source,
            format: out.format,
            skipped: out.skipped,
            skipped_examples: out.skipped_examples,
            scale: out.scale,
        }
    }

    fn embedded(read: &ReadArgs) -> anyhow::Result<Loaded> {
        let titles = match read.titles()? {
            Some(t) => t,
            None => embedded::titles(),
        };
        let mut ratings = embedded::ratings();
        let mut scale = read.scale.unwrap_or_else(embedded::scale);
        if let Some(opts) = read.implicit_options() {
            ratings = implicit::to_implicit(&ratings, &opts)?;
            scale = opts.scale(&ratings);
        }
        Ok(Loaded {
            input: Input::Whole(ratings),
            titles: Some(titles),
            source: embedded::NAME.to_string(),
            format: Format::MlCsv,
            skipped: 0,
            skipped_examples: Vec::new(),
            scale: Some(scale),
        })
    }

    /// A one-line note for stderr: the source, and the skipped lines if any.
    pub fn note(&self) -> String {
        let mut note = format!("data: {}", self.source);
        if self.skipped > 0 {
            if self.format == Format::Parquet {
                // A Parquet example's text says where the row is.
                note.push_str(&format!("; skipped {} bad row(s)", self.skipped));
                for s in &self.skipped_examples {
                    note.push_str(&format!("\n  {}: {}", s.text, s.reason));
                }
            } else {
                note.push_str(&format!("; skipped {} bad line(s)", self.skipped));
                for s in &self.skipped_examples {
                    note.push_str(&format!("\n  line {}: {}: {:?}", s.line, s.reason, s.text));
                }
            }
        }
        note
    }
}

fn source(path: &Path, format: Format) -> String {
    format!("{} ({format})", path.display())
}

impl FileArgs {
    /// Every file these flags read (the ratings, titles).
    pub fn input_paths(&self) -> Vec<&Path> {
        [&self.file, &self.read.titles]
            .into_iter()
            .flatten()
            .map(PathBuf::as_path)
            .collect()
    }

    /// Reads the file, or the embedded set when none is named.
    pub fn load(&self) -> anyhow::Result<Loaded> {
        match &self.file {
            None => Loaded::embedded(&self.read),
            Some(path) => {
                let out = self.read.read(path)?;
                let src = source(path, out.format);
                Ok(Loaded::from_outcome(out, src, self.read.titles()?))
            }
        }
    }
}

impl DataArgs {
    /// Reads `--data`, or `--train` and `--test`, or the embedded set.
    pub fn load(&self) -> anyhow::Result<Loaded> {
        match (&self.data, &self.train, &self.test) {
            (Some(path), _, _) => FileArgs {
                file: Some(path.clone()),
                read: self.read.clone(),
            }
            .load(),
            (None, Some(train), Some(test)) => {
                let tr = self.read.read(train)?;
                let te = self.read.read(test)?;
                let mut examples = tr.skipped_examples;
                examples.extend(te.skipped_examples);
                examples.truncate(read::SKIPPED_EXAMPLES);
                Ok(Loaded {
                    source: format!(
                        "train {}, test {}",
                        source(train, tr.format),
                        source(test, te.format)
                    ),
                    format: tr.format,
                    skipped: tr.skipped + te.skipped,
                    skipped_examples: examples,
                    scale: tr.scale.or(self.read.scale),
                    input: Input::PreSplit {
                        train: tr.ratings,
                        test: te.ratings,
                    },
                    titles: self.read.titles()?,
                })
            }
            (None, Some(_), None) | (None, None, Some(_)) => {
                anyhow::bail!("--train and --test go together")
            }
            (None, None, None) => Loaded::embedded(&self.read),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Probe {
        #[command(flatten)]
        data: DataArgs,
    }

    #[test]
    fn flags_build_the_reader_options() {
        let p = Probe::try_parse_from([
            "x",
            "--data",
            "r.txt",
            "--delimiter",
            "\\t",
            "--no-header",
            "--user-col",
            "2",
            "--rating-col",
            "stars",
            "--duplicates",
            "mean",
            "--scale",
            "0.5:5",
            "--skip-bad-lines",
        ])
        .unwrap();
        let want = ReadOptions::new()
            .delimiter(b"\t")
            .header(Header::No)
            .user_col(Column::Index(2))
            .rating_col(Column::Name("stars".into()))
            .duplicates(Duplicates::Mean)
            .scale(RatingScale { min: 0.5, max: 5.0 })
            .skip_bad_lines(true);
        assert_eq!(p.data.read.options().unwrap(), want);
    }

    #[test]
    fn bad_flag_values_are_usage_errors() {
        assert!(Probe::try_parse_from(["x", "--scale", "5:1"]).is_err());
        assert!(Probe::try_parse_from(["x", "--scale", "5"]).is_err());
        assert!(Probe::try_parse_from(["x", "--format", "orc"]).is_err());
        assert!(Probe::try_parse_from(["x", "--duplicates", "first"]).is_err());
        assert!(Probe::try_parse_from(["x", "--train", "a"]).is_err());
        assert!(
            Probe::try_parse_from(["x", "--data", "a", "--train", "b", "--test", "c"]).is_err()
        );
    }

    #[test]
    fn implicit_flags_convert_after_reading() {
        let p = Probe::try_parse_from(["x", "--positive", "4"]).unwrap();
        let loaded = p.data.load().unwrap();
        let Input::Whole(r) = &loaded.input else {
            panic!("expected one table")
        };
        // ml-latest-small: 48 580 of its 100 836 ratings are 4 or above.
        assert_eq!(r.len(), 48_580);
        assert!(r.values.iter().all(|&v| v == 1.0));
        assert_eq!(loaded.scale, Some(RatingScale { min: 0.0, max: 1.0 }));
        let p = Probe::try_parse_from(["x", "--weighted"]).unwrap();
        let loaded = p.data.load().unwrap();
        let Input::Whole(r) = &loaded.input else {
            panic!("expected one table")
        };
        assert_eq!(r.len(), 100_836);
        assert_eq!(loaded.scale, Some(RatingScale { min: 0.0, max: 5.0 }));
        assert!(Probe::try_parse_from(["x"])
            .unwrap()
            .data
            .read
            .implicit_options()
            .is_none());
    }

    #[test]
    fn a_file_without_ratings_is_clicks() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("clicks.csv");
        std::fs::write(&path, "user_id,item_id\na,x\na,y\nb,x\n").unwrap();
        let p = Probe::try_parse_from(["x", "--data", path.to_str().unwrap()]).unwrap();
        let loaded = p.data.load().unwrap();
        let Input::Whole(r) = &loaded.input else {
            panic!("expected one table")
        };
        assert_eq!((r.len(), r.n_users(), r.n_items()), (3, 2, 2));
        assert_eq!(loaded.scale, Some(RatingScale { min: 0.0, max: 1.0 }));
        // Three fields, the third a timestamp: said with --no-rating.
        std::fs::write(&path, "u1\tx\t100\nu2\tx\t200\n").unwrap();
        let p = Probe::try_parse_from([
            "x",
            "--data",
            path.to_str().unwrap(),
            "--no-rating",
            "--time-col",
            "2",
        ])
        .unwrap();
        let loaded = p.data.load().unwrap();
        let Input::Whole(r) = &loaded.input else {
            panic!("expected one table")
        };
        assert_eq!(r.values, vec![1.0, 1.0]);
        assert_eq!(r.timestamps, Some(vec![100, 200]));
        assert!(Probe::try_parse_from(["x", "--no-rating", "--rating-col", "2"]).is_err());
    }

    #[test]
    fn no_file_means_the_embedded_set_with_titles() {
        let loaded = Probe::try_parse_from(["x"]).unwrap().data.load().unwrap();
        let Input::Whole(r) = &loaded.input else {
            panic!("expected one table")
        };
        assert_eq!(r.len(), 100_836);
        assert_eq!(loaded.titles.unwrap()["1"], "Toy Story (1995)");
    }
}
