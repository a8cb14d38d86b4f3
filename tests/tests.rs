//! End-to-end tests: the real `keepnet-export` binary against the sandbox over real HTTP.
//! One test binary (autotests = false) keeps link time down.

use keepnet_test_support::{s3, smtp, sshd, webhook};
#[allow(dead_code)]
mod standin;
mod util;

mod changes;
mod companies;
mod email;
mod encrypt;
mod errors;
mod export;
mod fanout;
mod faults;
mod fidelity;
mod golden;
mod hostile;
mod hostile_perf;
mod hostile_second;
mod jobs;
mod paging;
mod plugins;
mod report_email;
mod rollup;
mod sandbox_cmd;
mod settings;
mod sinks;
mod tools;
mod unknowns;
mod uploads;
mod users;
mod webhooks;
