//! Small text checks: positions, key suggestions, subject placeholders, e-mail addresses.
//! (Sink targets follow `keepnet_export_core::rules`, as on the command line.)

/// The placeholders a mail subject may use (the e-mail sink also knows `{rows}`).
pub(crate) const SUBJECT_PLACEHOLDERS: [&str; 4] =
    ["{company}", "{company_id}", "{date}", "{rows}"];

/// 1-based line and column (in characters) of byte `offset` in `text`. Scans from the start:
/// for many positions in one text, build [`Positions`] once.
pub(crate) fn position(text: &str, offset: usize) -> (usize, usize) {
    Positions::new(text).position(offset)
}

/// Bytes between two checkpoints of the character count: a column is counted over at most
/// this many bytes, however long its line.
const CHECKPOINT: usize = 4096;

/// Where each line of a text starts, and how many characters come before every 4 KiB,
/// built once: a position is then a binary search and a count over at most 4 KiB. (Counting from the start for each position made `run --check`
/// quadratic in the file: 40,000 errors in a 349 KB file took 37 s.)
#[derive(Debug, Clone)]
pub struct Positions<'t> {
    text: &'t str,
    /// Byte offset of the start of each line; the first is 0.
    starts: Vec<usize>,
    /// Characters before byte `i * CHECKPOINT`.
    chars: Vec<usize>,
}

impl<'t> Positions<'t> {
    /// The index of `text`, in one pass over it.
    pub fn new(text: &'t str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        starts.extend(
            bytes
                .iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        );
        let mut chars = Vec::with_capacity(bytes.len() / CHECKPOINT + 1);
        let mut count = 0;
        for block in bytes.chunks(CHECKPOINT) {
            chars.push(count);
            count += chars_in(block);
        }
        chars.push(count);
        Self {
            text,
            starts,
            chars,
        }
    }

    /// Characters before byte `offset` (on a character boundary).
    fn chars_before(&self, offset: usize) -> usize {
        let block = offset / CHECKPOINT;
        self.chars[block] + chars_in(&self.text.as_bytes()[block * CHECKPOINT..offset])
    }

    /// 1-based line and column (in characters) of byte `offset`; an offset past the end is
    /// the end, one inside a character is that character.
    pub fn position(&self, offset: usize) -> (usize, usize) {
        let mut offset = offset.min(self.text.len());
        while !self.text.is_char_boundary(offset) {
            offset -= 1;
        }
        // The last line starting at or before the offset.
        let line = self.starts.partition_point(|start| *start <= offset);
        let start = self.starts[line - 1];
        let column = self.chars_before(offset) - self.chars_before(start) + 1;
        (line, column)
    }

    /// The text of 1-based line `number` without its line ending, as [`str::lines`] gives
    /// it; `None` past the last line.
    pub fn line(&self, number: usize) -> Option<&'t str> {
        let start = *self.starts.get(number.checked_sub(1)?)?;
        let rest = &self.text[start..];
        if rest.is_empty() {
            return None;
        }
        Some(match rest.find('\n') {
            Some(end) => rest[..end].strip_suffix('\r').unwrap_or(&rest[..end]),
            None => rest,
        })
    }
}

/// Characters in UTF-8 `bytes`: every byte that does not continue a character.
fn chars_in(bytes: &[u8]) -> usize {
    bytes.iter().filter(|b| (**b & 0xC0) != 0x80).count()
}

pub(crate) use keepnet_api::suggest;

/// Checks a mail subject template (`{{` and `}}` are literal braces, a lone `}` is literal);
/// on error, the byte index of the offending `{`.
pub(crate) fn check_subject(subject: &str) -> Result<(), (usize, String)> {
    let known = SUBJECT_PLACEHOLDERS.join(", ");
    let mut i = 0;
    while let Some(rel) = subject[i..].find(['{', '}']) {
        let start = i + rel;
        let tail = &subject[start..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            i = start + 2;
            continue;
        }
        if tail.starts_with('}') {
            i = start + 1;
            continue;
        }
        let Some(len) = tail.find('}') else {
            return Err((
                start,
                format!(
                    "`{{` without a closing `}}` in the subject; placeholders are {known}, write {{{{ for a literal brace"
                ),
            ));
        };
        let placeholder = &tail[..=len];
        if !SUBJECT_PLACEHOLDERS.contains(&placeholder) {
            return Err((
                start,
                format!(
                    "unknown placeholder `{placeholder}` in the subject; use {known}, or write {{{{ for a literal brace"
                ),
            ));
        }
        i = start + len + 1;
    }
    Ok(())
}

/// Rejects obviously broken e-mail addresses: `name@domain` or `Name <name@domain>`.
pub(crate) fn check_address(raw: &str) -> Result<(), String> {
    let shown = format!("{raw:?}");
    if raw.trim().is_empty() {
        return Err("empty e-mail address: remove it or write name@domain".to_owned());
    }
    if raw.contains([',', ';']) {
        return Err(format!(
            "{shown} holds several addresses: write one address per string, e.g. [\"a@x.example\", \"b@y.example\"]"
        ));
    }
    let addr = match raw.rfind('<') {
        Some(open) => match raw[open + 1..].strip_suffix('>') {
            Some(inner) => inner,
            None => {
                return Err(format!(
                    "{shown} is not an e-mail address: write name@domain or Name <name@domain>"
                ))
            }
        },
        None => raw,
    };
    if addr.chars().any(|c| {
        c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"' | '(' | ')' | '\\')
    }) {
        return Err(format!(
            "{shown} is not an e-mail address: it contains a space or a character addresses cannot hold; write name@domain"
        ));
    }
    let Some((local, domain)) = addr.split_once('@') else {
        return Err(format!(
            "{shown} is not an e-mail address: it has no `@`; write name@domain"
        ));
    };
    if local.is_empty()
        || domain.is_empty()
        || domain.contains('@')
        || domain.starts_with('.')
        || domain.ends_with('.')
        || domain.contains("..")
    {
        return Err(format!(
            "{shown} is not an e-mail address: write name@domain"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_count_characters() {
        let text = "a = 1\n\"Müşteri\" = 2\n";
        assert_eq!(position(text, 0), (1, 1));
        assert_eq!(position(text, 6), (2, 1));
        let eq = text.find(" = 2").unwrap();
        assert_eq!(position(text, eq), (2, 10));
        assert_eq!(position(text, text.len()), (3, 1));
        // Inside a character: that character.
        let u = text.find('ü').unwrap();
        assert_eq!(position(text, u + 1), position(text, u));
    }

    #[test]
    fn the_index_agrees_with_counting_from_the_start_across_checkpoints() {
        // Lines of every length, multi-byte characters straddling checkpoints, CRLF endings.
        let mut text = String::new();
        for i in 0..3000 {
            text.push_str(&"ğ".repeat(i % 7));
            text.push_str(&"x".repeat(i % 13));
            text.push_str(if i % 5 == 0 { "\r\n" } else { "\n" });
        }
        text.push_str(&"€".repeat(5000));
        let index = Positions::new(&text);
        for offset in (0..=text.len() + 2).step_by(7) {
            let mut at = offset.min(text.len());
            while !text.is_char_boundary(at) {
                at -= 1;
            }
            let before = &text[..at];
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            let slow = (
                before.matches('\n').count() + 1,
                before[line_start..].chars().count() + 1,
            );
            assert_eq!(index.position(offset), slow, "offset {offset}");
        }
        let lines: Vec<&str> = text.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            assert_eq!(index.line(i + 1), Some(*line), "line {}", i + 1);
        }
        assert_eq!(index.line(lines.len() + 1), None);
        assert_eq!(index.line(0), None);
    }

    #[test]
    fn suggestions() {
        let known = ["name", "companies", "sinks", "fail_fast", "header"];
        assert_eq!(suggest("sink", &known), Some("sinks"));
        assert_eq!(suggest("companys", &known), Some("companies"));
        assert_eq!(suggest("failfast", &known), Some("fail_fast"));
        assert_eq!(suggest("Name", &known), Some("name"));
        assert_eq!(suggest("smpt", &["smtp", "job"]), Some("smtp"));
        assert_eq!(suggest("x", &known), None);
        assert_eq!(suggest("totally", &known), None);
    }

    #[test]
    fn targets_and_subjects() {
        use keepnet_export_core::rules::check_target;
        assert!(check_target("out/{company}-{company_id}-{date}.csv").is_ok());
        assert_eq!(check_target("out/{day}.csv").unwrap_err().at, 4);
        assert_eq!(check_target("out/{company.csv").unwrap_err().at, 4);
        assert!(check_subject("{company} {{x}} } {rows} {date}").is_ok());
        assert_eq!(check_subject("Users of {firm}").unwrap_err().0, 9);
        assert_eq!(check_subject("a {").unwrap_err().0, 2);
    }

    #[test]
    fn addresses() {
        for ok in [
            "it@acme.example",
            "MSSP Reports <r@mssp.example>",
            "root@localhost",
        ] {
            assert!(check_address(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "it.acme.example",
            "it @acme.example",
            "a@b.example, c@d.example",
            "@acme.example",
            "it@",
            "it@acme..example",
            "Name <it@acme.example",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }
}
