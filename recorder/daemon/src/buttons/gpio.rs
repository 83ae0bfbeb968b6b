//! The real buttons and LED on the Pi, through rppal (the kernel's GPIO character device). Built
//! on every machine so CI compiles what runs on the camera; on a machine without GPIO it fails at
//! start with a message that says how to run without it.
//!
//! The kernel debounces the inputs (`debounce_ms`) and stamps each edge; rppal calls us on its
//! own thread, which only converts the stamp and hands the edge to the bounded edge channel.

use super::config::ButtonsConfig;
use super::input::{ButtonInput, EdgeSink};
use super::led::LedOutput;
use super::{Button, ButtonsError, Edge};
use rppal::gpio::{Gpio, InputPin, Level, OutputPin, Trigger};
use std::path::Path;
use std::time::{Duration, Instant};

/// `/dev/gpiochipN` numbers looked at: the Pi 5 has its header on chip 4 with older kernels.
const GPIO_CHIPS: u32 = 16;
/// A kernel stamp older than this is not trusted (it would be another clock): use "now".
const MAX_EVENT_AGE: Duration = Duration::from_secs(10);

/// The two button inputs. Interrupts run from [`ButtonInput::start`] until this is dropped.
#[derive(Debug)]
pub struct GpioButtons {
    pins: Vec<(Button, u8, InputPin)>,
    active_low: bool,
    debounce: Option<Duration>,
}

/// The LED output.
#[derive(Debug)]
pub struct GpioLed {
    pin: OutputPin,
    active_low: bool,
}

/// Claims the configured pins: inputs with the configured pull-up, the LED as an output, off.
pub fn open_gpio(config: &ButtonsConfig) -> Result<(GpioButtons, GpioLed), ButtonsError> {
    config.validate()?;
    check_gpio_chip(Path::new("/dev"))?;
    let gpio = Gpio::new().map_err(|source| ButtonsError::Gpio {
        what: "cannot open the GPIO".into(),
        source,
    })?;
    let claim = |key: &str, number: u8| {
        gpio.get(number).map_err(|source| ButtonsError::Gpio {
            what: format!("cannot claim buttons.{key} (GPIO {number})"),
            source,
        })
    };
    let mut pins = Vec::with_capacity(2);
    for (button, key, number) in [
        (Button::Save, "save_pin", config.save_pin),
        (Button::Upload, "upload_pin", config.upload_pin),
    ] {
        let pin = claim(key, number)?;
        let pin = if config.pull_up {
            pin.into_input_pullup()
        } else {
            pin.into_input()
        };
        pins.push((button, number, pin));
    }
    let mut led = GpioLed {
        pin: claim("led_pin", config.led_pin)?.into_output(),
        active_low: config.led_active_low,
    };
    led.set(false);
    let debounce =
        (config.debounce_ms > 0).then(|| Duration::from_millis(u64::from(config.debounce_ms)));
    let buttons = GpioButtons {
        pins,
        active_low: config.active_low,
        debounce,
    };
    Ok((buttons, led))
}

/// rppal's own error on a PC is "Unknown Raspberry Pi model", which does not say what to do.
fn check_gpio_chip(dev_dir: &Path) -> Result<(), ButtonsError> {
    let found = (0..GPIO_CHIPS).any(|n| dev_dir.join(format!("gpiochip{n}")).exists());
    if found {
        Ok(())
    } else {
        Err(ButtonsError::NoGpioChip {
            dev_dir: dev_dir.to_path_buf(),
        })
    }
}

impl ButtonInput for GpioButtons {
    fn backend(&self) -> &'static str {
        "gpio"
    }

    fn start(&mut self, edges: EdgeSink) -> Result<(), ButtonsError> {
        let active_low = self.active_low;
        let pressed_level = if active_low { Level::Low } else { Level::High };
        for (button, number, pin) in &mut self.pins {
            let button = *button;
            if pin.read() == pressed_level {
                // Its release will arrive without a press and is ignored, so nothing fires.
                tracing::warn!(%button, gpio = *number, "button is down at start; ignored until released");
            }
            let sink = edges.clone();
            let callback = move |event: rppal::gpio::Event| {
                let pressed = match event.trigger {
                    Trigger::FallingEdge => active_low,
                    Trigger::RisingEdge => !active_low,
                    _ => return,
                };
                let at = event_instant(event.timestamp);
                if let Err(err) = sink.send(Edge {
                    button,
                    pressed,
                    at,
                }) {
                    tracing::warn!(%button, ?err, "button edge lost");
                }
            };
            pin.set_async_interrupt(Trigger::Both, self.debounce, callback)
                .map_err(|source| ButtonsError::Gpio {
                    what: format!("cannot watch the {button} button (GPIO {number})"),
                    source,
                })?;
        }
        Ok(())
    }
}

impl LedOutput for GpioLed {
    fn set(&mut self, on: bool) {
        if on != self.active_low {
            self.pin.set_high();
        } else {
            self.pin.set_low();
        }
    }
}

/// The kernel stamps edges with CLOCK_MONOTONIC, the clock behind `Instant` on Linux: turn the
/// stamp into an `Instant` by its age, so the press time is when the edge happened, not when
/// rppal's thread got to it.
fn event_instant(stamp: Duration) -> Instant {
    let now = Instant::now();
    let age = monotonic_now().and_then(|mono| mono.checked_sub(stamp));
    match age {
        Some(age) if age <= MAX_EVENT_AGE => now.checked_sub(age).unwrap_or(now),
        _ => now,
    }
}

fn monotonic_now() -> Option<Duration> {
    Some(Duration::from_micros(moment_media::monotonic_us()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_machine_without_gpio_chips_gets_told_what_to_set() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = check_gpio_chip(dir.path()).expect_err("no chip");
        let message = err.to_string();
        assert!(message.starts_with("no GPIO chip"), "{message}");
        assert!(
            message.contains("set buttons.backend = \"simulated\" on a machine without GPIO"),
            "{message}"
        );
        std::fs::write(dir.path().join("gpiochip4"), b"").expect("fake chip");
        check_gpio_chip(dir.path()).expect("a chip is found");
    }

    #[test]
    fn kernel_stamps_become_instants_by_their_age() {
        let mono = monotonic_now().expect("CLOCK_MONOTONIC");
        let before = Instant::now();
        let at = event_instant(mono.saturating_sub(Duration::from_millis(500)));
        let after = Instant::now();
        // The edge happened 500 ms before `mono` was read, which was just before `before`.
        let age = before.saturating_duration_since(at);
        assert!(age >= Duration::from_millis(499), "{age:?}");
        assert!(
            age <= Duration::from_millis(500)
                + after.duration_since(before)
                + Duration::from_millis(50),
            "{age:?}"
        );
        // A stamp from another clock (far in the future of CLOCK_MONOTONIC) falls back to now.
        let at = event_instant(mono + Duration::from_secs(1_000_000));
        assert!(at >= before);
    }
}
