//! A process-wide stop request, for sinks that block on something outside the process (a
//! plugin that stopped reading): set by the runner on Ctrl-C, SIGTERM or SIGHUP, polled by
//! such a sink while it waits, so a stop works at every stage.

use std::sync::atomic::{AtomicBool, Ordering};

static STOP: AtomicBool = AtomicBool::new(false);

/// Asks every waiting sink to give up (the run is being stopped).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

/// Whether a stop was requested.
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}
