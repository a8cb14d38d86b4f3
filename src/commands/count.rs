//! `count`: a company's target-user count summary: labelled figures, or `data` as returned.

use keepnet_api::Client;

use crate::cli::{CountArgs, CountFormat};
use crate::exit::Failure;
use crate::output;

/// Prints the count summary of one company, once it is held against the company's counts
/// (an unscoped summary would show every customer's figures).
pub async fn run(client: &Client, args: &CountArgs, scope_tolerance: u32) -> Result<(), Failure> {
    let (company, id) = super::company(client, &args.company).await?;
    let summary = client.count_summary(&id).await?;
    if !keepnet_api::scope::check_count_summary(&company, &summary, scope_tolerance)? {
        tracing::warn!(
            company = %company.name,
            "scope guard off: the summary or companies/search lacks user counts to check"
        );
    }
    output::to_stdout(|out| match args.format {
        CountFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &summary.raw)?;
            writeln!(out)
        }
        CountFormat::Table => {
            writeln!(
                out,
                "{} ({})",
                output::printable(&company.name),
                company.resource_id
            )?;
            let lines = summary.lines();
            if lines.is_empty() {
                return writeln!(out, "  (the API returned no summary)");
            }
            let width = lines
                .iter()
                .map(|(label, _)| label.chars().count())
                .max()
                .unwrap_or(0);
            for (label, value) in &lines {
                let (label, value) = (output::printable(label), output::printable(value));
                writeln!(out, "  {label:<width$}  {value:>8}")?;
            }
            if summary.is_known_shape() && !summary.monthly.is_empty() {
                writeln!(
                    out,
                    "  (users added per month: every user added that month, whatever their \
                     status now; latest first)"
                )?;
            }
            Ok(())
        }
    })
}
