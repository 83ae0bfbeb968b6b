//! Running the real `rclone`: every run has a time limit (then SIGKILL), reads at most a bounded
//! amount of standard output, keeps only a few bounded lines of standard error, and turns
//! whatever rclone prints into a short error message instead of trusting its format: a changed or
//! garbled log line costs a progress update, never a panic.

use super::truncate;
use serde::Deserialize;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;

/// Standard output kept per run: `lsjson --stat` and `backend features` print a few kB.
const STDOUT_CAP: usize = 1 << 20;
/// A longer stderr line is cut (its JSON is then unparsable and ignored).
const LINE_CAP: usize = 64 << 10;
/// Error lines kept for the failure message.
const ERROR_LINES: usize = 8;
/// Metadata runs (features, stat, server-side move) are quick unless something hangs.
pub(crate) const META_TIMEOUT: Duration = Duration::from_secs(120);

/// Progress of a running copy, from rclone's `--stats` JSON lines.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Stats {
    pub bytes: u64,
    pub rate_bps: u64,
    pub eta_s: Option<u64>,
}

/// What `rclone backend features` says about the remote that matters to us.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Features {
    /// Hash types the backend can report (lowercase, e.g. `md5`).
    pub hashes: Vec<String>,
    /// Server-side move: uploads go to `NAME.partial` and are renamed after verification.
    pub can_move: bool,
}

/// A remote (or local) object from `lsjson --stat`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Object {
    pub size: u64,
    /// The requested hash, if the object has one.
    pub hash: Option<String>,
}

/// How to run rclone: program, config and the flags every run gets.
#[derive(Clone, Debug)]
pub(crate) struct Rclone {
    pub program: PathBuf,
    pub config: PathBuf,
    pub bwlimit: Option<String>,
}

struct Finished {
    code: Option<i32>,
    stdout: Vec<u8>,
    errors: Vec<String>,
}

impl Rclone {
    /// `rclone backend features REMOTE`.
    pub async fn features(&self, remote: &str) -> Result<Features, String> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "Hashes", default)]
            hashes: Option<Vec<String>>,
            #[serde(rename = "Features", default)]
            features: Option<std::collections::HashMap<String, serde_json::Value>>,
        }
        let run = self
            .run(
                "backend",
                &["features".into(), remote.into()],
                META_TIMEOUT,
                None,
            )
            .await?;
        let raw: Raw = parse_stdout(&run, "backend features")?;
        let can_move = raw
            .features
            .and_then(|f| f.get("Move").and_then(serde_json::Value::as_bool))
            .unwrap_or(false);
        let hashes = raw
            .hashes
            .unwrap_or_default()
            .into_iter()
            .take(32)
            .map(|h| h.to_ascii_lowercase())
            .collect();
        Ok(Features { hashes, can_move })
    }

    /// `rclone lsjson --stat PATH`: `None` when there is no such object.
    pub async fn stat(
        &self,
        path: &str,
        hash: Option<&str>,
        timeout: Duration,
    ) -> Result<Option<Object>, String> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "Size")]
            size: i64,
            #[serde(rename = "IsDir", default)]
            is_dir: bool,
            #[serde(rename = "Hashes", default)]
            hashes: Option<std::collections::HashMap<String, String>>,
        }
        let mut args: Vec<OsString> = vec!["--stat".into(), "--files-only".into()];
        if let Some(h) = hash {
            args.extend(["--hash".into(), "--hash-type".into(), h.into()]);
        }
        args.push(path.into());
        let run = self.run("lsjson", &args, timeout, None).await?;
        // rclone's exit codes 3 and 4: directory / file not found.
        if matches!(run.code, Some(3) | Some(4)) {
            return Ok(None);
        }
        // Some backends (local) answer a missing object with `null` and success.
        let Some(raw) = parse_stdout::<Option<Raw>>(&run, "lsjson")? else {
            return Ok(None);
        };
        if raw.is_dir {
            return Err(format!("{path} is a directory on the remote"));
        }
        let size =
            u64::try_from(raw.size).map_err(|_| format!("{path}: unknown size on the remote"))?;
        let hash = hash.and_then(|h| {
            let map = raw.hashes?;
            let v = map.into_iter().find(|(k, _)| k.eq_ignore_ascii_case(h))?.1;
            (!v.is_empty()).then(|| v.to_ascii_lowercase())
        });
        Ok(Some(Object { size, hash }))
    }

    /// `rclone copyto SRC DST`, reporting progress; overwrites whatever is at `DST`.
    pub async fn copyto(
        &self,
        src: &str,
        dst: &str,
        timeout: Duration,
        on_stats: &mut (dyn FnMut(Stats) + Send),
    ) -> Result<(), String> {
        let mut args: Vec<OsString> = vec![
            src.into(),
            dst.into(),
            // Whatever is at DST is ours and unverified (a half upload): always send.
            "--ignore-times".into(),
            "--retries".into(),
            "1".into(),
            "--stats".into(),
            "1s".into(),
            "--stats-log-level".into(),
            "NOTICE".into(),
        ];
        if let Some(limit) = &self.bwlimit {
            args.extend(["--bwlimit".into(), limit.into()]);
        }
        let run = self.run("copyto", &args, timeout, Some(on_stats)).await?;
        expect_success(&run, "copyto")
    }

    /// `rclone deletefile PATH`.
    pub async fn deletefile(&self, path: &str) -> Result<(), String> {
        self.run_plain("deletefile", &[path.into()], META_TIMEOUT)
            .await
    }

    /// Any other command that only has to succeed (`config create`, ...).
    pub async fn run_plain(
        &self,
        command: &str,
        args: &[OsString],
        timeout: Duration,
    ) -> Result<(), String> {
        let run = self.run(command, args, timeout, None).await?;
        expect_success(&run, command)
    }

    /// `rclone moveto SRC DST` (server-side on the remotes we use it with).
    pub async fn moveto(&self, src: &str, dst: &str) -> Result<(), String> {
        let args: Vec<OsString> = vec![src.into(), dst.into(), "--retries".into(), "1".into()];
        let run = self.run("moveto", &args, META_TIMEOUT, None).await?;
        expect_success(&run, "moveto")
    }

    async fn run(
        &self,
        command: &str,
        args: &[OsString],
        timeout: Duration,
        on_stats: Option<&mut (dyn FnMut(Stats) + Send)>,
    ) -> Result<Finished, String> {
        let mut cmd = Command::new(&self.program);
        cmd.arg(command)
            .args(args)
            .arg("--config")
            .arg(&self.config)
            // Never prompt (an encrypted config without its password must fail, not hang).
            .arg("--ask-password=false")
            .arg("--use-json-log")
            .args([
                "--low-level-retries",
                "3",
                "--contimeout",
                "60s",
                "--timeout",
                "300s",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = cmd.spawn().map_err(|e| {
            let what = match e.kind() {
                std::io::ErrorKind::NotFound => "not found".to_owned(),
                std::io::ErrorKind::PermissionDenied => "not executable".to_owned(),
                _ => e.to_string(),
            };
            format!(
                "cannot run rclone {:?}: {what}; install rclone or set upload.rclone to its path",
                self.program
            )
        })?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let work = async {
            let (out, errors, status) = tokio::join!(
                read_capped(stdout),
                read_stderr(stderr, on_stats),
                child.wait()
            );
            (out, errors, status)
        };
        match tokio::time::timeout(timeout, work).await {
            Ok((stdout, errors, status)) => {
                let status =
                    status.map_err(|e| format!("rclone {command}: waiting failed: {e}"))?;
                let stdout = stdout.ok_or_else(|| format!("rclone {command}: output too large"))?;
                Ok(Finished {
                    code: status.code(),
                    stdout,
                    errors,
                })
            }
            Err(_) => {
                // Best effort: kill_on_drop covers the case where this also fails.
                let _ = child.kill().await;
                Err(format!(
                    "rclone {command} did not finish within {} s and was stopped",
                    timeout.as_secs()
                ))
            }
        }
    }
}

fn expect_success(run: &Finished, command: &str) -> Result<(), String> {
    if run.code == Some(0) {
        Ok(())
    } else {
        Err(failure(run, command))
    }
}

fn parse_stdout<T: for<'de> Deserialize<'de>>(run: &Finished, command: &str) -> Result<T, String> {
    if run.code != Some(0) {
        return Err(failure(run, command));
    }
    serde_json::from_slice(&run.stdout)
        .map_err(|e| format!("rclone {command}: unexpected output ({e})"))
}

/// The most useful line rclone printed: its final "Failed to ..." line, else the last error.
fn failure(run: &Finished, command: &str) -> String {
    let status = match run.code {
        Some(c) => format!("exit status {c}"),
        None => "killed by a signal".to_owned(),
    };
    let best = run
        .errors
        .iter()
        .rev()
        .find(|l| l.starts_with("Failed to"))
        .or_else(|| run.errors.last());
    match best {
        Some(line) => truncate(&format!("rclone {command}: {line} ({status})"), 300),
        None => format!("rclone {command}: {status}"),
    }
}

/// Reads everything (so rclone never blocks on a full pipe) but keeps at most `STDOUT_CAP`;
/// `None` if there was more.
async fn read_capped(stdout: Option<impl AsyncRead + Unpin>) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let Some(mut stdout) = stdout else {
        return Some(out);
    };
    let mut chunk = [0u8; 8192];
    let mut overflow = false;
    loop {
        match stdout.read(&mut chunk).await {
            Ok(0) | Err(_) => break,
            Ok(n) if out.len() + n <= STDOUT_CAP => out.extend_from_slice(&chunk[..n]),
            Ok(_) => overflow = true,
        }
    }
    (!overflow).then_some(out)
}

/// Reads stderr line by line (each cut at `LINE_CAP`), feeds stats to `on_stats` and keeps the
/// last `ERROR_LINES` error lines.
async fn read_stderr(
    stderr: Option<impl AsyncRead + Unpin>,
    mut on_stats: Option<&mut (dyn FnMut(Stats) + Send)>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let Some(stderr) = stderr else { return errors };
    let mut reader = BufReader::new(stderr);
    let mut line = Vec::new();
    loop {
        line.clear();
        // `take` bounds the line; the rest of an over-long line arrives as further "lines".
        match (&mut reader)
            .take(LINE_CAP as u64)
            .read_until(b'\n', &mut line)
            .await
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
        match classify(&line) {
            Line::Stats(s) => {
                if let Some(f) = on_stats.as_mut() {
                    f(s);
                }
            }
            Line::Error(text) => {
                if errors.len() == ERROR_LINES {
                    errors.remove(0);
                }
                errors.push(text);
            }
            Line::Other => {}
        }
    }
    errors
}

enum Line {
    Stats(Stats),
    Error(String),
    Other,
}

/// One stderr line: a JSON log record (`--use-json-log`) or, for rclone's final fatal message, a
/// plain `YYYY/MM/DD HH:MM:SS Failed to ...` line.
fn classify(line: &[u8]) -> Line {
    #[derive(Deserialize)]
    struct Record {
        level: Option<String>,
        msg: Option<String>,
        stats: Option<RawStats>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct RawStats {
        bytes: Option<f64>,
        speed: Option<f64>,
        eta: Option<f64>,
        transferring: Option<Vec<RawTransfer>>,
    }
    #[derive(Deserialize)]
    struct RawTransfer {
        bytes: Option<f64>,
        speed: Option<f64>,
        eta: Option<f64>,
    }
    let text = String::from_utf8_lossy(line);
    let text = text.trim();
    if text.is_empty() {
        return Line::Other;
    }
    let as_u64 = |v: Option<f64>| v.filter(|x| x.is_finite() && *x >= 0.0).map(|x| x as u64);
    match serde_json::from_str::<Record>(text) {
        Ok(Record { stats: Some(s), .. }) => {
            // The file in flight is the better figure: rclone's totals include retried bytes.
            let current = s.transferring.as_ref().and_then(|t| t.first());
            Line::Stats(match current {
                Some(t) => Stats {
                    bytes: as_u64(t.bytes).unwrap_or(0),
                    rate_bps: as_u64(t.speed).unwrap_or(0),
                    eta_s: as_u64(t.eta),
                },
                None => Stats {
                    bytes: as_u64(s.bytes).unwrap_or(0),
                    rate_bps: as_u64(s.speed).unwrap_or(0),
                    eta_s: as_u64(s.eta),
                },
            })
        }
        Ok(Record { level, msg, .. }) => match (level.as_deref(), msg) {
            (Some("error" | "critical" | "fatal"), Some(m)) => Line::Error(truncate(m.trim(), 300)),
            _ => Line::Other,
        },
        // A JSON record we cannot read (a newer rclone?) is not worth reporting.
        Err(_) if text.starts_with('{') => Line::Other,
        Err(_) => {
            // "2024/01/02 03:04:05 Failed to copyto: ..." -> "Failed to copyto: ...".
            let body = text
                .get(20..)
                .filter(|_| text.as_bytes().get(4) == Some(&b'/'))
                .unwrap_or(text);
            Line::Error(truncate(body.trim(), 300))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_lines_are_read_from_the_file_in_flight() {
        let line = br#"{"level":"notice","msg":"x","stats":{"bytes":14938112,"speed":4.7e6,"eta":6,"totalBytes":42856000,"transferring":[{"bytes":1000,"size":30000000,"speed":2500.5,"eta":null,"name":"b.bin"}]}}"#;
        match classify(line) {
            Line::Stats(s) => assert_eq!(
                s,
                Stats {
                    bytes: 1000,
                    rate_bps: 2500,
                    eta_s: None
                }
            ),
            _ => panic!("not stats"),
        }
        let done =
            br#"{"level":"notice","msg":"x","stats":{"bytes":30000000,"speed":1e7,"eta":0}}"#;
        match classify(done) {
            Line::Stats(s) => assert_eq!(
                s,
                Stats {
                    bytes: 30_000_000,
                    rate_bps: 10_000_000,
                    eta_s: Some(0)
                }
            ),
            _ => panic!("not stats"),
        }
    }

    #[test]
    fn garbage_never_panics() {
        for line in [
            &b""[..],
            b"{",
            b"\xff\xfe",
            br#"{"stats":{"bytes":-5,"speed":"fast"}}"#,
            br#"{"stats":{"bytes":1e300,"speed":null,"transferring":[]}}"#,
            b"2024/",
            "2024/01/02 03:04:05 Failed to copyto: \u{1F4A5}".as_bytes(),
        ] {
            let _ = classify(line);
        }
        match classify(b"2026/11/29 18:28:37 Failed to copyto: connection refused") {
            Line::Error(t) => assert_eq!(t, "Failed to copyto: connection refused"),
            _ => panic!("fatal line not kept"),
        }
    }

    #[test]
    fn failure_prefers_the_fatal_line() {
        let run = Finished {
            code: Some(5),
            stdout: Vec::new(),
            errors: vec![
                "Failed to copyto: refused".into(),
                "Attempt 1/1 failed".into(),
            ],
        };
        assert_eq!(
            failure(&run, "copyto"),
            "rclone copyto: Failed to copyto: refused (exit status 5)"
        );
    }
}
