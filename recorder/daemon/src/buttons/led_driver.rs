//! The task that owns the LED. Several parts of the daemon want to say something with it
//! (recording, uploads, setup mode, errors, the SAVE gesture); they write what they want into a
//! shared request and wake the task, which shows the most important message. Requests are state,
//! not a queue: nothing can pile up, a burst of changes costs one wake-up, and a SAVE press is on
//! the LED as soon as the task runs, not at the next animation tick.
//!
//! SAVE feedback: at the press the LED flips from whatever it showed (off while recording, on
//! when dark), so the press is visible from every state; each full hold step then flashes it
//! back for `flash`. Every phase (the flip, each flash, the gap after it) lasts at least `flash`
//! from when it was actually written, so a task woken late under load still shows each flash
//! separately instead of merging two into one.

use super::led::{pattern_level, LedFlag, LedOutput, LedPattern, LedStatus};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch, Notify};
use tokio::task::JoinHandle;

/// Flashes waiting to be shown; more than the longest hold can ask for.
const MAX_PENDING_FLASHES: u32 = 128;
/// The longest a save-step flash lasts; shorter with short hold steps so flashes keep up.
const MAX_FLASH: Duration = Duration::from_millis(150);
/// How long the task sleeps when nothing is animating (it is woken for every request anyway).
const IDLE_WAKE: Duration = Duration::from_secs(3600);

/// How the save feedback is drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedTiming {
    /// One flash lasts this long, and so does the gap after it.
    pub flash: Duration,
}

impl LedTiming {
    /// Flashes that fit in one hold step (flash + gap take at most two thirds of it).
    pub fn for_hold_step(hold_step: Duration) -> Self {
        LedTiming {
            flash: MAX_FLASH.min(hold_step / 3),
        }
    }
}

/// What the rest of the daemon asked for.
#[derive(Debug, Default)]
struct Request {
    flags: [bool; LedFlag::ALL.len()],
    /// A SAVE gesture is in progress (the button is down or its save is being decided).
    save_active: bool,
    /// Bumped by every SAVE press, so a new press is seen even if the last one is not over.
    save_generation: u64,
    flashes_pending: u32,
}

#[derive(Debug, Default)]
struct Shared {
    request: Mutex<Request>,
    wake: Notify,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Request> {
        // The request is plain data, valid even if a holder panicked.
        self.request.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, change: impl FnOnce(&mut Request)) {
        change(&mut self.lock());
        self.wake.notify_one();
    }
}

/// The handle the daemon uses to tell the LED what is going on. Cheap to clone.
#[derive(Clone, Debug)]
pub struct LedControl {
    shared: Arc<Shared>,
    status: watch::Receiver<LedStatus>,
}

impl LedControl {
    /// Reports a state (recording, uploading, setup, error) on or off.
    /// Only a change wakes the driver, so callers may report a state on every tick.
    pub fn set_flag(&self, flag: LedFlag, on: bool) {
        let changed = {
            let mut request = self.shared.lock();
            let changed = request.flags[flag.index()] != on;
            request.flags[flag.index()] = on;
            changed
        };
        if changed {
            self.shared.wake.notify_one();
        }
    }

    /// SAVE went down: flip the LED now.
    pub fn save_begin(&self) {
        self.shared.update(|r| {
            r.save_active = true;
            r.save_generation = r.save_generation.wrapping_add(1);
            r.flashes_pending = 0;
        });
    }

    /// Flash `n` more times (one per hold step reached) within the current save feedback.
    pub fn blink_steps(&self, n: u32) {
        self.shared.update(|r| {
            r.flashes_pending = r.flashes_pending.saturating_add(n).min(MAX_PENDING_FLASHES);
        });
    }

    /// The save is decided: finish the flashes already asked for, then show the usual pattern.
    pub fn save_end(&self) {
        self.shared.update(|r| r.save_active = false);
    }

    /// The save was abandoned (it became a chord): drop the flashes not yet shown.
    pub fn save_cancel(&self) {
        self.shared.update(|r| {
            r.save_active = false;
            r.flashes_pending = 0;
        });
    }

    /// What the LED shows now.
    pub fn status(&self) -> LedStatus {
        *self.status.borrow()
    }

    /// Follows every change of pattern, level and counters.
    pub fn subscribe(&self) -> watch::Receiver<LedStatus> {
        self.status.clone()
    }
}

/// The running LED task.
#[derive(Debug)]
pub struct LedDriver {
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl LedDriver {
    /// Starts the LED task on the current tokio runtime; the LED starts off.
    pub fn spawn(output: Box<dyn LedOutput>, timing: LedTiming) -> (LedControl, LedDriver) {
        let (control, state) = Driver::new(output, timing);
        let (stop, stop_rx) = oneshot::channel();
        let task = tokio::spawn(state.run(stop_rx));
        let driver = LedDriver {
            stop: Some(stop),
            task,
        };
        (control, driver)
    }

    /// Turns the LED off and ends the task. Dropping the driver also stops it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A panic in the task has already been reported by tokio; nothing to add.
        let _ = (&mut self.task).await;
    }
}

/// The SAVE feedback in progress.
#[derive(Clone, Copy, Debug)]
struct Saving {
    /// The level held between flashes: the opposite of what showed at the press.
    hold_level: bool,
    phase: Option<Phase>,
}

/// A phase of the SAVE feedback that must be seen whole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Flashed (the level before the press) until then.
    Lit(Instant),
    /// The hold level, at least until then: after the flip, and after each flash.
    Gap(Instant),
}

struct Driver {
    output: Box<dyn LedOutput>,
    timing: LedTiming,
    shared: Arc<Shared>,
    status: watch::Sender<LedStatus>,
    level: bool,
    shown: LedPattern,
    shown_since: Instant,
    saving: Option<Saving>,
    seen_generation: u64,
    flashes: u64,
    saves: u64,
}

impl Driver {
    fn new(mut output: Box<dyn LedOutput>, timing: LedTiming) -> (LedControl, Driver) {
        output.set(false);
        let shared = Arc::new(Shared::default());
        let (status_tx, status) = watch::channel(LedStatus::default());
        let driver = Driver {
            output,
            timing,
            shared: shared.clone(),
            status: status_tx,
            level: false,
            shown: LedPattern::Off,
            shown_since: Instant::now(),
            saving: None,
            seen_generation: 0,
            flashes: 0,
            saves: 0,
        };
        (LedControl { shared, status }, driver)
    }

    async fn run(mut self, mut stop: oneshot::Receiver<()>) {
        loop {
            let next = self.step(Instant::now());
            let wake_at = next.unwrap_or_else(|| Instant::now() + IDLE_WAKE);
            tokio::select! {
                _ = &mut stop => break,
                _ = self.shared.wake.notified() => {}
                _ = tokio::time::sleep_until(wake_at.into()) => {}
            }
        }
        self.output.set(false);
        self.level = false;
        self.publish();
    }

    /// Brings the output up to date at `now`; returns when it next needs to change.
    fn step(&mut self, now: Instant) -> Option<Instant> {
        let (flags, save_wake) = self.update_saving(now);
        let pattern = if flags[LedFlag::Error.index()] {
            LedPattern::Error
        } else if self.saving.is_some() {
            LedPattern::Saving
        } else if flags[LedFlag::Copying.index()] {
            LedPattern::Copying
        } else if flags[LedFlag::Uploading.index()] {
            LedPattern::Uploading
        } else if flags[LedFlag::Setup.index()] {
            LedPattern::Setup
        } else if flags[LedFlag::Recording.index()] {
            LedPattern::Recording
        } else {
            LedPattern::Off
        };
        if pattern != self.shown {
            self.shown = pattern;
            self.shown_since = now;
        }
        let (level, pattern_wake) = match (pattern, self.saving) {
            (LedPattern::Saving, Some(saving)) => (saving_level(saving), None),
            _ => {
                let (level, left) = pattern_level(pattern, now.duration_since(self.shown_since));
                (level, left.and_then(|left| now.checked_add(left)))
            }
        };
        if level != self.level {
            self.output.set(level);
            self.level = level;
        }
        self.publish();
        [save_wake, pattern_wake].into_iter().flatten().min()
    }

    /// Starts, advances and ends the SAVE feedback; returns the flags and the next flash change.
    fn update_saving(&mut self, now: Instant) -> ([bool; LedFlag::ALL.len()], Option<Instant>) {
        let mut request = self.shared.lock();
        if request.save_generation != self.seen_generation {
            self.seen_generation = request.save_generation;
            self.saves += 1;
            self.saving = Some(Saving {
                hold_level: !self.level,
                // The flip itself is shown for a flash's length, even for the quickest press.
                phase: Some(Phase::Gap(now + self.timing.flash)),
            });
        }
        let Some(saving) = &mut self.saving else {
            return (request.flags, None);
        };
        let flash = self.timing.flash;
        // One transition per call: the phase it leaves has been written by an earlier call.
        saving.phase = match saving.phase {
            Some(Phase::Lit(end)) if now >= end => Some(Phase::Gap(now + flash)),
            Some(Phase::Gap(end)) if now >= end => None,
            phase => phase,
        };
        if saving.phase.is_none() && request.flashes_pending > 0 {
            request.flashes_pending -= 1;
            saving.phase = Some(Phase::Lit(now + flash));
            self.flashes += 1;
        }
        let wake = match saving.phase {
            Some(Phase::Lit(end) | Phase::Gap(end)) => Some(end),
            None => None,
        };
        if saving.phase.is_none() && !request.save_active {
            self.saving = None;
        }
        (request.flags, wake)
    }

    fn publish(&self) {
        let status = LedStatus {
            pattern: self.shown,
            on: self.level,
            flashes: self.flashes,
            saves: self.saves,
        };
        self.status.send_if_modified(|current| {
            let changed = *current != status;
            *current = status;
            changed
        });
    }
}

fn saving_level(saving: Saving) -> bool {
    match saving.phase {
        Some(Phase::Lit(_)) => !saving.hold_level,
        _ => saving.hold_level,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex as StdMutex;

    /// Records every write, to check the exact sequence the driver produces.
    #[derive(Clone, Default)]
    struct Writes(Arc<StdMutex<Vec<bool>>>);

    impl LedOutput for Writes {
        fn set(&mut self, on: bool) {
            self.0.lock().unwrap_or_else(|e| e.into_inner()).push(on);
        }
    }

    impl Writes {
        fn take(&self) -> Vec<bool> {
            std::mem::take(&mut *self.0.lock().unwrap_or_else(|e| e.into_inner()))
        }
    }

    const FLASH: Duration = Duration::from_millis(50);

    fn driver() -> (LedControl, Driver, Writes, Instant) {
        let writes = Writes::default();
        let (control, driver) = Driver::new(Box::new(writes.clone()), LedTiming { flash: FLASH });
        assert_eq!(writes.take(), [false], "starts off");
        (control, driver, writes, Instant::now())
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_save_press_flips_the_led_at_once_and_flashes_per_step() {
        let (control, mut d, writes, t0) = driver();
        control.set_flag(LedFlag::Recording, true);
        assert_eq!(d.step(t0), None);
        assert_eq!(writes.take(), [true]);
        assert_eq!(control.status().pattern, LedPattern::Recording);

        control.save_begin();
        assert_eq!(d.step(t0 + ms(1)), Some(t0 + ms(51)));
        assert_eq!(writes.take(), [false], "the press shows at once");
        assert_eq!(control.status().pattern, LedPattern::Saving);

        control.blink_steps(2);
        control.save_end();
        assert_eq!(
            d.step(t0 + ms(10)),
            Some(t0 + ms(51)),
            "the flip is seen whole"
        );
        assert_eq!(d.step(t0 + ms(51)), Some(t0 + ms(101)), "first flash");
        assert_eq!(d.step(t0 + ms(101)), Some(t0 + ms(151)));
        assert_eq!(d.step(t0 + ms(151)), Some(t0 + ms(201)), "second flash");
        assert_eq!(d.step(t0 + ms(201)), Some(t0 + ms(251)));
        assert_eq!(
            control.status().pattern,
            LedPattern::Saving,
            "the gap still shows"
        );
        assert_eq!(d.step(t0 + ms(251)), None);
        assert_eq!(writes.take(), [true, false, true, false, true]);
        let status = control.status();
        assert_eq!((status.pattern, status.on), (LedPattern::Recording, true));
        assert_eq!((status.flashes, status.saves), (2, 1));
    }

    #[test]
    fn from_a_dark_led_the_press_lights_it_for_at_least_a_flash() {
        let (control, mut d, writes, t0) = driver();
        d.step(t0);
        control.save_begin();
        d.step(t0 + ms(1));
        assert_eq!(writes.take(), [true]);
        control.save_cancel();
        d.step(t0 + ms(2));
        assert_eq!(control.status().pattern, LedPattern::Saving);
        d.step(t0 + ms(51));
        assert_eq!(writes.take(), [false]);
        assert_eq!(control.status().pattern, LedPattern::Off);
    }

    #[test]
    fn a_late_wake_up_still_shows_every_flash_separately() {
        let (control, mut d, writes, t0) = driver();
        control.set_flag(LedFlag::Recording, true);
        d.step(t0);
        control.save_begin();
        control.blink_steps(3);
        control.save_end();
        // Woken far too late every time: each call still moves one phase on.
        for n in 1..=20 {
            d.step(t0 + ms(1_000 * n));
        }
        assert_eq!(
            writes.take(),
            [true, false, true, false, true, false, true, false, true]
        );
        assert_eq!(control.status().flashes, 3);
    }

    #[test]
    fn error_outranks_saving_and_saving_outranks_the_rest() {
        let (control, mut d, _writes, t0) = driver();
        for flag in LedFlag::ALL {
            control.set_flag(flag, true);
        }
        d.step(t0);
        assert_eq!(control.status().pattern, LedPattern::Error);
        control.save_begin();
        d.step(t0);
        assert_eq!(control.status().pattern, LedPattern::Error);
        control.set_flag(LedFlag::Error, false);
        d.step(t0);
        assert_eq!(control.status().pattern, LedPattern::Saving);
        control.save_end();
        d.step(t0 + ms(100));
        assert_eq!(control.status().pattern, LedPattern::Copying);
        control.set_flag(LedFlag::Copying, false);
        d.step(t0 + ms(100));
        assert_eq!(control.status().pattern, LedPattern::Uploading);
        control.set_flag(LedFlag::Uploading, false);
        d.step(t0 + ms(100));
        assert_eq!(control.status().pattern, LedPattern::Setup);
        control.set_flag(LedFlag::Setup, false);
        d.step(t0 + ms(100));
        assert_eq!(control.status().pattern, LedPattern::Recording);
    }

    #[test]
    fn blinking_patterns_schedule_their_next_change() {
        let (control, mut d, writes, t0) = driver();
        control.set_flag(LedFlag::Error, true);
        assert_eq!(d.step(t0), Some(t0 + ms(100)));
        assert_eq!(d.step(t0 + ms(100)), Some(t0 + ms(200)));
        assert_eq!(writes.take(), [true, false]);
    }

    #[test]
    fn pending_flashes_are_bounded() {
        let (control, _d, _writes, _t0) = driver();
        control.save_begin();
        control.blink_steps(u32::MAX);
        control.blink_steps(5);
        assert_eq!(control.shared.lock().flashes_pending, MAX_PENDING_FLASHES);
    }

    #[test]
    fn flashes_fit_in_a_hold_step() {
        assert_eq!(
            LedTiming::for_hold_step(Duration::from_secs(3)).flash,
            MAX_FLASH
        );
        assert_eq!(LedTiming::for_hold_step(ms(200)).flash, ms(200) / 3);
    }
}
