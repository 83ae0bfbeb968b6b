//! The buttons end to end on the simulated backend: injected edges through the real task,
//! recogniser and LED task, with short steps (hold step 200 ms, save step 2 s), and new timings
//! handed to the running task as the settings page does. Built for a slow,
//! shared 2-core machine: assertions are on order and counts, expectations are computed from the
//! edges' real times, and every wait has a generous bound.

use moment_recorder::buttons::{
    Backend, Button, ButtonEvent, ButtonsConfig, ButtonsTask, LedChange, LedFlag, LedPattern,
    LedStatus, SimulatedButtons, SimulatedLed, EVENT_QUEUE,
};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;

const HOLD_STEP: Duration = Duration::from_millis(200);
/// Long enough for anything here even on a loaded machine.
const PATIENCE: Duration = Duration::from_secs(10);

fn config() -> ButtonsConfig {
    ButtonsConfig {
        backend: Backend::Simulated,
        save_step_s: 2.0,
        hold_step_s: HOLD_STEP.as_secs_f64(),
        reset_hold_s: 0.5,
        debounce_ms: 10,
        ..ButtonsConfig::default()
    }
}

struct Rig {
    task: ButtonsTask,
    events: mpsc::Receiver<ButtonEvent>,
    presser: SimulatedButtons,
    led: SimulatedLed,
}

fn rig() -> Rig {
    let led = SimulatedLed::new();
    let (task, events) = ButtonsTask::spawn(
        &config(),
        Box::new(SimulatedButtons::new()),
        Box::new(led.clone()),
    )
    .expect("spawn");
    let presser = task.presser();
    Rig {
        task,
        events,
        presser,
        led,
    }
}

impl Rig {
    async fn next_event(&mut self) -> ButtonEvent {
        timeout(PATIENCE, self.events.recv())
            .await
            .expect("an event in time")
            .expect("task running")
    }

    async fn events_until(&mut self, last: fn(&ButtonEvent) -> bool) -> Vec<ButtonEvent> {
        let mut events = Vec::new();
        loop {
            let event = self.next_event().await;
            events.push(event);
            if last(&event) || events.len() > 100 {
                return events;
            }
        }
    }

    /// No event arrives within `quiet`.
    async fn assert_quiet(&mut self, quiet: Duration) {
        if let Ok(event) = timeout(quiet, self.events.recv()).await {
            panic!("unexpected event {event:?}");
        }
    }
}

async fn wait_for_led(status: &mut watch::Receiver<LedStatus>, want: impl Fn(&LedStatus) -> bool) {
    timeout(PATIENCE, status.wait_for(|s| want(s)))
        .await
        .expect("LED state in time")
        .expect("LED task running");
}

/// Records every pattern the LED shows (consecutive repeats folded) until `stop` is sent.
fn pattern_log(mut status: watch::Receiver<LedStatus>) -> tokio::task::JoinHandle<Vec<LedPattern>> {
    // Read before spawning: the task may first run after the press.
    let mut seen = vec![status.borrow_and_update().pattern];
    tokio::spawn(async move {
        while timeout(PATIENCE, status.changed())
            .await
            .is_ok_and(|r| r.is_ok())
        {
            let pattern = status.borrow_and_update().pattern;
            if seen.last() != Some(&pattern) {
                seen.push(pattern);
            }
            if seen.ends_with(&[LedPattern::Saving, LedPattern::Recording]) {
                break;
            }
        }
        seen
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_save_steps_blinks_and_saves_the_longer_window() {
    let mut rig = rig();
    let led = rig.task.led();
    let mut status = led.subscribe();
    led.set_flag(LedFlag::Recording, true);
    wait_for_led(&mut status, |s| s.pattern == LedPattern::Recording && s.on).await;
    let patterns = pattern_log(led.subscribe());

    let (press, release) = rig
        .presser
        .gesture(Button::Save, Duration::from_millis(650))
        .await
        .expect("gesture");
    // 3 steps unless the machine held the button much longer than asked.
    let held = release.at.duration_since(press.at);
    let steps = (held.as_nanos() / HOLD_STEP.as_nanos()) as u32;
    assert!(steps >= 3, "held {held:?}");
    if held < Duration::from_millis(790) {
        assert_eq!(steps, 3);
    }

    let events = rig
        .events_until(|e| matches!(e, ButtonEvent::Save { .. }))
        .await;
    let mut want = vec![ButtonEvent::SaveStarted {
        pressed_at: press.at,
    }];
    want.extend((1..=steps).map(|steps| ButtonEvent::SaveStep { steps }));
    want.push(ButtonEvent::Save {
        pressed_at: press.at,
        steps,
        window: Duration::from_secs(2) * (steps + 1),
    });
    assert_eq!(events, want);

    // The LED: off at the press, one flash per step, then steady on again.
    wait_for_led(&mut status, |s| s.pattern == LedPattern::Recording && s.on).await;
    let writes: Vec<bool> = rig
        .led
        .history_since(press.at)
        .iter()
        .map(|c| c.on)
        .collect();
    let mut want = vec![false];
    for _ in 0..steps {
        want.extend([true, false]);
    }
    want.push(true);
    assert_eq!(writes, want);
    let status = led.status();
    assert_eq!((status.flashes, status.saves), (u64::from(steps), 1));

    let patterns = timeout(PATIENCE, patterns)
        .await
        .expect("log ends")
        .expect("log task");
    assert_eq!(
        patterns,
        [
            LedPattern::Recording,
            LedPattern::Saving,
            LedPattern::Recording
        ]
    );
    rig.assert_quiet(Duration::from_millis(300)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quick_save_press_lights_the_led_before_the_release() {
    let mut rig = rig();
    let led = rig.task.led();
    let mut status = led.subscribe();
    let press = rig.presser.press(Button::Save).expect("press");
    wait_for_led(&mut status, |s| s.pattern == LedPattern::Saving && s.on).await;
    let lit: Vec<LedChange> = rig.led.history_since(press.at);
    assert_eq!(lit.first().map(|c| c.on), Some(true), "{lit:?}");
    // Whatever the machine's load, the LED did not wait for a hold step.
    assert!(lit[0].at.duration_since(press.at) < HOLD_STEP, "{lit:?}");
    rig.presser.release(Button::Save).expect("release");
    let events = rig
        .events_until(|e| matches!(e, ButtonEvent::Save { .. }))
        .await;
    assert_eq!(
        events,
        [
            ButtonEvent::SaveStarted {
                pressed_at: press.at
            },
            ButtonEvent::Save {
                pressed_at: press.at,
                steps: 0,
                window: Duration::from_secs(2),
            }
        ]
    );
    wait_for_led(&mut status, |s| s.pattern == LedPattern::Off && !s.on).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_press_is_an_upload_event() {
    let mut rig = rig();
    let (press, _) = rig
        .presser
        .gesture(Button::Upload, Duration::from_millis(100))
        .await
        .expect("gesture");
    assert_eq!(
        rig.next_event().await,
        ButtonEvent::Upload {
            pressed_at: press.at
        }
    );
    rig.assert_quiet(Duration::from_millis(300)).await;
    assert_eq!(
        rig.task.led().status().saves,
        0,
        "UPLOAD does not flash the save feedback"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_held_is_a_network_reset_and_nothing_else() {
    let mut rig = rig();
    let led = rig.task.led();
    led.set_flag(LedFlag::Recording, true);
    let edges = rig
        .presser
        .chord(Duration::from_millis(900))
        .await
        .expect("chord");
    let save_press = edges[0];
    assert_eq!(
        rig.next_event().await,
        ButtonEvent::SaveStarted {
            pressed_at: save_press.at
        }
    );
    assert_eq!(rig.next_event().await, ButtonEvent::SaveCancelled);
    assert_eq!(rig.next_event().await, ButtonEvent::NetworkReset);
    rig.assert_quiet(Duration::from_millis(500)).await;
    assert_eq!(rig.task.stats().network_resets, 1);
    // The cancelled save's feedback is over: back to recording.
    let mut status = led.subscribe();
    wait_for_led(&mut status, |s| s.pattern == LedPattern::Recording && s.on).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chord_let_go_before_the_reset_time_does_nothing() {
    let mut rig = rig();
    rig.presser
        .chord(Duration::from_millis(150))
        .await
        .expect("chord");
    assert!(matches!(
        rig.next_event().await,
        ButtonEvent::SaveStarted { .. }
    ));
    assert_eq!(rig.next_event().await, ButtonEvent::SaveCancelled);
    rig.assert_quiet(Duration::from_millis(800)).await;
    assert_eq!(rig.task.stats().network_resets, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_the_daemon_does_not_read_are_dropped_and_counted() {
    let rig = rig();
    let presses = EVENT_QUEUE as u64 + 6;
    for _ in 0..presses {
        rig.presser.press(Button::Upload).expect("press");
        tokio::time::sleep(Duration::from_millis(15)).await;
        rig.presser.release(Button::Upload).expect("release");
        tokio::time::sleep(Duration::from_millis(15)).await;
    }
    let deadline = Instant::now() + PATIENCE;
    while rig.task.stats().events + rig.task.stats().events_dropped < presses {
        assert!(Instant::now() < deadline, "{:?}", rig.task.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let stats = rig.task.stats();
    assert_eq!(
        (stats.events, stats.events_dropped),
        (EVENT_QUEUE as u64, 6)
    );
    assert_eq!(stats.edges.sent, 2 * presses);
    assert_eq!(stats.edges.dropped, 0);
    // The LED still answers.
    let led = rig.task.led();
    let mut status = led.subscribe();
    rig.presser.press(Button::Save).expect("press");
    wait_for_led(&mut status, |s| s.pattern == LedPattern::Saving).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_simulated_backend_starts_and_stop_turns_the_led_off() {
    let (task, mut events) = ButtonsTask::start(&config()).expect("start");
    assert_eq!(task.backend(), "simulated");
    let led = task.led();
    let mut status = led.subscribe();
    led.set_flag(LedFlag::Error, true);
    wait_for_led(&mut status, |s| s.pattern == LedPattern::Error).await;
    task.presser()
        .gesture(Button::Upload, Duration::from_millis(50))
        .await
        .expect("gesture");
    let event = timeout(PATIENCE, events.recv()).await.expect("in time");
    assert!(
        matches!(event, Some(ButtonEvent::Upload { .. })),
        "{event:?}"
    );
    task.stop().await;
    assert!(!led.status().on, "{:?}", led.status());
    assert!(
        events.recv().await.is_none(),
        "the event channel closes when the task stops"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_press_after_stop_is_refused() {
    let rig = rig();
    let presser = rig.task.presser();
    rig.task.stop().await;
    let err = presser.press(Button::Save).expect_err("stopped");
    assert_eq!(err.to_string(), "the buttons task has stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_gesture_timings_apply_to_the_next_press() {
    let mut rig = rig();
    let faster = ButtonsConfig {
        save_step_s: 5.0,
        hold_step_s: 0.3,
        ..config()
    };
    rig.task.set_gestures(faster.validate().expect("valid"));
    let (press, _) = rig
        .presser
        .gesture(Button::Save, Duration::from_millis(50))
        .await
        .expect("gesture");
    let events = rig
        .events_until(|e| matches!(e, ButtonEvent::Save { .. }))
        .await;
    assert_eq!(
        events.last(),
        Some(&ButtonEvent::Save {
            pressed_at: press.at,
            steps: 0,
            window: Duration::from_secs(5),
        })
    );
}
