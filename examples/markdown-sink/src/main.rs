//! `keepnet-export-md`: every command and flag of keepnet-export, plus `--sink md:PATH`.

use keepnet_export::Runner;
use keepnet_export_markdown::MarkdownSink;

fn main() -> std::process::ExitCode {
    Runner::new()
        .sink(
            "md",
            "Markdown table; PATH or - for stdout",
            true,
            Box::new(|spec, settings| {
                Ok(Box::new(MarkdownSink::new(spec.path(), settings.header)))
            }),
        )
        .main()
}
