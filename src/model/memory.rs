//! Sizing a model before it is built.
//!
//! Every model kind whose size follows from its settings (widths, factors)
//! estimates, from its config and the data's shape, the bytes its training
//! needs, and calls [`check`] before allocating anything: a size that
//! overflows, or that exceeds the machine's physical memory, is a
//! [`ErrorKind::TooLarge`] error naming the estimate and the setting to
//! lower, instead of a "capacity overflow" panic or an aborted allocation.
//!
//! The arithmetic is checked ([`Bytes`]): an estimate that does not fit in
//! `u64` is "overflow", never a wrapped small number.

use crate::error::{Error, ErrorKind, Result};

/// A byte count built with checked arithmetic; `None` once it overflowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bytes(pub Option<u64>);

impl Bytes {
    /// A count of `n` (anything that converts to `u64`).
    pub fn of(n: usize) -> Self {
        Bytes(u64::try_from(n).ok())
    }

    /// `self × n`, overflow-checked.
    pub fn times(self, n: usize) -> Self {
        Bytes(self.0.and_then(|a| a.checked_mul(u64::try_from(n).ok()?)))
    }

    /// `self + other`, overflow-checked.
    pub fn plus(self, other: Bytes) -> Self {
        Bytes(self.0.and_then(|a| a.checked_add(other.0?)))
    }
}

/// The sum of `a × b` over pairs, overflow-checked.
pub fn sum_of_products(pairs: impl IntoIterator<Item = (usize, usize)>) -> Bytes {
    pairs
        .into_iter()
        .fold(Bytes::of(0), |acc, (a, b)| acc.plus(Bytes::of(a).times(b)))
}

/// Physical memory of this machine in bytes, where the system says.
pub fn physical_memory() -> Option<u64> {
    #[cfg(unix)]
    {
        // SAFETY: sysconf reads a system constant; it has no preconditions.
        let (pages, page) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if pages > 0 && page > 0 {
            return (pages as u64).checked_mul(page as u64);
        }
    }
    None
}

/// Refuses a model of `kind` whose training needs `estimate` bytes when the
/// estimate overflowed or exceeds `limit` (the machine's memory, see
/// [`check`]); `what` says where the size comes from and `flag` which
/// setting to lower.
pub fn check_against(
    kind: &str,
    estimate: Bytes,
    limit: Option<u64>,
    what: &str,
    flag: &str,
) -> Result<()> {
    let too_large = |m: String| Err(Error::new(ErrorKind::TooLarge(m)));
    match (estimate.0, limit) {
        (None, _) => too_large(format!(
            "the {kind} model is too large to size ({what}: the byte count overflows); lower {flag}"
        )),
        (Some(bytes), Some(limit)) if bytes > limit => too_large(format!(
            "the {kind} model needs about {} ({bytes} bytes) to train ({what}), more than the \
             {} of memory this machine has; lower {flag}",
            human(bytes),
            human(limit)
        )),
        _ => Ok(()),
    }
}

/// [`check_against`] this machine's physical memory.
pub fn check(kind: &str, estimate: Bytes, what: &str, flag: &str) -> Result<()> {
    check_against(kind, estimate, physical_memory(), what, flag)
}

/// `1.5 GiB`-style text.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["bytes", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_arithmetic_overflows_to_none() {
        assert_eq!(Bytes::of(3).times(4).plus(Bytes::of(1)), Bytes(Some(13)));
        assert_eq!(Bytes::of(usize::MAX).times(usize::MAX), Bytes(None));
        assert_eq!(Bytes(None).plus(Bytes::of(1)), Bytes(None));
        assert_eq!(sum_of_products([(2, 3), (4, 5)]), Bytes(Some(26)));
        assert_eq!(sum_of_products([(usize::MAX, 2)]), Bytes(None));
    }

    #[test]
    fn refusals_name_the_estimate_and_the_flag() {
        let e =
            check_against("mf", Bytes(Some(3 << 30)), Some(1 << 30), "k", "--factors").unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("3.0 GiB") && text.contains("3221225472 bytes"),
            "{text}"
        );
        assert!(
            text.contains("1.0 GiB") && text.contains("--factors"),
            "{text}"
        );
        let e = check_against("mf", Bytes(None), Some(1 << 30), "k", "--factors").unwrap_err();
        assert!(e.to_string().contains("overflows"), "{e}");
        assert!(check_against("mf", Bytes(Some(1 << 29)), Some(1 << 30), "k", "--factors").is_ok());
        assert!(check_against("mf", Bytes(Some(u64::MAX)), None, "k", "--factors").is_ok());
    }

    #[test]
    fn autoencoder_estimate_matches_a_hand_count() {
        use crate::model::autoencoder::{AutoencoderConfig, OptimizerKind};
        // 3 columns, one hidden layer of 2, Adam, batch 4 of 10 rows:
        // weights 3×2 + 2×3 = 12, biases 2 + 3 = 5, so 17 parameters;
        // 4 copies (weight, gradient, two Adam moments) = 68 values; a batch
        // row holds 4 × 2 hidden values and 3 × 3 output values = 17, times
        // 4 rows = 68; (68 + 68) × 4 bytes = 544.
        let mut cfg = AutoencoderConfig {
            layers: vec![2],
            batch_size: 4,
            ..AutoencoderConfig::default()
        };
        assert_eq!(cfg.training_bytes(10, 3, 0), Bytes(Some(544)));
        // The batch never counts more rows than the data has.
        assert_eq!(cfg.training_bytes(2, 3, 0), Bytes(Some((68 + 34) * 4)));
        // Plain SGD keeps no moments, early stopping one copy of the best weights.
        cfg.optimizer = OptimizerKind::Sgd;
        cfg.patience = Some(3);
        assert_eq!(cfg.training_bytes(10, 3, 0), Bytes(Some((17 * 3 + 68) * 4)));
        cfg.layers = vec![usize::MAX / 2];
        assert_eq!(cfg.training_bytes(10, 3, 0), Bytes(None));
    }

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 bytes");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(3_772_000_000_000), "3.4 TiB");
    }
}
