//! `count`: a company's target-user count summary, as the API returns it.

use keepnet_api::Client;
use serde_json::Value;

use crate::cli::{CountArgs, CountFormat};
use crate::exit::Failure;
use crate::output;

/// Prints the count summary of one company.
pub async fn run(client: &Client, args: &CountArgs) -> Result<(), Failure> {
    let (company, id) = super::company(client, &args.company).await?;
    let summary = client.count_summary(&id).await?;
    output::to_stdout(|out| match args.format {
        CountFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &summary)?;
            writeln!(out)
        }
        CountFormat::Table => {
            writeln!(out, "{} ({})", company.name, company.resource_id)?;
            match &summary {
                Value::Object(map) => {
                    let width = map.keys().map(|k| k.chars().count()).max().unwrap_or(0);
                    for (key, value) in map {
                        let shown = match value {
                            Value::String(s) => s.clone(),
                            other => other.to_string(),
                        };
                        writeln!(out, "  {key:<width$}  {shown}")?;
                    }
                    Ok(())
                }
                Value::Null => writeln!(out, "  (the API returned no summary)"),
                other => writeln!(out, "  {other}"),
            }
        }
    })
}
