//! Buttons and LED without hardware, for development machines, CI and the benchmark. The
//! simulated buttons are also how `moment-recorder press` and the web UI press a button on the
//! real camera: [`super::ButtonsTask::presser`] hands out one connected to the running task, so
//! a software press takes exactly the path of a physical one.

use super::input::{ButtonInput, EdgeSink, SendError};
use super::led::LedOutput;
use super::{Button, ButtonsError, Edge};
use std::collections::VecDeque;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The longest gesture a caller may ask for; longer than any meaningful hold (the SAVE cap is
/// 20 steps of 3 s by default), short enough that a typo cannot hold a button for hours.
pub const MAX_GESTURE: Duration = Duration::from_secs(600);
/// LED writes remembered by [`SimulatedLed`]; the oldest are forgotten first.
const LED_HISTORY: usize = 4096;

/// Why an injected press did not reach the buttons task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InjectError {
    /// The simulated buttons have not been started by a buttons task yet.
    NotStarted,
    /// The task is not keeping up and the edge was dropped.
    Full,
    /// The buttons task has stopped.
    Stopped,
    /// The hold asked for is longer than [`MAX_GESTURE`].
    HoldTooLong(Duration),
}

impl fmt::Display for InjectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InjectError::NotStarted => write!(f, "the buttons are not running yet"),
            InjectError::Full => write!(f, "the buttons task is not keeping up; press again"),
            InjectError::Stopped => write!(f, "the buttons task has stopped"),
            InjectError::HoldTooLong(hold) => write!(
                f,
                "a hold of {:.1} s is too long (at most {} s)",
                hold.as_secs_f64(),
                MAX_GESTURE.as_secs()
            ),
        }
    }
}

impl std::error::Error for InjectError {}

impl From<SendError> for InjectError {
    fn from(err: SendError) -> Self {
        match err {
            SendError::Full => InjectError::Full,
            SendError::Closed => InjectError::Stopped,
        }
    }
}

/// Software buttons. Clones share the connection: keep one to press with after handing another
/// to [`super::ButtonsTask::spawn`].
#[derive(Clone, Debug, Default)]
pub struct SimulatedButtons {
    sink: Arc<Mutex<Option<EdgeSink>>>,
}

impl SimulatedButtons {
    pub fn new() -> Self {
        Self::default()
    }

    pub(crate) fn connected(sink: EdgeSink) -> Self {
        SimulatedButtons {
            sink: Arc::new(Mutex::new(Some(sink))),
        }
    }

    fn sink(&self) -> MutexGuard<'_, Option<EdgeSink>> {
        self.sink.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, button: Button, pressed: bool) -> Result<Edge, InjectError> {
        let edge = Edge {
            button,
            pressed,
            at: Instant::now(),
        };
        let sink = self.sink();
        let sink = sink.as_ref().ok_or(InjectError::NotStarted)?;
        sink.send(edge)?;
        Ok(edge)
    }

    /// Puts `button` down now; returns the edge as sent (its `at` is the press time).
    pub fn press(&self, button: Button) -> Result<Edge, InjectError> {
        self.send(button, true)
    }

    /// Lets `button` go now.
    pub fn release(&self, button: Button) -> Result<Edge, InjectError> {
        self.send(button, false)
    }

    /// Presses `button`, holds it for `hold` (real time) and releases it; returns the press and
    /// release edges as sent. If the future is dropped early the button is released then, so a
    /// cancelled request cannot leave it down.
    pub async fn gesture(
        &self,
        button: Button,
        hold: Duration,
    ) -> Result<(Edge, Edge), InjectError> {
        let edges = self.hold(&[button], hold).await?;
        match edges[..] {
            [press, release] => Ok((press, release)),
            // hold() returns one press and one release per button.
            _ => Err(InjectError::Stopped),
        }
    }

    /// Holds both buttons together for `hold` (a network reset when long enough); returns the
    /// edges sent, presses first.
    pub async fn chord(&self, hold: Duration) -> Result<Vec<Edge>, InjectError> {
        self.hold(&[Button::Save, Button::Upload], hold).await
    }

    async fn hold(&self, buttons: &[Button], hold: Duration) -> Result<Vec<Edge>, InjectError> {
        if hold > MAX_GESTURE {
            return Err(InjectError::HoldTooLong(hold));
        }
        let mut edges = Vec::with_capacity(2 * buttons.len());
        let mut guard = ReleaseOnDrop {
            buttons: self,
            held: Vec::with_capacity(buttons.len()),
        };
        for &button in buttons {
            edges.push(self.press(button)?);
            guard.held.push(button);
        }
        tokio::time::sleep(hold).await;
        // Released in press order; one that fails stays in the guard, which tries again on drop.
        while let Some(&button) = guard.held.first() {
            edges.push(self.release(button)?);
            guard.held.remove(0);
        }
        Ok(edges)
    }
}

/// Releases what a gesture pressed if the gesture is abandoned.
struct ReleaseOnDrop<'a> {
    buttons: &'a SimulatedButtons,
    held: Vec<Button>,
}

impl Drop for ReleaseOnDrop<'_> {
    fn drop(&mut self) {
        for &button in &self.held {
            // Best effort: if the task is gone there is nothing left to release.
            let _ = self.buttons.release(button);
        }
    }
}

impl ButtonInput for SimulatedButtons {
    fn backend(&self) -> &'static str {
        "simulated"
    }

    fn start(&mut self, edges: EdgeSink) -> Result<(), ButtonsError> {
        *self.sink() = Some(edges);
        Ok(())
    }
}

/// One write to the simulated LED.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LedChange {
    pub at: Instant,
    pub on: bool,
}

#[derive(Debug, Default)]
struct History {
    changes: VecDeque<LedChange>,
    forgotten: u64,
}

/// An LED that remembers its writes with their times (the newest [`LED_HISTORY`]). Clones share
/// the history: give one to the LED task and keep one to look at.
#[derive(Clone, Debug, Default)]
pub struct SimulatedLed {
    history: Arc<Mutex<History>>,
}

impl SimulatedLed {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        self.history.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The level last written (off before any write).
    pub fn is_on(&self) -> bool {
        self.lock().changes.back().is_some_and(|c| c.on)
    }

    /// The remembered writes, oldest first.
    pub fn history(&self) -> Vec<LedChange> {
        self.lock().changes.iter().copied().collect()
    }

    /// The remembered writes at or after `since`.
    pub fn history_since(&self, since: Instant) -> Vec<LedChange> {
        let history = self.lock();
        history
            .changes
            .iter()
            .filter(|c| c.at >= since)
            .copied()
            .collect()
    }

    /// Writes dropped from the history because it was full.
    pub fn forgotten(&self) -> u64 {
        self.lock().forgotten
    }
}

impl LedOutput for SimulatedLed {
    fn set(&mut self, on: bool) {
        let at = Instant::now();
        let mut history = self.lock();
        if history.changes.len() >= LED_HISTORY {
            history.changes.pop_front();
            history.forgotten += 1;
        }
        history.changes.push_back(LedChange { at, on });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::buttons::edge_channel;

    #[test]
    fn presses_before_start_are_refused() {
        let buttons = SimulatedButtons::new();
        assert_eq!(buttons.press(Button::Save), Err(InjectError::NotStarted));
    }

    #[tokio::test]
    async fn a_gesture_sends_a_press_and_a_release_in_order() {
        let (sink, mut rx) = edge_channel(4);
        let mut buttons = SimulatedButtons::new();
        buttons.start(sink).expect("start");
        let presser = buttons.clone();
        presser
            .gesture(Button::Upload, Duration::from_millis(20))
            .await
            .expect("gesture");
        let press = rx.recv().await.expect("press");
        let release = rx.recv().await.expect("release");
        assert!(press.pressed && !release.pressed);
        assert_eq!(
            (press.button, release.button),
            (Button::Upload, Button::Upload)
        );
        assert!(release.at.duration_since(press.at) >= Duration::from_millis(20));
        let err = presser
            .gesture(Button::Save, MAX_GESTURE + Duration::from_secs(1))
            .await;
        assert!(matches!(err, Err(InjectError::HoldTooLong(_))));
    }

    #[tokio::test]
    async fn an_abandoned_gesture_releases_its_buttons() {
        let (sink, mut rx) = edge_channel(8);
        let buttons = SimulatedButtons::connected(sink);
        let chord = buttons.chord(Duration::from_secs(60));
        let timed_out = tokio::time::timeout(Duration::from_millis(20), chord).await;
        assert!(timed_out.is_err(), "still holding when abandoned");
        let mut edges = Vec::new();
        while let Some(edge) = rx.try_recv() {
            edges.push((edge.button, edge.pressed));
        }
        assert_eq!(
            edges,
            [
                (Button::Save, true),
                (Button::Upload, true),
                (Button::Save, false),
                (Button::Upload, false)
            ]
        );
    }

    #[test]
    fn the_led_history_is_bounded() {
        let mut led = SimulatedLed::new();
        for i in 0..LED_HISTORY + 10 {
            led.set(i % 2 == 0);
        }
        assert_eq!(led.history().len(), LED_HISTORY);
        assert_eq!(led.forgotten(), 10);
        assert!(!led.is_on());
    }
}
