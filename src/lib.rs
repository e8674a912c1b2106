//! # aerec — autoencoder collaborative filtering, sparse first
//!
//! aerec fills in the missing cells of a user × item rating matrix and
//! recommends unrated items, with AutoRec, deep autoencoders and honest
//! baselines, without ever materialising the dense matrix.
//!
//! The modules follow the data's path: [`data`] (read → prepare) →
//! [`model`] (train) → [`eval`] (evaluate) → [`recommend`] → [`serve`].

#![warn(missing_docs)]

pub mod cli;
pub mod data;
pub mod error;
pub mod eval;
pub mod model;
pub mod persist;
pub mod recommend;
pub mod report;
pub mod serve;

pub use data::{Csr, IdMap, RatingScale, Ratings};
pub use error::{Error, ErrorKind, Result};
pub use model::{ModelSpec, Prediction, Recommender, TrainedModel};
