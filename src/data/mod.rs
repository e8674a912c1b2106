//! Reading and preparing rating data: formats → one [`Ratings`] table →
//! filters → splits → compressed sparse rows ([`Csr`]).
//!
//! Users and items get dense `u32` indices in first-seen order; the original
//! ids are kept in an [`IdMap`] so that every output speaks original ids.

pub mod csr;
pub mod filter;
mod fxhash;
pub mod implicit;
pub mod read;
pub mod side;
pub mod split;
pub mod stats;
pub mod synth;
pub mod write;

pub use csr::Csr;

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use fxhash::FxMap;

/// Two-way map between original ids (strings, kept verbatim: `"0205616461"`
/// keeps its leading zero) and dense indices `0..len`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    ids: Vec<String>,
    #[serde(skip)]
    index: FxMap<String, u32>,
}

impl IdMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Builds a map from ids in index order; an id given twice is an error.
    pub fn from_ids(ids: Vec<String>) -> Result<Self> {
        let mut index = FxMap::with_capacity_and_hasher(ids.len(), Default::default());
        for (i, id) in ids.iter().enumerate() {
            if index.insert(id.clone(), i as u32).is_some() {
                return Err(Error::format(format!(
                    "id {id:?} appears twice in an id map"
                )));
            }
        }
        Ok(IdMap { ids, index })
    }

    /// Index of `id`, inserting it at the end when new.
    pub fn intern(&mut self, id: &str) -> u32 {
        if let Some(&i) = self.index.get(id) {
            return i;
        }
        let i = self.ids.len() as u32;
        self.ids.push(id.to_string());
        self.index.insert(id.to_string(), i);
        i
    }

    /// Index of `id`, if known.
    pub fn get(&self, id: &str) -> Option<u32> {
        self.index.get(id).copied()
    }

    /// Original id of index `i`.
    ///
    /// # Panics
    /// When `i >= self.len()`; indices come from this map, so that is a bug.
    pub fn id(&self, i: u32) -> &str {
        &self.ids[i as usize]
    }

    /// Number of ids.
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// True when the map holds no id.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// All ids in index order.
    pub fn ids(&self) -> &[String] {
        &self.ids
    }

    /// Rebuilds the reverse index after deserialisation.
    pub fn rebuild_index(&mut self) {
        self.index = self
            .ids
            .iter()
            .enumerate()
            .map(|(i, id)| (id.clone(), i as u32))
            .collect();
    }
}

/// The rating scale: values outside `[min, max]` are rejected when declared,
/// predictions are clipped to it for evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatingScale {
    /// Lowest allowed rating.
    pub min: f32,
    /// Highest allowed rating.
    pub max: f32,
}

impl RatingScale {
    /// A scale; `min < max` and both finite, else a config error.
    pub fn new(min: f32, max: f32) -> Result<Self> {
        if !(min.is_finite() && max.is_finite() && min < max) {
            return Err(Error::config(format!(
                "rating scale {min}..{max}: need finite min < max"
            )));
        }
        Ok(RatingScale { min, max })
    }

    /// Clips a prediction to the scale.
    pub fn clip(&self, x: f32) -> f32 {
        x.clamp(self.min, self.max)
    }

    /// True when `x` lies on the scale.
    pub fn contains(&self, x: f32) -> bool {
        x >= self.min && x <= self.max
    }
}

/// A rating table in coordinate form: one entry per observed (user, item) pair.
///
/// The id maps are shared (`Arc`) so that the parts of a split keep one index
/// space: user 17 in the train part is user 17 in the test part.
#[derive(Debug, Clone)]
pub struct Ratings {
    /// User index of each rating.
    pub users: Vec<u32>,
    /// Item index of each rating.
    pub items: Vec<u32>,
    /// Rating values.
    pub values: Vec<f32>,
    /// Unix timestamps (seconds), when the source has them.
    pub timestamps: Option<Vec<i64>>,
    /// User ids.
    pub user_ids: Arc<IdMap>,
    /// Item ids.
    pub item_ids: Arc<IdMap>,
}

impl Ratings {
    /// Number of ratings.
    pub fn len(&self) -> usize {
        self.values.len()
    }

    /// True when there is no rating.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Number of users in the id space (some may have no rating in this part).
    pub fn n_users(&self) -> usize {
        self.user_ids.len()
    }

    /// Number of items in the id space (some may have no rating in this part).
    pub fn n_items(&self) -> usize {
        self.item_ids.len()
    }

    /// Mean rating, or `None` when empty.
    pub fn mean(&self) -> Option<f64> {
        if self.values.is_empty() {
            None
        } else {
            Some(self.values.iter().map(|&v| v as f64).sum::<f64>() / self.values.len() as f64)
        }
    }

    /// Smallest and largest rating, or `None` when empty.
    pub fn min_max(&self) -> Option<(f32, f32)> {
        let mut it = self.values.iter().copied();
        let first = it.next()?;
        Some(it.fold((first, first), |(lo, hi), v| (lo.min(v), hi.max(v))))
    }

    /// The same ratings re-indexed into another id space (a saved model's):
    /// ids `users`/`items` know keep their index there, ids they do not are
    /// appended after them (in this table's id order), so a model sees them
    /// as unknown and its fallback answers them.
    pub fn in_id_space(&self, users: &Arc<IdMap>, items: &Arc<IdMap>) -> Ratings {
        if Arc::ptr_eq(&self.user_ids, users) && Arc::ptr_eq(&self.item_ids, items) {
            return self.clone();
        }
        let remap = |target: &IdMap, from: &IdMap, column: &[u32]| {
            let mut ids = target.clone();
            let table: Vec<u32> = from.ids().iter().map(|id| ids.intern(id)).collect();
            let column = column.iter().map(|&c| table[c as usize]).collect();
            (Arc::new(ids), column)
        };
        let (user_ids, users) = remap(users, &self.user_ids, &self.users);
        let (item_ids, items) = remap(items, &self.item_ids, &self.items);
        Ratings {
            users,
            items,
            values: self.values.clone(),
            timestamps: self.timestamps.clone(),
            user_ids,
            item_ids,
        }
    }

    /// The entries at `idx`, in that order, sharing the id maps.
    pub fn select(&self, idx: &[usize]) -> Ratings {
        Ratings {
            users: idx.iter().map(|&i| self.users[i]).collect(),
            items: idx.iter().map(|&i| self.items[i]).collect(),
            values: idx.iter().map(|&i| self.values[i]).collect(),
            timestamps: self
                .timestamps
                .as_ref()
                .map(|t| idx.iter().map(|&i| t[i]).collect()),
            user_ids: Arc::clone(&self.user_ids),
            item_ids: Arc::clone(&self.item_ids),
        }
    }

    /// Compressed rows by user (rows = users, columns = items).
    pub fn by_user(&self) -> Csr {
        Csr::from_triplets(
            self.n_users(),
            self.n_items(),
            &self.users,
            &self.items,
            &self.values,
        )
    }

    /// Compressed rows by user, consuming the table: for ratings grouped
    /// by user (a file sorted by user, read in first-seen order), the
    /// matrix takes over the item and rating columns instead of copying
    /// them (see [`Csr::from_owned_triplets`]). The id maps and timestamps
    /// go with the table: clone the maps' `Arc`s first to keep them.
    pub fn into_by_user(self) -> Csr {
        let (n_users, n_items) = (self.n_users(), self.n_items());
        Csr::from_owned_triplets(n_users, n_items, self.users, self.items, self.values)
    }

    /// Compressed rows by item (rows = items, columns = users).
    pub fn by_item(&self) -> Csr {
        Csr::from_triplets(
            self.n_items(),
            self.n_users(),
            &self.items,
            &self.users,
            &self.values,
        )
    }
}
