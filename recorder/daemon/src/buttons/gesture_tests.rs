//! The gesture rules with synthetic instants: every duration is exact, nothing sleeps.

use super::*;

const MIN: Duration = Duration::from_secs(60);

fn config() -> GestureConfig {
    GestureConfig {
        save_step: 3 * MIN,
        hold_step: Duration::from_secs(3),
        reset_hold: Duration::from_secs(10),
        debounce: Duration::from_millis(10),
        max_save_steps: 20,
    }
}

/// Drives a recogniser on a timeline measured in milliseconds from `t0`.
struct Script {
    r: Recogniser,
    t0: Instant,
}

impl Script {
    fn new() -> Self {
        Script {
            r: Recogniser::new(config()),
            t0: Instant::now(),
        }
    }

    fn at(&self, ms: u64) -> Instant {
        self.t0 + Duration::from_millis(ms)
    }

    fn edge(&mut self, button: Button, pressed: bool, ms: u64) -> Vec<ButtonEvent> {
        let mut out = Vec::new();
        let at = self.at(ms);
        self.r.on_edge(
            Edge {
                button,
                pressed,
                at,
            },
            &mut out,
        );
        out
    }

    fn press(&mut self, button: Button, ms: u64) -> Vec<ButtonEvent> {
        self.edge(button, true, ms)
    }

    fn release(&mut self, button: Button, ms: u64) -> Vec<ButtonEvent> {
        self.edge(button, false, ms)
    }

    fn tick(&mut self, ms: u64) -> Vec<ButtonEvent> {
        let mut out = Vec::new();
        let at = self.at(ms);
        self.r.advance(at, &mut out);
        out
    }

    /// Ticks every `step` ms over `[from, to]`, as the task's timer would, collecting events.
    fn ticks(&mut self, from: u64, to: u64, step: u64) -> Vec<ButtonEvent> {
        (from..=to)
            .step_by(step as usize)
            .flat_map(|ms| self.tick(ms))
            .collect()
    }

    fn save(&self, steps: u32) -> ButtonEvent {
        ButtonEvent::Save {
            pressed_at: self.t0,
            steps,
            window: 3 * MIN * (steps + 1),
        }
    }
}

/// Presses SAVE at 0, releases at `held_ms`, and returns every event up to well after.
fn hold_save(held_ms: u64) -> (Script, Vec<ButtonEvent>) {
    let mut s = Script::new();
    let mut events = s.press(Button::Save, 0);
    events.extend(s.release(Button::Save, held_ms));
    events.extend(s.tick(held_ms + 1_000));
    (s, events)
}

fn steps(n: u32) -> Vec<ButtonEvent> {
    (1..=n)
        .map(|steps| ButtonEvent::SaveStep { steps })
        .collect()
}

#[test]
fn quick_press_saves_three_minutes_ending_at_the_press() {
    let (s, events) = hold_save(150);
    let start = ButtonEvent::SaveStarted { pressed_at: s.t0 };
    assert_eq!(events, vec![start, s.save(0)]);
    assert_eq!(
        s.save(0),
        ButtonEvent::Save {
            pressed_at: s.t0,
            steps: 0,
            window: 3 * MIN
        }
    );
}

#[test]
fn hold_steps_count_only_full_steps() {
    for (held_ms, n) in [(2_900, 0), (3_000, 1), (5_999, 1), (9_500, 3)] {
        let (s, events) = hold_save(held_ms);
        let mut want = vec![ButtonEvent::SaveStarted { pressed_at: s.t0 }];
        want.extend(steps(n));
        want.push(s.save(n));
        assert_eq!(events, want, "held {held_ms} ms");
    }
    let (s, _) = hold_save(9_500);
    assert_eq!(
        s.save(3),
        ButtonEvent::Save {
            pressed_at: s.t0,
            steps: 3,
            window: 12 * MIN
        }
    );
}

#[test]
fn steps_are_announced_while_held_and_the_save_waits_for_the_debounce() {
    let mut s = Script::new();
    s.press(Button::Save, 0);
    assert_eq!(s.r.next_deadline(), Some(s.at(3_000)));
    assert_eq!(s.ticks(0, 2_999, 100), vec![]);
    assert_eq!(s.tick(3_000), steps(1));
    assert_eq!(
        s.ticks(3_001, 6_400, 100),
        vec![ButtonEvent::SaveStep { steps: 2 }]
    );
    assert_eq!(s.release(Button::Save, 6_500), vec![]);
    assert_eq!(s.tick(6_509), vec![], "not before the release has settled");
    assert_eq!(s.tick(6_510), vec![s.save(2)]);
    assert_eq!(s.r.next_deadline(), None);
}

#[test]
fn a_step_the_led_already_showed_is_kept_when_the_release_edge_is_stamped_earlier() {
    let mut s = Script::new();
    s.press(Button::Save, 0);
    assert_eq!(s.tick(3_050), steps(1));
    // The release happened at 2.95 s but was delivered after the 3 s step fired.
    s.release(Button::Save, 2_950);
    assert_eq!(s.tick(4_000), vec![s.save(1)]);
}

#[test]
fn both_held_for_the_reset_time_is_a_network_reset_only() {
    let mut s = Script::new();
    let mut events = s.press(Button::Save, 0);
    events.extend(s.press(Button::Upload, 200));
    events.extend(s.ticks(200, 10_199, 50));
    assert_eq!(
        events,
        vec![
            ButtonEvent::SaveStarted { pressed_at: s.t0 },
            ButtonEvent::SaveCancelled
        ]
    );
    assert_eq!(s.tick(10_200), vec![ButtonEvent::NetworkReset]);
    // Letting go (with bounces) and waiting starts nothing.
    let mut after = s.release(Button::Upload, 11_000);
    after.extend(s.release(Button::Save, 11_500));
    after.extend(s.press(Button::Save, 11_505));
    after.extend(s.release(Button::Save, 11_507));
    after.extend(s.ticks(11_000, 30_000, 100));
    assert_eq!(after, vec![]);
    // The next press is a fresh gesture.
    assert_eq!(
        s.press(Button::Upload, 31_000),
        vec![],
        "UPLOAD fires on release"
    );
    assert_eq!(s.release(Button::Upload, 31_100), vec![]);
    assert_eq!(
        s.tick(31_200),
        vec![ButtonEvent::Upload {
            pressed_at: s.at(31_000)
        }]
    );
}

#[test]
fn a_chord_let_go_early_does_nothing() {
    let mut s = Script::new();
    let mut events = s.press(Button::Upload, 0);
    events.extend(s.press(Button::Save, 100));
    events.extend(s.release(Button::Save, 5_000));
    events.extend(s.release(Button::Upload, 5_200));
    events.extend(s.ticks(5_000, 20_000, 100));
    assert_eq!(events, vec![]);
}

#[test]
fn a_bounce_inside_a_chord_keeps_its_timer() {
    let mut s = Script::new();
    s.press(Button::Save, 0);
    s.press(Button::Upload, 0);
    s.release(Button::Upload, 4_000);
    s.press(Button::Upload, 4_005);
    let events = s.ticks(0, 10_000, 100);
    assert_eq!(events, vec![ButtonEvent::NetworkReset]);
}

#[test]
fn upload_fires_on_release_with_the_press_time() {
    let mut s = Script::new();
    assert_eq!(s.press(Button::Upload, 0), vec![]);
    assert_eq!(s.ticks(0, 2_000, 100), vec![]);
    assert_eq!(s.release(Button::Upload, 2_000), vec![]);
    assert_eq!(
        s.tick(2_010),
        vec![ButtonEvent::Upload { pressed_at: s.t0 }]
    );
}

#[test]
fn a_stuck_save_is_capped_and_fires_once() {
    let mut s = Script::new();
    let mut events = s.press(Button::Save, 0);
    events.extend(s.ticks(0, 120_000, 500));
    let mut want = vec![ButtonEvent::SaveStarted { pressed_at: s.t0 }];
    want.extend(steps(20));
    want.push(s.save(20));
    assert_eq!(events, want);
    // Its release much later starts nothing; UPLOAD still works while SAVE is stuck.
    assert_eq!(s.press(Button::Upload, 121_000), vec![]);
    s.release(Button::Upload, 121_100);
    assert_eq!(
        s.tick(121_200),
        vec![ButtonEvent::Upload {
            pressed_at: s.at(121_000)
        }]
    );
    let mut later = s.release(Button::Save, 200_000);
    later.extend(s.ticks(200_000, 201_000, 100));
    assert_eq!(later, vec![]);
    assert_eq!(
        s.press(Button::Save, 202_000),
        vec![ButtonEvent::SaveStarted {
            pressed_at: s.at(202_000)
        }]
    );
}

#[test]
fn a_stuck_upload_fires_at_the_cap() {
    let mut s = Script::new();
    s.press(Button::Upload, 0);
    assert_eq!(s.ticks(0, 59_999, 1_000), vec![]);
    assert_eq!(
        s.tick(60_000),
        vec![ButtonEvent::Upload { pressed_at: s.t0 }]
    );
    s.release(Button::Upload, 90_000);
    assert_eq!(s.ticks(90_000, 91_000, 10), vec![]);
}

#[test]
fn a_single_large_clock_jump_fires_everything_in_order() {
    let mut s = Script::new();
    s.press(Button::Save, 0);
    let events = s.tick(3_600_000);
    assert_eq!(events.len(), 21);
    assert_eq!(events.last(), Some(&s.save(20)));
}

#[test]
fn bounces_continue_the_hold_instead_of_saving_twice() {
    // A bounce on release: up, down, up within the debounce time.
    let mut s = Script::new();
    let mut events = s.press(Button::Save, 0);
    events.extend(s.release(Button::Save, 100));
    events.extend(s.press(Button::Save, 104));
    events.extend(s.release(Button::Save, 106));
    events.extend(s.ticks(100, 2_000, 1));
    assert_eq!(
        events,
        vec![ButtonEvent::SaveStarted { pressed_at: s.t0 }, s.save(0)]
    );

    // A bounce early in a long hold: the hold counts from the first press.
    let mut s = Script::new();
    s.press(Button::Save, 0);
    let mut events = s.release(Button::Save, 20);
    events.extend(s.press(Button::Save, 25));
    events.extend(s.release(Button::Save, 3_100));
    events.extend(s.ticks(0, 4_000, 10));
    assert_eq!(events, [steps(1), vec![s.save(1)]].concat());
}

#[test]
fn repeated_and_orphan_edges_are_ignored() {
    let mut s = Script::new();
    assert_eq!(s.release(Button::Save, 0), vec![], "release without press");
    assert_eq!(s.release(Button::Upload, 0), vec![]);
    assert_eq!(s.r.next_deadline(), None);
    s.press(Button::Save, 1_000);
    assert_eq!(
        s.press(Button::Save, 2_000),
        vec![],
        "second press without release"
    );
    s.release(Button::Save, 4_500);
    let events = s.tick(5_000);
    assert_eq!(
        events,
        vec![ButtonEvent::Save {
            pressed_at: s.at(1_000),
            steps: 1,
            window: 6 * MIN
        }]
    );
}

#[test]
fn a_release_then_the_other_button_is_two_gestures_not_a_chord() {
    let mut s = Script::new();
    s.press(Button::Save, 0);
    s.release(Button::Save, 500);
    let events = s.press(Button::Upload, 505);
    assert_eq!(events, vec![s.save(0)]);
    s.release(Button::Upload, 700);
    assert_eq!(
        s.tick(800),
        vec![ButtonEvent::Upload {
            pressed_at: s.at(505)
        }]
    );
}

#[test]
fn windows_grow_by_one_save_step_per_hold_step() {
    let c = config();
    assert_eq!(c.window(0), 3 * MIN);
    assert_eq!(c.window(1), 6 * MIN);
    assert_eq!(c.window(2), 9 * MIN);
    assert!(
        c.window(u32::MAX) >= c.window(100),
        "saturates instead of overflowing"
    );
}

#[test]
fn new_timings_apply_from_the_next_press_not_half_way_through_a_hold() {
    let faster = GestureConfig {
        save_step: MIN / 2,
        hold_step: Duration::from_secs(1),
        ..config()
    };
    let mut s = Script::new();
    s.press(Button::Save, 0);
    s.r.reconfigure(faster);
    // The hold in progress keeps its 3 s steps and 3 min window: 2.5 s held is no step yet.
    let mut events = s.release(Button::Save, 2_500);
    events.extend(s.tick(3_500));
    assert_eq!(events, vec![s.save(0)]);
    assert_eq!(s.r.config().hold_step, Duration::from_secs(3));

    // The next press takes the new ones: 2.5 s held is two 1 s steps of 30 s each.
    let t = 10_000;
    let mut events = s.press(Button::Save, t);
    events.extend(s.release(Button::Save, t + 2_500));
    events.extend(s.tick(t + 3_500));
    let pressed_at = s.at(t);
    let mut want = vec![ButtonEvent::SaveStarted { pressed_at }];
    want.extend(steps(2));
    want.push(ButtonEvent::Save {
        pressed_at,
        steps: 2,
        window: 3 * (MIN / 2),
    });
    assert_eq!(events, want);

    // Idle: taken at once.
    let mut r = Recogniser::new(config());
    r.reconfigure(faster);
    assert_eq!(r.config(), &faster);
}
