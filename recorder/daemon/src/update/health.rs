//! When a booted system counts as healthy (DESIGN.md section 9): the camera's video has reached
//! the ring without a break for a while, new segments keep landing, and the web app answers.
//! Pure: the updater feeds it samples once a second and acts on the verdict, so the rule is
//! tested without a camera or a clock.

use std::time::Duration;

/// What the updater sees at one moment since the daemon started.
#[derive(Clone, Debug)]
pub struct Sample {
    pub since_start: Duration,
    /// Bytes arrived from the source recently (within the source's silence bound).
    pub data_flowing: bool,
    /// The newest segment in the ring.
    pub newest_seq: Option<u64>,
    /// Why the ring stopped, if it did.
    pub ring_failed: Option<String>,
    /// The web app answered a request just now.
    pub web_answers: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Waiting,
    Healthy,
    /// Not healthy by the deadline: why, for the status and the next boot.
    Failed(String),
}

pub struct HealthWatch {
    need: Duration,
    deadline: Option<Duration>,
    /// Since when video has been flowing, and the ring's newest segment then.
    streak: Option<(Duration, Option<u64>)>,
    problem: String,
}

impl HealthWatch {
    /// Healthy after `need` of unbroken recording; `deadline` (from start) makes it fail instead
    /// of waiting for ever.
    pub fn new(need: Duration, deadline: Option<Duration>) -> HealthWatch {
        HealthWatch {
            need,
            deadline,
            streak: None,
            problem: "the recorder has not started recording".into(),
        }
    }

    pub fn observe(&mut self, sample: &Sample) -> Verdict {
        if let Some(why) = &sample.ring_failed {
            self.streak = None;
            self.problem = format!("the ring failed: {why}");
        } else if !sample.data_flowing {
            self.streak = None;
            self.problem = "no video arrived from the camera".into();
        } else {
            let (since, first_seq) = *self
                .streak
                .get_or_insert((sample.since_start, sample.newest_seq));
            let segments_landed = sample.newest_seq.is_some() && sample.newest_seq != first_seq;
            let long_enough = sample.since_start.saturating_sub(since) >= self.need;
            if !segments_landed || !long_enough {
                self.problem = format!(
                    "recording for {} s of the {} s needed",
                    sample.since_start.saturating_sub(since).as_secs(),
                    self.need.as_secs()
                );
            } else if !sample.web_answers {
                self.problem = "the web app did not answer".into();
            } else {
                return Verdict::Healthy;
            }
        }
        match self.deadline {
            Some(deadline) if sample.since_start >= deadline => Verdict::Failed(format!(
                "not healthy {} s after start: {}",
                deadline.as_secs(),
                self.problem
            )),
            _ => Verdict::Waiting,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(s: u64, flowing: bool, seq: Option<u64>, web: bool) -> Sample {
        Sample {
            since_start: Duration::from_secs(s),
            data_flowing: flowing,
            newest_seq: seq,
            ring_failed: None,
            web_answers: web,
        }
    }

    #[test]
    fn healthy_after_unbroken_recording_with_new_segments_and_the_web() {
        let mut watch = HealthWatch::new(Duration::from_secs(10), Some(Duration::from_secs(60)));
        assert_eq!(
            watch.observe(&sample(0, true, Some(1), true)),
            Verdict::Waiting
        );
        assert_eq!(
            watch.observe(&sample(5, false, Some(1), true)),
            Verdict::Waiting
        );
        // The break restarted the streak at 6 s.
        assert_eq!(
            watch.observe(&sample(6, true, Some(1), true)),
            Verdict::Waiting
        );
        assert_eq!(
            watch.observe(&sample(15, true, Some(3), true)),
            Verdict::Waiting
        );
        assert_eq!(
            watch.observe(&sample(16, true, Some(3), false)),
            Verdict::Waiting
        );
        assert_eq!(
            watch.observe(&sample(17, true, Some(3), true)),
            Verdict::Healthy
        );
    }

    #[test]
    fn no_new_segment_is_not_recording() {
        let mut watch = HealthWatch::new(Duration::from_secs(10), None);
        for s in 0..100 {
            assert_eq!(
                watch.observe(&sample(s, true, Some(4), true)),
                Verdict::Waiting
            );
        }
    }

    #[test]
    fn a_deadline_fails_with_the_last_problem() {
        let mut watch = HealthWatch::new(Duration::from_secs(10), Some(Duration::from_secs(30)));
        assert_eq!(
            watch.observe(&sample(29, false, None, true)),
            Verdict::Waiting
        );
        let Verdict::Failed(why) = watch.observe(&sample(30, false, None, true)) else {
            panic!("expected a failure");
        };
        assert!(why.contains("30 s") && why.contains("no video"), "{why}");
        let mut broken = HealthWatch::new(Duration::from_secs(10), Some(Duration::from_secs(1)));
        let failed = Sample {
            ring_failed: Some("EIO".into()),
            ..sample(1, true, Some(1), true)
        };
        assert!(matches!(broken.observe(&failed), Verdict::Failed(w) if w.contains("EIO")));
    }
}
