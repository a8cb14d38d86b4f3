//! `users`: a company's target users as JSON Lines on stdout, streamed page by page.

use std::io::Write;

use futures::TryStreamExt;
use keepnet_api::{Client, UserQuery};

use crate::cli::UsersArgs;
use crate::exit::Failure;

/// Streams every user of one company to stdout, one JSON object per line.
pub async fn run(client: &Client, args: &UsersArgs) -> Result<(), Failure> {
    let (company, id) = super::company(client, &args.company).await?;
    let query = UserQuery {
        search: args.search.clone(),
        order_by: args.order_by.clone(),
        ascending: !args.descending,
        page_size: args.page_size,
    };
    let mut pages = std::pin::pin!(client.user_pages(&id, query));
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
                return stdout_error(e);
            }
            users += 1;
        }
        tracing::debug!(
            page = page.page_number,
            of = page.total_number_of_pages,
            users,
            "page written"
        );
    }
    if let Err(e) = out.flush() {
        return stdout_error(e);
    }
    tracing::info!(
        company = %company.name,
        id = %company.resource_id,
        users,
        pages = page_count,
        "users exported"
    );
    Ok(())
}

/// A closed pipe (`| head`) is a normal end; anything else is an output failure.
fn stdout_error(e: std::io::Error) -> Result<(), Failure> {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Ok(())
    } else {
        Err(Failure::output("cannot write to stdout", e))
    }
}
