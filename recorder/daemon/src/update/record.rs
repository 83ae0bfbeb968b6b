//! What the updater remembers across reboots (`state.dir/update.json`, atomic, 0600): the
//! installed update still on trial, and the last outcome the web app shows. From it and the slot
//! the system booted, [`on_boot`] tells a trial boot of the new system from a roll-back to the
//! old one, and both from a daemon that merely restarted before the reboot.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Largest record read; a real one is a few hundred bytes.
const MAX_RECORD_BYTES: u64 = 64 << 10;
/// Failed trial boots remembered (the boot counter allows 3).
pub const MAX_FAILURES: usize = 8;
/// Longest text kept in the record or taken from RAUC for one field (errors, versions).
const MAX_TEXT_CHARS: usize = 512;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub trial: Option<Trial>,
    pub last: Option<Outcome>,
}

/// An update written to the other slot and made primary, not yet confirmed by a healthy boot.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trial {
    /// The bootname of the slot that holds the update.
    pub slot: String,
    pub version: Option<String>,
    /// The kernel's boot id when it was installed: the same id means no reboot happened yet.
    pub install_boot_id: String,
    /// Why earlier trial boots of it failed, oldest first.
    pub failures: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutcomeKind {
    /// Written to the other slot; a reboot starts it.
    Installed,
    /// RAUC refused it (or the install broke off); nothing changed.
    Failed,
    /// The new system came up healthy and was marked good.
    Updated,
    /// The new system did not become healthy; the old one runs again.
    RolledBack,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    pub result: OutcomeKind,
    pub message: String,
    pub version: Option<String>,
    pub slot: Option<String>,
    pub at_ms: i64,
}

/// What this boot is, as far as updates go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Boot {
    /// No update pending: confirm the slot once healthy, nothing more.
    Normal,
    /// An update is installed but the system has not rebooted since.
    AwaitingReboot,
    /// The first boots of a new system: confirm it once healthy, reboot if it cannot get there.
    Trial,
    /// The bootloader went back to the old system; the outcome to show.
    RolledBack(Outcome),
}

/// Decides what this boot is; `now_ms` stamps a roll-back.
pub fn on_boot(record: &Record, booted_slot: &str, boot_id: &str, now_ms: i64) -> Boot {
    let Some(trial) = &record.trial else {
        return Boot::Normal;
    };
    if trial.install_boot_id == boot_id {
        return Boot::AwaitingReboot;
    }
    if trial.slot == booted_slot {
        return Boot::Trial;
    }
    let why = match trial.failures.last() {
        Some(reason) => format!(
            "the new system did not become healthy ({} tries; last: {reason})",
            trial.failures.len()
        ),
        None => "the new system did not start or did not get as far as the recorder".to_string(),
    };
    Boot::RolledBack(Outcome {
        result: OutcomeKind::RolledBack,
        message: clip(&format!("rolled back to slot {booted_slot}: {why}")),
        version: trial.version.clone(),
        slot: Some(trial.slot.clone()),
        at_ms: now_ms,
    })
}

/// `text` cut to the longest the record keeps.
pub fn clip(text: &str) -> String {
    text.chars().take(MAX_TEXT_CHARS).collect()
}

/// The record's file.
pub fn path(state_dir: &Path) -> PathBuf {
    state_dir.join("update.json")
}

/// The slot on trial alone, as plain text beside the record, for the image's boot-time backstop
/// (overlay/usr/libexec/moment/update-deadline.sh), which cannot parse JSON.
pub fn trial_slot_path(record: &Path) -> PathBuf {
    record.with_file_name("update-trial-slot")
}

/// Reads the record; a missing file is an empty record. A file that cannot be parsed or breaks
/// the record's limits is set aside (`update.json.bad`) and reported, never fatal.
pub fn load(path: &Path) -> (Record, Option<String>) {
    let parsed = crate::atomic_file::read_small(path, MAX_RECORD_BYTES).and_then(|bytes| {
        let Some(bytes) = bytes else {
            return Ok(Record::default());
        };
        let record = serde_json::from_slice::<Record>(&bytes).map_err(|e| e.to_string())?;
        check(&record).map(|()| record)
    });
    match parsed {
        Ok(record) => (record, None),
        Err(e) => {
            let aside = match crate::atomic_file::set_aside(path) {
                Ok(aside) => format!("set aside as {}", aside.display()),
                Err(e) => format!("and could not be set aside: {e}"),
            };
            (
                Record::default(),
                Some(format!("{} was unreadable ({e}); {aside}", path.display())),
            )
        }
    }
}

/// Writes the record atomically after checking its limits.
pub fn save(path: &Path, record: &Record) -> std::io::Result<()> {
    check(record).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
    let bytes = serde_json::to_vec_pretty(record).map_err(std::io::Error::other)?;
    crate::atomic_file::write_atomic(path, &bytes)
}

fn check(record: &Record) -> Result<(), String> {
    let too_long = |s: &str| s.chars().count() > MAX_TEXT_CHARS;
    if let Some(trial) = &record.trial {
        if trial.slot.is_empty() || too_long(&trial.slot) || too_long(&trial.install_boot_id) {
            return Err("a trial names no slot or too long a one".into());
        }
        if trial.failures.len() > MAX_FAILURES || trial.failures.iter().any(|f| too_long(f)) {
            return Err("too many or too long trial failures".into());
        }
    }
    if let Some(last) = &record.last {
        if too_long(&last.message) {
            return Err("the last outcome's message is too long".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(failures: &[&str]) -> Record {
        Record {
            trial: Some(Trial {
                slot: "B".into(),
                version: Some("2.0.0".into()),
                install_boot_id: "boot-1".into(),
                failures: failures.iter().map(|s| s.to_string()).collect(),
            }),
            last: None,
        }
    }

    #[test]
    fn boots_are_told_apart() {
        assert_eq!(on_boot(&Record::default(), "A", "boot-1", 0), Boot::Normal);
        assert_eq!(on_boot(&trial(&[]), "A", "boot-1", 0), Boot::AwaitingReboot);
        assert_eq!(on_boot(&trial(&[]), "B", "boot-2", 0), Boot::Trial);
        let Boot::RolledBack(outcome) = on_boot(&trial(&["no video"]), "A", "boot-3", 7) else {
            panic!("expected a roll-back");
        };
        assert_eq!(outcome.result, OutcomeKind::RolledBack);
        assert!(outcome.message.contains("slot A") && outcome.message.contains("no video"));
        assert_eq!(
            (outcome.version.as_deref(), outcome.at_ms),
            (Some("2.0.0"), 7)
        );
        let Boot::RolledBack(silent) = on_boot(&trial(&[]), "A", "boot-3", 7) else {
            panic!("expected a roll-back");
        };
        assert!(
            silent.message.contains("did not start"),
            "{}",
            silent.message
        );
    }

    #[test]
    fn record_round_trips_and_bad_files_are_set_aside() {
        let dir = tempfile::tempdir().unwrap();
        let file = path(dir.path());
        assert_eq!(load(&file), (Record::default(), None));
        save(&file, &trial(&["x"])).unwrap();
        assert_eq!(load(&file).0, trial(&["x"]));
        std::fs::write(&file, b"{not json").unwrap();
        let (record, problem) = load(&file);
        assert_eq!(record, Record::default());
        assert!(problem.unwrap().contains("set aside"));
        assert!(file.with_extension("json.bad").exists());
        let many = trial(&["f"; MAX_FAILURES + 1]);
        assert!(save(&file, &many).is_err());
    }
}
