//! The subject template: text with `{company}`, `{company_id}`, `{date}` and `{rows}`.

/// The placeholders a subject may use.
const PLACEHOLDERS: [&str; 4] = ["company", "company_id", "date", "rows"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Company,
    CompanyId,
    Date,
    Rows,
}

/// A parsed subject template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Template(Vec<Piece>);

/// The values the placeholders stand for.
pub(crate) struct Values<'a> {
    pub company: &'a str,
    pub company_id: &'a str,
    pub date: &'a str,
    pub rows: u64,
}

impl Template {
    /// Parses `text`; `{{` and `}}` are literal braces. The error says what to fix.
    pub fn parse(text: &str) -> Result<Self, String> {
        let known = || {
            PLACEHOLDERS
                .iter()
                .map(|p| format!("{{{p}}}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(after) = tail.strip_prefix("{{").or_else(|| tail.strip_prefix("}}")) {
                literal.push_str(&tail[..1]);
                rest = after;
                continue;
            }
            if let Some(after) = tail.strip_prefix('}') {
                literal.push('}');
                rest = after;
                continue;
            }
            let Some(end) = tail.find('}') else {
                return Err(format!(
                    "the mail subject {text:?} has a '{{' without a closing '}}'; placeholders are {}, write {{{{ for a literal brace",
                    known()
                ));
            };
            let name = &tail[1..end];
            let piece = match name {
                "company" => Piece::Company,
                "company_id" => Piece::CompanyId,
                "date" => Piece::Date,
                "rows" => Piece::Rows,
                _ => {
                    return Err(format!(
                        "unknown placeholder {{{name}}} in the mail subject {text:?}; use {}, or write {{{{ for a literal brace",
                        known()
                    ))
                }
            };
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(piece);
            rest = &tail[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        Ok(Self(pieces))
    }

    /// The subject for these values, on one line: control characters (a line break in a
    /// company name) become spaces.
    pub fn render(&self, values: &Values<'_>) -> String {
        let mut out = String::new();
        for piece in &self.0 {
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::Company => out.push_str(values.company),
                Piece::CompanyId => out.push_str(values.company_id),
                Piece::Date => out.push_str(values.date),
                Piece::Rows => out.push_str(&values.rows.to_string()),
            }
        }
        let one_line: String = out
            .chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect();
        one_line.trim().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values() -> Values<'static> {
        Values {
            company: "Müşteri A.Ş.",
            company_id: "c-42",
            date: "2024-03-05",
            rows: 1234,
        }
    }

    #[test]
    fn renders_placeholders_and_braces() {
        let t = Template::parse("{company} [{company_id}] {date}: {rows} users {{x}} }").unwrap();
        assert_eq!(
            t.render(&values()),
            "Müşteri A.Ş. [c-42] 2024-03-05: 1234 users {x} }"
        );
        let t = Template::parse(crate::DEFAULT_SUBJECT).unwrap();
        assert_eq!(
            t.render(&values()),
            "Target users of Müşteri A.Ş. (2024-03-05)"
        );
        assert_eq!(Template::parse("").unwrap().render(&values()), "");
    }

    #[test]
    fn control_characters_become_spaces() {
        let t = Template::parse("{company}").unwrap();
        let v = Values {
            company: "Evil\r\nBcc: x@example.com",
            ..values()
        };
        assert_eq!(t.render(&v), "Evil  Bcc: x@example.com");
    }

    #[test]
    fn refuses_unknown_and_unclosed() {
        let e = Template::parse("Users of {customer}").unwrap_err();
        assert!(e.contains("{customer}") && e.contains("{company}"), "{e}");
        let e = Template::parse("Users of {company").unwrap_err();
        assert!(e.contains("without a closing"), "{e}");
        assert!(Template::parse("{}").is_err());
        assert!(Template::parse("{Company}").is_err());
    }
}
