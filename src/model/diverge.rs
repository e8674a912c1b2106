//! Catching a training run whose loss exploded while staying finite.
//!
//! A NaN or infinite loss is caught where it appears; this catches the
//! other failure of a too-large learning rate: weights that grow without
//! bound while every number stays finite (an autoencoder at `lr = 1e10`
//! reaches a training RMSE of 1e12 and predicts the top of the scale for
//! everything). Predicting the mean rating already gives a training RMSE
//! below the spread of the ratings (max − min), so an epoch whose training
//! RMSE is [`EXPLODED_SPREADS`] times that spread has learnt nothing and is
//! going the wrong way: the fit stops with [`ErrorKind::Diverged`].

use crate::error::{Error, ErrorKind, Result};

/// How many spreads of the training ratings a training RMSE may reach
/// before the run counts as diverged. Generous: a sound run is below one
/// spread from its first epoch, and a diverging one passes 10 within an
/// epoch or two (the growth is geometric).
pub const EXPLODED_SPREADS: f64 = 10.0;

/// The spread (max − min) of training ratings `(min, max)`, at least 1 so
/// that a set of equal ratings still has a scale to compare against.
pub fn spread((min, max): (f32, f32)) -> f64 {
    (max as f64 - min as f64).max(1.0)
}

/// Fails when epoch `epoch`'s training RMSE is not finite or exceeds
/// [`EXPLODED_SPREADS`] × `spread`; the message names the epoch and the
/// learning rate to lower.
pub fn check_epoch(epoch: usize, train_rmse: f64, spread: f64, lr: f64) -> Result<()> {
    let limit = EXPLODED_SPREADS * spread;
    if train_rmse.is_finite() && train_rmse <= limit {
        return Ok(());
    }
    let what = if train_rmse.is_finite() {
        format!(
            "the training RMSE is {train_rmse:.3e}, above {limit} ({EXPLODED_SPREADS} × the \
             spread of the training ratings)"
        )
    } else {
        format!("the training RMSE became {train_rmse}")
    };
    Err(Error::new(ErrorKind::Diverged(format!(
        "epoch {epoch}: {what}: the loss exploded at learning rate {lr}; \
         lower the learning rate (--lr)"
    ))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exploding_and_non_finite_epochs_fail_sound_ones_pass() {
        let s = spread((1.0, 5.0));
        assert_eq!(s, 4.0);
        assert!(check_epoch(1, 3.9, s, 0.01).is_ok());
        assert!(check_epoch(1, 40.0, s, 0.01).is_ok());
        let e = check_epoch(3, 1e12, s, 1e10).unwrap_err();
        let text = e.to_string();
        assert!(text.starts_with("training diverged: epoch 3:"), "{text}");
        assert!(
            text.contains("--lr") && text.contains("10000000000"),
            "{text}"
        );
        assert!(check_epoch(2, f64::NAN, s, 0.1).is_err());
        assert_eq!(spread((3.0, 3.0)), 1.0);
    }
}
