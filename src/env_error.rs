//! A command-line error caused by a `KEEPNET_*` variable names the variable: clap reports an
//! invalid value as `for '--concurrency <N>'` even when the user never typed that flag and the
//! value came from `KEEPNET_CONCURRENCY`.

use std::ffi::OsString;

use clap::error::{ContextKind, ContextValue, ErrorKind};

/// `error`, or, when its invalid value came from an environment variable (the flag is not on
/// the command line and its variable is set), the same message naming the variable.
pub fn explain(error: clap::Error, command: &clap::Command, argv: &[OsString]) -> clap::Error {
    if !matches!(
        error.kind(),
        ErrorKind::InvalidValue | ErrorKind::ValueValidation
    ) {
        return error;
    }
    let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
        return error;
    };
    // `--concurrency <N>` -> `concurrency`.
    let Some(long) = shown
        .strip_prefix("--")
        .and_then(|rest| rest.split([' ', '=']).next())
    else {
        return error;
    };
    let Some(arg) = find_arg(command, long) else {
        return error;
    };
    let Some(var) = arg.get_env() else {
        return error;
    };
    let typed = argv.iter().skip(1).any(|a| {
        let a = a.to_string_lossy();
        a == format!("--{long}")
            || a.starts_with(&format!("--{long}="))
            || arg
                .get_short()
                .is_some_and(|s| a.starts_with('-') && !a.starts_with("--") && a.contains(s))
    });
    if typed || std::env::var_os(var).is_none() {
        return error;
    }
    let var = var.to_string_lossy();
    let text = error.render().to_string();
    let first = text.lines().next().unwrap_or_default();
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let message = first.replacen(
        &format!("for '{shown}'"),
        &format!("in the environment variable {var} (it sets --{long})"),
        1,
    );
    let mut rest: Vec<&str> = text.lines().skip(1).collect();
    while rest
        .last()
        .is_some_and(|l| l.trim().is_empty() || l.starts_with("For more"))
    {
        rest.pop();
    }
    let mut message = message;
    for line in rest {
        message.push('\n');
        message.push_str(line);
    }
    message.push_str(&format!(
        "\n\nunset {var} or give --{long} on the command line\n"
    ));
    clap::Error::raw(ErrorKind::ValueValidation, message)
}

/// The argument with this long name, in the command or any subcommand.
fn find_arg<'a>(command: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    command
        .get_arguments()
        .find(|a| a.get_long() == Some(long))
        .or_else(|| {
            command
                .get_subcommands()
                .find_map(|sub| find_arg(sub, long))
        })
}
