//! `export`: the server-side export file, saved atomically once it is known to hold only the
//! company's users of the selected states (the engine's `server_file` checks it).

use keepnet_api::{Client, ExportFormat, UserQuery};

use crate::cli::{ExportArgs, ExportKind};
use crate::exit::Failure;
use crate::output;

/// Asks the server to build the export, has the engine check it (the scope guard on its rows,
/// and the status filter: rows outside the selection dropped when the server ignored it),
/// and saves it to `--out`.
pub async fn run(client: &Client, args: &ExportArgs, scope_tolerance: u32) -> Result<(), Failure> {
    let (company, id) = super::company(client, &args.company).await?;
    let format = match args.kind {
        ExportKind::Csv => ExportFormat::Csv,
        ExportKind::Excel => ExportFormat::Excel,
    };
    let query = UserQuery {
        statuses: args.status,
        ..UserQuery::default()
    };
    let file = client.export(&id, format, &query).await?;
    let vetted = keepnet_export_core::server_file::vet(
        client,
        &company,
        &query,
        format,
        &file.bytes,
        scope_tolerance,
    )
    .await?;
    if let Some(note) = vetted.filter_note() {
        tracing::warn!(company = %company.name, "{note}");
    }
    // `--out DIR/` names a folder even before it exists: it is made (the owner's only).
    let folder_named = args
        .out
        .as_os_str()
        .to_string_lossy()
        .ends_with(std::path::MAIN_SEPARATOR);
    if folder_named && !args.out.is_dir() {
        keepnet_sink::create_private_dirs(&args.out).map_err(|e| {
            Failure::output(format!("--out {}: cannot create it", args.out.display()), e)
        })?;
    }
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
    output::write_atomically(&path, &vetted.bytes)?;
    tracing::info!(
        company = %company.name,
        path = %path.display(),
        bytes = vetted.bytes.len(),
        rows = vetted.rows,
        users = %args.status.describe(),
        "server-side export saved"
    );
    Ok(())
}
