//! Summary statistics of a rating table (`aerec stats`).

use rayon::prelude::*;
use serde::Serialize;

use super::fxhash::FxMap;

use super::Ratings;

/// Counts, density, rating distribution and activity quantiles of a [`Ratings`].
///
/// Users and items are counted only when they have at least one rating here
/// (a test part shares its id maps with the whole set, but not its users).
///
/// ```
/// use aerec::data::read::{read_ratings_bytes, ReadOptions};
/// use aerec::data::stats::Stats;
/// let r = read_ratings_bytes(b"a,x,4\na,y,2\nb,x,3\n", &ReadOptions::new()).unwrap().ratings;
/// let s = Stats::of(&r);
/// assert_eq!((s.users, s.items, s.ratings), (2, 2, 3));
/// assert_eq!(s.density, 0.75);
/// assert_eq!(s.mean, 3.0);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Stats {
    /// Users with at least one rating.
    pub users: usize,
    /// Items with at least one rating.
    pub items: usize,
    /// Number of ratings.
    pub ratings: usize,
    /// `ratings / (users × items)`; 0 when empty.
    pub density: f64,
    /// Global mean rating μ; 0 when empty.
    pub mean: f64,
    /// Smallest rating; 0 when empty.
    pub min: f32,
    /// Largest rating; 0 when empty.
    pub max: f32,
    /// How many times each distinct rating value occurs, by ascending value.
    pub histogram: Vec<HistogramBin>,
    /// Ratings per user (over users with ratings).
    pub per_user: CountQuantiles,
    /// Ratings per item (over items with ratings).
    pub per_item: CountQuantiles,
    /// Whether the table carries timestamps.
    pub has_timestamps: bool,
}

/// One value of the rating histogram.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct HistogramBin {
    /// The rating value.
    pub value: f32,
    /// How many ratings have it.
    pub count: usize,
}

/// Quantiles of a count distribution (nearest-rank: the smallest count with
/// at least q of the population at or below it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct CountQuantiles {
    /// Smallest count.
    pub min: usize,
    /// Median (nearest rank).
    pub median: usize,
    /// 90th percentile (nearest rank).
    pub p90: usize,
    /// Largest count.
    pub max: usize,
}

impl CountQuantiles {
    /// Quantiles of the non-zero entries of `counts`.
    pub fn of(counts: &[usize]) -> CountQuantiles {
        let mut c: Vec<usize> = counts.iter().copied().filter(|&n| n > 0).collect();
        if c.is_empty() {
            return CountQuantiles::default();
        }
        c.sort_unstable();
        let rank = |q: f64| c[((q * c.len() as f64).ceil() as usize).clamp(1, c.len()) - 1];
        CountQuantiles {
            min: c[0],
            median: rank(0.5),
            p90: rank(0.9),
            max: c[c.len() - 1],
        }
    }
}

/// Counts of rating values (as bits): a small direct-mapped table in front
/// of a hash map. Rating files use a handful of values (`1`…`5`, halves),
/// so nearly every row is one multiply and one compare, where hashing each
/// row through the map's `Hasher` cost most of the statistics pass.
struct ValueCounts {
    slots: [(u32, usize); VALUE_SLOTS],
    rest: FxMap<u32, usize>,
}

/// Slots of [`ValueCounts`]' table (a power of two).
const VALUE_SLOTS: usize = 64;

impl Default for ValueCounts {
    fn default() -> Self {
        ValueCounts {
            slots: [(0, 0); VALUE_SLOTS],
            rest: FxMap::default(),
        }
    }
}

impl ValueCounts {
    fn add(&mut self, bits: u32) {
        // Fibonacci hashing: the top bits of the product, so that values
        // differing in any bits (1.0 and 2.0 differ only in the exponent)
        // spread over the slots.
        let slot = (bits.wrapping_mul(0x9E37_79B9) >> (32 - VALUE_SLOTS.ilog2())) as usize;
        let (key, count) = &mut self.slots[slot];
        if *count == 0 {
            *key = bits;
        }
        if *key == bits {
            *count += 1;
        } else {
            *self.rest.entry(bits).or_default() += 1;
        }
    }

    fn into_map(self) -> FxMap<u32, usize> {
        let mut map = self.rest;
        for (bits, count) in self.slots {
            if count > 0 {
                *map.entry(bits).or_default() += count;
            }
        }
        map
    }
}

impl Stats {
    /// Computes the statistics in one pass over the table (on the rayon
    /// threads, each over its own rows into its own counts, then summed)
    /// plus a sort of the distinct values and of the per-row counts.
    pub fn of(r: &Ratings) -> Stats {
        let (n_users, n_items) = (r.n_users(), r.n_items());
        let part_len = r
            .len()
            .div_ceil(rayon::current_num_threads().max(1))
            .max(1 << 16);
        let counts = r
            .users
            .par_chunks(part_len)
            .zip(r.items.par_chunks(part_len))
            .zip(r.values.par_chunks(part_len))
            .map(|((us, is), vs)| {
                let mut per_user = vec![0usize; n_users];
                let mut per_item = vec![0usize; n_items];
                for (&u, &i) in us.iter().zip(is) {
                    per_user[u as usize] += 1;
                    per_item[i as usize] += 1;
                }
                let mut by_value = ValueCounts::default();
                for &v in vs {
                    // +0.0 normalises -0.0 so that both count as one value.
                    by_value.add((v + 0.0).to_bits());
                }
                (per_user, per_item, by_value.into_map())
            })
            .reduce_with(|mut a, b| {
                a.0.iter_mut().zip(&b.0).for_each(|(x, y)| *x += y);
                a.1.iter_mut().zip(&b.1).for_each(|(x, y)| *x += y);
                for (bits, n) in b.2 {
                    *a.2.entry(bits).or_default() += n;
                }
                a
            });
        let (per_user, per_item, by_value) =
            counts.unwrap_or_else(|| (vec![0; n_users], vec![0; n_items], FxMap::default()));
        let users = per_user.iter().filter(|&&n| n > 0).count();
        let items = per_item.iter().filter(|&&n| n > 0).count();
        let mut histogram: Vec<HistogramBin> = by_value
            .into_iter()
            .map(|(bits, count)| HistogramBin {
                value: f32::from_bits(bits),
                count,
            })
            .collect();
        histogram.sort_by(|a, b| a.value.total_cmp(&b.value));
        let (min, max) = r.min_max().unwrap_or((0.0, 0.0));
        let cells = users as f64 * items as f64;
        Stats {
            users,
            items,
            ratings: r.len(),
            density: if cells > 0.0 {
                r.len() as f64 / cells
            } else {
                0.0
            },
            mean: r.mean().unwrap_or(0.0),
            min,
            max,
            histogram,
            per_user: CountQuantiles::of(&per_user),
            per_item: CountQuantiles::of(&per_item),
            has_timestamps: r.timestamps.is_some(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_counts_agree_with_a_plain_map_when_slots_collide() {
        // Many distinct values: slots are shared and most go to the map.
        let values: Vec<u32> = (0..5_000u32)
            .map(|k| ((k * 7919) % 613) as f32 * 0.25)
            .map(f32::to_bits)
            .collect();
        let mut counts = ValueCounts::default();
        let mut want = std::collections::HashMap::new();
        for &b in &values {
            counts.add(b);
            *want.entry(b).or_insert(0usize) += 1;
        }
        let got: std::collections::HashMap<u32, usize> = counts.into_map().into_iter().collect();
        assert_eq!(got, want);
    }

    #[test]
    fn nearest_rank_quantiles() {
        // Nearest rank on 1..=10: median = 5th value, p90 = 9th value.
        let counts: Vec<usize> = (1..=10).collect();
        assert_eq!(
            CountQuantiles::of(&counts),
            CountQuantiles {
                min: 1,
                median: 5,
                p90: 9,
                max: 10
            }
        );
        assert_eq!(
            CountQuantiles::of(&[0, 0, 7]),
            CountQuantiles {
                min: 7,
                median: 7,
                p90: 7,
                max: 7
            }
        );
        assert_eq!(CountQuantiles::of(&[]), CountQuantiles::default());
    }
}
