//! The keepnet-export engine, shared by every front end (the command line, job files, a
//! team's own binary): it holds no flag parsing, terminal output or process exit.
//!
//! - [`batch`]: one export per company, with `{company}`-style targets filled in per company,
//!   bounded concurrency, fail-fast.
//! - [`pipeline`]: one company: one fetch of its users, every page handed to every sink on its
//!   own thread; read again while a read disagrees with the server ([`completeness`]); all or
//!   nothing published; deliveries after ([`deliver`]: encrypted copies, notices last).
//! - [`sinks`]: the registry of sink and delivery kinds and the checked plan built from
//!   `KIND:TARGET` specs.
//! - [`settings`]: the one settings model every front end fills, each value with its origin,
//!   and the one check of it, each value's [`origin`]; [`options`]: the options a sink kind
//!   declares for itself; [`names`]: how a run's messages name the settings, from their
//!   origins.
//! - [`rules`]: the rules on sink targets every front end applies (shape, placeholders,
//!   several companies, one file per sink).
//! - [`columns`], [`templates`]: column layouts and filling in path placeholders.
//! - [`summary`]: the run's summary document (docs/summary-json.md); [`rollup`]: one row per
//!   company of a run (`--rollup`).
//! - [`plan`]: what a run would do, as people read it (`run --check`, `users --dry-run`).
//! - [`exit`]: exit codes and the [`Failure`](exit::Failure) that carries one.
//! - [`progress`], [`stop`]: how a front end watches a run and stops it.

pub mod batch;
pub mod changes;
pub mod columns;
pub mod completeness;
pub mod deliver;
pub mod doctor;
pub mod exit;
pub mod kinds;
pub mod lane;
pub mod names;
pub mod options;
pub mod origin;
pub mod output;
pub mod pipeline;
pub mod plan;
pub mod progress;
pub mod recipients;
pub mod rollup;
pub mod rules;
pub mod server_file;
pub mod settings;
pub mod sinks;
pub mod spec;
pub mod stop;
pub mod summary;
pub mod targets;
pub mod templates;
