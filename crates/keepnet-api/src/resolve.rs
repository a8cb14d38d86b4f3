//! Turning one user argument (an id or a name) into exactly one company.

use std::fmt;

use crate::models::Company;

/// A company that matched, shown in an ambiguity error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    /// The company's name.
    pub name: String,
    /// The company's resource id.
    pub resource_id: crate::CompanyId,
    /// The parent's name, for a nested company.
    pub parent_name: Option<String>,
}

impl fmt::Display for Candidate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (id {}", self.name, self.resource_id)?;
        if let Some(parent) = &self.parent_name {
            write!(f, ", under {parent}")?;
        }
        f.write_str(")")
    }
}

/// Why a company argument did not resolve to exactly one company.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ResolveError {
    /// No company has that id or name.
    #[error("no managed company has the id or name {query:?}{}", did_you_mean(.suggestions))]
    NoMatch {
        /// What the user asked for.
        query: String,
        /// The closest names, best first (at most 3).
        suggestions: Vec<String>,
    },
    /// Several companies have that name.
    #[error(
        "{} companies are named {query:?}: {}; pass the id instead",
        .candidates.len(),
        .candidates.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
    )]
    Ambiguous {
        /// What the user asked for.
        query: String,
        /// Every company with that name.
        candidates: Vec<Candidate>,
    },
}

fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => "; list them with `keepnet-export companies`".to_owned(),
        names => format!(
            "; did you mean {}?",
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(" or ")
        ),
    }
}

/// Finds the one company `query` names: an exact resource id first, else a case-insensitive
/// exact name anywhere in the (flattened) tree.
pub fn resolve_company<'a>(
    companies: &'a [Company],
    query: &str,
) -> Result<&'a Company, ResolveError> {
    let query = query.trim();
    if let Some(c) = companies.iter().find(|c| c.resource_id == query) {
        return Ok(c);
    }
    let wanted = name_key(query);
    let matches: Vec<&Company> = companies
        .iter()
        .filter(|c| name_key(&c.name) == wanted)
        .collect();
    match matches.as_slice() {
        [one] => Ok(one),
        [] => Err(ResolveError::NoMatch {
            query: query.to_owned(),
            suggestions: closest_names(companies, &wanted),
        }),
        many => Err(ResolveError::Ambiguous {
            query: query.to_owned(),
            candidates: many
                .iter()
                .map(|c| Candidate {
                    name: c.name.clone(),
                    resource_id: c.resource_id.clone(),
                    parent_name: c.parent_name.clone(),
                })
                .collect(),
        }),
    }
}

/// The key two company names are compared by: Unicode NFC (a name stored decomposed, as macOS
/// writes it, equals the same name typed composed), whitespace runs collapsed, lower case with
/// the dotted and dotless I folded together (Turkish `İSTANBUL` is `istanbul`, `IŞIK` is
/// `ışık`). The one comparison for `--company`, job-file recipient keys and every other place
/// a person names a company.
pub fn name_key(text: &str) -> String {
    let nfc = icu_normalizer::ComposingNormalizerBorrowed::new_nfc().normalize(text);
    let mut key = String::with_capacity(nfc.len());
    for word in nfc.split_whitespace() {
        if !key.is_empty() {
            key.push(' ');
        }
        for c in word.chars() {
            match c {
                'I' | 'İ' | 'ı' => key.push('i'),
                // A combining dot above an i (how `İ` lower-cases, or is typed decomposed).
                '\u{307}' if key.ends_with('i') => {}
                c => key.extend(c.to_lowercase()),
            }
        }
    }
    key
}

/// Up to three names close to `wanted`: names containing it (or contained in it) first, then
/// by edit distance when it is within a third of the name's length.
fn closest_names(companies: &[Company], wanted: &str) -> Vec<String> {
    let mut scored: Vec<(usize, &str)> = companies
        .iter()
        .filter_map(|c| {
            let name = name_key(&c.name);
            if name.is_empty() || wanted.is_empty() {
                return None;
            }
            if name.contains(wanted) || wanted.contains(&name) {
                return Some((0, c.name.as_str()));
            }
            let distance = edit_distance(&name, wanted);
            let allowed = name.chars().count().max(wanted.chars().count()) / 3;
            (distance <= allowed.max(1)).then_some((distance, c.name.as_str()))
        })
        .collect();
    scored.sort();
    let mut names: Vec<String> = Vec::new();
    for (_, name) in scored {
        if !names.iter().any(|n| n == name) {
            names.push(name.to_owned());
        }
        if names.len() == 3 {
            break;
        }
    }
    names
}

/// The known word closest to `word` (ignoring case), if it is close enough to be a likely
/// typo: within a third of its length, one to three edits. Job-file keys and sink options use
/// it for "did you mean".
pub fn suggest<'k>(word: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = word.to_lowercase();
    let limit = (lower.chars().count() / 3).clamp(1, 3);
    known
        .iter()
        .map(|k| (edit_distance(&lower, k), *k))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

/// Edit distance where swapping two neighbours counts as one edit (optimal string
/// alignment): the typo measure for company names here and for job-file keys in keepnet-jobs.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut rows = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for (i, row) in rows.iter_mut().enumerate() {
        row[0] = i;
    }
    for (j, cell) in rows[0].iter_mut().enumerate() {
        *cell = j;
    }
    for i in 1..=a.len() {
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut best = (rows[i - 1][j] + 1)
                .min(rows[i][j - 1] + 1)
                .min(rows[i - 1][j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                best = best.min(rows[i - 2][j - 2] + 1);
            }
            rows[i][j] = best;
        }
    }
    rows[a.len()][b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn company(id: &str, name: &str, parent: Option<&str>) -> Company {
        Company {
            parent_id: parent.map(|p| format!("{p}-id")),
            parent_name: parent.map(Into::into),
            depth: usize::from(parent.is_some()),
            ..Company::new(crate::CompanyId::parse(id).unwrap(), name)
        }
    }

    fn tree() -> Vec<Company> {
        vec![
            company("AAA111", "Acme Holdings", None),
            company("BBB222", "Acme Europe", Some("Acme Holdings")),
            company("CCC333", "Müşteri A.Ş.", None),
            company("DDD444", "Support", Some("Globex")),
            company("EEE555", "Support", Some("Initech")),
            company("Acme", "Named Like An Id", None),
        ]
    }

    #[test]
    fn exact_id_wins_over_names() {
        let t = tree();
        assert_eq!(resolve_company(&t, "BBB222").unwrap().name, "Acme Europe");
        // "Acme" is an id here: the id rule comes first.
        assert_eq!(resolve_company(&t, "Acme").unwrap().resource_id, "Acme");
    }

    #[test]
    fn name_is_case_insensitive_and_finds_nested() {
        let t = tree();
        assert_eq!(
            resolve_company(&t, "acme europe").unwrap().resource_id,
            "BBB222"
        );
        assert_eq!(
            resolve_company(&t, "  MÜŞTERI A.Ş. ").unwrap().resource_id,
            "CCC333"
        );
    }

    #[test]
    fn ambiguous_lists_every_candidate() {
        let t = tree();
        let err = resolve_company(&t, "support").unwrap_err();
        let ResolveError::Ambiguous { candidates, .. } = &err else {
            panic!("expected ambiguity, got {err:?}");
        };
        assert_eq!(candidates.len(), 2);
        let text = err.to_string();
        assert!(text.contains("DDD444") && text.contains("EEE555"), "{text}");
        assert!(
            text.contains("under Globex") && text.contains("under Initech"),
            "{text}"
        );
    }

    #[test]
    fn no_match_suggests_close_names() {
        let t = tree();
        let err = resolve_company(&t, "Acme Holding").unwrap_err();
        let ResolveError::NoMatch { suggestions, .. } = &err else {
            panic!("expected no match");
        };
        assert_eq!(suggestions[0], "Acme Holdings");
        let err = resolve_company(&t, "Zzzzzzzz").unwrap_err();
        assert!(err.to_string().contains("keepnet-export companies"));
        let err = resolve_company(&t, "Musteri A.S.").unwrap_err();
        assert!(err.to_string().contains("Müşteri A.Ş."), "{err}");
    }

    #[test]
    fn names_match_across_normal_forms_and_turkish_case() {
        let t = vec![
            company("T1", "İSTANBUL Sigorta", None),
            company("T2", "IŞIK Ltd", None),
            company("T3", "Mu\u{308}s\u{327}teri", None),
            company("T4", "Kaya   Holding", None),
        ];
        for (typed, id) in [
            ("istanbul sigorta", "T1"),
            ("İstanbul SİGORTA", "T1"),
            ("ışık ltd", "T2"),
            ("Işık LTD", "T2"),
            ("Müşteri", "T3"),
            ("kaya holding", "T4"),
        ] {
            assert_eq!(
                resolve_company(&t, typed).unwrap().resource_id,
                id,
                "{typed}"
            );
        }
        assert_eq!(name_key("I\u{307}STANBUL"), "istanbul");
        assert_eq!(name_key("  a \t b "), "a b");
    }

    #[test]
    fn levenshtein_basics() {
        use super::edit_distance as levenshtein;
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("şş", "ss"), 2);
        assert_eq!(levenshtein("Acme", "Amce"), 1, "a swap is one edit");
    }
}
