//! One module per subcommand.

pub mod companies;
pub mod count;
pub mod doctor;
pub mod export;
pub mod floor;
pub mod preview;
pub mod run;
pub mod sandbox;
pub mod users;
pub mod whoami;

use keepnet_api::{Client, Company, CompanyId, CompanyQuery};

use crate::exit::Failure;

/// Resolves the `--company` argument to a company and its validated id.
async fn company(client: &Client, query: &str) -> Result<(Company, CompanyId), Failure> {
    check_query(query)?;
    let company = client.resolve_company(query).await?;
    let id = company.id().clone();
    Ok((company, id))
}

/// Refuses a `--company` value that can be neither an id nor a name (empty, control
/// characters), before any request.
pub(crate) fn check_query(query: &str) -> Result<(), Failure> {
    if query.trim().is_empty() || query.chars().any(char::is_control) {
        return Err(Failure::usage(format!(
            "--company {query:?} is neither a company id nor a name: give the id \
             (letters, digits, '-', '_') or the exact name"
        )));
    }
    Ok(())
}

/// Whether a `--company` value means every managed company.
pub(crate) fn is_all(query: &str) -> bool {
    query.trim().eq_ignore_ascii_case("all")
}

/// The companies `--company` names: `all`, or each id or name (resolved against one listing),
/// without repeats, in the order given.
pub(crate) async fn select(client: &Client, queries: &[String]) -> Result<Vec<Company>, Failure> {
    for query in queries {
        check_query(query)?;
    }
    let all = managed(client).await?;
    select_from(&all, queries)
}

/// Every company the credential manages.
pub(crate) async fn managed(client: &Client) -> Result<Vec<Company>, Failure> {
    Ok(client.companies(&CompanyQuery::default()).await?)
}

/// The companies `queries` name among `all` (`all` for every one), each once, in order.
pub(crate) fn select_from(all: &[Company], queries: &[String]) -> Result<Vec<Company>, Failure> {
    for query in queries {
        check_query(query)?;
    }
    if queries.iter().any(|q| is_all(q)) {
        if queries.len() > 1 {
            return Err(Failure::usage(
                "--company all cannot be combined with other companies",
            ));
        }
        return Ok(all.to_vec());
    }
    let mut chosen: Vec<Company> = Vec::new();
    for query in queries {
        let company = keepnet_api::resolve_company(all, query).map_err(keepnet_api::Error::from)?;
        if !chosen.iter().any(|c| c.resource_id == company.resource_id) {
            chosen.push(company.clone());
        }
    }
    Ok(chosen)
}

/// A client for checks that make no request (`run --check`, `users --dry-run`): the runtime
/// objects need one, and it is never called.
pub(crate) fn offline_client() -> Client {
    Client::builder("https://localhost")
        .credentials(keepnet_api::Credentials::new("check", "check"))
        .build()
        .expect("a fixed, valid configuration")
}

/// Logs the rollup files a run wrote (`--rollup`), or returns why it could not write them.
pub(crate) fn rolled_up(
    rollup: Result<Vec<keepnet_sink::Artifact>, Failure>,
) -> Result<(), Failure> {
    for artifact in rollup? {
        tracing::info!(path = %artifact.path.display(), rows = artifact.rows, "rollup written");
    }
    Ok(())
}
