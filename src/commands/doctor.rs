//! `doctor`: the engine's answers to the live API's guesses (docs/api-assumptions.md), for
//! one company, as a table or JSON.

use keepnet_api::Client;

use crate::cli::{CountFormat, DoctorArgs};
use crate::exit::Failure;
use crate::output;

/// Resolves the company, asks every question the engine can test live, prints the answers.
pub async fn run(client: &Client, args: &DoctorArgs) -> Result<(), Failure> {
    let (company, _) = super::company(client, &args.company).await?;
    let diagnosis = keepnet_export_core::doctor::diagnose(client, &company).await;
    output::to_stdout(|out| match args.format {
        CountFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &diagnosis.json())?;
            writeln!(out)
        }
        CountFormat::Table => out.write_all(output::printable(&diagnosis.table()).as_bytes()),
    })
}
