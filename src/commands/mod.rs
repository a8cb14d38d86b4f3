//! One module per subcommand.

pub mod companies;
pub mod count;
pub mod export;
pub mod sandbox;
pub mod users;

use keepnet_api::{Client, Company, CompanyId};

use crate::exit::Failure;

/// Resolves the `--company` argument to a company and its validated id.
async fn company(client: &Client, query: &str) -> Result<(Company, CompanyId), Failure> {
    if query.trim().is_empty() || query.chars().any(char::is_control) {
        return Err(Failure::usage(format!(
            "--company {query:?} is neither a company id nor a name: give the id \
             (letters, digits, '-', '_') or the exact name"
        )));
    }
    let company = client.resolve_company(query).await?;
    let id = company.id().map_err(|e| {
        Failure::new(
            crate::exit::API,
            anyhow::anyhow!(
                "the API returned an unusable company id for {:?}: {e}",
                company.name
            ),
        )
    })?;
    Ok((company, id))
}
