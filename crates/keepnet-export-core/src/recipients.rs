//! A job file's per-company recipients (`[job.email.to]`), resolved against the companies the
//! credential manages by the one matcher `--company` uses ([`keepnet_api::resolve_company`]):
//! an exact id, else the name compared by [`keepnet_api::name_key`]. A key that names two
//! companies is an error naming both ids (it would send one customer's people to the other's
//! contact); a key that names none is reported, never silently skipped; two keys naming one
//! company are an error.

use std::collections::HashMap;
use std::sync::Arc;

use keepnet_api::{resolve_company, Company, ResolveError};

use crate::batch::Recipients;
use crate::exit::Failure;

/// One entry of the table: the key as written, where it is (`reports.toml:12:1`), and its
/// recipients.
#[derive(Debug, Clone)]
pub struct Key {
    /// The company id or name, as written.
    pub key: String,
    /// Where it was written, for messages.
    pub place: String,
    /// Its recipients.
    pub recipients: Vec<String>,
}

/// The table resolved: recipients by company id, and what to say about keys that name no
/// company.
#[derive(Debug, Clone, Default)]
pub struct Resolved {
    by_id: HashMap<String, Vec<String>>,
    default: Vec<String>,
    /// One line per key that names no managed company.
    pub unmatched: Vec<String>,
}

impl Resolved {
    /// The recipients of each company: its key's, else the default (empty: send it nothing).
    pub fn recipients(self) -> Recipients {
        let this = Arc::new(self);
        Arc::new(move |company: &Company| {
            this.by_id
                .get(company.resource_id.as_str())
                .unwrap_or(&this.default)
                .clone()
        })
    }
}

/// Resolves every key against `companies` (every company the credential manages); fails on
/// a key that names several companies, or two keys that name one.
pub fn resolve(
    keys: &[Key],
    default: Vec<String>,
    companies: &[Company],
) -> Result<Resolved, Failure> {
    let mut resolved = Resolved {
        default,
        ..Resolved::default()
    };
    let mut owner: HashMap<String, &Key> = HashMap::new();
    let mut errors = Vec::new();
    for key in keys {
        match resolve_company(companies, &key.key) {
            Ok(company) => {
                let id = company.resource_id.to_string();
                if let Some(first) = owner.get(&id) {
                    errors.push(format!(
                        "{}: recipient key {:?} names {} (id {id}), as {:?} at {} does: keep one",
                        key.place, key.key, company.name, first.key, first.place
                    ));
                    continue;
                }
                owner.insert(id.clone(), key);
                resolved.by_id.insert(id, key.recipients.clone());
            }
            Err(e @ ResolveError::Ambiguous { .. }) => errors.push(format!(
                "{}: recipient key {:?}: {e}, so its recipients would get every one of them; \
                 key it by id",
                key.place, key.key
            )),
            Err(e @ ResolveError::NoMatch { .. }) => resolved.unmatched.push(format!(
                "{}: recipient key {:?} names no managed company ({e}); nobody gets mail \
                 through it",
                key.place, key.key
            )),
        }
    }
    match errors.is_empty() {
        true => Ok(resolved),
        false => Err(Failure::usage(errors.join("\n"))),
    }
}

/// For `run --check`, which calls no API: which of `companies` (as a job lists them) each key
/// names, by the same comparison (an exact id or an equal name key); `None` for a key that
/// names none of them as written.
pub fn match_listed<'a>(key: &str, companies: &'a [String]) -> Option<&'a str> {
    let wanted = keepnet_api::name_key(key);
    companies
        .iter()
        .find(|c| c.trim() == key.trim() || keepnet_api::name_key(c) == wanted)
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(id: &str, name: &str) -> Company {
        Company::new(keepnet_api::CompanyId::parse(id).unwrap(), name)
    }

    fn key(key: &str, to: &str) -> Key {
        Key {
            key: key.to_owned(),
            place: format!("r.toml:{}:1", key.len()),
            recipients: vec![to.to_owned()],
        }
    }

    #[test]
    fn keys_resolve_as_company_arguments_do() {
        let all = [
            company("AAA111", "Support"),
            company("BBB222", "Support"),
            company("CCC333", "İSTANBUL Sigorta"),
            company("DDD444", "Acme"),
        ];
        let err = resolve(&[key("support", "a@x")], vec![], &all).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("AAA111") && text.contains("BBB222") && text.contains("key it by id"),
            "{text}"
        );
        let ok = resolve(
            &[
                key("AAA111", "a@x"),
                key("istanbul sigorta", "i@x"),
                key("Gone Ltd", "g@x"),
            ],
            vec!["default@x".into()],
            &all,
        )
        .unwrap();
        assert_eq!(ok.unmatched.len(), 1);
        assert!(ok.unmatched[0].contains("Gone Ltd"));
        let recipients = ok.recipients();
        assert_eq!(recipients(&all[0]), ["a@x"]);
        assert_eq!(recipients(&all[1]), ["default@x"], "the other Support");
        assert_eq!(recipients(&all[2]), ["i@x"]);
        let twice = resolve(&[key("Acme", "a@x"), key("DDD444", "b@x")], vec![], &all);
        assert!(twice.unwrap_err().to_string().contains("keep one"));
        let listed = ["Support".to_owned(), "DDD444".to_owned()];
        assert_eq!(match_listed("SUPPORT", &listed), Some("Support"));
        assert_eq!(match_listed("DDD444", &listed), Some("DDD444"));
        assert_eq!(match_listed("Acme", &listed), None);
    }
}
