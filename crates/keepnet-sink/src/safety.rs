//! Spreadsheet formula injection ("CSV injection") guard.
//!
//! A spreadsheet opening a CSV treats a cell that starts with `=`, `+`, `-` or `@` (and, in
//! some programs, a leading tab or carriage return) as a formula. User-controlled text such as
//! a department called `=HYPERLINK("http://evil","click")` then runs when the file is opened.
//! OWASP's rule is to prefix such cells with `'` so they are shown as text.
//!
//! Applied bluntly, that rule damages real data: `+90 532 000 00 00` becomes
//! `'+90 532 000 00 00`, and `-42` stops being a number. So the guard leaves a value alone when
//! it is plainly a number or a phone number: nothing but digits, spaces and `+ - ( ) . , /`,
//! with at least one digit. Such text cannot call a function or reach outside the sheet (no
//! letters, quotes, `!`, `|` or `:`), so at worst a spreadsheet computes arithmetic on it.
//!
//! | cell text                    | written as                    |
//! |------------------------------|-------------------------------|
//! | `=HYPERLINK("http://x","y")` | `'=HYPERLINK("http://x","y")` |
//! | `@SUM(A1)`                   | `'@SUM(A1)`                   |
//! | `+cmd|' /C calc'!A0`         | `'+cmd|' /C calc'!A0`         |
//! | `-2+3*cmd`                   | `'-2+3*cmd`                   |
//! | `\tpayload`                  | `'\tpayload`                  |
//! | `+90 532 000 00 00`          | unchanged                     |
//! | `+1 (555) 010-0199`          | unchanged                     |
//! | `-42`, `-3.5`, `+7`          | unchanged                     |
//! | `Ayşe`, `0532 000 00 00`     | unchanged (no trigger)        |
//!
//! XLSX needs no guard: its sinks write text as string cells, which are never formulas.

use std::borrow::Cow;

/// Characters that make a spreadsheet read a cell as a formula when they come first.
const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether `c` reorders the text around it when shown: the bidirectional embedding,
/// override and isolate controls (U+202A to U+202E, U+2066 to U+2069). `Evil\u{202e}xcod.csv`
/// shows as `Evilvsc.docx`. They are escaped wherever control characters are, and never
/// reach a file or attachment name.
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// Whether `text` would be read as a formula and is not plainly a number or phone number.
pub fn is_dangerous(text: &str) -> bool {
    match text.chars().next() {
        Some(first) if TRIGGERS.contains(&first) => !is_plain_number(text),
        _ => false,
    }
}

/// `text` made safe for a spreadsheet: prefixed with `'` when [`is_dangerous`].
pub fn guard(text: &str) -> Cow<'_, str> {
    if is_dangerous(text) {
        let mut out = String::with_capacity(text.len() + 1);
        out.push('\'');
        out.push_str(text);
        Cow::Owned(out)
    } else {
        Cow::Borrowed(text)
    }
}

/// Digits, spaces and `+ - ( ) . , /` only, with at least one digit.
fn is_plain_number(text: &str) -> bool {
    let mut digits = false;
    for c in text.chars() {
        match c {
            '0'..='9' => digits = true,
            ' ' | '+' | '-' | '(' | ')' | '.' | ',' | '/' => {}
            _ => return false,
        }
    }
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralises_formulas() {
        for bad in [
            "=HYPERLINK(\"http://x\",\"y\")",
            "@SUM(A1)",
            "+cmd|' /C calc'!A0",
            "-2+3*cmd",
            "\tpayload",
            "\r=1+1",
            "=1+1",
            "-",
            "+",
            "=",
        ] {
            assert!(is_dangerous(bad), "{bad:?}");
            assert_eq!(guard(bad), format!("'{bad}"));
        }
    }

    #[test]
    fn keeps_numbers_phones_and_ordinary_text() {
        for fine in [
            "+90 532 000 00 00",
            "+1 (555) 010-0199",
            "-42",
            "-3.5",
            "+7",
            "-1,000.50",
            "0532 000 00 00",
            "Ayşe",
            "a=b",
            "",
            "'quoted",
        ] {
            assert!(!is_dangerous(fine), "{fine:?}");
            assert_eq!(guard(fine), fine);
        }
    }
}
