//! Runs seeds across a few threads and turns the first failure into a message that names the seed
//! and the command replaying it. Environment: MOMENT_CRASH_SEEDS=N runs N seeds (a longer run),
//! MOMENT_CRASH_SEED=S replays seed S alone and narrates it.

use super::power::Fault;
use super::run::Tally;
use super::{hostile, power};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

/// Which fault model a test simulates.
#[derive(Clone, Copy, Debug)]
pub enum Mode {
    /// Power cuts only: exact checks against the model.
    PowerCuts,
    /// A misdirected write and read bit flips on top: no panic, no wrong bytes.
    Hostile,
    /// A sync fails (EIO) instead of the power: the ring fails closed, the reopen recovers.
    SyncFailures,
}

impl Mode {
    /// The test function's name, for the replay command's filter.
    fn test_name(self) -> &'static str {
        match self {
            Mode::PowerCuts => "power_cuts",
            Mode::Hostile => "misdirected_writes_and_bit_flips",
            Mode::SyncFailures => "sync_failures",
        }
    }

    /// One seed; an engine panic becomes a failure of that seed.
    fn run(self, seed: u64, verbose: bool) -> Result<Tally, String> {
        let result = catch_unwind(AssertUnwindSafe(|| match self {
            Mode::PowerCuts => power::run_seed(seed, verbose, Fault::PowerCut),
            Mode::SyncFailures => power::run_seed(seed, verbose, Fault::SyncError),
            Mode::Hostile => hostile::run_seed(seed, verbose),
        }));
        result.unwrap_or_else(|panic| Err(format!("panicked: {}", panic_text(&*panic))))
    }
}

fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    match (panic.downcast_ref::<&str>(), panic.downcast_ref::<String>()) {
        (Some(s), _) => (*s).to_string(),
        (_, Some(s)) => s.clone(),
        _ => "(no message)".to_string(),
    }
}

/// Runs `default_seeds` seeds (or what the environment asks) and fails with a replayable message.
pub fn simulate(mode: Mode, default_seeds: u64) {
    keep_freed_memory();
    if let Some(seed) = env_u64("MOMENT_CRASH_SEED") {
        let tally = mode
            .run(seed, true)
            .unwrap_or_else(|msg| panic!("{}", failure(mode, seed, &msg)));
        eprintln!("seed {seed} passed: {tally:?}");
        return;
    }
    let seeds = env_u64("MOMENT_CRASH_SEEDS").unwrap_or(default_seeds);
    let started = Instant::now();
    let (tally, failed) = run_all(mode, seeds);
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "{}: {seeds} seeds, {} crashes in {secs:.1} s ({tally:?})",
        mode.test_name(),
        tally.crashes
    );
    if let Some((seed, msg)) = failed {
        panic!("{}", failure(mode, seed, &msg));
    }
    assert!(
        tally.crashes >= seeds,
        "only {} crashes simulated for {seeds} seeds",
        tally.crashes
    );
}

/// Seeds `0..seeds` over up to four threads; stops early at a failure and reports the lowest
/// failing seed seen.
fn run_all(mode: Mode, seeds: u64) -> (Tally, Option<(u64, String)>) {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 4));
    let next = AtomicU64::new(0);
    let stop = AtomicBool::new(false);
    let tally = Mutex::new(Tally::default());
    let failures = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut mine = Tally::default();
                while !stop.load(Ordering::Relaxed) {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= seeds {
                        break;
                    }
                    match mode.run(seed, false) {
                        Ok(t) => mine.add(&t),
                        Err(msg) => {
                            stop.store(true, Ordering::Relaxed);
                            failures.lock().unwrap().push((seed, msg));
                        }
                    }
                }
                tally.lock().unwrap().add(&mine);
            });
        }
    });
    let mut failures = failures.into_inner().unwrap();
    failures.sort();
    (tally.into_inner().unwrap(), failures.into_iter().next())
}

fn failure(mode: Mode, seed: u64, msg: &str) -> String {
    let test = mode.test_name();
    format!(
        "crash simulation failed at seed {seed}: {msg}\n\
         replay it with:\n  \
         MOMENT_CRASH_SEED={seed} cargo nextest run -p moment-ring --test crash_sim {test} --no-capture\n  \
         MOMENT_CRASH_SEED={seed} cargo test -p moment-ring --test crash_sim {test} -- --nocapture"
    )
}

fn env_u64(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    Some(
        value
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} is not a whole number")),
    )
}

/// Every cycle copies whole device images (the crash image, `MemDevice::from_image`). glibc hands
/// such large blocks back to the kernel on free, and faulting fresh pages in again dominated the
/// run time; keeping them in the heap makes the simulation about twice as fast.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn keep_freed_memory() {
    // SAFETY: mallopt only tunes the allocator; 32 MiB is glibc's largest mmap threshold.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn keep_freed_memory() {}
