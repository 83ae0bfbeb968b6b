//! The real GPIO backend on a machine without GPIO (CI, development): starting it must fail
//! at once with a message that says how to run without GPIO, not with rppal's "Unknown Raspberry
//! Pi model".

use moment_recorder::buttons::{open_gpio, ButtonsConfig, ButtonsError, ButtonsTask};
use std::path::Path;

fn has_gpio_chip() -> bool {
    (0..16).any(|n| Path::new(&format!("/dev/gpiochip{n}")).exists())
}

#[tokio::test]
async fn the_gpio_backend_fails_cleanly_without_a_gpio_chip() {
    if has_gpio_chip() {
        // On a Pi the backend may well start; this test is about machines without GPIO.
        eprintln!("skipped: this machine has a GPIO chip");
        return;
    }
    let config = ButtonsConfig::default();
    let err = match ButtonsTask::start(&config) {
        Ok(_) => panic!("the GPIO backend started without a GPIO chip"),
        Err(err) => err,
    };
    assert!(matches!(err, ButtonsError::NoGpioChip { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "no GPIO chip (/dev/gpiochip* does not exist): set buttons.backend = \"simulated\" on a \
         machine without GPIO"
    );
    let err = open_gpio(&config).expect_err("no chip");
    assert!(
        err.to_string().contains("buttons.backend = \"simulated\""),
        "{err}"
    );
}

#[test]
fn the_gpio_backend_checks_its_configuration_first() {
    let config = ButtonsConfig {
        led_pin: 40,
        ..ButtonsConfig::default()
    };
    let err = open_gpio(&config).expect_err("bad pin");
    assert_eq!(
        err.to_string(),
        "buttons.led_pin: GPIO 40 does not exist on the Pi (0-27)"
    );
}
