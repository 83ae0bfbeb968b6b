//! The camera's two buttons (SAVE, UPLOAD) and its one LED. The hardware sits behind two small
//! traits ([`ButtonInput`], [`LedOutput`]) so the daemon, the tests and `moment-recorder press`
//! drive the same event path whether the edges come from the Pi's GPIO (rppal) or from software.
//!
//! ```text
//! GPIO interrupt thread | SimulatedButtons --Edge--> bounded channel --> ButtonsTask
//!     ButtonsTask: Recogniser (pure: edges + time -> gestures) --ButtonEvent--> daemon (bounded)
//!                  `--> LedControl (press feedback) --> LedDriver task --> LedOutput
//! ```
//!
//! Edges carry the time of the press so a SAVE is anchored at the moment the person pressed, not
//! when the event was handled. Everything that queues is bounded and counts what it drops.

mod config;
mod gesture;
mod gpio;
mod input;
mod led;
mod led_driver;
mod simulated;
mod task;

pub use crate::config::ConfigError;
pub use config::{Backend, ButtonsConfig};
pub use gesture::{GestureConfig, Recogniser};
pub use gpio::{open_gpio, GpioButtons, GpioLed};
pub use input::{
    edge_channel, ButtonInput, EdgeCounts, EdgeReceiver, EdgeSink, SendError, EDGE_QUEUE,
};
pub use led::{pattern_level, LedFlag, LedOutput, LedPattern, LedStatus};
pub use led_driver::{LedControl, LedDriver, LedTiming};
pub use simulated::{InjectError, LedChange, SimulatedButtons, SimulatedLed, MAX_GESTURE};
pub use task::{open_backend, ButtonsIo, ButtonsStats, ButtonsTask, EVENT_QUEUE};

use std::fmt;
use std::time::{Duration, Instant};

/// One of the two physical buttons.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Button {
    Save,
    Upload,
}

impl Button {
    /// Index into per-button arrays; two buttons, so state stays in fixed-size arrays.
    pub(crate) fn index(self) -> usize {
        match self {
            Button::Save => 0,
            Button::Upload => 1,
        }
    }
}

impl fmt::Display for Button {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Button::Save => "save",
            Button::Upload => "upload",
        })
    }
}

/// A debounced level change of one button, stamped with when it happened (not when it was read).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub button: Button,
    pub pressed: bool,
    pub at: Instant,
}

/// What a person meant, recognised from edges. The daemon acts on these; the LED feedback for
/// them is already done by the time they arrive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ButtonEvent {
    /// SAVE went down; the clip's end T is `pressed_at`. Nothing is saved yet (the hold decides
    /// the length), but the daemon may start waiting for the current segment to close.
    SaveStarted { pressed_at: Instant },
    /// SAVE has been held for `steps` full hold steps; one per step, so feedback can count.
    SaveStep { steps: u32 },
    /// Save the clip `[pressed_at - window, pressed_at]`: one save step plus one per full hold
    /// step (`window = save_step * (1 + steps)`).
    Save {
        pressed_at: Instant,
        steps: u32,
        window: Duration,
    },
    /// The SAVE in progress became a two-button chord: nothing will be saved for it.
    SaveCancelled,
    /// UPLOAD was pressed and released: upload the newest memory now, and everything pending.
    Upload { pressed_at: Instant },
    /// Both buttons held for the reset time: go back to setup (AP) mode, recordings kept.
    NetworkReset,
}

/// What can go wrong when starting the buttons. Every message says what to do.
#[derive(Debug)]
pub enum ButtonsError {
    /// The configuration is invalid; the message names the key.
    Config(ConfigError),
    /// No `/dev/gpiochip*`: this machine has no GPIO (a development machine or CI).
    NoGpioChip { dev_dir: std::path::PathBuf },
    /// rppal refused; `what` says which step, with the pin where there is one.
    Gpio {
        what: String,
        source: rppal::gpio::Error,
    },
}

impl fmt::Display for ButtonsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ButtonsError::Config(err) => write!(f, "{err}"),
            ButtonsError::NoGpioChip { dev_dir } => write!(
                f,
                "no GPIO chip ({}/gpiochip* does not exist): set buttons.backend = \"simulated\" \
                 on a machine without GPIO",
                dev_dir.display()
            ),
            ButtonsError::Gpio { what, source } => {
                write!(f, "{what}: {source}")?;
                if matches!(source, rppal::gpio::Error::UnknownModel) {
                    write!(
                        f,
                        " (rppal does not recognise this board as a Raspberry Pi; set \
                         buttons.backend = \"simulated\" on other machines)"
                    )?;
                }
                if matches!(source, rppal::gpio::Error::PermissionDenied(_)) {
                    write!(f, " (run as root or add the user to the gpio group)")?;
                }
                if matches!(source, rppal::gpio::Error::PinUsed(_)) {
                    write!(f, " (another process or key uses this pin; pick another)")?;
                }
                Ok(())
            }
        }
    }
}

impl std::error::Error for ButtonsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ButtonsError::Config(err) => Some(err),
            ButtonsError::NoGpioChip { .. } => None,
            ButtonsError::Gpio { source, .. } => Some(source),
        }
    }
}

impl From<ConfigError> for ButtonsError {
    fn from(err: ConfigError) -> Self {
        ButtonsError::Config(err)
    }
}
