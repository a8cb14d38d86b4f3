//! Exports for one company or many: the same outputs, with `{company}`-style targets filled in
//! per company, run with bounded concurrency. One company's failure does not stop the others
//! (unless fail-fast).

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use keepnet_api::{Client, Company, UserQuery};
use keepnet_sink::Timestamp;

use crate::columns::Layout;
use crate::exit::Failure;
use crate::pipeline::{self, Outcome};
use crate::progress::Progress;
use crate::sinks::{Plan, Registry, SinkSettings, SinkSpec};
use crate::targets::{self, Target};
use crate::templates;

/// Per-company e-mail recipients (from a job file); `None` uses the `email:` targets as given.
pub type Recipients = Arc<dyn Fn(&Company) -> Vec<String> + Send + Sync>;

/// What to export for every company.
pub struct Batch<'a> {
    /// The API client.
    pub client: &'a Client,
    /// Sink and delivery kinds.
    pub registry: &'a Registry,
    /// Search, order and page size.
    pub query: UserQuery,
    /// The columns.
    pub layout: Layout,
    /// `--sink` arguments, targets possibly with placeholders.
    pub specs: Vec<SinkSpec>,
    /// Options the sinks read.
    pub settings: SinkSettings,
    /// Publish a read that stayed inconsistent with the server, marked incomplete, instead of
    /// failing (see [`crate::completeness`]).
    pub allow_incomplete: bool,
    /// The scope guard's margin, in percent of each company's counts.
    pub scope_tolerance: u32,
    /// Stop starting companies after the first failure.
    pub fail_fast: bool,
    /// Companies exported at once.
    pub concurrency: usize,
    /// Per-company recipients for an `email:` delivery whose target is empty.
    pub recipients: Option<Recipients>,
    /// Progress display.
    pub progress: &'a dyn Progress,
    /// The change report: where the states are kept and the change sinks.
    pub report: Reporting,
    /// Where the settings came from, for messages that name them.
    pub names: crate::names::Names,
    /// When the run started: `{date}` and `{timestamp}` of every company and of the rollup.
    pub started: Timestamp,
    /// Files the front end writes besides the outputs (the summary), which no output may
    /// write too.
    pub reserved: Vec<Target>,
}

/// What a run keeps and reports across runs (`--state`, `--changes`, `--rollup`).
#[derive(Debug, Clone, Default)]
pub struct Reporting {
    /// Where the per-company states are kept; `None`: no change report.
    pub state: Option<crate::changes::StateKeeping>,
    /// Change-report sinks, targets possibly with placeholders.
    pub changes: Vec<SinkSpec>,
    /// Rollup sinks (`--rollup`): one row per company, written after every company
    /// ([`crate::rollup`]); targets possibly with `{date}` or `{timestamp}`.
    pub rollup: Vec<SinkSpec>,
    /// Send no delivery for a company whose users did not change.
    pub skip_unchanged_mail: bool,
    /// Fail with [`crate::exit::CHANGES`] when anything changed ([`crate::summary::changes_gate`]).
    pub fail_on_changes: bool,
    /// Read each company's count summary (a rollup shows its figures).
    pub want_figures: bool,
}

/// How one company's export ended.
pub struct CompanyResult {
    /// The company.
    pub company: Company,
    /// What was written, or why not; `None` when it was skipped (fail-fast).
    pub outcome: Option<Result<Outcome, Failure>>,
    /// How long it took.
    pub duration: Duration,
}

/// The outputs of an export, apart from the client: their targets filled in per company.
pub struct Outputs<'a> {
    /// Sink and delivery kinds.
    pub registry: &'a Registry,
    /// `KIND:TARGET` specs, targets possibly with placeholders.
    pub specs: &'a [SinkSpec],
    /// Options the sinks read.
    pub settings: &'a SinkSettings,
    /// Whether an `email:` delivery with an empty target gets its recipients per company
    /// (job files).
    pub recipients_per_company: bool,
}

impl Outputs<'_> {
    /// The specs with one company's placeholders filled in; `started` (the run's start) gives
    /// `{date}` and `{timestamp}`, so every company of a run shares them.
    fn for_company(
        &self,
        name: &str,
        id: &str,
        recipients: &[String],
        started: &Timestamp,
    ) -> Vec<SinkSpec> {
        self.specs
            .iter()
            .map(|spec| {
                let per_company = self.recipients_per_company && !self.registry.is_sink(&spec.kind);
                let target = match per_company {
                    true if spec.target.is_empty() => recipients.join(","),
                    _ => templates::expand(&spec.target, name, id, started),
                };
                SinkSpec {
                    kind: spec.kind.clone(),
                    target,
                }
            })
            .collect()
    }
}

impl Batch<'_> {
    /// The outputs alone, for checks.
    pub fn outputs(&self) -> Outputs<'_> {
        Outputs {
            registry: self.registry,
            specs: &self.specs,
            settings: &self.settings,
            recipients_per_company: self.recipients.is_some(),
        }
    }

    /// Every file this batch would write for `companies` (named `names`), and the reserved
    /// ones: sinks and change reports per company, state files, the rollup.
    fn targets(&self, companies: &[Company], names: &[String]) -> Vec<Target> {
        let mut targets = self.reserved.clone();
        for (company, name) in companies.iter().zip(names) {
            let id = company.resource_id.as_str();
            let who = format!("{} (id {id})", company.name);
            for spec in self.outputs().for_company(name, id, &[], &self.started) {
                if spec.target != "-" && self.registry.writes_files(&spec.kind) {
                    targets.push(Target {
                        path: spec.path().to_owned(),
                        what: format!("{} for {who}", self.names.sink(&spec)),
                    });
                }
            }
            for spec in self.change_specs(name, company, &self.started) {
                if spec.target != "-" {
                    targets.push(Target {
                        path: spec.path().to_owned(),
                        what: format!("{} for {who}", self.names.changes.shown(&spec.to_string())),
                    });
                }
            }
            if let Some(state) = &self.report.state {
                targets.push(Target {
                    path: keepnet_state::path_of(&state.dir, id),
                    what: format!("the state of {who} ({})", state.label),
                });
            }
        }
        for spec in templates::rollup_specs(&self.report.rollup, &self.started) {
            if spec.target != "-" {
                targets.push(Target {
                    path: spec.path().to_owned(),
                    what: self.names.rollup.shown(&spec.to_string()),
                });
            }
        }
        targets
    }

    /// Checks the files this batch writes whatever its companies (targets without a company
    /// placeholder, the rollup, the reserved ones) against each other, before any request:
    /// `--sink jsonl:s.json --summary-json s.json`, `--changes csv:r.csv --rollup csv:r.csv`.
    pub fn check_fixed_targets(&self) -> Result<(), Failure> {
        let mut targets = self.reserved.clone();
        targets.extend(self.fixed_targets());
        targets::check_distinct(&targets)
    }

    /// The files this batch writes whatever its companies: targets without a company
    /// placeholder and the rollup (not the reserved ones). A job file's jobs are compared on
    /// them with each other.
    pub fn fixed_targets(&self) -> Vec<Target> {
        let fixed = |spec: &SinkSpec| !crate::spec::names_company(&spec.target);
        let mut targets = self.targets(&[], &[]);
        targets.drain(..self.reserved.len());
        let expand = |spec: &SinkSpec| SinkSpec {
            kind: spec.kind.clone(),
            target: templates::expand(&spec.target, "", "", &self.started),
        };
        for spec in self.specs.iter().filter(|s| fixed(s)).map(expand) {
            if spec.target != "-" && self.registry.writes_files(&spec.kind) {
                targets.push(Target {
                    path: spec.path().to_owned(),
                    what: self.names.sink(&spec),
                });
            }
        }
        for spec in self.report.changes.iter().filter(|s| fixed(s)).map(expand) {
            if spec.target != "-" {
                targets.push(Target {
                    path: spec.path().to_owned(),
                    what: self.names.changes.shown(&spec.to_string()),
                });
            }
        }
        targets
    }

    /// Exports every company; results in the companies' order. First, every file the run
    /// would write is compared with every other (any kind, any company): a run that would
    /// write one file twice is refused before anything is fetched.
    pub async fn run(&self, companies: Vec<Company>) -> Result<Vec<CompanyResult>, Failure> {
        let names = templates::safe_names(&companies);
        targets::check_distinct(&self.targets(&companies, &names))?;
        let run_started = &self.started;
        let several = companies.len() > 1;
        let failed = std::sync::atomic::AtomicBool::new(false);
        let mut results: Vec<(usize, CompanyResult)> = stream::iter(companies.into_iter().zip(names).enumerate())
            .map(|(index, (company, name))| {
                let failed = &failed;
                async move {
                    let started = Instant::now();
                    if failed.load(std::sync::atomic::Ordering::Relaxed)
                        || crate::stop::requested().is_some()
                    {
                        return (index, CompanyResult { company, outcome: None, duration: Duration::ZERO });
                    }
                    let outcome = self.one(&company, &name, run_started).await;
                    if let Err(e) = &outcome {
                        // After --fail-fast's first failure or a Ctrl-C, start no other company.
                        if self.fail_fast || crate::exit::is_stop(e.code()) {
                            failed.store(true, std::sync::atomic::Ordering::Relaxed);
                        }
                        // One company's error is the run's error, printed once at the end.
                        if several {
                            tracing::error!(company = %company.name, id = %company.resource_id, "export failed: {e}");
                        }
                    }
                    (index, CompanyResult { company, outcome: Some(outcome), duration: started.elapsed() })
                }
            })
            .buffer_unordered(self.concurrency.max(1))
            .collect()
            .await;
        results.sort_by_key(|(index, _)| *index);
        Ok(results.into_iter().map(|(_, result)| result).collect())
    }

    /// One company: its outputs built from the templates, then the pipeline.
    async fn one(
        &self,
        company: &Company,
        file_name: &str,
        started: &Timestamp,
    ) -> Result<Outcome, Failure> {
        let recipients = self
            .recipients
            .as_ref()
            .map(|r| r(company))
            .unwrap_or_default();
        let mut specs = self.outputs().for_company(
            file_name,
            company.resource_id.as_str(),
            &recipients,
            started,
        );
        if self.recipients.is_some() {
            // A job-file e-mail with nobody to send this company's files to is skipped.
            specs.retain(|s| self.registry.is_sink(&s.kind) || !s.target.is_empty());
        }
        let (sinks, changes) = (&self.names.sinks, &self.names.changes);
        let mut plan = self.registry.build_all(&specs, &self.settings, sinks)?;
        if let Some(spec) = self.add_mail_attachment(&mut plan, company)? {
            specs.push(spec);
        }
        let change_specs = self.change_specs(file_name, company, started);
        plan.changes = self
            .registry
            .build_all(&change_specs, &self.settings, changes)?
            .sinks;
        let rebuild = || {
            let built = self
                .registry
                .build_all(&specs, &self.settings, sinks)?
                .sinks;
            let changes = self
                .registry
                .build_all(&change_specs, &self.settings, changes)?
                .sinks;
            Ok((built, changes))
        };
        let job = pipeline::Job {
            query: self.query.clone(),
            layout: self.layout.clone(),
            plan,
            rebuild: &rebuild,
            allow_incomplete: self.allow_incomplete,
            scope_tolerance: self.scope_tolerance,
            state: self.report.state.clone(),
            skip_unchanged_mail: self.report.skip_unchanged_mail,
            want_figures: self.report.want_figures,
            names: self.names.clone(),
        };
        let mut progress = self.progress.company(&company.name);
        let outcome = pipeline::run(self.client, company, job, progress.as_mut()).await;
        progress.finish(outcome.is_ok());
        outcome
    }

    /// The change sinks with one company's placeholders filled in.
    fn change_specs(
        &self,
        file_name: &str,
        company: &Company,
        started: &Timestamp,
    ) -> Vec<SinkSpec> {
        self.report
            .changes
            .iter()
            .map(|spec| SinkSpec {
                kind: spec.kind.clone(),
                target: templates::expand(
                    &spec.target,
                    file_name,
                    company.resource_id.as_str(),
                    started,
                ),
            })
            .collect()
    }

    /// With deliveries but no file sink, adds the CSV sink into a private folder so the e-mail
    /// attaches exactly what `--sink csv:` makes; returns its spec.
    fn add_mail_attachment(
        &self,
        plan: &mut Plan,
        company: &Company,
    ) -> Result<Option<SinkSpec>, Failure> {
        if plan.deliveries.is_empty() || plan.has_file_sink() {
            return Ok(None);
        }
        let scratch = tempfile::Builder::new()
            .prefix("keepnet-export-mail-")
            .tempdir()
            .map_err(|e| Failure::output("cannot create a folder for the e-mail attachment", e))?;
        let date = Timestamp::now();
        let name = crate::output::safe_file_name(&format!(
            "{} target users {:04}-{:02}-{:02}.csv",
            company.name, date.year, date.month, date.day
        ));
        let spec = SinkSpec::parse(&format!("csv:{}", scratch.path().join(name).display()))?;
        let mut extra = self.registry.build_all(
            std::slice::from_ref(&spec),
            &self.settings,
            &self.names.sinks,
        )?;
        plan.sinks.append(&mut extra.sinks);
        plan.scratch = Some(scratch);
        Ok(Some(spec))
    }
}
