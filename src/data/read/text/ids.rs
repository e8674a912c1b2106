//! Id interning: small canonical decimals through a dense table, every
//! other id through a hash map, first per piece in parallel and then
//! globally in file order (which keeps ids in first-seen order).

use std::borrow::Cow;

use rayon::prelude::*;

use crate::data::fxhash::FxMap;
use crate::data::read::Encoding;
use crate::data::IdMap;
use crate::error::Result;

/// Integer ids below this use the dense table (at most 64 MiB of `u32`).
pub(in crate::data::read) const DENSE_LIMIT: u64 = 1 << 24;
/// Marks a piece-local code as a string index rather than an integer id.
const STRING_BIT: u32 = 1 << 31;
const UNSET: u32 = u32::MAX;

/// Ids of one piece that are not small canonical integers.
#[derive(Default)]
pub(super) struct LocalIds<'a> {
    index: FxMap<Cow<'a, [u8]>, u32>,
    list: Vec<Cow<'a, [u8]>>,
}

impl<'a> LocalIds<'a> {
    pub(super) fn code(
        &mut self,
        field: Cow<'a, [u8]>,
        encoding: Encoding,
    ) -> std::result::Result<u32, String> {
        if let Some(v) = small_int(&field) {
            return Ok(v);
        }
        if let Some(&k) = self.index.get(field.as_ref()) {
            return Ok(k | STRING_BIT);
        }
        if field.is_empty() {
            return Err("empty id".into());
        }
        if encoding == Encoding::Utf8 && std::str::from_utf8(&field).is_err() {
            return Err("id is not valid UTF-8 (use the Latin-1 encoding for such files)".into());
        }
        let k = self.list.len() as u32;
        self.list.push(field.clone());
        self.index.insert(field, k);
        Ok(k | STRING_BIT)
    }
}

/// The value of a canonical decimal below [`DENSE_LIMIT`]: no sign, no
/// leading zero (except `"0"` itself), nothing but digits.
pub(in crate::data::read) fn small_int(s: &[u8]) -> Option<u32> {
    if s.is_empty() || s.len() > 8 || (s[0] == b'0' && s.len() > 1) {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + d as u64;
    }
    (v < DENSE_LIMIT).then_some(v as u32)
}

/// Global id space: the dense table for small integers, a hash map for the rest.
pub(in crate::data::read) struct GlobalIds {
    dense: Vec<u32>,
    strings: FxMap<Box<[u8]>, u32>,
    ids: Vec<IdText>,
    encoding: Encoding,
}

/// An id as first seen: integers are written out as text only at the end,
/// on all threads, not in the serial registration.
enum IdText {
    Int(u32),
    Text(String),
}

impl GlobalIds {
    pub(in crate::data::read) fn new(encoding: Encoding) -> Self {
        GlobalIds {
            dense: Vec::new(),
            strings: FxMap::default(),
            ids: Vec::new(),
            encoding,
        }
    }

    pub(in crate::data::read) fn int(&mut self, v: u32) -> u32 {
        let at = v as usize;
        if at >= self.dense.len() {
            self.dense.resize(
                (at + 1).max(self.dense.len() * 2).min(DENSE_LIMIT as usize),
                UNSET,
            );
        }
        if self.dense[at] == UNSET {
            self.dense[at] = self.ids.len() as u32;
            self.ids.push(IdText::Int(v));
        }
        self.dense[at]
    }

    pub(in crate::data::read) fn string(&mut self, s: &[u8]) -> u32 {
        if let Some(&k) = self.strings.get(s) {
            return k;
        }
        let k = self.ids.len() as u32;
        let text = match self.encoding {
            Encoding::Utf8 => String::from_utf8_lossy(s).into_owned(),
            Encoding::Latin1 => s.iter().map(|&b| b as char).collect(),
        };
        self.ids.push(IdText::Text(text));
        self.strings.insert(s.into(), k);
        k
    }

    /// Gives each id of a piece that is new to the file its global index,
    /// in row order (that is what makes the order first-seen); returns the
    /// global index of each of the piece's string ids. Only reads the
    /// codes, and skips repeats of the previous code (a user's run of
    /// ratings costs one comparison a row), so this serial step stays short.
    fn register(&mut self, codes: &[u32], local: &LocalIds) -> Vec<u32> {
        let mut table = vec![UNSET; local.list.len()];
        let mut prev = UNSET;
        for &c in codes {
            if c == prev {
                continue;
            }
            prev = c;
            if c & STRING_BIT == 0 {
                self.int(c);
            } else {
                let k = (c & !STRING_BIT) as usize;
                if table[k] == UNSET {
                    table[k] = self.string(&local.list[k]);
                }
            }
        }
        table
    }

    /// The integer codes of a piece not registered yet, in row order
    /// (repeats of the previous code dropped), looked up in parallel before
    /// the serial [`GlobalIds::register`] so that it only walks these; `None`
    /// when the piece has string ids, whose order among the integers needs
    /// the full walk. Past the first blocks nearly every id is known and the
    /// list is empty.
    pub(super) fn fresh_ints(&self, codes: &[u32], local: &LocalIds) -> Option<Vec<u32>> {
        if !local.list.is_empty() {
            return None;
        }
        let mut fresh = Vec::new();
        let mut prev = UNSET;
        for &c in codes {
            if c != prev && self.dense.get(c as usize).is_none_or(|&g| g == UNSET) {
                fresh.push(c);
            }
            prev = c;
        }
        Some(fresh)
    }

    /// Registers a piece's ids: the prefiltered integers when
    /// [`GlobalIds::fresh_ints`] gave them, else every code.
    pub(super) fn register_piece(
        &mut self,
        codes: &[u32],
        local: &LocalIds,
        fresh: Option<Vec<u32>>,
    ) -> Vec<u32> {
        match fresh {
            Some(list) => {
                for c in list {
                    self.int(c);
                }
                Vec::new()
            }
            None => self.register(codes, local),
        }
    }

    /// Writes the global index of each code (all registered) into `out`.
    pub(super) fn lookup_into(&self, codes: &[u32], strings: &[u32], out: &mut [u32]) {
        for (o, &c) in out.iter_mut().zip(codes) {
            *o = if c & STRING_BIT == 0 {
                self.dense[c as usize]
            } else {
                strings[(c & !STRING_BIT) as usize]
            };
        }
    }

    pub(in crate::data::read) fn into_map(self) -> Result<IdMap> {
        let ids = self
            .ids
            .into_par_iter()
            .map(|id| match id {
                IdText::Int(v) => v.to_string(),
                IdText::Text(t) => t,
            })
            .collect();
        IdMap::from_ids(ids)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_canonical_small_decimals_are_integers() {
        assert_eq!(small_int(b"0"), Some(0));
        assert_eq!(small_int(b"193609"), Some(193609));
        assert_eq!(small_int(b"0205616461"), None);
        assert_eq!(small_int(b"+5"), None);
        assert_eq!(small_int(b"99999999"), None);
    }
}
