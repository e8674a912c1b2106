//! The default dataset, compiled into the binary: MovieLens latest-small
//! (610 users, 9,724 rated movies, 100,836 ratings on a 0.5–5 scale in
//! halves). Its licence allows redistribution; its `README.txt` travels with
//! it in `data/ml-latest-small/`. Being `include_bytes!`, it works from any
//! directory.
//!
//! ```
//! let ratings = aerec::data::read::embedded::ratings();
//! assert_eq!((ratings.n_users(), ratings.n_items(), ratings.len()), (610, 9_724, 100_836));
//! ```

use std::collections::HashMap;

use super::{read_ratings_bytes, Format, ReadOptions};
use crate::data::side::{titles_from_bytes, TitleFormat};
use crate::data::{RatingScale, Ratings};

/// `ratings.csv` as shipped (header, CRLF line ends).
pub const RATINGS_CSV: &[u8] = include_bytes!("../../../data/ml-latest-small/ratings.csv");
/// `movies.csv` as shipped (quoted UTF-8 titles).
pub const MOVIES_CSV: &[u8] = include_bytes!("../../../data/ml-latest-small/movies.csv");
/// What commands print as the source when no file is named.
pub const NAME: &str = "embedded MovieLens latest-small";

/// The embedded ratings, with timestamps.
pub fn ratings() -> Ratings {
    let opts = ReadOptions::new().format(Format::MlCsv);
    // The bytes are fixed at build time and a test reads them, so this cannot fail at run time.
    read_ratings_bytes(RATINGS_CSV, &opts)
        .expect("the embedded ratings.csv parses")
        .ratings
}

/// Movie titles by original movie id.
pub fn titles() -> HashMap<String, String> {
    titles_from_bytes(MOVIES_CSV, TitleFormat::MoviesCsv).expect("the embedded movies.csv parses")
}

/// The scale MovieLens latest uses: 0.5 to 5 stars.
pub fn scale() -> RatingScale {
    RatingScale { min: 0.5, max: 5.0 }
}
