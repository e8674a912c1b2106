//! # aerec — autoencoder collaborative filtering, sparse first
//!
//! aerec fills in the missing cells of a user × item rating matrix and
//! recommends unrated items, with AutoRec, deep autoencoders and honest
//! baselines, without ever materialising the dense matrix.
//!
//! The modules follow the data's path: [`data`] (read → prepare) →
//! [`model`] (train) → [`eval`] (evaluate) → [`recommend`] → [`serve`];
//! [`persist`] writes and reads model files and [`report`] makes tables and
//! plots. The command-line program is a thin layer over these, compiled into
//! the binary only; docs/architecture.md describes the whole house.
//!
//! # Example: load, split, train, evaluate, recommend
//!
//! ```
//! use aerec::data::read::embedded;
//! use aerec::data::split::{split, Input, SplitConfig};
//! use aerec::eval::{evaluate, EvalOptions};
//! use aerec::model::{FitOptions, ModelSpec, TrainedModel};
//!
//! // MovieLens latest-small ships inside the binary; `read::read_ratings` reads files.
//! let ratings = embedded::ratings();
//! let parts = split(&Input::Whole(ratings), &SplitConfig::default())?; // random 90/10, seed 1
//! // The I-AutoRec recipe, with a short run for the example.
//! let spec = ModelSpec::from_json(&serde_json::json!({
//!     "preset": "autorec", "layers": [200], "lr": 1e-3, "epochs": 3
//! }))?;
//! let model = TrainedModel::fit(&spec, &parts.train, None, None, embedded::scale(), &FitOptions::default())?;
//! let report = evaluate(&model, &parts.test, &EvalOptions::default())?;
//! assert!(report.rating.rmse < 1.2);
//! for r in aerec::recommend::for_user(&model, "1", 5)? {
//!     println!("{} {:.2} {}", r.item, r.rating, r.title.unwrap_or_default());
//! }
//! # Ok::<(), aerec::Error>(())
//! ```

#![warn(missing_docs)]

pub mod collective;
pub mod data;
pub mod error;
pub mod eval;
mod mem;
pub mod model;
pub mod output;
pub mod persist;
pub mod recommend;
pub mod report;
pub mod serve;

pub use data::{Csr, IdMap, RatingScale, Ratings};
pub use error::{Error, ErrorKind, Result};
pub use model::{ModelSpec, Prediction, Recommender, TrainedModel};
