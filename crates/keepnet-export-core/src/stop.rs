//! A request to stop the run (Ctrl-C, SIGTERM, SIGHUP in the command line; anything a custom
//! front end chooses): nothing half-written is published, temporary files are removed, the
//! summary is still written, and the exit code says why (130, 143, 129).
//!
//! The front end calls [`request`]; the engine polls [`requested`] between companies and
//! awaits [`stopped`] beside every wait on the network. Sinks blocked outside the process (a
//! plugin that stopped reading) are told through [`keepnet_sink::request_stop`].

use std::sync::OnceLock;

use tokio::sync::watch;

use crate::exit::{self, Failure};

/// Why the run is being stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Ctrl-C (SIGINT).
    Interrupted,
    /// SIGTERM (a service manager, `kill`).
    Terminated,
    /// SIGHUP (the terminal went away).
    HungUp,
}

impl Reason {
    /// The exit code that reports it: 128 + the signal number, as shells do.
    pub fn code(self) -> u8 {
        match self {
            Reason::Interrupted => exit::INTERRUPTED,
            Reason::Terminated => exit::TERMINATED,
            Reason::HungUp => exit::HUNG_UP,
        }
    }

    /// The failure a stopped run ends with.
    pub fn failure(self) -> Failure {
        let name = match self {
            Reason::Terminated => "terminated (SIGTERM)",
            Reason::HungUp => "hung up (SIGHUP)",
            Reason::Interrupted => "interrupted",
        };
        Failure::msg(
            self.code(),
            format!("{name}: nothing was published, earlier files are untouched"),
        )
    }
}

fn channel() -> &'static watch::Sender<Option<Reason>> {
    static STOP: OnceLock<watch::Sender<Option<Reason>>> = OnceLock::new();
    STOP.get_or_init(|| watch::channel(None).0)
}

/// Asks the run to stop; the first reason given is the one reported.
pub fn request(reason: Reason) {
    keepnet_sink::request_stop();
    channel().send_if_modified(|current| {
        if current.is_none() {
            *current = Some(reason);
            true
        } else {
            false
        }
    });
}

/// Why the run was asked to stop, if it was.
pub fn requested() -> Option<Reason> {
    *channel().borrow()
}

/// Resolves once a stop is requested (at once if one already was).
pub async fn stopped() -> Reason {
    let mut rx = channel().subscribe();
    loop {
        if let Some(reason) = *rx.borrow_and_update() {
            return reason;
        }
        if rx.changed().await.is_err() {
            // The sender lives in a static and is never dropped; were it, no stop could come.
            return std::future::pending().await;
        }
    }
}
