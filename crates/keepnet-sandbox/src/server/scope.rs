//! Which companies a call acts on: the company id a request names (the `X-KEEPNET-Company-Id`
//! header of the API reference, the `x-ir-company-id` header of Keepnet's UI and agent, or
//! `?companyId=`), its checks, and the unscoped answer of a Reseller call naming none (docs
//! `scope-api-requests-to-customer.md`; NOTES Addendum "Scope"), with the header-dropping and
//! privacy-error knobs of `Faults`.

use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;

use super::envelope::failure;
use super::token::parse_form;
use super::{bump, enter, AppState, Principal};
use crate::data::{Dataset, GLOBEX_ORD, UNMANAGED_ORD};

fn valid_company_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// The company-id header the API reference documents.
pub(super) const KEEPNET_HEADER: &str = "x-keepnet-company-id";
/// The header Keepnet's own UI and agent send with the same value.
pub(super) const IR_HEADER: &str = "x-ir-company-id";

/// The companies a target-users call answers for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Scope {
    /// One company, by dataset ordinal.
    One(usize),
    /// No company id from a Reseller: its own company and every managed one.
    All,
}

impl Scope {
    pub(super) fn ords(self, ds: &Dataset) -> Vec<usize> {
        match self {
            Scope::One(ord) => vec![ord],
            Scope::All => ds.managed_ordinals(),
        }
    }
}

fn same_path(a: &str, b: &str) -> bool {
    a.trim_end_matches('/')
        .eq_ignore_ascii_case(b.trim_end_matches('/'))
}

/// The company id a request names: header `X-KEEPNET-Company-Id`, else
/// `x-ir-company-id` (both unseen when a knob drops them), else `?companyId=`.
fn requested_company(st: &AppState, headers: &HeaderMap, uri: &Uri) -> Option<String> {
    let headers_dropped = st.with_faults(|f| {
        f.strip_company_header
            || f.ignore_company_header_on
                .iter()
                .any(|p| same_path(p, uri.path()))
    });
    let header = |name: &str| {
        headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_string())
    };
    let from_header = if headers_dropped {
        None
    } else {
        header(KEEPNET_HEADER).or_else(|| header(IR_HEADER))
    };
    from_header.or_else(|| {
        uri.query().and_then(|q| {
            parse_form(q)
                .into_iter()
                .find(|(k, _)| k.eq_ignore_ascii_case("companyId"))
                .map(|(_, v)| v)
        })
    })
}

/// Check a named company id: 400 malformed, 404 unknown, 403 FORBIDDEN
/// when not this credential's, 403 PRIVACY_ERROR when its privacy
/// settings refuse access ([`crate::Faults::privacy_error_companies`]).
pub(super) fn resolve_company(st: &AppState, p: Principal, id: &str) -> Result<usize, Response> {
    if !valid_company_id(id) {
        return Err(failure(
            st,
            StatusCode::BAD_REQUEST,
            "INPUT_ERROR",
            "Invalid Company ID",
            &["Company ID must match ^[A-Za-z0-9_-]{1,64}$.".to_string()],
        ));
    }
    let Some(ord) = st.dataset.ordinal_of(id) else {
        return Err(failure(
            st,
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "Company not found",
            &[],
        ));
    };
    let allowed = match p {
        Principal::Reseller => ord != UNMANAGED_ORD,
        Principal::CompanyAdmin => ord == GLOBEX_ORD,
    };
    if !allowed {
        return Err(failure(
            st,
            StatusCode::FORBIDDEN,
            "FORBIDDEN",
            "You are not authorized to access this company.",
            &[],
        ));
    }
    if st.with_faults(|f| f.privacy_error_companies.iter().any(|c| c == id)) {
        return Err(failure(
            st,
            StatusCode::FORBIDDEN,
            "PRIVACY_ERROR",
            "The privacy settings of this company do not allow access to its data.",
            &[],
        ));
    }
    Ok(ord)
}

/// Resolve the companies a target-users request acts on.
fn scope(st: &AppState, p: Principal, headers: &HeaderMap, uri: &Uri) -> Result<Scope, Response> {
    match requested_company(st, headers, uri) {
        Some(id) => resolve_company(st, p, &id).map(Scope::One),
        None => Ok(match p {
            Principal::Reseller => {
                bump(&st.stats.unscoped_requests);
                Scope::All
            }
            Principal::CompanyAdmin => Scope::One(GLOBEX_ORD),
        }),
    }
}

pub(super) fn enter_scoped(
    st: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    on_auth: impl FnOnce(),
) -> Result<Scope, Response> {
    let p = enter(st, headers, on_auth)?;
    scope(st, p, headers, uri)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn company_id_validation() {
        assert!(valid_company_id("abc_-9"));
        assert!(!valid_company_id("a b"));
        assert!(!valid_company_id(""));
    }
}
