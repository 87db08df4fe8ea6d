//! Durations and times as whole milliseconds, the unit the wire, the store and
//! the metrics use.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// `d` in whole milliseconds (saturating).
pub(crate) fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Milliseconds since the Unix epoch at `at` (0 before it).
pub(crate) fn epoch_millis(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map_or(0, millis)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_saturate_and_start_at_the_epoch() {
        assert_eq!(millis(Duration::from_micros(2_999)), 2);
        assert_eq!(millis(Duration::MAX), u64::MAX);
        assert_eq!(epoch_millis(UNIX_EPOCH + Duration::from_secs(3)), 3_000);
        assert_eq!(epoch_millis(UNIX_EPOCH - Duration::from_secs(3)), 0);
    }
}
