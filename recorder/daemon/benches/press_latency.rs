//! Press-to-LED latency (goal: under 20 ms): how long from a SAVE press edge entering the
//! buttons task until the LED output is written. Runs the real path (edge channel, recogniser,
//! LED request, LED task) with the simulated backend and prints figures; it does not fail on a
//! missed goal, because a shared machine's figures are not the camera's.
//!
//! On the camera add the kernel's debounce (`buttons.debounce_ms`): the kernel reports an edge
//! only once the contact has settled for that long.
//!
//! cargo bench -p moment-recorder --bench press_latency [-- --presses N]

use moment_recorder::buttons::{
    Backend, Button, ButtonsConfig, ButtonsTask, LedFlag, LedPattern, LedStatus, SimulatedButtons,
    SimulatedLed,
};
use std::time::Duration;
use tokio::sync::watch;

const GOAL: Duration = Duration::from_millis(20);
const DEFAULT_PRESSES: usize = 200;
/// A run that waits this long for the LED has failed, not measured.
const PATIENCE: Duration = Duration::from_secs(10);

fn main() -> Result<(), String> {
    let presses = parse_presses()?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start tokio: {e}"))?;
    runtime.block_on(run(presses))
}

fn parse_presses() -> Result<usize, String> {
    let mut args = std::env::args().skip(1);
    let mut presses = DEFAULT_PRESSES;
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--presses" => {
                let value = args.next().ok_or("--presses needs a number")?;
                presses = value
                    .parse()
                    .ok()
                    .filter(|n| (1..=100_000).contains(n))
                    .ok_or(format!(
                        "--presses {value:?}: give a number from 1 to 100000"
                    ))?;
            }
            // cargo bench passes --bench to every benchmark program.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}; try --presses N")),
        }
    }
    Ok(presses)
}

async fn run(presses: usize) -> Result<(), String> {
    let config = ButtonsConfig {
        backend: Backend::Simulated,
        ..ButtonsConfig::default()
    };
    println!(
        "press-to-LED latency: {presses} SAVE presses per row through ButtonsTask (simulated \
         backend, debounce {} ms, 2 tokio workers)",
        config.debounce_ms
    );
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9}  goal < {} ms",
        "LED before the press",
        "min",
        "median",
        "p99",
        "max",
        GOAL.as_millis()
    );
    for recording in [false, true] {
        let latencies = measure(&config, presses, recording).await?;
        let label = if recording {
            "steady on (recording)"
        } else {
            "off"
        };
        report(label, latencies);
    }
    Ok(())
}

/// Presses and releases SAVE `presses` times, waiting for each save to end, and returns the time
/// from each press edge to the LED write it caused.
async fn measure(
    config: &ButtonsConfig,
    presses: usize,
    recording: bool,
) -> Result<Vec<Duration>, String> {
    let led = SimulatedLed::new();
    let (task, mut events) = ButtonsTask::spawn(
        config,
        Box::new(SimulatedButtons::new()),
        Box::new(led.clone()),
    )
    .map_err(|e| e.to_string())?;
    // The daemon's side: read the gestures so none are dropped.
    let reader = tokio::spawn(async move { while events.recv().await.is_some() {} });
    let control = task.led();
    let mut status = control.subscribe();
    control.set_flag(LedFlag::Recording, recording);
    let base = if recording {
        LedPattern::Recording
    } else {
        LedPattern::Off
    };
    wait(&mut status, |s| s.pattern == base && s.on == recording).await?;
    let presser = task.presser();
    let mut latencies = Vec::with_capacity(presses);
    for _ in 0..presses {
        let press = presser.press(Button::Save).map_err(|e| e.to_string())?;
        wait(&mut status, |s| {
            s.pattern == LedPattern::Saving && s.on != recording
        })
        .await?;
        let write = led
            .history_since(press.at)
            .first()
            .copied()
            .ok_or("the LED changed but the simulated LED saw no write")?;
        if write.on == recording {
            return Err(format!("the press wrote {} to the LED", write.on));
        }
        latencies.push(write.at.duration_since(press.at));
        presser.release(Button::Save).map_err(|e| e.to_string())?;
        wait(&mut status, |s| s.pattern == base && s.on == recording).await?;
    }
    task.stop().await;
    reader.await.map_err(|e| e.to_string())?;
    Ok(latencies)
}

async fn wait(
    status: &mut watch::Receiver<LedStatus>,
    want: impl Fn(&LedStatus) -> bool,
) -> Result<(), String> {
    match tokio::time::timeout(PATIENCE, status.wait_for(|s| want(s))).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => Err("the LED task stopped".into()),
        Err(_) => Err(format!("the LED did not change within {PATIENCE:?}")),
    }
}

fn report(label: &str, mut latencies: Vec<Duration>) {
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q).round() as usize];
    let ms = |d: Duration| format!("{:.3} ms", d.as_secs_f64() * 1e3);
    let max = at(1.0);
    println!(
        "{:<28} {:>9} {:>9} {:>9} {:>9}  {}",
        label,
        ms(at(0.0)),
        ms(at(0.5)),
        ms(at(0.99)),
        ms(max),
        if max < GOAL { "PASS" } else { "MISS" }
    );
}
