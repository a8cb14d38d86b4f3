//! Progress for people: a bar per company on a terminal, a plain line every few seconds when
//! stderr is a file or a pipe (CI logs), nothing with `-q`.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use keepnet_export_core::progress as engine;

/// How progress is shown for the whole run.
pub struct Progress {
    mode: Mode,
    interval: Duration,
}

enum Mode {
    Bars(MultiProgress),
    Lines,
    Quiet,
}

impl Progress {
    /// Bars when `bars` (see [`bars_wanted`](Self::bars_wanted)), periodic lines otherwise,
    /// nothing when `quiet`.
    pub fn new(quiet: bool, bars: bool, interval: Duration) -> Self {
        let mode = if quiet {
            Mode::Quiet
        } else if bars {
            Mode::Bars(MultiProgress::with_draw_target(ProgressDrawTarget::stderr()))
        } else {
            Mode::Lines
        };
        Self { mode, interval }
    }

    /// Whether bars will be drawn (then routine log lines are kept out of their way).
    pub fn bars_wanted(quiet: bool, verbose: u8) -> bool {
        !quiet && verbose == 0 && std::io::stderr().is_terminal()
    }
}

impl engine::Progress for Progress {
    fn company(&self, name: &str) -> Box<dyn engine::CompanyProgress> {
        let bar = match &self.mode {
            Mode::Bars(multi) => {
                let bar = multi.add(ProgressBar::new(0));
                bar.set_style(
                    ProgressStyle::with_template(
                        "{prefix:.bold} [{bar:30}] {pos}/{len} users {per_sec} ETA {eta} {msg}",
                    )
                    .expect("a valid template")
                    .progress_chars("=> "),
                );
                bar.set_prefix(crate::output::printable(name).into_owned());
                Some(bar)
            }
            _ => None,
        };
        Box::new(CompanyProgress {
            name: name.to_owned(),
            bar,
            lines: matches!(self.mode, Mode::Lines),
            interval: self.interval,
            started: Instant::now(),
            last_line: Instant::now(),
            total: 0,
            done: 0,
        })
    }
}

/// One company's progress: a bar, or a log line every interval.
struct CompanyProgress {
    name: String,
    bar: Option<ProgressBar>,
    lines: bool,
    interval: Duration,
    started: Instant,
    last_line: Instant,
    total: u64,
    done: u64,
}

impl engine::CompanyProgress for CompanyProgress {
    fn set_total(&mut self, total: u64) {
        self.total = total;
        if let Some(bar) = &self.bar {
            bar.set_length(total);
        }
    }

    fn restart(&mut self) {
        self.done = 0;
        self.started = Instant::now();
        if let Some(bar) = &self.bar {
            bar.set_position(0);
        }
    }

    fn advance(&mut self, users: u64) {
        self.done += users;
        if let Some(bar) = &self.bar {
            bar.set_position(self.done);
        }
        if self.lines && self.last_line.elapsed() >= self.interval {
            self.last_line = Instant::now();
            let elapsed = self.started.elapsed().as_secs_f64().max(1e-3);
            let rate = self.done as f64 / elapsed;
            let eta = if rate > 0.0 && self.total > self.done {
                format!("{:.0}s", (self.total - self.done) as f64 / rate)
            } else {
                "-".to_owned()
            };
            let percent = (100 * self.done).checked_div(self.total).unwrap_or(100);
            tracing::info!(
                company = %self.name,
                users = self.done,
                of = self.total,
                percent,
                rate = format!("{rate:.0}/s"),
                eta,
                "progress"
            );
        }
    }

    fn finish(&mut self, ok: bool) {
        if let Some(bar) = &self.bar {
            bar.finish_with_message(if ok { "done" } else { "FAILED" });
        }
    }
}
