//! `bench-floor` (hidden): what a sweep over a company's pages costs with no user built and
//! nothing written, the floor `cargo xtask bench` holds every export against.

use keepnet_api::{Client, UserQuery};

use crate::cli::FloorArgs;
use crate::exit::Failure;

/// Resolves the company as `users` does, then reads every page the way its pager would,
/// checking only that each body is a well-formed page.
pub async fn run(client: &Client, args: &FloorArgs) -> Result<(), Failure> {
    let (_, id) = super::company(client, &args.company).await?;
    let query = UserQuery {
        page_size: args.page_size.max(1),
        statuses: args.status,
        ..UserQuery::default()
    };
    let (pages, users) = client.sweep_validate_only(&id, &query).await?;
    tracing::info!(
        users,
        pages,
        "pages validated (benchmark floor), nothing written"
    );
    super::users::log_api_usage(client);
    Ok(())
}
