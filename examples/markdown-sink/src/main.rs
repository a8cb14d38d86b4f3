//! `keepnet-export-md`: every command and flag of keepnet-export, plus `--sink md:PATH` and
//! its own option `md.heading-level` (set with `--sink-option md.heading-level=2`, the
//! `KEEPNET_SINK_OPTION` variable, or `[job.options.md]` in a job file).

use keepnet_export::options::{OptionSpec, OptionType};
use keepnet_export::Runner;
use keepnet_export_markdown::MarkdownSink;

fn main() -> std::process::ExitCode {
    Runner::new()
        .sink(
            "md",
            "Markdown table; PATH or - for stdout",
            true,
            Box::new(|spec, settings| {
                let level = settings.options(&spec.kind).integer("heading-level")?;
                Ok(Box::new(
                    MarkdownSink::new(spec.path(), settings.header)
                        .with_heading_level(usize::try_from(level).unwrap_or(1)),
                ))
            }),
        )
        .sink_option(
            "md",
            OptionSpec::new(
                "heading-level",
                OptionType::Integer { min: 1, max: 6 },
                "1",
                "the title's heading level, 1 (#) to 6 (######)",
            ),
        )
        .main()
}
