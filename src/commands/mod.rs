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
