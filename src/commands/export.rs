//! `export`: the server-side export file, saved atomically once it is known to hold only the
//! company's users.

use std::io::Cursor;

use calamine::Reader;
use keepnet_api::{Client, ExportFormat, ScopeLimit, UserQuery};

use crate::cli::{ExportArgs, ExportKind};
use crate::exit::{self, Failure};
use crate::output;

/// Asks the server to build the export, counts its rows against the company's own counts
/// (the scope guard: an export that ignored the company header holds every customer's users),
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
    let rows = count_rows(format, &file.bytes).map_err(|e| {
        Failure::new(
            exit::API,
            anyhow::anyhow!(
                "the server's {} export of {} cannot be read to check whose users it holds \
                 ({e}); nothing was saved",
                args.kind.name(),
                company.name
            ),
        )
    })?;
    match ScopeLimit::for_company(&company, args.status, scope_tolerance) {
        Some(limit) => limit
            .check("target-users/search/export", rows)
            .map_err(|e| Failure::from(e).with_note("nothing was saved"))?,
        None => tracing::warn!(
            company = %company.name,
            "scope guard off: companies/search sent no user counts for this company"
        ),
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
    output::write_atomically(&path, &file.bytes)?;
    tracing::info!(
        company = %company.name,
        path = %path.display(),
        bytes = file.bytes.len(),
        rows,
        users = %args.status.describe(),
        "server-side export saved"
    );
    Ok(())
}

/// Data rows in the server's file: CSV records after the header, or rows after the header
/// of every worksheet.
fn count_rows(format: ExportFormat, bytes: &[u8]) -> Result<u64, String> {
    match format {
        ExportFormat::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .has_headers(true)
                .flexible(true)
                .from_reader(bytes);
            let mut rows = 0;
            for record in reader.records() {
                record.map_err(|e| e.to_string())?;
                rows += 1;
            }
            Ok(rows)
        }
        ExportFormat::Excel => {
            let mut book = calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| e.to_string())?;
            let mut rows = 0u64;
            for name in book.sheet_names() {
                let range = book.worksheet_range(&name).map_err(|e| e.to_string())?;
                rows += (range.height() as u64).saturating_sub(1);
            }
            Ok(rows)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_exclude_the_header() {
        let csv = b"First Name,Email\r\nAy\xc5\x9fe,\"a,\"\"b\"\"\"\r\nBob,\"multi\nline\"\r\n";
        assert_eq!(count_rows(ExportFormat::Csv, csv), Ok(2));
        assert_eq!(count_rows(ExportFormat::Csv, b"First Name\r\n"), Ok(0));
        assert!(count_rows(ExportFormat::Excel, b"not a zip").is_err());
    }
}
