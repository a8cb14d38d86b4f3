//! The `keepnet-export` runner: parses the command line, connects, and composes an API fetch
//! with an output. It holds no API or format logic of its own; those live in the crates under
//! `crates/`.

pub mod cli;
mod commands;
mod env_error;
pub mod exit;
mod logging;
mod output;
mod progress;
mod secret;
pub mod session;
mod signals;

use keepnet_export_core::{batch, summary};
pub use keepnet_export_core::{columns, completeness, options, pipeline, settings, sinks};

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches};

use crate::cli::{Cli, Command};
use crate::exit::Failure;
use crate::session::{SecretSource, Session};
use crate::sinks::Registry;
use keepnet_export_core::settings::{Origin, SinkOption};

/// The `keepnet-export` command line with the output kinds it knows.
///
/// A team's own binary registers extra sink kinds and keeps every built-in command and flag:
///
/// ```no_run
/// use keepnet_export::Runner;
/// use keepnet_sink_jsonl::JsonlSink;
///
/// fn main() -> std::process::ExitCode {
///     Runner::new()
///         .sink("ndjson", "JSON Lines under another name; PATH or -", true, Box::new(|spec, settings| {
///             Ok(Box::new(JsonlSink::new(spec.path(), settings.header)))
///         }))
///         .main()
/// }
/// ```
/// `examples/markdown-sink` is a complete crate built this way.
pub struct Runner {
    registry: Registry,
}

impl Default for Runner {
    fn default() -> Self {
        Self::new()
    }
}

impl Runner {
    /// The built-in kinds: csv, xlsx, jsonl, exec; the deliveries email, s3, sftp, webhook.
    pub fn new() -> Self {
        Self {
            registry: Registry::builtin(),
        }
    }

    /// Adds a sink kind for `--sink KIND:TARGET`; `stdout` says whether the target `-` means
    /// stdout for it.
    pub fn sink(
        mut self,
        kind: &str,
        description: &str,
        stdout: bool,
        factory: sinks::SinkFactory,
    ) -> Self {
        self.registry.register(kind, description, stdout, factory);
        self
    }

    /// Makes `kind` take each record whole, every field exactly as served, when no `--columns`
    /// was given (as `jsonl` does).
    pub fn records(mut self, kind: &str) -> Self {
        self.registry.takes_records(kind);
        self
    }

    /// Declares an option of a sink or delivery kind, set by `--sink-option KIND.NAME=VALUE`,
    /// `KEEPNET_SINK_OPTION` or a job file's `[job.options.KIND]`, checked before any request
    /// and read by the kind's factory from `settings.options(&spec.kind)`. Built-in kinds
    /// declare theirs the same way.
    pub fn sink_option(mut self, kind: &str, option: options::OptionSpec) -> Self {
        self.registry.register_option(kind, option);
        self
    }

    /// Adds a file format described whole (options, whether `-` is stdout, whether it takes
    /// records whole): the call the built-in formats are registered with
    /// ([`sinks::SinkKind`]).
    pub fn sink_kind(mut self, kind: &sinks::SinkKind) -> Self {
        self.registry.register_sink_kind(kind);
        self
    }

    /// Adds a delivery kind described whole (options, rules, check, whether it sends the
    /// files, runs last or has a secret target): the call the built-in deliveries are
    /// registered with ([`sinks::DeliveryKind`], `keepnet_export_core::kinds`).
    pub fn delivery_kind(mut self, kind: &sinks::DeliveryKind) -> Self {
        self.registry.register_delivery_kind(kind);
        self
    }

    /// Adds a delivery kind (runs after every file is published).
    pub fn delivery(
        mut self,
        kind: &str,
        description: &str,
        factory: sinks::DeliveryFactory,
    ) -> Self {
        self.registry.register_delivery(kind, description, factory);
        self
    }

    /// Runs this process's command line and returns its exit code.
    pub fn main(self) -> ExitCode {
        let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
        let matches = match Cli::command().try_get_matches_from(&argv) {
            Ok(matches) => matches,
            Err(e) => env_error::explain(e, &Cli::command(), &argv).exit(),
        };
        let secret_source = match matches.value_source("client_secret") {
            Some(clap::parser::ValueSource::CommandLine) => SecretSource::CommandLine,
            _ => SecretSource::Other,
        };
        let mut cli = match Cli::from_arg_matches(&matches) {
            Ok(cli) => cli,
            Err(e) => e.exit(),
        };
        // -q and -v contradict each other on one command line; a -v flag beats KEEPNET_QUIET.
        if cli.global.quiet && cli.global.verbose > 0 {
            if matches.value_source("quiet") == Some(clap::parser::ValueSource::CommandLine) {
                Cli::command()
                    .error(
                        clap::error::ErrorKind::ArgumentConflict,
                        "--quiet and --verbose contradict each other: give one",
                    )
                    .exit();
            }
            cli.global.quiet = false;
        }
        cli.global.plugin_timeout_source = matches
            .subcommand()
            .and_then(|(_, m)| m.value_source("plugin_timeout"))
            .or_else(|| matches.value_source("plugin_timeout"));
        let sources = |name: &str| {
            matches.subcommand_matches(name).map(|m| {
                m.ids()
                    .filter_map(|id| Some((id.to_string(), m.value_source(id.as_str())?)))
                    .collect()
            })
        };
        match &mut cli.command {
            Command::Users(args) => args.sources = sources("users").unwrap_or_default(),
            Command::PreviewEmail(args) => {
                args.users.sources = sources("preview-email").unwrap_or_default()
            }
            _ => {}
        }
        let bars = progress::Progress::bars_wanted(cli.global.quiet, cli.global.verbose);
        let json = cli.global.log_format == cli::LogFormat::Json;
        // JSON lines are for machines: no bars in their way.
        let bars = bars && !json;
        logging::init(cli.global.verbose, cli.global.quiet, bars, json);
        // One runtime thread for the network (and JSON parsing); each sink has a thread of its
        // own. More runtime threads only added allocator contention (see BENCHMARKS.md).
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                return ExitCode::from(exit::INTERNAL);
            }
        };
        match runtime.block_on(run(cli, secret_source, self.registry)) {
            Ok(()) => ExitCode::from(exit::SUCCESS),
            Err(failure) if json => {
                let message = shown(&failure);
                tracing::error!(exit_code = failure.code(), "{message}");
                ExitCode::from(failure.code())
            }
            Err(failure) => {
                eprintln!("error: {}", output::printable(&shown(&failure)));
                ExitCode::from(failure.code())
            }
        }
    }
}

/// Runs this process's command line with the built-in kinds.
pub fn main() -> ExitCode {
    Runner::new().main()
}

/// What a command runs with: the connected client and the output kinds.
#[derive(Clone)]
pub(crate) struct Context<'a> {
    pub(crate) client: &'a keepnet_api::Client,
    pub(crate) registry: &'a Registry,
    pub(crate) progress: &'a progress::Progress,
    /// The scope guard's margin, in percent (`--scope-tolerance`).
    pub(crate) scope_tolerance: u32,
    /// `--plugin-timeout`: a shorthand for the `exec.timeout` option, which every job and
    /// every `users` run gets (a later `--sink-option exec.timeout=` wins).
    pub(crate) plugin_timeout: SinkOption,
}

/// `--plugin-timeout SECS` (or `KEEPNET_PLUGIN_TIMEOUT`) as the `exec.timeout` option, with
/// where it came from.
fn plugin_timeout(global: &cli::GlobalArgs) -> SinkOption {
    use clap::parser::ValueSource;
    let origin = match global.plugin_timeout_source {
        Some(ValueSource::CommandLine) => Origin::Flag("--plugin-timeout".to_owned()),
        Some(ValueSource::EnvVariable) => Origin::Env("KEEPNET_PLUGIN_TIMEOUT".to_owned()),
        _ => Origin::Default,
    };
    SinkOption::shorthand("exec.timeout", &global.plugin_timeout.to_string(), origin)
}

/// A failure as the command line shows it: the engine's message, and the setting it points at
/// named as this front end spells it.
fn shown(failure: &Failure) -> String {
    match failure.setting() {
        Some(keepnet_sink::Setting::PluginTimeout) => {
            format!("{failure} (the limit is --plugin-timeout SECS, or KEEPNET_PLUGIN_TIMEOUT)")
        }
        Some(keepnet_sink::Setting::MailAttachmentLimit) => format!(
            "{failure} (the limit is --mail-max-attachment-size SIZE, or \
             KEEPNET_MAIL_MAX_ATTACHMENT_SIZE; --columns and --search make the export smaller)"
        ),
        Some(keepnet_sink::Setting::BaseUrl) => {
            format!("{failure} (the base URL is --base-url URL, or KEEPNET_BASE_URL)")
        }
        Some(keepnet_sink::Setting::AllowIncomplete) => format!(
            "{failure} (that is --allow-incomplete, or KEEPNET_ALLOW_INCOMPLETE=true; in a job \
             file, allow_incomplete = true)"
        ),
        Some(keepnet_sink::Setting::Status) => format!(
            "{failure} (--status all, or KEEPNET_STATUS=all, saves the server's file with every \
             user, deleted ones included; `keepnet-export users --company ID --sink csv:PATH` \
             reads each user's state and keeps exactly the selected ones)"
        ),
        _ => failure.to_string(),
    }
}

/// Runs one parsed command.
async fn run(cli: Cli, secret_source: SecretSource, registry: Registry) -> Result<(), Failure> {
    signals::install();
    match &cli.command {
        Command::Sandbox(args) => return commands::sandbox::run(args).await,
        Command::Completions(args) => {
            let mut command = Cli::command();
            return output::to_stdout(|out| {
                clap_complete::generate(args.shell, &mut command, "keepnet-export", out);
                Ok(())
            });
        }
        Command::Man => {
            return output::to_stdout(|out| clap_mangen::Man::new(Cli::command()).render(out));
        }
        Command::Run(args) if args.check => {
            return commands::run::check(args, &registry, &plugin_timeout(&cli.global))
        }
        Command::Users(args) if args.dry_run => {
            // No session: nothing is fetched, so no credentials are needed.
            let client = commands::offline_client();
            let quiet = progress::Progress::new(true, false, std::time::Duration::from_secs(1));
            let ctx = Context {
                client: &client,
                registry: &registry,
                progress: &quiet,
                scope_tolerance: cli.global.scope_tolerance,
                plugin_timeout: plugin_timeout(&cli.global),
            };
            return commands::users::dry_run(&ctx, args);
        }
        _ => {}
    }
    let session = tokio::select! {
        biased;
        session = Session::connect(&cli.global, secret_source) => session?,
        reason = keepnet_export_core::stop::stopped() => return Err(reason.failure()),
    };
    let bars = progress::Progress::bars_wanted(cli.global.quiet, cli.global.verbose)
        && cli.global.log_format == cli::LogFormat::Text;
    let progress = progress::Progress::new(
        cli.global.quiet,
        bars,
        std::time::Duration::from_secs_f64(cli.global.progress_interval.max(0.05)),
    );
    // Commands that publish files stop themselves cleanly on a signal (users, run); the others
    // hold nothing half-written and are simply cut short.
    let cut_short = async {
        let reason = keepnet_export_core::stop::stopped().await;
        Err::<(), Failure>(reason.failure())
    };
    // What the commands that export run with.
    let ctx = Context {
        client: &session.client,
        registry: &registry,
        progress: &progress,
        scope_tolerance: cli.global.scope_tolerance,
        plugin_timeout: plugin_timeout(&cli.global),
    };
    let result = match &cli.command {
        Command::Companies(args) => tokio::select! {
            biased;
            r = commands::companies::run(&session.client, args) => r,
            r = cut_short => r,
        },
        Command::Count(args) => tokio::select! {
            biased;
            r = commands::count::run(&session.client, args, cli.global.scope_tolerance) => r,
            r = cut_short => r,
        },
        Command::Users(args) => commands::users::run(&ctx, args).await,
        Command::Export(args) => tokio::select! {
            biased;
            r = commands::export::run(&session.client, args, cli.global.scope_tolerance) => r,
            r = cut_short => r,
        },
        Command::Whoami(args) => tokio::select! {
            biased;
            r = commands::whoami::run(&session.client, args) => r,
            r = cut_short => r,
        },
        Command::Doctor(args) => tokio::select! {
            biased;
            r = commands::doctor::run(&session.client, args) => r,
            r = cut_short => r,
        },
        Command::PreviewEmail(args) => commands::preview::run(&ctx, args).await,
        Command::Run(args) => commands::run::run(&ctx, args).await,
        Command::BenchFloor(args) => tokio::select! {
            biased;
            r = commands::floor::run(&session.client, args) => r,
            r = cut_short => r,
        },
        Command::Sandbox(_) | Command::Completions(_) | Command::Man => {
            unreachable!("handled above")
        }
    };
    session.close().await;
    result
}
