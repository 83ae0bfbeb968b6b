//! The buttons task: edges in, gestures out, LED feedback on the way. It owns the recogniser and
//! sleeps until the next edge or the recogniser's next deadline, so hold steps are announced (and
//! flashed) while the button is still down. The LED is told about a SAVE press before the event
//! goes to the daemon, so a slow daemon never delays the feedback. New gesture timings (the
//! settings page) reach it through a `watch` channel: one value, never a queue, never a wait.

use super::config::{Backend, ButtonsConfig};
use super::gesture::{GestureConfig, Recogniser};
use super::gpio::open_gpio;
use super::input::{edge_channel, ButtonInput, EdgeCounts, EdgeCountsHandle, EdgeReceiver};
use super::led::LedOutput;
use super::led_driver::{LedControl, LedDriver, LedTiming};
use super::simulated::{SimulatedButtons, SimulatedLed};
use super::{ButtonEvent, ButtonsError, EDGE_QUEUE};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// Gestures waiting for the daemon; a person makes one every few seconds at most.
pub const EVENT_QUEUE: usize = 64;
/// How long the task sleeps when no gesture is in progress (edges wake it anyway).
const IDLE_WAKE: Duration = Duration::from_secs(3600);

/// Counters for the daemon's status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ButtonsStats {
    pub edges: EdgeCounts,
    /// Events handed to the daemon, and events dropped because it did not read them.
    pub events: u64,
    pub events_dropped: u64,
    pub network_resets: u64,
}

#[derive(Debug, Default)]
struct Counters {
    events: AtomicU64,
    events_dropped: AtomicU64,
    network_resets: AtomicU64,
}

/// The running buttons: the task, its LED task and the input that feeds them. Dropping it
/// stops both tasks and releases the pins.
pub struct ButtonsTask {
    backend: &'static str,
    presser: SimulatedButtons,
    led: LedControl,
    led_driver: Option<LedDriver>,
    edges: EdgeCountsHandle,
    counters: Arc<Counters>,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    gestures: watch::Sender<GestureConfig>,
    /// Kept alive: dropping the GPIO input ends its interrupts.
    _input: Box<dyn ButtonInput>,
}

/// The buttons and LED of one backend, ready for [`ButtonsTask::spawn`].
pub struct ButtonsIo {
    pub input: Box<dyn ButtonInput>,
    pub led: Box<dyn LedOutput>,
}

/// Opens the configured backend: the Pi's GPIO, or simulated buttons and LED.
pub fn open_backend(config: &ButtonsConfig) -> Result<ButtonsIo, ButtonsError> {
    config.validate()?;
    Ok(match config.backend {
        Backend::Gpio => {
            let (buttons, led) = open_gpio(config)?;
            ButtonsIo {
                input: Box::new(buttons),
                led: Box::new(led),
            }
        }
        Backend::Simulated => ButtonsIo {
            input: Box::new(SimulatedButtons::new()),
            led: Box::new(SimulatedLed::new()),
        },
    })
}

impl ButtonsTask {
    /// Opens the configured backend and starts; see [`ButtonsTask::spawn`].
    pub fn start(
        config: &ButtonsConfig,
    ) -> Result<(ButtonsTask, mpsc::Receiver<ButtonEvent>), ButtonsError> {
        let io = open_backend(config)?;
        Self::spawn(config, io.input, io.led)
    }

    /// Starts the LED task and the buttons task on the current tokio runtime and starts `input`.
    /// Returns the handle and the gestures for the daemon (bounded; unread events are dropped
    /// and counted rather than stalling the LED feedback).
    pub fn spawn(
        config: &ButtonsConfig,
        mut input: Box<dyn ButtonInput>,
        led: Box<dyn LedOutput>,
    ) -> Result<(ButtonsTask, mpsc::Receiver<ButtonEvent>), ButtonsError> {
        let gestures = config.validate()?;
        let (sink, edges) = edge_channel(EDGE_QUEUE);
        let presser = SimulatedButtons::connected(sink.clone());
        input.start(sink)?;
        let (led, led_driver) = LedDriver::spawn(led, LedTiming::for_hold_step(gestures.hold_step));
        let (events_tx, events_rx) = mpsc::channel(EVENT_QUEUE);
        let counters = Arc::new(Counters::default());
        let (stop, stop_rx) = oneshot::channel();
        let edge_counts = edges.counter_handle();
        let (gestures_tx, gestures_rx) = watch::channel(gestures);
        let run = Run {
            recogniser: Recogniser::new(gestures),
            led: led.clone(),
            events: events_tx,
            counters: counters.clone(),
        };
        let task = tokio::spawn(run.run(edges, stop_rx, gestures_rx));
        tracing::info!(backend = input.backend(), "buttons started");
        let handle = ButtonsTask {
            backend: input.backend(),
            presser,
            led,
            led_driver: Some(led_driver),
            edges: edge_counts,
            counters,
            stop: Some(stop),
            task,
            gestures: gestures_tx,
            _input: input,
        };
        Ok((handle, events_rx))
    }

    /// "gpio" or "simulated".
    pub fn backend(&self) -> &'static str {
        self.backend
    }

    /// Software buttons connected to this task, whatever the backend: what `moment-recorder
    /// press` and the web UI use, so their presses take the physical buttons' path.
    pub fn presser(&self) -> SimulatedButtons {
        self.presser.clone()
    }

    /// The LED: for other parts to report recording, uploads, setup mode and errors, and for
    /// status to read the pattern on show.
    pub fn led(&self) -> LedControl {
        self.led.clone()
    }

    /// New gesture timings (save step, hold step, ...), checked by `ButtonsConfig::validate`.
    /// They apply from the next press on; a gesture in progress keeps its own. The LED's flash
    /// length stays as started: it is at most a third of the hold step it was made for, and
    /// settings only make steps of 1 s or more, so it still fits.
    pub fn set_gestures(&self, gestures: GestureConfig) {
        self.gestures.send_replace(gestures);
    }

    pub fn stats(&self) -> ButtonsStats {
        ButtonsStats {
            edges: self.edges.get(),
            events: self.counters.events.load(Ordering::Relaxed),
            events_dropped: self.counters.events_dropped.load(Ordering::Relaxed),
            network_resets: self.counters.network_resets.load(Ordering::Relaxed),
        }
    }

    /// Stops the buttons task, then the LED task (which turns the LED off).
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        // A panic in the task has already been reported by tokio; nothing to add.
        let _ = (&mut self.task).await;
        if let Some(driver) = self.led_driver.take() {
            driver.stop().await;
        }
    }
}

impl Drop for ButtonsTask {
    fn drop(&mut self) {
        // `stop` may have run already; otherwise this ends the task without waiting for it.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Run {
    recogniser: Recogniser,
    led: LedControl,
    events: mpsc::Sender<ButtonEvent>,
    counters: Arc<Counters>,
}

impl Run {
    async fn run(
        mut self,
        mut edges: EdgeReceiver,
        mut stop: oneshot::Receiver<()>,
        mut gestures: watch::Receiver<GestureConfig>,
    ) {
        let mut out = Vec::new();
        loop {
            let deadline = self.recogniser.next_deadline();
            let wake_at = deadline.unwrap_or_else(|| Instant::now() + IDLE_WAKE);
            tokio::select! {
                // Edges first: a press must reach the LED before a timer tick is handled.
                biased;
                _ = &mut stop => break,
                // Never ready again once the sender is gone (the task is stopping then).
                Ok(()) = gestures.changed() => {
                    let config = *gestures.borrow_and_update();
                    self.recogniser.reconfigure(config);
                    continue;
                }
                edge = edges.recv() => match edge {
                    Some(edge) => self.recogniser.on_edge(edge, &mut out),
                    None => break,
                },
                _ = tokio::time::sleep_until(wake_at.into()) => {
                    self.recogniser.advance(Instant::now(), &mut out);
                }
            }
            for event in out.drain(..) {
                self.handle(event);
            }
        }
    }

    fn handle(&self, event: ButtonEvent) {
        match event {
            ButtonEvent::SaveStarted { .. } => self.led.save_begin(),
            ButtonEvent::SaveStep { .. } => self.led.blink_steps(1),
            ButtonEvent::Save { steps, window, .. } => {
                self.led.save_end();
                tracing::info!(steps, window_s = window.as_secs(), "SAVE");
            }
            ButtonEvent::SaveCancelled => {
                self.led.save_cancel();
                tracing::info!("SAVE became a two-button hold; nothing saved for it");
            }
            ButtonEvent::Upload { .. } => tracing::info!("UPLOAD"),
            ButtonEvent::NetworkReset => {
                self.counters.network_resets.fetch_add(1, Ordering::Relaxed);
                tracing::warn!("both buttons held: network reset requested");
            }
        }
        match self.events.try_send(event) {
            Ok(()) => {
                self.counters.events.fetch_add(1, Ordering::Relaxed);
            }
            Err(err) => {
                self.counters.events_dropped.fetch_add(1, Ordering::Relaxed);
                tracing::error!(?event, %err, "button event dropped: the daemon is not reading them");
            }
        }
    }
}
