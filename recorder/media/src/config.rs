//! The segmenter's settings and their limits, checked once at start so a bad configuration gives
//! a message saying what to change instead of odd segments later.

use std::fmt;
use std::time::Duration;

/// Shortest allowed target segment length.
pub const MIN_TARGET: Duration = Duration::from_secs(2);
/// Longest allowed target segment length.
pub const MAX_TARGET: Duration = Duration::from_secs(10);
/// Longest allowed hard maximum.
pub const MAX_HARD_MAX: Duration = Duration::from_secs(60);
/// Smallest allowed segment size limit.
pub const MIN_SEGMENT_BYTES: u64 = 256 << 10;
/// Largest allowed segment size limit (the ring's own limit).
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

/// How segments are cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmenterConfig {
    /// Cut before the first IDR at or after this length (2 to 10 s).
    pub target: Duration,
    /// Cut here even without an IDR, and flag the segment `FORCED_CUT` (above `target`, at most 60 s).
    pub hard_max: Duration,
    /// Cut (flagged `FORCED_CUT`) before a segment's payload would grow beyond this many bytes.
    pub max_segment_bytes: u64,
}

impl Default for SegmenterConfig {
    fn default() -> Self {
        SegmenterConfig::with_target(Duration::from_secs(5))
    }
}

impl SegmenterConfig {
    /// `target`, a hard maximum of twice the target and the default 48 MiB size limit.
    pub fn with_target(target: Duration) -> Self {
        SegmenterConfig {
            target,
            hard_max: target * 2,
            max_segment_bytes: 48 << 20,
        }
    }

    /// The same settings with the size limit lowered to what one segment of the ring can carry
    /// (`max_payload`): a segment cut at the default 48 MiB would not fit a small ring's slot,
    /// and the writer would refuse it. A ring whose segments are smaller than
    /// `MIN_SEGMENT_BYTES` then fails `validate` with a message instead.
    pub fn fitting(self, max_payload: u64) -> Self {
        SegmenterConfig {
            max_segment_bytes: self.max_segment_bytes.min(max_payload),
            ..self
        }
    }

    /// Checks the limits above.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.target < MIN_TARGET || self.target > MAX_TARGET {
            return Err(ConfigError::Target(self.target));
        }
        if self.hard_max <= self.target || self.hard_max > MAX_HARD_MAX {
            return Err(ConfigError::HardMax {
                hard_max: self.hard_max,
                target: self.target,
            });
        }
        if !(MIN_SEGMENT_BYTES..=MAX_SEGMENT_BYTES).contains(&self.max_segment_bytes) {
            return Err(ConfigError::MaxSegmentBytes(self.max_segment_bytes));
        }
        Ok(())
    }
}

/// A setting outside its limits.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigError {
    Target(Duration),
    HardMax {
        hard_max: Duration,
        target: Duration,
    },
    MaxSegmentBytes(u64),
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Target(t) => write!(
                f,
                "segment target length {t:?} is out of range: choose between {MIN_TARGET:?} and \
                 {MAX_TARGET:?}"
            ),
            ConfigError::HardMax { hard_max, target } => write!(
                f,
                "segment hard maximum {hard_max:?} must be longer than the target {target:?} and \
                 at most {MAX_HARD_MAX:?} (leave it unset for twice the target)"
            ),
            ConfigError::MaxSegmentBytes(n) => write!(
                f,
                "maximum segment size {n} bytes is out of range: choose between \
                 {MIN_SEGMENT_BYTES} and {MAX_SEGMENT_BYTES}"
            ),
        }
    }
}

impl std::error::Error for ConfigError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert_eq!(SegmenterConfig::default().validate(), Ok(()));
        let s = Duration::from_secs;
        for target in [s(2), s(10)] {
            assert_eq!(SegmenterConfig::with_target(target).validate(), Ok(()));
        }
        let err = SegmenterConfig::with_target(Duration::from_millis(1999)).validate();
        assert!(err
            .unwrap_err()
            .to_string()
            .contains("choose between 2s and 10s"));
        assert!(SegmenterConfig::with_target(s(11)).validate().is_err());
        let mut c = SegmenterConfig::default();
        c.hard_max = c.target;
        assert!(matches!(c.validate(), Err(ConfigError::HardMax { .. })));
        c.hard_max = s(61);
        assert!(c.validate().is_err());
        c = SegmenterConfig {
            max_segment_bytes: 1000,
            ..SegmenterConfig::default()
        };
        assert_eq!(c.validate(), Err(ConfigError::MaxSegmentBytes(1000)));
    }

    /// The size limit follows a ring's slot at the boundary, on either side of 48 MiB, and a slot
    /// too small for any segment is refused.
    #[test]
    fn the_size_limit_fits_the_ring() {
        let default = SegmenterConfig::default();
        let limit = default.max_segment_bytes;
        assert_eq!(limit, 48 << 20);
        for (payload, expected) in [
            (limit - 1, limit - 1),
            (limit, limit),
            (limit + 1, limit),
            (u64::MAX, limit),
            (MIN_SEGMENT_BYTES, MIN_SEGMENT_BYTES),
        ] {
            let fitted = default.fitting(payload);
            assert_eq!(fitted.max_segment_bytes, expected, "payload {payload}");
            assert_eq!(fitted.validate(), Ok(()));
        }
        assert_eq!(
            default.fitting(MIN_SEGMENT_BYTES - 1).validate(),
            Err(ConfigError::MaxSegmentBytes(MIN_SEGMENT_BYTES - 1))
        );
    }
}
