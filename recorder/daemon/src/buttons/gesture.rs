//! Turns button edges into what the person meant (a SAVE of some length, an UPLOAD, a network
//! reset). Pure: it is given edges and "now" and never reads a clock or sleeps, so every timing
//! rule is tested with synthetic instants, and the task around it only has to sleep until
//! [`Recogniser::next_deadline`].
//!
//! Rules (DESIGN.md section 5):
//! - SAVE pressed at T saves `[T - save_step * (1 + n), T]`, n = full hold steps held (capped).
//! - UPLOAD fires on release, so that a two-button chord never uploads.
//! - Both held for `reset_hold`: NetworkReset; neither SAVE nor UPLOAD fires for that chord.
//! - A release counts only once the button has stayed up for `debounce`: a bounce that re-presses
//!   sooner continues the same hold instead of starting a second gesture.
//! - A button that fired at its cap (stuck) or ended a chord is ignored until it has been up for
//!   `debounce`, so its eventual release starts nothing.
//! - New timings ([`Recogniser::reconfigure`], from the settings page) apply from the next press
//!   on; a gesture in progress finishes with the timings it started with.

use super::config::MAX_SAVE_STEPS_LIMIT;
use super::{Button, ButtonEvent, Edge};
use std::time::{Duration, Instant};

/// Deadlines handled in one `advance`: every hold step can fire at most once, plus the few
/// gesture endings. Bounds the loop even if the clock jumps far ahead.
const MAX_FIRINGS: u32 = MAX_SAVE_STEPS_LIMIT + 8;

/// The checked gesture timings (from [`super::ButtonsConfig::validate`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GestureConfig {
    pub save_step: Duration,
    pub hold_step: Duration,
    pub reset_hold: Duration,
    pub debounce: Duration,
    pub max_save_steps: u32,
}

impl GestureConfig {
    /// The clip length for a SAVE held `steps` full hold steps.
    pub fn window(&self, steps: u32) -> Duration {
        self.save_step.saturating_mul(steps.saturating_add(1))
    }

    /// UPLOAD has no steps; it is treated as stuck after as long as the longest SAVE hold.
    fn stuck_after(&self) -> Duration {
        self.hold_step.saturating_mul(self.max_save_steps)
    }
}

/// One button held alone (SAVE or UPLOAD).
#[derive(Clone, Copy, Debug)]
struct Hold {
    pressed_at: Instant,
    /// Full hold steps already announced (SAVE only).
    steps: u32,
    /// Up since then; the gesture ends if it stays up for `debounce`.
    released_at: Option<Instant>,
}

/// Both buttons down.
#[derive(Clone, Copy, Debug)]
struct Chord {
    since: Instant,
    /// One went up then; the chord is abandoned if it stays up for `debounce`.
    released_at: Option<Instant>,
}

#[derive(Clone, Copy, Debug)]
enum Mode {
    Idle,
    Save(Hold),
    Upload(Hold),
    Chord(Chord),
}

/// A button whose gesture is over while it may still be down: ignored until up for `debounce`.
#[derive(Clone, Copy, Debug)]
struct Settle {
    released_at: Option<Instant>,
}

/// Which deadline is due.
#[derive(Clone, Copy, Debug)]
enum Due {
    Mode,
    Settle(usize),
}

/// The gesture state machine. Feed it every edge ([`Recogniser::on_edge`]) and call
/// [`Recogniser::advance`] at [`Recogniser::next_deadline`]; both append events to `out`.
#[derive(Debug)]
pub struct Recogniser {
    config: GestureConfig,
    mode: Mode,
    down: [bool; 2],
    last_release: [Option<Instant>; 2],
    settle: [Option<Settle>; 2],
    /// Timings waiting for the current gesture to end.
    next_config: Option<GestureConfig>,
}

impl Recogniser {
    pub fn new(config: GestureConfig) -> Self {
        Recogniser {
            config,
            mode: Mode::Idle,
            down: [false; 2],
            last_release: [None; 2],
            settle: [None; 2],
            next_config: None,
        }
    }

    /// Takes new timings: at once when no gesture is in progress, otherwise at the next press
    /// that starts one, so a hold never changes its step length half-way.
    pub fn reconfigure(&mut self, config: GestureConfig) {
        if matches!(self.mode, Mode::Idle) {
            self.config = config;
            self.next_config = None;
        } else {
            self.next_config = Some(config);
        }
    }

    pub fn config(&self) -> &GestureConfig {
        &self.config
    }

    /// Whether the recogniser believes `button` is down (after ignoring duplicate edges).
    pub fn is_down(&self, button: Button) -> bool {
        self.down[button.index()]
    }

    /// When [`Recogniser::advance`] next has something to do; `None` when nothing is pending.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.next_due().map(|(at, _)| at)
    }

    /// Fires every deadline at or before `now`, in time order.
    pub fn advance(&mut self, now: Instant, out: &mut Vec<ButtonEvent>) {
        for _ in 0..MAX_FIRINGS {
            match self.next_due() {
                Some((at, due)) if at <= now => self.fire(at, due, out),
                _ => return,
            }
        }
    }

    /// Applies one edge, after firing what was due before it happened.
    pub fn on_edge(&mut self, edge: Edge, out: &mut Vec<ButtonEvent>) {
        self.advance(edge.at, out);
        let i = edge.button.index();
        if edge.pressed == self.down[i] {
            // A repeated press (missed release) keeps the first press time; a release without a
            // press (held since before start, or a lost press) starts nothing.
            return;
        }
        self.down[i] = edge.pressed;
        if !edge.pressed {
            self.last_release[i] = Some(edge.at);
        }
        if let Some(settle) = &mut self.settle[i] {
            settle.released_at = (!edge.pressed).then_some(edge.at);
            return;
        }
        if edge.pressed {
            self.on_press(edge.button, edge.at, out);
        } else {
            self.on_release(edge.button, edge.at);
        }
    }

    fn on_press(&mut self, button: Button, at: Instant, out: &mut Vec<ButtonEvent>) {
        if matches!(self.mode, Mode::Idle) {
            if let Some(config) = self.next_config.take() {
                self.config = config;
            }
        }
        let hold = Hold {
            pressed_at: at,
            steps: 0,
            released_at: None,
        };
        match (&mut self.mode, button) {
            (Mode::Idle, Button::Save) => {
                self.mode = Mode::Save(hold);
                out.push(ButtonEvent::SaveStarted { pressed_at: at });
            }
            (Mode::Idle, Button::Upload) => self.mode = Mode::Upload(hold),
            // The same button again within the debounce time: a bounce, the hold goes on.
            (Mode::Save(held), Button::Save) | (Mode::Upload(held), Button::Upload) => {
                held.released_at = None;
            }
            (Mode::Save(held), Button::Upload) | (Mode::Upload(held), Button::Save) => {
                if held.released_at.is_some() {
                    // The first button was already let go: finish its gesture, then start anew.
                    self.fire(at, Due::Mode, out);
                    self.on_press(button, at, out);
                } else {
                    if matches!(self.mode, Mode::Save(_)) {
                        out.push(ButtonEvent::SaveCancelled);
                    }
                    self.mode = Mode::Chord(Chord {
                        since: at,
                        released_at: None,
                    });
                }
            }
            (Mode::Chord(chord), _) => chord.released_at = None,
        }
    }

    fn on_release(&mut self, button: Button, at: Instant) {
        match (&mut self.mode, button) {
            (Mode::Save(held), Button::Save) | (Mode::Upload(held), Button::Upload) => {
                held.released_at = Some(at);
            }
            (Mode::Chord(chord), _) => {
                chord.released_at.get_or_insert(at);
            }
            // The other button cannot be down unsettled outside a chord; nothing to do.
            _ => {}
        }
    }

    fn next_due(&self) -> Option<(Instant, Due)> {
        let mode = self.mode_deadline().map(|at| (at, Due::Mode));
        let settles = (0..2).filter_map(|i| {
            let released = self.settle[i]?.released_at?;
            Some((released.checked_add(self.config.debounce)?, Due::Settle(i)))
        });
        mode.into_iter().chain(settles).min_by_key(|(at, _)| *at)
    }

    fn mode_deadline(&self) -> Option<Instant> {
        let c = &self.config;
        match self.mode {
            Mode::Idle => None,
            Mode::Save(Hold {
                released_at: Some(r),
                ..
            })
            | Mode::Upload(Hold {
                released_at: Some(r),
                ..
            })
            | Mode::Chord(Chord {
                released_at: Some(r),
                ..
            }) => r.checked_add(c.debounce),
            Mode::Save(held) => held
                .pressed_at
                .checked_add(c.hold_step.saturating_mul(held.steps.saturating_add(1))),
            Mode::Upload(held) => held.pressed_at.checked_add(c.stuck_after()),
            Mode::Chord(chord) => chord.since.checked_add(c.reset_hold),
        }
    }

    fn fire(&mut self, at: Instant, due: Due, out: &mut Vec<ButtonEvent>) {
        let mode = match due {
            Due::Settle(i) => {
                self.settle[i] = None;
                return;
            }
            Due::Mode => self.mode,
        };
        match mode {
            Mode::Idle => {}
            Mode::Save(mut held) => match held.released_at {
                Some(_) => self.finish_save(held, out),
                None => {
                    held.steps += 1;
                    out.push(ButtonEvent::SaveStep { steps: held.steps });
                    if held.steps >= self.config.max_save_steps {
                        // Stuck, or a very long hold: save the longest window now.
                        self.finish_save(held, out);
                        self.settle[Button::Save.index()] = Some(Settle { released_at: None });
                    } else {
                        self.mode = Mode::Save(held);
                    }
                }
            },
            Mode::Upload(held) => {
                out.push(ButtonEvent::Upload {
                    pressed_at: held.pressed_at,
                });
                self.mode = Mode::Idle;
                if held.released_at.is_none() {
                    self.settle[Button::Upload.index()] = Some(Settle { released_at: None });
                }
            }
            Mode::Chord(chord) => {
                if chord.released_at.is_none() {
                    out.push(ButtonEvent::NetworkReset);
                }
                // Reset or abandoned: either way the chord's buttons start nothing more.
                self.mode = Mode::Idle;
                for button in [Button::Save, Button::Upload] {
                    self.settle_chord_button(button, at);
                }
            }
        }
    }

    fn finish_save(&mut self, held: Hold, out: &mut Vec<ButtonEvent>) {
        out.push(ButtonEvent::Save {
            pressed_at: held.pressed_at,
            steps: held.steps,
            window: self.config.window(held.steps),
        });
        self.mode = Mode::Idle;
    }

    /// After a chord: a button still down waits for its release; one already up waits out the
    /// rest of its debounce from when it went up.
    fn settle_chord_button(&mut self, button: Button, now: Instant) {
        let i = button.index();
        let released_at = if self.down[i] {
            None
        } else {
            match self.last_release[i] {
                Some(r)
                    if r.checked_add(self.config.debounce)
                        .is_some_and(|end| end > now) =>
                {
                    Some(r)
                }
                _ => return,
            }
        };
        self.settle[i] = Some(Settle { released_at });
    }
}

#[cfg(test)]
#[path = "gesture_tests.rs"]
mod tests;
