//! `users`: a company's target users, to sinks or as raw JSON Lines on stdout.

use std::io::Write;

use futures::TryStreamExt;
use keepnet_api::{Client, CompanyId, UserQuery};
use keepnet_sink::HeaderStyle;

use crate::cli::{HeaderArg, UsersArgs};
use crate::columns::Layout;
use crate::exit::Failure;
use crate::pipeline;
use crate::sinks::{Registry, SinkSettings, SinkSpec};

/// Runs `users`: validates every output option, then fetches once.
pub async fn run(client: &Client, args: &UsersArgs) -> Result<(), Failure> {
    let query = UserQuery {
        search: args.search.clone(),
        order_by: args.order_by.clone(),
        ascending: !args.descending,
        page_size: args.page_size,
    };
    // Everything the user typed is checked before the first request.
    let csv_delimiter = parse_delimiter(&args.csv_delimiter)?;
    let layout = match (&args.columns, args.sinks.is_empty()) {
        (Some(list), _) => Layout::parse(list)?,
        (None, false) => Layout::all(),
        (None, true) => {
            let (company, id) = super::company(client, &args.company).await?;
            let (users, pages) = stream_raw(client, &id, query).await?;
            tracing::info!(company = %company.name, id = %company.resource_id, users, pages, "users exported");
            return Ok(());
        }
    };
    let specs = if args.sinks.is_empty() {
        vec![SinkSpec::parse("jsonl:-")?]
    } else {
        args.sinks
            .iter()
            .map(|s| SinkSpec::parse(s))
            .collect::<Result<_, _>>()?
    };
    let settings = SinkSettings {
        header: match args.header {
            HeaderArg::Api => HeaderStyle::Api,
            HeaderArg::Human => HeaderStyle::Human,
        },
        raw_cells: args.raw_cells,
        csv_delimiter,
        csv_bom: args.csv_bom,
    };
    let sinks = Registry::builtin().build_all(&specs, &settings)?;
    let (company, id) = super::company(client, &args.company).await?;
    let outcome = pipeline::run(client, &company, &id, query, layout, sinks).await?;
    for artifact in &outcome.artifacts {
        tracing::info!(
            path = %artifact.path.display(),
            rows = artifact.rows,
            bytes = artifact.bytes,
            "file written"
        );
    }
    tracing::info!(
        company = %company.name,
        id = %company.resource_id,
        users = outcome.rows,
        pages = outcome.pages,
        "users exported"
    );
    Ok(())
}

/// `,` `;` `|` or `tab`: one ASCII character.
fn parse_delimiter(text: &str) -> Result<u8, Failure> {
    match text {
        "tab" | "\\t" | "\t" => Ok(b'\t'),
        t if t.len() == 1 && t.is_ascii() && !matches!(t, "\"" | "\r" | "\n") => Ok(t.as_bytes()[0]),
        _ => Err(Failure::usage(format!(
            "--csv-delimiter {text:?} must be one ASCII character (not a quote or newline), or `tab`"
        ))),
    }
}

/// Streams every user as the API returned it, one JSON object per line.
async fn stream_raw(
    client: &Client,
    id: &CompanyId,
    query: UserQuery,
) -> Result<(u64, u64), Failure> {
    let mut pages = std::pin::pin!(client.user_pages(id, query));
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let (mut users, mut page_count) = (0u64, 0u64);
    let mut line = Vec::with_capacity(1024);
    while let Some(page) = pages.try_next().await? {
        page_count += 1;
        for user in &page.results {
            line.clear();
            serde_json::to_writer(&mut line, user)
                .map_err(|e| Failure::output("cannot encode a user", e))?;
            line.push(b'\n');
            if let Err(e) = out.write_all(&line) {
                return stdout_error(e).map(|()| (users, page_count));
            }
            users += 1;
        }
    }
    if let Err(e) = out.flush() {
        stdout_error(e)?;
    }
    Ok((users, page_count))
}

/// A closed pipe (`| head`) is a normal end; anything else is an output failure.
fn stdout_error(e: std::io::Error) -> Result<(), Failure> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(Failure::output("cannot write to stdout", e))
    }
}

#[cfg(test)]
mod tests {
    use super::parse_delimiter;

    #[test]
    fn delimiters() {
        assert_eq!(parse_delimiter(",").unwrap(), b',');
        assert_eq!(parse_delimiter(";").unwrap(), b';');
        assert_eq!(parse_delimiter("tab").unwrap(), b'\t');
        for bad in ["", ";;", "\"", "é", "\n"] {
            assert!(parse_delimiter(bad).is_err(), "{bad:?}");
        }
    }
}
