//! Path templates (`out/{company}-{date}.xlsx`) and safe, collision-free file names for
//! company names.

use keepnet_api::Company;
use keepnet_sink::Timestamp;

use crate::output::safe_file_name;

/// `text` with the placeholders filled in for one company.
pub fn expand(text: &str, file_name: &str, company_id: &str, date: &Timestamp) -> String {
    text.replace("{company}", file_name)
        .replace("{company_id}", company_id)
        .replace(
            "{date}",
            &format!("{:04}-{:02}-{:02}", date.year, date.month, date.day),
        )
        .replace(
            "{timestamp}",
            &format!(
                "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
                date.year, date.month, date.day, date.hour, date.minute, date.second
            ),
        )
}

/// A file-name-safe name for each company, in order: no path separators or `..`, no names
/// Windows reserves (`CON`, `NUL`, `COM1`...), and never two alike: companies whose safe names
/// would collide (case-insensitively, as on macOS and Windows) get their id appended.
pub fn safe_names(companies: &[Company]) -> Vec<String> {
    let base: Vec<String> = companies
        .iter()
        .map(|c| safe_component(&c.name, c.resource_id.as_str()))
        .collect();
    base.iter()
        .zip(companies)
        .map(|(name, company)| {
            let clashes = base
                .iter()
                .filter(|other| other.to_lowercase() == name.to_lowercase())
                .count();
            if clashes > 1 {
                format!("{name}-{}", company.resource_id)
            } else {
                name.clone()
            }
        })
        .collect()
}

/// One company name as a file-name component.
fn safe_component(name: &str, fallback: &str) -> String {
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
