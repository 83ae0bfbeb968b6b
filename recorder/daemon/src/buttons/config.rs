//! The `[buttons]` section of the daemon's configuration: which backend, which pins, how they are
//! wired, and the gesture timings. Durations are seconds as numbers (fractions allowed) so a
//! person reads `hold_step_s = 3` and a test writes `hold_step_s = 0.2`. `validate` turns it into
//! the checked values the rest of the module uses, with errors that name the key.

use super::gesture::GestureConfig;
use crate::config::{key_error, ConfigError};
use serde::Deserialize;
use std::time::Duration;

/// The highest BCM GPIO number on the Pi's 40-pin header.
const MAX_HEADER_GPIO: u8 = 27;
/// Contacts settle in a few ms; more than this would make presses feel slow.
const MAX_DEBOUNCE_MS: u32 = 100;
/// Bounds for the durations (seconds): below them tests are flaky, above them nobody would wait.
const SAVE_STEP_S: (f64, f64) = (1.0, 3600.0);
const HOLD_STEP_S: (f64, f64) = (0.05, 60.0);
const RESET_HOLD_S: (f64, f64) = (0.1, 120.0);
/// A held SAVE is capped (and fires) at this many steps at most; also bounds the LED's queue.
pub(crate) const MAX_SAVE_STEPS_LIMIT: u32 = 100;

/// Where button edges come from and where the LED goes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// The Pi's GPIO through rppal.
    #[default]
    Gpio,
    /// No hardware: presses come from `moment-recorder press`, the web UI or tests.
    Simulated,
}

/// The `[buttons]` table. Defaults match the wiring in the firmware's documentation: buttons
/// between the pin and ground (internal pull-up, active low), LED from the pin through a resistor
/// to ground (active high).
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ButtonsConfig {
    pub backend: Backend,
    /// BCM GPIO numbers.
    pub save_pin: u8,
    pub upload_pin: u8,
    pub led_pin: u8,
    /// A pressed button reads low.
    pub active_low: bool,
    /// Enable the pin's internal pull-up (for buttons wired to ground).
    pub pull_up: bool,
    /// The kernel's debounce period; every edge is reported this much later, so it adds to the
    /// press-to-LED latency (10 ms covers tactile switches and keeps the 20 ms goal reachable).
    pub debounce_ms: u32,
    /// The LED lights when the pin is low.
    pub led_active_low: bool,
    /// The clip length of a quick SAVE press, and what each full hold step adds.
    pub save_step_s: f64,
    /// How long SAVE must be held for each extra `save_step_s`.
    pub hold_step_s: f64,
    /// How long both buttons must be held together for a network reset.
    pub reset_hold_s: f64,
    /// A SAVE held this many steps is saved at once, so a stuck button cannot hold forever.
    pub max_save_steps: u32,
}

impl Default for ButtonsConfig {
    fn default() -> Self {
        ButtonsConfig {
            backend: Backend::Gpio,
            save_pin: 17,
            upload_pin: 27,
            led_pin: 22,
            active_low: true,
            pull_up: true,
            debounce_ms: 10,
            led_active_low: false,
            save_step_s: 180.0,
            hold_step_s: 3.0,
            reset_hold_s: 10.0,
            max_save_steps: 20,
        }
    }
}

impl ButtonsConfig {
    /// Parses a `[buttons]` table's contents (without the header), for tests and tools.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// Checks every value and returns the gesture timings they give.
    pub fn validate(&self) -> Result<GestureConfig, ConfigError> {
        for (key, pin) in [
            ("save_pin", self.save_pin),
            ("upload_pin", self.upload_pin),
            ("led_pin", self.led_pin),
        ] {
            if pin > MAX_HEADER_GPIO {
                return Err(error(
                    key,
                    format!("GPIO {pin} does not exist on the Pi (0-{MAX_HEADER_GPIO})"),
                ));
            }
        }
        let pins = [
            ("save_pin", self.save_pin),
            ("upload_pin", self.upload_pin),
            ("led_pin", self.led_pin),
        ];
        for (i, (key, pin)) in pins.iter().enumerate() {
            if let Some((other, _)) = pins[..i].iter().find(|(_, p)| p == pin) {
                return Err(error(
                    key,
                    format!("GPIO {pin} is already buttons.{other}; give each its own pin"),
                ));
            }
        }
        if self.debounce_ms > MAX_DEBOUNCE_MS {
            return Err(error(
                "debounce_ms",
                format!(
                    "{} ms is too long (0-{MAX_DEBOUNCE_MS}); it delays every press",
                    self.debounce_ms
                ),
            ));
        }
        let save_step = seconds("save_step_s", self.save_step_s, SAVE_STEP_S)?;
        let hold_step = seconds("hold_step_s", self.hold_step_s, HOLD_STEP_S)?;
        let reset_hold = seconds("reset_hold_s", self.reset_hold_s, RESET_HOLD_S)?;
        let debounce = Duration::from_millis(u64::from(self.debounce_ms));
        if debounce >= hold_step {
            return Err(error(
                "hold_step_s",
                format!(
                    "{} s is not longer than buttons.debounce_ms ({} ms)",
                    self.hold_step_s, self.debounce_ms
                ),
            ));
        }
        if !(1..=MAX_SAVE_STEPS_LIMIT).contains(&self.max_save_steps) {
            return Err(error(
                "max_save_steps",
                format!(
                    "{} is out of range (1-{MAX_SAVE_STEPS_LIMIT})",
                    self.max_save_steps
                ),
            ));
        }
        Ok(GestureConfig {
            save_step,
            hold_step,
            reset_hold,
            debounce,
            max_save_steps: self.max_save_steps,
        })
    }
}

/// `buttons.<key>: <what is wrong and what is allowed>`.
fn error(key: &str, message: String) -> ConfigError {
    key_error(&format!("buttons.{key}"), message)
}

fn seconds(key: &str, value: f64, (min, max): (f64, f64)) -> Result<Duration, ConfigError> {
    // The range check also rejects NaN, so from_secs_f64 below cannot panic.
    if !(min..=max).contains(&value) {
        return Err(error(
            key,
            format!("{value} s is out of range ({min}-{max} seconds)"),
        ));
    }
    Ok(Duration::from_secs_f64(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_the_documented_gestures() {
        let gestures = ButtonsConfig::default().validate().expect("defaults valid");
        assert_eq!(gestures.save_step, Duration::from_secs(180));
        assert_eq!(gestures.hold_step, Duration::from_secs(3));
        assert_eq!(gestures.reset_hold, Duration::from_secs(10));
        assert_eq!(gestures.max_save_steps, 20);
    }

    #[test]
    fn toml_accepts_integers_and_fractions() {
        let config = ButtonsConfig::from_toml(
            "backend = \"simulated\"\nhold_step_s = 0.2\nsave_step_s = 2\ndebounce_ms = 5\n",
        )
        .expect("parses");
        assert_eq!(config.backend, Backend::Simulated);
        let gestures = config.validate().expect("valid");
        assert_eq!(gestures.hold_step, Duration::from_millis(200));
        assert_eq!(gestures.save_step, Duration::from_secs(2));
        assert_eq!(config.save_pin, 17, "unset keys keep their defaults");
    }

    #[test]
    fn unknown_keys_and_backends_are_rejected() {
        let err = ButtonsConfig::from_toml("save_pn = 5\n").expect_err("typo");
        assert!(err.contains("save_pn"), "{err}");
        let err = ButtonsConfig::from_toml("backend = \"serial\"\n").expect_err("bad backend");
        assert!(err.contains("gpio") && err.contains("simulated"), "{err}");
    }

    #[test]
    fn errors_name_the_key() {
        let bad = |edit: fn(&mut ButtonsConfig)| {
            let mut config = ButtonsConfig::default();
            edit(&mut config);
            config.validate().expect_err("invalid").to_string()
        };
        assert_eq!(
            bad(|c| c.save_pin = 99),
            "buttons.save_pin: GPIO 99 does not exist on the Pi (0-27)"
        );
        assert!(bad(|c| c.led_pin = 17)
            .starts_with("buttons.led_pin: GPIO 17 is already buttons.save_pin"));
        assert!(bad(|c| c.debounce_ms = 500).starts_with("buttons.debounce_ms:"));
        assert!(bad(|c| c.hold_step_s = f64::NAN).starts_with("buttons.hold_step_s:"));
        assert!(bad(|c| c.hold_step_s = 0.01).starts_with("buttons.hold_step_s:"));
        assert!(bad(|c| c.save_step_s = -3.0).starts_with("buttons.save_step_s:"));
        assert!(bad(|c| c.reset_hold_s = 1e9).starts_with("buttons.reset_hold_s:"));
        assert!(bad(|c| c.max_save_steps = 0).starts_with("buttons.max_save_steps:"));
        assert!(bad(|c| {
            c.debounce_ms = 60;
            c.hold_step_s = 0.05;
        })
        .starts_with("buttons.hold_step_s:"));
    }
}
