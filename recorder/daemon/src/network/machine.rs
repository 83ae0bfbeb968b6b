//! Which mode the Wi-Fi should be in, AP or station (never both: the Zero 2 W's radio is unreliable
//! at AP+STA), decided from what happened and when. No I/O and no clock of its own: the network
//! manager feeds it inputs with the time, and performs the actions it returns, so every transition
//! is tested on simulated time.
//!
//! - Start: station if a network is configured, else AP (setup).
//! - Station that does not associate and get an address within `join_limit`, or loses its network
//!   for that long: AP, with the reason kept for the wizard.
//! - In AP mode with a known network: try it again every `retry_every`, but only while no phone is
//!   connected to the AP (it would be thrown off mid-setup).
//! - Both buttons held (network reset): AP in setup mode, whatever the state, with no network.
//! - A new network from the wizard: station; setup mode stays open until it connects, so a wrong
//!   password or a network nobody hears brings the wizard back with the reason at once (not after
//!   `join_limit`).

use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    /// How long a station may take to associate and get an address (or stay lost) before AP mode.
    pub join_limit: Duration,
    /// How often AP mode tries the known network again while no phone is connected.
    pub retry_every: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            join_limit: Duration::from_secs(60),
            retry_every: Duration::from_secs(300),
        }
    }
}

/// What the manager must do now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Stop station mode, scan (the list the wizard shows), start the access point.
    EnterAp,
    /// Stop the access point, start station mode with the configured network.
    EnterStation,
}

/// What happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Input {
    /// The daemon started.
    Start,
    /// The station associated and has an address.
    Connected,
    /// The station lost its network or its address (it keeps trying by itself meanwhile).
    Disconnected,
    /// The station gave up for a reason a person can act on (wrong password, no such network).
    Failed(String),
    /// The station's scans do not hear the network. Final only for the wizard's attempt: a known
    /// network that is away (a router still booting) gets `join_limit`.
    Missing(String),
    /// Phones connected to the access point now.
    ApClients(u32),
    /// Both buttons held: back to setup, the network forgotten.
    Reset,
    /// A network was configured (true) or forgotten (false), by the wizard or the settings.
    Configured(bool),
    /// Time passed.
    Tick,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Before `Start`.
    Off,
    /// Joining the configured network.
    Joining,
    /// On the configured network with an address.
    Station,
    /// The access point is up.
    Ap,
}

#[derive(Clone, Debug)]
pub struct Machine {
    timing: Timing,
    configured: bool,
    mode: Mode,
    /// When the current mode (or the current loss of the network) began.
    since: Option<Instant>,
    /// AP mode: when to try the known network next.
    next_retry: Option<Instant>,
    ap_clients: u32,
    /// Why the last station attempt failed, for the wizard; cleared once connected.
    last_error: Option<String>,
    /// The wizard is open (no network yet, a reset, or a new network that has not connected yet).
    setup: bool,
    /// Station: the network was lost at this time (None while connected or joining).
    lost_since: Option<Instant>,
}

impl Machine {
    pub fn new(timing: Timing, configured: bool) -> Machine {
        Machine {
            timing,
            configured,
            mode: Mode::Off,
            since: None,
            next_retry: None,
            ap_clients: 0,
            last_error: None,
            setup: !configured,
            lost_since: None,
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn setup_open(&self) -> bool {
        self.setup
    }

    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// A new attempt was given (joined a moment later): the last one's reason no longer applies.
    pub fn forget_error(&mut self) {
        self.last_error = None;
    }

    /// When the next AP-mode retry of the known network is due, if one is.
    pub fn next_retry(&self) -> Option<Instant> {
        self.next_retry
    }

    /// Feeds one input at `now`; returns what to do.
    pub fn step(&mut self, now: Instant, input: Input) -> Option<Action> {
        match input {
            Input::Start => {
                if self.mode != Mode::Off {
                    return None;
                }
                if self.configured {
                    Some(self.join(now))
                } else {
                    Some(self.ap(now, None))
                }
            }
            Input::Connected => {
                if matches!(self.mode, Mode::Joining | Mode::Station) {
                    self.mode = Mode::Station;
                    self.since = Some(now);
                    self.lost_since = None;
                    self.last_error = None;
                    self.setup = false;
                }
                None
            }
            Input::Disconnected => {
                if self.mode == Mode::Station {
                    self.lost_since.get_or_insert(now);
                }
                None
            }
            Input::Failed(reason) => {
                if matches!(self.mode, Mode::Joining | Mode::Station) {
                    return Some(self.ap(now, Some(reason)));
                }
                None
            }
            Input::Missing(reason) => {
                if self.setup && self.mode == Mode::Joining {
                    return Some(self.ap(now, Some(reason)));
                }
                None
            }
            Input::ApClients(n) => {
                self.ap_clients = n;
                None
            }
            Input::Reset => {
                self.setup = true;
                self.configured = false;
                self.last_error = None;
                Some(self.ap(now, None))
            }
            Input::Configured(true) => {
                self.configured = true;
                self.setup = self.setup || self.mode != Mode::Station;
                // A new attempt: the wizard waits for its own outcome, not the last one's.
                self.last_error = None;
                Some(self.join(now))
            }
            Input::Configured(false) => {
                self.configured = false;
                self.setup = true;
                if self.mode == Mode::Ap {
                    self.next_retry = None;
                    None
                } else {
                    Some(self.ap(now, None))
                }
            }
            Input::Tick => self.tick(now),
        }
    }

    fn tick(&mut self, now: Instant) -> Option<Action> {
        let waited = |since: Option<Instant>| since.map(|s| now.saturating_duration_since(s));
        match self.mode {
            Mode::Joining if waited(self.since) >= Some(self.timing.join_limit) => {
                let reason = format!(
                    "could not join the network within {} s (out of range, or the router refused)",
                    self.timing.join_limit.as_secs()
                );
                Some(self.ap(now, Some(reason)))
            }
            Mode::Station if waited(self.lost_since) >= Some(self.timing.join_limit) => {
                let reason = format!(
                    "the network was lost for {} s",
                    self.timing.join_limit.as_secs()
                );
                Some(self.ap(now, Some(reason)))
            }
            Mode::Ap => match self.next_retry {
                Some(due) if now >= due => {
                    if self.ap_clients > 0 {
                        // A phone is on the AP (maybe in the wizard): do not pull the rug.
                        self.next_retry = Some(now + self.timing.retry_every);
                        None
                    } else {
                        Some(self.join(now))
                    }
                }
                _ => None,
            },
            _ => None,
        }
    }

    fn join(&mut self, now: Instant) -> Action {
        self.mode = Mode::Joining;
        self.since = Some(now);
        self.lost_since = None;
        self.next_retry = None;
        self.ap_clients = 0;
        Action::EnterStation
    }

    fn ap(&mut self, now: Instant, reason: Option<String>) -> Action {
        self.mode = Mode::Ap;
        self.since = Some(now);
        self.lost_since = None;
        if reason.is_some() {
            self.last_error = reason;
        }
        self.next_retry = self.configured.then(|| now + self.timing.retry_every);
        Action::EnterAp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    struct Sim {
        m: Machine,
        t0: Instant,
        now: Instant,
    }

    impl Sim {
        fn new(configured: bool) -> Sim {
            let t0 = Instant::now();
            Sim {
                m: Machine::new(Timing::default(), configured),
                t0,
                now: t0,
            }
        }
        fn at(&mut self, secs: u64, input: Input) -> Option<Action> {
            self.now = self.t0 + S * u32::try_from(secs).unwrap();
            self.m.step(self.now, input)
        }
        /// Ticks every second from now to `secs`; the actions on the way.
        fn run_to(&mut self, secs: u64) -> Vec<(u64, Action)> {
            let from = (self.now - self.t0).as_secs();
            (from..=secs)
                .filter_map(|s| self.at(s, Input::Tick).map(|a| (s, a)))
                .collect()
        }
    }

    #[test]
    fn a_fresh_device_opens_the_access_point_in_setup_mode() {
        let mut sim = Sim::new(false);
        assert_eq!(sim.m.mode(), Mode::Off);
        assert_eq!(sim.at(0, Input::Start), Some(Action::EnterAp));
        assert_eq!(sim.m.mode(), Mode::Ap);
        assert!(sim.m.setup_open());
        // Nothing to retry: it stays an AP for hours.
        assert!(sim.run_to(4 * 3600).is_empty());
        assert_eq!(sim.m.mode(), Mode::Ap);
    }

    #[test]
    fn a_configured_device_joins_and_closes_setup_once_connected() {
        let mut sim = Sim::new(true);
        assert_eq!(sim.at(0, Input::Start), Some(Action::EnterStation));
        assert_eq!(sim.m.mode(), Mode::Joining);
        assert!(!sim.m.setup_open());
        assert_eq!(sim.at(5, Input::Connected), None);
        assert_eq!(sim.m.mode(), Mode::Station);
        assert!(sim.run_to(3600).is_empty());
        // A second Start does nothing.
        assert_eq!(sim.at(3600, Input::Start), None);
    }

    #[test]
    fn a_network_out_of_reach_falls_back_to_ap_and_is_retried_while_no_phone_is_on_it() {
        let mut sim = Sim::new(true);
        sim.at(0, Input::Start);
        // Not joined within the limit: AP with the reason.
        assert_eq!(sim.run_to(59), vec![]);
        assert_eq!(sim.run_to(60), vec![(60, Action::EnterAp)]);
        assert!(sim.m.last_error().unwrap().contains("could not join"));
        assert!(!sim.m.setup_open(), "a known network is not setup mode");
        // Five minutes later it tries again, fails again after the limit, and so on.
        assert_eq!(sim.run_to(360), vec![(360, Action::EnterStation)]);
        assert_eq!(sim.run_to(420), vec![(420, Action::EnterAp)]);
        // A phone joins the AP: the retry waits while it is there.
        sim.at(500, Input::ApClients(1));
        assert_eq!(sim.run_to(1500), vec![]);
        sim.at(1500, Input::ApClients(0));
        // The retry that came due at 1320 was put off to 1620.
        assert_eq!(sim.run_to(1620), vec![(1620, Action::EnterStation)]);
        // This time the network is back.
        sim.at(1623, Input::Connected);
        assert_eq!(sim.m.mode(), Mode::Station);
        assert_eq!(sim.m.last_error(), None);
    }

    #[test]
    fn a_network_that_disappears_and_returns_within_the_limit_keeps_station_mode() {
        let mut sim = Sim::new(true);
        sim.at(0, Input::Start);
        sim.at(2, Input::Connected);
        sim.at(100, Input::Disconnected);
        assert_eq!(sim.run_to(150), vec![]);
        sim.at(150, Input::Connected);
        assert_eq!(sim.run_to(1000), vec![]);
        assert_eq!(sim.m.mode(), Mode::Station);
        // Gone for good this time: AP after the limit, then retried.
        sim.at(1000, Input::Disconnected);
        assert_eq!(sim.run_to(1060), vec![(1060, Action::EnterAp)]);
        assert!(sim.m.last_error().unwrap().contains("lost"));
        assert_eq!(sim.run_to(1360), vec![(1360, Action::EnterStation)]);
        sim.at(1365, Input::Connected);
        assert_eq!(sim.m.mode(), Mode::Station);
    }

    #[test]
    fn a_wrong_password_returns_to_the_wizard_with_the_reason() {
        let mut sim = Sim::new(false);
        sim.at(0, Input::Start);
        // The wizard submits a network.
        assert_eq!(
            sim.at(100, Input::Configured(true)),
            Some(Action::EnterStation)
        );
        assert!(sim.m.setup_open(), "setup stays open until it connects");
        assert_eq!(
            sim.at(108, Input::Failed("wrong password for HomeNet".into())),
            Some(Action::EnterAp)
        );
        assert!(sim.m.setup_open());
        assert_eq!(sim.m.last_error(), Some("wrong password for HomeNet"));
        // Fixed in the wizard: it connects and setup closes.
        sim.at(200, Input::Configured(true));
        sim.at(205, Input::Connected);
        assert!(!sim.m.setup_open());
        assert_eq!(sim.m.mode(), Mode::Station);
    }

    #[test]
    fn a_network_nobody_hears_returns_to_the_wizard_at_once_but_a_known_one_gets_the_limit() {
        let mut sim = Sim::new(false);
        sim.at(0, Input::Start);
        sim.at(50, Input::Configured(true));
        sim.at(55, Input::Failed("an old failure".into()));
        assert_eq!(sim.m.last_error(), Some("an old failure"));
        sim.at(100, Input::Configured(true));
        assert_eq!(
            sim.m.last_error(),
            None,
            "a new attempt forgets the last outcome"
        );
        assert_eq!(
            sim.at(109, Input::Missing("no network named Gone".into())),
            Some(Action::EnterAp)
        );
        assert_eq!(sim.m.last_error(), Some("no network named Gone"));
        assert!(sim.m.setup_open());

        // A configured network away at boot (the router still starting) is waited for.
        let mut sim = Sim::new(true);
        sim.at(0, Input::Start);
        assert_eq!(
            sim.at(9, Input::Missing("no network named Home".into())),
            None
        );
        assert_eq!(sim.m.mode(), Mode::Joining);
        assert_eq!(sim.run_to(60), vec![(60, Action::EnterAp)]);
        // And so is one lost while in station mode.
        sim.at(360, Input::Tick);
        sim.at(361, Input::Connected);
        sim.at(400, Input::Disconnected);
        assert_eq!(
            sim.at(410, Input::Missing("no network named Home".into())),
            None
        );
        assert_eq!(sim.m.mode(), Mode::Station);
    }

    #[test]
    fn the_button_reset_opens_setup_from_any_mode() {
        for connected in [false, true] {
            let mut sim = Sim::new(true);
            sim.at(0, Input::Start);
            if connected {
                sim.at(3, Input::Connected);
            }
            assert_eq!(sim.at(10, Input::Reset), Some(Action::EnterAp));
            assert_eq!(sim.m.mode(), Mode::Ap);
            assert!(sim.m.setup_open());
            // The network is forgotten: nothing is tried behind the owner's back.
            assert!(sim.run_to(7200).is_empty());
            assert_eq!(sim.m.mode(), Mode::Ap);
        }
        // And from AP mode itself.
        let mut sim = Sim::new(false);
        sim.at(0, Input::Start);
        assert_eq!(sim.at(5, Input::Reset), Some(Action::EnterAp));
    }

    #[test]
    fn forgetting_the_network_stops_the_retries() {
        let mut sim = Sim::new(true);
        sim.at(0, Input::Start);
        sim.run_to(60);
        assert_eq!(sim.m.mode(), Mode::Ap);
        assert_eq!(sim.at(61, Input::Configured(false)), None);
        assert!(sim.run_to(7200).is_empty());
        // From station mode it opens the AP.
        let mut sim = Sim::new(true);
        sim.at(0, Input::Start);
        sim.at(1, Input::Connected);
        assert_eq!(sim.at(2, Input::Configured(false)), Some(Action::EnterAp));
        assert!(sim.m.setup_open());
    }

    #[test]
    fn inputs_out_of_place_change_nothing() {
        let mut sim = Sim::new(false);
        sim.at(0, Input::Start);
        for input in [
            Input::Connected,
            Input::Disconnected,
            Input::Failed("x".into()),
        ] {
            assert_eq!(sim.at(1, input), None);
            assert_eq!(sim.m.mode(), Mode::Ap);
        }
    }
}
