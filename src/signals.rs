//! Stop signals: Ctrl-C (SIGINT), SIGTERM (a service manager, `kill`) and SIGHUP (a closed
//! terminal) all stop a run the same way, through the engine's [`stop`] request: nothing
//! half-written is published, temporary files are removed, the summary is written, and the
//! exit code says which signal it was (130, 143, 129). SIGXFSZ (a file-size limit) is ignored,
//! so hitting the limit is a write error handled as a full disk (exit 6) instead of killing
//! the process with its temporary files behind.

use keepnet_export_core::stop::{self, Reason};

/// Starts listening (call once, inside the runtime). Until this is called, signals keep their
/// default effect.
pub fn install() {
    static INSTALLED: std::sync::Once = std::sync::Once::new();
    INSTALLED.call_once(|| {
        tokio::spawn(async move {
            stop::request(wait_for_signal().await);
        });
    });
}

#[cfg(unix)]
async fn wait_for_signal() -> Reason {
    use tokio::signal::unix::{signal, SignalKind};
    // Registering a listener replaces the default action (termination) of SIGXFSZ: writes past
    // the limit then fail with EFBIG, which the sinks report.
    let _ignored_file_size = signal(SignalKind::from_raw(XFSZ));
    let mut term = signal(SignalKind::terminate()).ok();
    let mut hup = signal(SignalKind::hangup()).ok();
    let reason = tokio::select! {
        _ = tokio::signal::ctrl_c() => Reason::Interrupted,
        Some(()) = recv(&mut term) => Reason::Terminated,
        Some(()) = recv(&mut hup) => Reason::HungUp,
    };
    // Keep the SIGXFSZ listener alive for the rest of the process.
    std::mem::forget(_ignored_file_size);
    reason
}

#[cfg(not(unix))]
async fn wait_for_signal() -> Reason {
    let _ = tokio::signal::ctrl_c().await;
    Reason::Interrupted
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
