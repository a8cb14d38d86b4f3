//! Cells: one value of one row.

use std::borrow::Cow;

use crate::{DateFormat, Timestamp};

/// One value of a row, borrowed from the record it came from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// No value (the API sent null or nothing).
    Null,
    /// Text exactly as the API sent it.
    Text(&'a str),
    /// A boolean.
    Bool(bool),
    /// A date-time: the parsed instant (UTC) and the text the API sent.
    DateTime {
        /// The instant, in UTC.
        at: Timestamp,
        /// The original text.
        text: &'a str,
    },
    /// Named values, e.g. a user's custom fields.
    Fields(&'a [Field<'a>]),
    /// A JSON value exactly as the server sent it, as JSON text (a number, an object, a list, or
    /// a whole record): fields the client has no type for. Text formats show the text; JSON
    /// formats embed the value unchanged.
    Json(&'a str),
}

/// One named value inside [`Cell::Fields`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field<'a> {
    /// The name, e.g. `Employee Number`.
    pub name: &'a str,
    /// The value.
    pub value: Cell<'a>,
}

impl<'a> Cell<'a> {
    /// A text cell, or [`Cell::Null`] for `None`.
    pub fn text(value: Option<&'a str>) -> Self {
        value.map_or(Cell::Null, Cell::Text)
    }

    /// A date-time cell from the API's text when nothing is known of the company's date
    /// format: see [`Cell::date_time_in`].
    pub fn date_time(value: Option<&'a str>) -> Self {
        Self::date_time_in(value, &DateFormat::UNKNOWN)
    }

    /// A date-time cell from the API's text, read by the company's `format`
    /// ([`Timestamp::parse_in`]): text that is not certainly a date stays text, null for
    /// `None`.
    pub fn date_time_in(value: Option<&'a str>, format: &DateFormat) -> Self {
        match value {
            None => Cell::Null,
            Some(text) => match Timestamp::parse_in(text, format) {
                Some(at) => Cell::DateTime { at, text },
                None => Cell::Text(text),
            },
        }
    }

    /// The cell as plain text, the way text formats (CSV) show it: null is empty, a date-time
    /// is its original text, fields read `Name: value; Name: value`.
    pub fn to_text(&self) -> Cow<'a, str> {
        match *self {
            Cell::Null => Cow::Borrowed(""),
            Cell::Text(text) | Cell::DateTime { text, .. } | Cell::Json(text) => {
                Cow::Borrowed(text)
            }
            Cell::Bool(true) => Cow::Borrowed("true"),
            Cell::Bool(false) => Cow::Borrowed("false"),
            Cell::Fields(fields) => {
                let mut out = String::new();
                for field in fields {
                    if !out.is_empty() {
                        out.push_str("; ");
                    }
                    out.push_str(field.name);
                    out.push_str(": ");
                    out.push_str(&field.value.to_text());
                }
                Cow::Owned(out)
            }
        }
    }

    /// Whether the cell is null.
    pub fn is_null(&self) -> bool {
        matches!(self, Cell::Null)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_rendering() {
        assert_eq!(Cell::Null.to_text(), "");
        assert_eq!(Cell::Bool(true).to_text(), "true");
        let when = Cell::date_time(Some("25/03/2024 10:15:30"));
        assert!(matches!(when, Cell::DateTime { .. }));
        assert_eq!(when.to_text(), "25/03/2024 10:15:30");
        // Ambiguous without the company's format: kept as text.
        let ambiguous = "05/03/2024 10:15:30";
        assert_eq!(Cell::date_time(Some(ambiguous)), Cell::Text(ambiguous));
        let dmy = DateFormat::from_keepnet(Some("DD/MM/YYYY"), Some("24h"));
        assert!(matches!(
            Cell::date_time_in(Some(ambiguous), &dmy),
            Cell::DateTime { at, .. } if at.month == 3 && at.day == 5
        ));
        assert_eq!(Cell::date_time(Some("soon")), Cell::Text("soon"));
        let fields = [
            Field {
                name: "Employee Number",
                value: Cell::Text("000123"),
            },
            Field {
                name: "Cost Center",
                value: Cell::Null,
            },
        ];
        assert_eq!(
            Cell::Fields(&fields).to_text(),
            "Employee Number: 000123; Cost Center: "
        );
    }
}
