//! `companies`: every managed company, children after their parent.

use std::io::Write;

use keepnet_api::{Client, Company, CompanyQuery};

use crate::cli::{CompaniesArgs, ListFormat};
use crate::exit::Failure;
use crate::output;

/// Lists the companies in the chosen format.
pub async fn run(client: &Client, args: &CompaniesArgs) -> Result<(), Failure> {
    let query = CompanyQuery {
        exceeding_limit: args.exceeding_limit,
    };
    let companies = client.companies(&query).await?;
    tracing::info!(count = companies.len(), "companies listed");
    output::to_stdout(|out| match args.format {
        ListFormat::Table => write_table(out, &companies),
        ListFormat::Json => {
            serde_json::to_writer_pretty(&mut *out, &companies)?;
            writeln!(out)
        }
        ListFormat::Csv => write_csv(out, &companies),
    })
}

fn write_table(out: &mut dyn Write, companies: &[Company]) -> std::io::Result<()> {
    let id_width = companies
        .iter()
        .map(|c| c.resource_id.as_str().len())
        .chain([2])
        .max()
        .unwrap_or(2);
    writeln!(
        out,
        "{:<id_width$}  {:>7}  {:>7}  NAME",
        "ID", "USERS", "LICENCE"
    )?;
    for c in companies {
        let users = c
            .target_user_count
            .map(|n| n.to_string())
            .unwrap_or_default();
        let licence = crate::output::printable(c.number_of_users.as_deref().unwrap_or(""));
        let indent = "  ".repeat(c.depth);
        writeln!(
            out,
            "{:<id_width$}  {users:>7}  {licence:>7}  {indent}{}",
            c.resource_id,
            crate::output::printable(&c.name)
        )?;
    }
    Ok(())
}

fn write_csv(out: &mut dyn Write, companies: &[Company]) -> std::io::Result<()> {
    let mut writer = csv::Writer::from_writer(out);
    writer.write_record([
        "resourceId",
        "name",
        "parent",
        "parentName",
        "depth",
        "targetUserCount",
        "numberOfUsers",
        "licenseTypeName",
        "licenceExpired",
        "licenseEndDate",
    ])?;
    for c in companies {
        let opt = |v: Option<String>| v.unwrap_or_default();
        writer.write_record([
            c.resource_id.to_string(),
            c.name.clone(),
            opt(c.parent_id.clone()),
            opt(c.parent_name.clone()),
            c.depth.to_string(),
            opt(c.target_user_count.map(|n| n.to_string())),
            opt(c.number_of_users.clone()),
            opt(c.license_type_name.clone()),
            opt(c.licence_expired.map(|b| b.to_string())),
            opt(c.license_end_date.clone()),
        ])?;
    }
    writer.flush()
}
