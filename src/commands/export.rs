//! `export`: the server-side export file, saved atomically.

use keepnet_api::{Client, ExportFormat, UserQuery};

use crate::cli::{ExportArgs, ExportKind};
use crate::exit::Failure;
use crate::output;

/// Asks the server to build the export and saves it to `--out`.
pub async fn run(client: &Client, args: &ExportArgs) -> Result<(), Failure> {
    let (company, id) = super::company(client, &args.company).await?;
    let format = match args.kind {
        ExportKind::Csv => ExportFormat::Csv,
        ExportKind::Excel => ExportFormat::Excel,
    };
    let file = client.export(&id, format, &UserQuery::default()).await?;
    let path = if args.out.is_dir() {
        let extension = match format {
            ExportFormat::Csv => "csv",
            ExportFormat::Excel => "xlsx",
        };
        let name = file
            .file_name
            .as_deref()
            .map(output::safe_file_name)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| format!("target-users-{}.{extension}", company.resource_id));
        args.out.join(name)
    } else {
        args.out.clone()
    };
    output::write_atomically(&path, &file.bytes)?;
    tracing::info!(
        company = %company.name,
        path = %path.display(),
        bytes = file.bytes.len(),
        "server-side export saved"
    );
    Ok(())
}
