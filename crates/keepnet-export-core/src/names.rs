//! How the user wrote the settings a run's messages mention, taken from where each came from
//! ([`Origin`]), so the engine spells no front end's flag: an output is `--sink csv:a.csv` on
//! the command line, `KEEPNET_SINK=csv:a.csv` from the environment and `sinks = "csv:a.csv"`
//! in a job file. Errors about a setting that was not given point at it with
//! [`keepnet_sink::Setting`] instead, for the front end to name.

use crate::origin::Origin;
use crate::spec::SinkSpec;

/// Where the settings a run's messages mention came from.
#[derive(Debug, Clone, Default)]
pub struct Names {
    /// The outputs (`--sink`).
    pub sinks: Origin,
    /// The change-report outputs (`--changes`).
    pub changes: Origin,
    /// The rollup outputs (`--rollup`).
    pub rollup: Origin,
    /// Publishing an incomplete read (`--allow-incomplete`).
    pub allow_incomplete: Origin,
    /// No e-mail for a company without changes (`--mail-skip-unchanged`).
    pub mail_skip_unchanged: Origin,
}

impl Names {
    /// An output as the user wrote it, its placeholders filled in: `--sink csv:Initech.csv`.
    pub fn sink(&self, spec: &SinkSpec) -> String {
        self.sinks.shown(&spec.to_string())
    }

    /// ` (SETTING)` after a message about what a switch that is on did; empty when it came
    /// from nowhere (a team's own binary set it).
    pub fn because(origin: &Origin) -> String {
        match origin.shown_on() {
            on if on.is_empty() => String::new(),
            on => format!(" ({on})"),
        }
    }
}
