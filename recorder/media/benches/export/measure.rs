//! Running one measured command: wall time, and CPU time and peak RSS from `wait4`, whose usage
//! covers the child and every descendant it reaped (ffmpeg under our export child, cat and ffmpeg
//! under a shell pipeline), and nothing else.
//!
//! The command is started by a small runner process (this program again, with `RUNNER_FLAG`),
//! not by the benchmark itself: Linux carries the RSS high-water mark of the process that spawns
//! into the child's `ru_maxrss` across exec, and the benchmark holds the 235 MB clip.

use crate::BenchResult;
use std::ffi::OsString;
use std::io;
use std::process::{Command, Stdio};
use std::time::Instant;

/// Hidden flag: run the command that follows and print its cost.
pub const RUNNER_FLAG: &str = "--measure";

/// What one run cost.
#[derive(Clone, Copy, Debug)]
pub struct Cost {
    pub wall_s: f64,
    /// User plus system CPU of the process tree.
    pub cpu_s: f64,
    /// Largest resident set of any one process in the tree.
    pub max_rss_kib: u64,
    /// The command's own peak (VmHWM), if it printed `hwm KIB` on standard error.
    pub own_hwm_kib: Option<u64>,
}

/// Runs `program args…` through the runner and returns its cost.
pub fn run(program: &OsString, args: &[OsString], what: &str) -> BenchResult<Cost> {
    let out = Command::new(std::env::current_exe()?)
        .arg(RUNNER_FLAG)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(format!("{what} failed: {stderr}").into());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let own_hwm_kib = stderr
        .split_whitespace()
        .skip_while(|w| *w != "hwm")
        .nth(1)
        .and_then(|v| v.parse().ok());
    let mut fields = text.split_whitespace().skip_while(|w| *w != "cost").skip(1);
    let mut next = || {
        fields
            .next()
            .ok_or(format!("{what}: the runner printed no cost"))
    };
    Ok(Cost {
        wall_s: next()?.parse()?,
        cpu_s: next()?.parse()?,
        max_rss_kib: next()?.parse()?,
        own_hwm_kib,
    })
}

/// The runner: starts `argv[0] argv[1..]` (its output discarded, its errors passed on), reaps
/// it with `wait4` and prints `cost WALL CPU RSS_KIB`.
pub fn runner(argv: Vec<String>) -> BenchResult<()> {
    let (program, args) = argv.split_first().ok_or("nothing to run")?;
    let started = Instant::now();
    let child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()?;
    let (status, usage) = wait_with_usage(child.id())?;
    let wall_s = started.elapsed().as_secs_f64();
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        return Err(format!("{program} failed (wait status {status})").into());
    }
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let cpu_s = secs(usage.ru_utime) + secs(usage.ru_stime);
    println!("cost {wall_s} {cpu_s} {}", usage.ru_maxrss);
    Ok(())
}

/// Reaps `pid` with `wait4`. The `Child` handle is never waited on, so std does not reap it first.
fn wait_with_usage(pid: u32) -> io::Result<(libc::c_int, libc::rusage)> {
    let pid = libc::pid_t::try_from(pid).map_err(io::Error::other)?;
    let mut status: libc::c_int = 0;
    // SAFETY: rusage is plain old data; all-zero is a valid value.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own unreaped child; both pointers are valid for the call.
    if unsafe { libc::wait4(pid, &mut status, 0, &mut usage) } == -1 {
        return Err(io::Error::last_os_error());
    }
    Ok((status, usage))
}

/// This process's peak resident set (VmHWM), KiB.
pub fn vm_hwm_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// CPU time this thread has used, in seconds.
pub fn thread_cpu_s() -> f64 {
    // SAFETY: timespec is plain old data.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: a valid, exclusively borrowed timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 / 1e9
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}
