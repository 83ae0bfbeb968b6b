//! What the one LED can say and how each message looks. The camera has no screen, so the LED
//! is the only way to tell recording from saving, uploading, setup and trouble; the patterns are
//! distinct in rhythm, not just speed, and the level at any moment is a pure function of the
//! pattern and the time since it started (tested without a clock).

use std::time::Duration;

/// Drives the physical (or simulated) LED. `set` is called only when the level changes and must
/// not block: it runs on the LED task and its latency is the press-to-LED latency.
pub trait LedOutput: Send + 'static {
    fn set(&mut self, on: bool);
}

impl LedOutput for Box<dyn LedOutput> {
    fn set(&mut self, on: bool) {
        (**self).set(on);
    }
}

/// The pattern on show, highest priority first: `Error > Saving > Copying > Uploading > Setup >
/// Recording > Off`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LedPattern {
    Off,
    /// Steady on.
    Recording,
    /// SAVE held: the LED flips at the press and flashes once per full hold step.
    Saving,
    /// Copying to a USB stick: quick even blink (do not pull the stick; steady again = safe).
    Copying,
    /// Slow blink.
    Uploading,
    /// Setup (AP) mode: double blink.
    Setup,
    /// Fast blink.
    Error,
}

impl LedPattern {
    pub fn name(self) -> &'static str {
        match self {
            LedPattern::Off => "off",
            LedPattern::Recording => "recording",
            LedPattern::Saving => "saving",
            LedPattern::Copying => "copying",
            LedPattern::Uploading => "uploading",
            LedPattern::Setup => "setup",
            LedPattern::Error => "error",
        }
    }
}

/// The states other parts of the daemon report; the LED shows the most important one.
/// (Saving is not a flag: the buttons task drives it from the SAVE gesture.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LedFlag {
    Recording,
    Uploading,
    Setup,
    Error,
    Copying,
}

impl LedFlag {
    pub const ALL: [LedFlag; 5] = [
        LedFlag::Recording,
        LedFlag::Uploading,
        LedFlag::Setup,
        LedFlag::Error,
        LedFlag::Copying,
    ];

    pub(crate) fn index(self) -> usize {
        match self {
            LedFlag::Recording => 0,
            LedFlag::Uploading => 1,
            LedFlag::Setup => 2,
            LedFlag::Error => 3,
            LedFlag::Copying => 4,
        }
    }
}

/// What the LED shows now, for the daemon's status and for tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedStatus {
    pub pattern: LedPattern,
    /// The level last written to the output.
    pub on: bool,
    /// Save-step flashes shown since start (one per hold step).
    pub flashes: u64,
    /// SAVE presses acknowledged since start.
    pub saves: u64,
}

impl Default for LedStatus {
    fn default() -> Self {
        LedStatus {
            pattern: LedPattern::Off,
            on: false,
            flashes: 0,
            saves: 0,
        }
    }
}

const fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

/// One cycle of each blinking pattern: (level, how long).
const UPLOADING: &[(bool, Duration)] = &[(true, ms(800)), (false, ms(800))];
const COPYING: &[(bool, Duration)] = &[(true, ms(250)), (false, ms(250))];
const SETUP: &[(bool, Duration)] = &[
    (true, ms(150)),
    (false, ms(150)),
    (true, ms(150)),
    (false, ms(1050)),
];
const ERROR: &[(bool, Duration)] = &[(true, ms(100)), (false, ms(100))];

/// The level of a steady or blinking pattern `elapsed` after it started, and how long until it
/// changes (`None` for a steady level). Saving is drawn by the driver, not here; it reads as
/// steady off if asked.
pub fn pattern_level(pattern: LedPattern, elapsed: Duration) -> (bool, Option<Duration>) {
    let cycle = match pattern {
        LedPattern::Off | LedPattern::Saving => return (false, None),
        LedPattern::Recording => return (true, None),
        LedPattern::Uploading => UPLOADING,
        LedPattern::Copying => COPYING,
        LedPattern::Setup => SETUP,
        LedPattern::Error => ERROR,
    };
    let period: u128 = cycle.iter().map(|(_, d)| d.as_nanos()).sum();
    let mut position = elapsed.as_nanos() % period;
    for &(level, length) in cycle {
        let length = length.as_nanos();
        if position < length {
            let left = u64::try_from(length - position).unwrap_or(u64::MAX);
            return (level, Some(Duration::from_nanos(left)));
        }
        position -= length;
    }
    // Unreachable: position < period; a steady level is the safe answer.
    (cycle[0].0, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steady_patterns_never_change() {
        assert_eq!(
            pattern_level(LedPattern::Recording, ms(123_456)),
            (true, None)
        );
        assert_eq!(pattern_level(LedPattern::Off, ms(5)), (false, None));
    }

    #[test]
    fn blinking_patterns_cycle() {
        assert_eq!(
            pattern_level(LedPattern::Error, ms(0)),
            (true, Some(ms(100)))
        );
        assert_eq!(
            pattern_level(LedPattern::Error, ms(130)),
            (false, Some(ms(70)))
        );
        assert_eq!(
            pattern_level(LedPattern::Error, ms(200)),
            (true, Some(ms(100)))
        );
        assert_eq!(
            pattern_level(LedPattern::Uploading, ms(1_000)),
            (false, Some(ms(600)))
        );
        // Double blink: on, off, on, long off, and again.
        let setup: Vec<bool> = [0, 160, 310, 460, 1_400, 1_500]
            .iter()
            .map(|&t| pattern_level(LedPattern::Setup, ms(t)).0)
            .collect();
        assert_eq!(setup, [true, false, true, false, false, true]);
    }

    #[test]
    fn patterns_differ_in_rhythm() {
        // Count the "on" phases in 1.5 s: each blinking pattern gives a different number.
        let ons = |p| {
            (0..1_500)
                .filter(|t| {
                    pattern_level(p, ms(*t)).0 && (*t == 0 || !pattern_level(p, ms(t - 1)).0)
                })
                .count()
        };
        assert_eq!(ons(LedPattern::Uploading), 1);
        assert_eq!(ons(LedPattern::Setup), 2);
        assert_eq!(ons(LedPattern::Copying), 3);
        assert_eq!(ons(LedPattern::Error), 8);
    }
}
