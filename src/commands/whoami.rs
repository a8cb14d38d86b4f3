//! `whoami`: what the credential may do, so a misconfigured secret fails before an export.

use std::io::Write;

use keepnet_api::{Client, CompanyQuery, TokenInfo};
use serde_json::json;

use crate::cli::{CountFormat, WhoamiArgs};
use crate::exit::{self, Failure};
use crate::output;

/// The endpoints this tool calls, with what each is for.
const NEEDED: [(&str, &str, bool); 4] = [
    ("companies/search|POST", "list managed companies", true),
    ("target-users/search|POST", "read target users", true),
    (
        "target-users/count-summary|GET",
        "count summary (e-mail body, `count`)",
        false,
    ),
    (
        "target-users/search/export|POST",
        "server-side export (`export`)",
        false,
    ),
];

/// Prints the credential's role, company and permissions; fails (exit 4) when it cannot run
/// an export.
pub async fn run(client: &Client, args: &WhoamiArgs) -> Result<(), Failure> {
    let info = client.token_info().await?;
    let role = info.claim("role");
    let reseller = role
        .as_deref()
        .is_some_and(|r| r.eq_ignore_ascii_case("reseller"))
        && info
            .claim("reseller_access")
            .is_none_or(|a| a.eq_ignore_ascii_case("true"));
    let checks: Vec<(&str, &str, bool, Option<bool>)> = NEEDED
        .iter()
        .map(|(permission, what, required)| {
            let granted = info
                .permissions
                .as_ref()
                .map(|list| list.iter().any(|p| p.eq_ignore_ascii_case(permission)));
            (*permission, *what, *required, granted)
        })
        .collect();
    // Without a permissions list, ask the API itself whether companies can be listed.
    let listing = if info.permissions.is_none() {
        Some(
            client
                .companies(&CompanyQuery::default())
                .await
                .map(|c| c.len()),
        )
    } else {
        None
    };
    let missing: Vec<&str> = checks
        .iter()
        .filter(|(_, _, required, granted)| *required && *granted == Some(false))
        .map(|(p, ..)| *p)
        .collect();
    output::to_stdout(|out| match args.format {
        CountFormat::Json => {
            let doc = json!({
                "role": role,
                "resellerAccess": info.claim("reseller_access"),
                "company": {"name": info.claim("user_company_name"), "resourceId": info.claim("user_company_resourceid")},
                "clientId": info.claim("client_id"),
                "scope": info.scope,
                "expiresIn": info.expires_in,
                "permissions": checks.iter().map(|(p, what, required, granted)| json!({
                    "permission": p, "for": what, "required": required, "granted": granted,
                })).collect::<Vec<_>>(),
                "canExport": reseller && missing.is_empty(),
            });
            serde_json::to_writer_pretty(&mut *out, &doc)?;
            writeln!(out)
        }
        CountFormat::Table => write_table(out, &info, role.as_deref(), &checks, &listing),
    })?;
    if let Some(Err(e)) = listing {
        return Err(Failure::from(e).context_msg("the credential cannot list companies"));
    }
    if !reseller {
        return Err(Failure::new(
            exit::COMPANY,
            anyhow::anyhow!(
                "this credential's role is {:?}, not a Reseller with reseller access: it cannot \
                 export customers' users. Create a REST API credential with Client Role = \
                 Reseller (Company Settings > REST API)",
                role.unwrap_or_else(|| "unknown".into())
            ),
        ));
    }
    if !missing.is_empty() {
        return Err(Failure::new(
            exit::COMPANY,
            anyhow::anyhow!("the credential lacks permission for {}", missing.join(", ")),
        ));
    }
    Ok(())
}

fn write_table(
    out: &mut dyn Write,
    info: &TokenInfo,
    role: Option<&str>,
    checks: &[(&str, &str, bool, Option<bool>)],
    listing: &Option<Result<usize, keepnet_api::Error>>,
) -> std::io::Result<()> {
    // Claims come from the server: shown, never obeyed as terminal control sequences.
    let or_unknown = |v: Option<String>| {
        crate::output::printable(&v.unwrap_or_else(|| "(not stated)".into())).into_owned()
    };
    writeln!(
        out,
        "role:            {}",
        crate::output::printable(role.unwrap_or("(not stated)"))
    )?;
    writeln!(
        out,
        "reseller access: {}",
        or_unknown(info.claim("reseller_access"))
    )?;
    writeln!(
        out,
        "company:         {} ({})",
        or_unknown(info.claim("user_company_name")),
        or_unknown(info.claim("user_company_resourceid"))
    )?;
    writeln!(
        out,
        "token:           valid {} s, scope {}",
        info.expires_in,
        crate::output::printable(info.scope.as_deref().unwrap_or("(not stated)"))
    )?;
    writeln!(out, "permissions:")?;
    for (permission, what, required, granted) in checks {
        let mark = match granted {
            Some(true) => "ok     ",
            Some(false) if *required => "MISSING",
            Some(false) => "absent ",
            None => "?      ",
        };
        writeln!(out, "  {mark} {permission:<34} {what}")?;
    }
    match listing {
        Some(Ok(n)) => writeln!(
            out,
            "(no permission list in the token; listing companies worked: {n} managed)"
        ),
        Some(Err(_)) => writeln!(
            out,
            "(no permission list in the token; listing companies failed)"
        ),
        None => Ok(()),
    }
}
