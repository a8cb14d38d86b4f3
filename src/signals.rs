//! Stop signals: Ctrl-C (SIGINT), SIGTERM (a service manager, `kill`) and SIGHUP (a closed
//! terminal) all stop a run the same way: nothing half-written is published, temporary files
//! are removed, the summary is written, and the exit code says which signal it was (130, 143,
//! 129). SIGXFSZ (a file-size limit) is ignored, so hitting the limit is a write error handled
//! as a full disk (exit 6) instead of killing the process with its temporary files behind.

use std::sync::OnceLock;

use tokio::sync::watch;

use crate::exit;

/// The exit code of the stop signal received, 0 while none arrived.
static STOP: OnceLock<watch::Receiver<u8>> = OnceLock::new();

/// Starts listening (call once, inside the runtime). Until this is called, signals keep their
/// default effect.
pub fn install() {
    let (tx, rx) = watch::channel(0u8);
    if STOP.set(rx).is_err() {
        return;
    }
    tokio::spawn(async move {
        let code = wait_for_signal().await;
        // Sinks blocked outside the process (a plugin that stopped reading) give up too.
        keepnet_sink::request_stop();
        let _ = tx.send(code);
    });
}

#[cfg(unix)]
async fn wait_for_signal() -> u8 {
    use tokio::signal::unix::{signal, SignalKind};
    // Registering a listener replaces the default action (termination) of SIGXFSZ: writes past
    // the limit then fail with EFBIG, which the sinks report.
    let _ignored_file_size = signal(SignalKind::from_raw(XFSZ));
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let code = tokio::select! {
        _ = tokio::signal::ctrl_c() => exit::INTERRUPTED,
        Some(()) = recv(&mut term) => exit::TERMINATED,
        Some(()) = recv(&mut hup) => exit::HUNG_UP,
    };
    // Keep the SIGXFSZ listener alive for the rest of the process.
    std::mem::forget(_ignored_file_size);
    code
}

#[cfg(not(unix))]
async fn wait_for_signal() -> u8 {
    let _ = tokio::signal::ctrl_c().await;
    exit::INTERRUPTED
}

/// SIGXFSZ on Linux and most Unixes.
#[cfg(unix)]
const XFSZ: i32 = 25;

#[cfg(unix)]
async fn recv(signal: &mut Option<tokio::signal::unix::Signal>) -> Option<()> {
    match signal {
        Some(s) => s.recv().await,
        None => std::future::pending().await,
    }
}

/// Resolves with the stop signal's exit code once one arrives (at once if one already has).
/// Never resolves when [`install`] was not called.
pub async fn stopped() -> u8 {
    let Some(rx) = STOP.get() else {
        return std::future::pending().await;
    };
    let mut rx = rx.clone();
    let code = match rx.wait_for(|code| *code != 0).await {
        Ok(code) => *code,
        Err(_) => 0,
    };
    if code == 0 {
        return std::future::pending().await;
    }
    code
}

/// The stop signal's exit code, if one arrived.
pub fn requested() -> Option<u8> {
    STOP.get().map(|rx| *rx.borrow()).filter(|code| *code != 0)
}

/// What to say when a stop signal ended a run.
pub fn stopped_failure(code: u8) -> crate::exit::Failure {
    let name = match code {
        exit::TERMINATED => "terminated (SIGTERM)",
        exit::HUNG_UP => "hung up (SIGHUP)",
        _ => "interrupted",
    };
    crate::exit::Failure::new(
        code,
        anyhow::anyhow!("{name}: nothing was published, earlier files are untouched"),
    )
}
