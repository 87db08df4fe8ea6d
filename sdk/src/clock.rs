//! Durations and times as whole milliseconds, the unit the wire, the store and
//! the metrics use.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The time sleeps, deadlines and schedules are measured against: the system
/// clock, plus whatever a test skipped on the embedded backend
/// ([`crate::Vow::skip_time`]). Clones share what was skipped.
#[derive(Clone, Debug, Default)]
pub(crate) struct Clock {
    skipped_ms: Arc<AtomicU64>,
}

impl Clock {
    /// Now, as timers see it.
    pub(crate) fn now(&self) -> SystemTime {
        let skipped = Duration::from_millis(self.skipped_ms.load(Ordering::Relaxed));
        let now = SystemTime::now();
        now.checked_add(skipped).unwrap_or(now)
    }

    /// Move this clock `by` forward.
    pub(crate) fn skip(&self, by: Duration) {
        let by = millis(by);
        let _ = self
            .skipped_ms
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |ms| {
                Some(ms.saturating_add(by))
            });
    }
}

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
