//! Columns: what a sink is told about each cell position.

/// How a column's values should be typed by formats that have types (XLSX).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ColumnKind {
    /// Free text.
    Text,
    /// Text that looks numeric but is not a number: phone numbers, employee numbers, ids.
    /// Always written as text so leading zeros and `+` survive.
    Identifier,
    /// A date-time ([`Cell::DateTime`](crate::Cell::DateTime)).
    DateTime,
    /// A boolean.
    Bool,
    /// A number ([`Cell::Json`](crate::Cell::Json) holding JSON number text, e.g. `412`): a
    /// number in a spreadsheet, the text in CSV, a JSON number in JSON Lines.
    Number,
    /// A list of named values ([`Cell::Fields`](crate::Cell::Fields)), e.g. custom fields.
    Fields,
    /// Values of any JSON type, as served ([`Cell::Json`](crate::Cell::Json) for anything but
    /// text, booleans and null): fields the client does not know.
    Json,
    /// The whole record as one JSON object ([`Cell::Json`](crate::Cell::Json)), every field
    /// exactly as served. A JSON Lines sink given only this column writes each record as its
    /// line.
    Record,
}

/// Which header labels to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HeaderStyle {
    /// The API's field names: `firstName`.
    #[default]
    Api,
    /// Labels for people: `First Name`.
    Human,
}

/// One column of an export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    /// The API field name (e.g. `firstName`), or `custom:NAME` for one custom field.
    pub key: String,
    /// The label for people (e.g. `First Name`).
    pub label: String,
    /// How its values are typed.
    pub kind: ColumnKind,
}

impl Column {
    /// A column from its key, label and kind.
    pub fn new(key: impl Into<String>, label: impl Into<String>, kind: ColumnKind) -> Self {
        Self {
            key: key.into(),
            label: label.into(),
            kind,
        }
    }

    /// The header text in the given style.
    pub fn header(&self, style: HeaderStyle) -> &str {
        match style {
            HeaderStyle::Api => &self.key,
            HeaderStyle::Human => &self.label,
        }
    }
}
