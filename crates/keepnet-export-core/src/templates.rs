//! Path templates (`out/{company}-{date}.xlsx`) and safe, collision-free file names for
//! company names.

use keepnet_api::Company;
use keepnet_sink::Timestamp;

use crate::output::safe_file_name;
use crate::spec::SinkSpec;

/// `text` with the placeholders filled in for one company, in one pass: a substituted value
/// is never read for placeholders again (a company named `{company_id}` is written as that
/// name, not as another company's id).
pub fn expand(text: &str, file_name: &str, company_id: &str, date: &Timestamp) -> String {
    let day = format!("{:04}-{:02}-{:02}", date.year, date.month, date.day);
    let stamp = format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        date.year, date.month, date.day, date.hour, date.minute, date.second
    );
    let values = [
        ("{company}", file_name),
        ("{company_id}", company_id),
        ("{date}", day.as_str()),
        ("{timestamp}", stamp.as_str()),
    ];
    let mut out = String::with_capacity(text.len() + file_name.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        rest = &rest[open..];
        match values.iter().find(|(name, _)| rest.starts_with(name)) {
            Some((name, value)) => {
                out.push_str(value);
                rest = &rest[name.len()..];
            }
            None => {
                out.push('{');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The rollup specs with `{date}` and `{timestamp}` filled in (a rollup names no company).
pub fn rollup_specs(specs: &[SinkSpec], started: &Timestamp) -> Vec<SinkSpec> {
    specs
        .iter()
        .map(|spec| SinkSpec {
            kind: spec.kind.clone(),
            target: expand(&spec.target, "rollup", "", started),
        })
        .collect()
}

/// A file-name-safe name for each company, in order: no path separators or `..`, no names
/// Windows reserves (`CON`, `NUL`, `COM1`...), and never two alike, compared without case (as
/// on macOS and Windows): companies whose safe names would collide get their id appended,
/// and a name that then equals another company's (a company really called `Acme-ID`) gets
/// its id appended too, until every name is distinct. Linear in the number of companies.
pub fn safe_names(companies: &[Company]) -> Vec<String> {
    let mut names: Vec<String> = companies
        .iter()
        .map(|c| safe_component(&c.name, c.resource_id.as_str()))
        .collect();
    // Each round appends an id to every name in a clash; ids are distinct, so names only grow
    // apart. Two rounds settle any real listing; the cap stops a contrived one.
    for _ in 0..8 {
        let mut seen: std::collections::HashMap<String, usize> =
            std::collections::HashMap::with_capacity(names.len());
        for name in &names {
            *seen.entry(name.to_lowercase()).or_default() += 1;
        }
        let mut clashed = false;
        for (name, company) in names.iter_mut().zip(companies) {
            if seen[&name.to_lowercase()] > 1 {
                name.push('-');
                name.push_str(company.resource_id.as_str());
                clashed = true;
            }
        }
        if !clashed {
            return names;
        }
    }
    // Ids alone: distinct by construction.
    companies
        .iter()
        .map(|c| safe_component(c.resource_id.as_str(), c.resource_id.as_str()))
        .collect()
}

/// One company name as a file-name component: what `{company}` becomes for a company alone
/// (its id when nothing of the name is left, as for an empty or dots-only name).
pub fn safe_component(name: &str, fallback: &str) -> String {
    let mut safe = safe_file_name(name);
    // Trailing dots and spaces vanish on Windows; a lone "." or ".." is a path.
    safe = safe.trim_end_matches(['.', ' ']).to_owned();
    if safe.is_empty() {
        return fallback.to_owned();
    }
    if safe.len() > 100 {
        let mut cut = 100;
        while !safe.is_char_boundary(cut) {
            cut -= 1;
        }
        safe.truncate(cut);
    }
    let stem = safe.split('.').next().unwrap_or("").to_ascii_uppercase();
    let reserved = matches!(stem.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((stem.starts_with("COM") || stem.starts_with("LPT"))
            && stem.len() == 4
            && stem.as_bytes()[3].is_ascii_digit());
    if reserved {
        safe.push('_');
    }
    safe
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(id: &str, name: &str) -> Company {
        Company::new(keepnet_api::CompanyId::parse(id).unwrap(), name)
    }

    #[test]
    fn hostile_names_become_safe_and_distinct() {
        let companies = [
            company("id1", "../x"),
            company("id2", "a/b"),
            company("id3", "CON"),
            company("id4", "Acme: Europe"),
            company("id5", "acme? europe"),
            company("id6", "Müşteri A.Ş."),
            company("id7", ".."),
            company("id8", "lpt1.txt"),
        ];
        let names = safe_names(&companies);
        assert_eq!(names[0], "_x");
        assert_eq!(names[1], "a_b");
        assert_eq!(names[2], "CON_");
        assert_eq!(names[3], "Acme_ Europe-id4");
        assert_eq!(names[4], "acme_ europe-id5");
        assert_eq!(names[5], "Müşteri A.Ş");
        assert_eq!(names[6], "id7");
        assert_eq!(names[7], "lpt1.txt_");
        for name in &names {
            assert!(
                !name.contains('/') && !name.contains('\\') && name != ".." && !name.is_empty()
            );
        }
    }

    #[test]
    fn a_suffixed_name_never_equals_another_companys_name() {
        let companies = [
            company("AAAAAAAAAAA1", "Acme"),
            company("BBBBBBBBBBB2", "ACME"),
            company("CCCCCCCCCCC3", "Acme-AAAAAAAAAAA1"),
        ];
        let names = safe_names(&companies);
        let mut lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
        lower.sort();
        lower.dedup();
        assert_eq!(lower.len(), 3, "{names:?}");
        assert_eq!(names[1], "ACME-BBBBBBBBBBB2");
    }

    #[test]
    fn substituted_values_are_not_expanded_again() {
        let date = Timestamp::parse("2026-11-27T10:04:05Z").unwrap();
        assert_eq!(
            expand("o/{company}.csv", "{company_id}", "A1", &date),
            "o/{company_id}.csv"
        );
        assert_eq!(
            expand("o/{company}-{date}.csv", "{date}{timestamp}", "A1", &date),
            "o/{date}{timestamp}-2026-11-27.csv"
        );
        assert_eq!(expand("o/{x}{company_id}", "n", "A1", &date), "o/{x}A1");
    }

    #[test]
    fn placeholders() {
        use crate::spec::{check_target as check, names_company};
        assert!(check("out/{company}-{date}.xlsx").is_ok());
        assert!(check("out/{companyname}.xlsx")
            .unwrap_err()
            .message
            .contains("{companyname}"));
        assert!(check("out/{company.xlsx").is_err());
        assert!(names_company("x/{company_id}.csv") && !names_company("x/{date}.csv"));
        let date = Timestamp::parse("2026-11-27T10:04:05Z").unwrap();
        assert_eq!(
            expand("o/{company}-{company_id}-{date}.csv", "Acme", "A1", &date),
            "o/Acme-A1-2026-11-27.csv"
        );
        assert_eq!(
            expand("o/{company}-{timestamp}.csv", "Acme", "A1", &date),
            "o/Acme-20261127T100405Z.csv"
        );
    }
}
