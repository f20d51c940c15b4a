//! The mocks' notion of "now". One shared clock so a test (or fault) can skew the
//! services' time against the client's, which is how clock-skew signing failures are
//! produced without touching the machine's clock.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now(&self) -> SystemTime {
        let off = self.offset_ms.load(Ordering::Relaxed);
        let base = SystemTime::now();
        if off >= 0 {
            base + Duration::from_millis(off as u64)
        } else {
            base - Duration::from_millis(off.unsigned_abs())
        }
    }

    pub fn now_ms(&self) -> i64 {
        self.now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0)
    }

    /// Shifts the mock's clock by `offset_ms` relative to the machine's.
    pub fn set_offset_ms(&self, offset_ms: i64) {
        self.offset_ms.store(offset_ms, Ordering::Relaxed);
    }
}
