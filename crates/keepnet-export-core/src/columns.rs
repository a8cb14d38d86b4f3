//! The columns of a target-user export and how a user becomes a row of cells.
//!
//! Default columns cover every field the client knows, in a spreadsheet-friendly order, then
//! every other field the server sends for the company (found on the first page: the live API
//! serves fields its spec does not declare, and adds more over time). Custom fields are kept in
//! one readable column, `customFieldValues` (`Employee Number: 000123; Cost Center: CC-7`),
//! because their names are only known once users arrive and every output must know its columns
//! before the first row. A custom field can also be its own column:
//! `--columns 'email,custom:Employee Number'`; any served field is a column by its API name.
//!
//! Date text is read by the company's own date format ([`DateFormat`]): `03/04/2024` is 3 April
//! in one company and 4 March in another, so text that is not certainly a date stays text.

use keepnet_api::{TargetUser, Text};
use keepnet_sink::{Cell, Column, ColumnKind, DateFormat, Field};
use serde_json::Value;

use crate::exit::Failure;

/// Prefix that selects one custom field as its own column.
const CUSTOM_PREFIX: &str = "custom:";

/// A field of the API's user view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserField {
    Email,
    FirstName,
    LastName,
    Department,
    PhoneNumber,
    Priority,
    Status,
    IsDeleted,
    ManagerFullName,
    ManagerEmail,
    ManagerFirstName,
    ManagerLastName,
    CustomFieldValues,
    CreateTime,
    UpdateTime,
    TimeZone,
    PreferredLanguage,
    IsEditable,
    ScimSettingName,
    LdapConfigName,
    ResourceId,
}

/// Every standard column: (API field name, label, kind, field), in default order.
const STANDARD: [(&str, &str, ColumnKind, UserField); 21] = [
    ("email", "Email", ColumnKind::Text, UserField::Email),
    (
        "firstName",
        "First Name",
        ColumnKind::Text,
        UserField::FirstName,
    ),
    (
        "lastName",
        "Last Name",
        ColumnKind::Text,
        UserField::LastName,
    ),
    (
        "department",
        "Department",
        ColumnKind::Text,
        UserField::Department,
    ),
    (
        "phoneNumber",
        "Phone Number",
        ColumnKind::Identifier,
        UserField::PhoneNumber,
    ),
    (
        "priority",
        "Priority",
        ColumnKind::Text,
        UserField::Priority,
    ),
    ("status", "Status", ColumnKind::Text, UserField::Status),
    (
        "isDeleted",
        "Deleted",
        ColumnKind::Bool,
        UserField::IsDeleted,
    ),
    (
        "managerFullName",
        "Manager",
        ColumnKind::Text,
        UserField::ManagerFullName,
    ),
    (
        "managerEmail",
        "Manager Email",
        ColumnKind::Text,
        UserField::ManagerEmail,
    ),
    (
        "managerFirstName",
        "Manager First Name",
        ColumnKind::Text,
        UserField::ManagerFirstName,
    ),
    (
        "managerLastName",
        "Manager Last Name",
        ColumnKind::Text,
        UserField::ManagerLastName,
    ),
    (
        "customFieldValues",
        "Custom Fields",
        ColumnKind::Fields,
        UserField::CustomFieldValues,
    ),
    (
        "createTime",
        "Created",
        ColumnKind::DateTime,
        UserField::CreateTime,
    ),
    (
        "updateTime",
        "Updated",
        ColumnKind::DateTime,
        UserField::UpdateTime,
    ),
    (
        "timeZone",
        "Time Zone",
        ColumnKind::Text,
        UserField::TimeZone,
    ),
    (
        "preferredLanguage",
        "Preferred Language",
        ColumnKind::Text,
        UserField::PreferredLanguage,
    ),
    (
        "isEditable",
        "Editable",
        ColumnKind::Bool,
        UserField::IsEditable,
    ),
    (
        "scimSettingName",
        "SCIM Setting",
        ColumnKind::Text,
        UserField::ScimSettingName,
    ),
    (
        "ldapConfigName",
        "LDAP Configuration",
        ColumnKind::Text,
        UserField::LdapConfigName,
    ),
    (
        "resourceId",
        "Resource ID",
        ColumnKind::Identifier,
        UserField::ResourceId,
    ),
];

/// Which value a column takes from a user.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Source {
    Standard(UserField),
    Custom(String),
    /// A field the client has no type for, by its wire name.
    Extra(String),
    /// The whole record as served.
    Record,
}

/// The selected columns and how to fill them.
#[derive(Debug, Clone)]
pub struct Layout {
    columns: Vec<Column>,
    sources: Vec<Source>,
    /// Whether every served field not listed is added when the layout is resolved (no
    /// `--columns`).
    discover: bool,
    /// How the company writes dates.
    dates: DateFormat,
}

/// What a row borrows from besides the user: its custom fields and the JSON text of values
/// that are neither text nor booleans.
#[derive(Debug, Default)]
pub struct Prepared<'a> {
    fields: Vec<Field<'a>>,
    json: Vec<String>,
}

impl Layout {
    /// Every known column, then (once resolved) every other field the server sends.
    pub fn all() -> Self {
        let mut layout =
            Self::from_sources(STANDARD.iter().map(|s| Source::Standard(s.3)).collect());
        layout.discover = true;
        layout
    }

    /// One column holding each whole record as served: what JSON Lines writes when no columns
    /// were chosen.
    pub fn record() -> Self {
        Self::from_sources(vec![Source::Record])
    }

    /// Columns from a comma-separated list of API field names and `custom:NAME` entries. A
    /// name the client does not know is taken as a field the server may send; [`Layout::resolve`]
    /// checks it against the first page.
    pub fn parse(list: &str) -> Result<Self, Failure> {
        let mut sources = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let source = Self::source(name)?;
            if sources.contains(&source) {
                return Err(Failure::usage(format!("column {name:?} is listed twice")));
            }
            sources.push(source);
        }
        if sources.is_empty() {
            return Err(Failure::usage(
                "no column is listed: name at least one, e.g. email",
            ));
        }
        Ok(Self::from_sources(sources))
    }

    /// Whether `name` is one of the columns the client knows (not a field it would have to
    /// find on the server).
    pub fn is_known(name: &str) -> bool {
        name.trim().starts_with(CUSTOM_PREFIX)
            || STANDARD
                .iter()
                .any(|(key, ..)| key.eq_ignore_ascii_case(name.trim()))
    }

    /// The known column names, for messages.
    pub fn known_names() -> String {
        STANDARD
            .iter()
            .map(|(k, ..)| *k)
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn source(name: &str) -> Result<Source, Failure> {
        if let Some(custom) = name.strip_prefix(CUSTOM_PREFIX) {
            if custom.trim().is_empty() {
                return Err(Failure::usage(
                    "`custom:` needs a custom field name, e.g. `custom:Employee Number`",
                ));
            }
            return Ok(Source::Custom(custom.trim().to_owned()));
        }
        if let Some(standard) = STANDARD
            .iter()
            .find(|(key, ..)| key.eq_ignore_ascii_case(name))
        {
            return Ok(Source::Standard(standard.3));
        }
        let plausible = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !plausible {
            return Err(Failure::usage(format!(
                "unknown column {name:?}; columns are {}, any other field the API serves by its \
                 name (letters and digits, e.g. managerEmail), or custom:NAME for one custom field",
                Self::known_names()
            )));
        }
        Ok(Source::Extra(name.to_owned()))
    }

    fn from_sources(sources: Vec<Source>) -> Self {
        let columns = sources.iter().map(column_of).collect();
        Self {
            columns,
            sources,
            discover: false,
            dates: DateFormat::UNKNOWN,
        }
    }

    /// The same columns, reading date text by the company's `dates`.
    pub fn with_dates(mut self, dates: DateFormat) -> Self {
        self.dates = dates;
        self
    }

    /// Whether the columns were not chosen (no `--columns`): the default layout.
    pub fn is_default(&self) -> bool {
        self.discover
    }

    /// Whether the `preferredLanguage` column is in the layout, so the other names the live
    /// API gives the language ([`LANGUAGE_ALIASES`]) fill it instead of columns of their own.
    fn has_language(&self) -> bool {
        self.sources
            .iter()
            .any(|s| matches!(s, Source::Standard(UserField::PreferredLanguage)))
    }

    /// Fixes the columns from the first page of users: a named field the server does not send
    /// is an error (naming what it does send); without `--columns`, every field the server
    /// sends that the client has no column for is added, in the order first seen.
    pub fn resolve(&self, first_page: &[TargetUser]) -> Result<Layout, Failure> {
        let mut served: Vec<&str> = Vec::new();
        for user in first_page {
            for (key, _) in &user.extra {
                if !served.iter().any(|k| k == key) {
                    served.push(key);
                }
            }
        }
        let mut sources = Vec::with_capacity(self.sources.len() + served.len());
        for source in &self.sources {
            let Source::Extra(name) = source else {
                sources.push(source.clone());
                continue;
            };
            match served.iter().find(|k| k.eq_ignore_ascii_case(name)) {
                Some(key) => sources.push(Source::Extra((*key).to_owned())),
                None if first_page.is_empty() => sources.push(source.clone()),
                None => {
                    let mut names: Vec<&str> = STANDARD.iter().map(|(k, ..)| *k).collect();
                    names.extend(served.iter().copied());
                    return Err(Failure::usage(format!(
                        "unknown column {name:?}: the API sends no such field for this company; \
                         it sends {}, or use custom:NAME for one custom field",
                        names.join(", ")
                    )));
                }
            }
        }
        if self.discover {
            let language = self.has_language();
            for key in served {
                let known = sources
                    .iter()
                    .any(|s| matches!(s, Source::Extra(k) if k.eq_ignore_ascii_case(key)))
                    || (language && is_language_alias(key));
                if !known {
                    sources.push(Source::Extra(key.to_owned()));
                }
            }
        }
        let mut resolved = Self::from_sources(sources);
        resolved.dates = self.dates;
        resolved.discover = self.discover;
        Ok(resolved)
    }

    /// Fields of `user` this layout has no column for (only without `--columns`, where every
    /// field is meant to be exported): a field that first appears after the columns were fixed.
    pub fn unlisted<'u>(&'u self, user: &'u TargetUser) -> impl Iterator<Item = &'u str> + 'u {
        let language = self.has_language();
        user.extra
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(move |key| {
                self.discover
                    && !(language && is_language_alias(key))
                    && !self
                        .sources
                        .iter()
                        .any(|s| matches!(s, Source::Extra(k) if k == key))
            })
    }

    /// The columns, in order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Whether any column reads custom fields (so they are worth preparing).
    fn uses_custom_fields(&self) -> bool {
        self.sources.iter().any(|s| {
            matches!(
                s,
                Source::Custom(_) | Source::Standard(UserField::CustomFieldValues)
            )
        })
    }

    /// What `user`'s row borrows, prepared for [`Layout::row`].
    pub fn prepare<'a>(&self, user: &'a TargetUser) -> Prepared<'a> {
        let mut prepared = Prepared::default();
        if self.uses_custom_fields() {
            prepared.fields = user
                .custom_field_values
                .iter()
                .map(|f| Field {
                    name: f.name.as_deref().unwrap_or(""),
                    value: match f.timestamp_value.as_deref() {
                        Some(ts) if f.value.is_none() => Cell::date_time_in(Some(ts), &self.dates),
                        _ => Cell::text(f.value.as_deref()),
                    },
                })
                .collect();
        }
        for source in &self.sources {
            let json = match source {
                Source::Record => serde_json::to_string(user).expect("a user always serialises"),
                Source::Extra(key) => match user.extra_field(key) {
                    Some(value @ (Value::Number(_) | Value::Array(_) | Value::Object(_))) => {
                        value.to_string()
                    }
                    _ => String::new(),
                },
                _ => continue,
            };
            prepared.json.push(json);
        }
        prepared
    }

    /// Fills `row` with `user`'s cells in column order; `prepared` comes from
    /// [`Layout::prepare`].
    pub fn row<'a>(
        &self,
        user: &'a TargetUser,
        prepared: &'a Prepared<'a>,
        row: &mut Vec<Cell<'a>>,
    ) {
        row.clear();
        let mut json = prepared.json.iter();
        for source in &self.sources {
            row.push(match source {
                Source::Standard(field) => standard(*field, user, &prepared.fields, &self.dates),
                Source::Custom(name) => prepared
                    .fields
                    .iter()
                    .find(|f| f.name == name)
                    .map_or(Cell::Null, |f| f.value),
                Source::Record => Cell::Json(json.next().map_or("null", String::as_str)),
                Source::Extra(key) => {
                    let text = json.next().map_or("", String::as_str);
                    match user.extra_field(key) {
                        None | Some(Value::Null) => Cell::Null,
                        Some(Value::String(s)) => Cell::Text(s),
                        Some(Value::Bool(b)) => Cell::Bool(*b),
                        Some(_) => Cell::Json(text),
                    }
                }
            });
        }
    }
}

/// The other names the live API gives a user's language (API-NOTES Addendum 2: the field's
/// name varies by row): without `--columns` naming them, they fill the `preferredLanguage`
/// column, so a file's columns do not depend on which name a row was served with.
pub const LANGUAGE_ALIASES: [&str; 2] = ["preferredLanguageName", "languageTypeName"];

fn is_language_alias(key: &str) -> bool {
    LANGUAGE_ALIASES.iter().any(|a| a.eq_ignore_ascii_case(key))
}

fn column_of(source: &Source) -> Column {
    match source {
        Source::Standard(field) => {
            let (key, label, kind, _) = STANDARD
                .iter()
                .find(|s| s.3 == *field)
                .expect("every field has a column");
            Column::new(*key, *label, *kind)
        }
        Source::Custom(name) => Column::new(
            format!("{CUSTOM_PREFIX}{name}"),
            name.clone(),
            ColumnKind::Identifier,
        ),
        Source::Extra(key) => Column::new(key.clone(), key.clone(), ColumnKind::Json),
        Source::Record => Column::new("*", "Record", ColumnKind::Record),
    }
}

fn standard<'a>(
    field: UserField,
    u: &'a TargetUser,
    fields: &'a [Field<'a>],
    dates: &DateFormat,
) -> Cell<'a> {
    let t = |v: &'a Option<Text>| Cell::text(v.as_deref());
    // A known field served with an unexpected type is kept, as served, among the extra fields.
    let served_as = |key: &str| match u.extra_field(key) {
        Some(Value::String(s)) => Cell::Text(s),
        Some(Value::Bool(b)) => Cell::Bool(*b),
        _ => Cell::Null,
    };
    match field {
        UserField::Email => t(&u.email),
        UserField::FirstName => t(&u.first_name),
        UserField::LastName => t(&u.last_name),
        UserField::Department => t(&u.department),
        UserField::PhoneNumber => t(&u.phone_number),
        UserField::Priority => t(&u.priority),
        UserField::Status => t(&u.status),
        UserField::IsDeleted => u
            .is_deleted
            .map_or_else(|| served_as("isDeleted"), Cell::Bool),
        UserField::ManagerFullName => t(&u.manager_full_name),
        UserField::ManagerEmail => t(&u.manager_email),
        UserField::ManagerFirstName => t(&u.manager_first_name),
        UserField::ManagerLastName => t(&u.manager_last_name),
        UserField::CustomFieldValues if fields.is_empty() => Cell::Null,
        UserField::CustomFieldValues => Cell::Fields(fields),
        UserField::CreateTime => Cell::date_time_in(u.create_time.as_deref(), dates),
        UserField::UpdateTime => Cell::date_time_in(u.update_time.as_deref(), dates),
        UserField::TimeZone => t(&u.time_zone),
        UserField::PreferredLanguage => match &u.preferred_language {
            Some(_) => t(&u.preferred_language),
            None => LANGUAGE_ALIASES
                .iter()
                .map(|alias| served_as(alias))
                .find(|cell| !matches!(cell, Cell::Null))
                .unwrap_or(Cell::Null),
        },
        UserField::IsEditable => u
            .is_editable
            .map_or_else(|| served_as("isEditable"), Cell::Bool),
        UserField::ScimSettingName => t(&u.scim_setting_name),
        UserField::LdapConfigName => t(&u.ldap_config_name),
        UserField::ResourceId => t(&u.resource_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user() -> TargetUser {
        serde_json::from_value(json!({
            "resourceId": "u1", "email": "a@b.c", "phoneNumber": "0532",
            "createTime": "05/03/2024 10:15:30", "isEditable": false, "isDeleted": true,
            "managerEmail": "boss@b.c",
            "customFieldValues": [
                {"name": "Employee Number", "value": "000123"},
                {"name": "Start Date", "timestampValue": "2024-01-02T00:00:00Z"}
            ],
            "badgeLevel": {"level": 3}, "nickname": "Ace", "score": 7, "vip": true, "gone": null
        }))
        .unwrap()
    }

    fn cells<'a>(layout: &Layout, u: &'a TargetUser, prepared: &'a Prepared<'a>) -> Vec<Cell<'a>> {
        let mut row = Vec::new();
        layout.row(u, prepared, &mut row);
        row
    }

    #[test]
    fn default_layout_covers_every_known_field() {
        let keys: Vec<&str> = STANDARD.iter().map(|s| s.0).collect();
        let known: Vec<&str> = keepnet_api::known_user_fields().collect();
        for field in &known {
            assert!(keys.contains(field), "{field} has a column");
        }
        assert_eq!(keys.len(), known.len());
        assert!(Layout::all().is_default());
    }

    #[test]
    fn rows_follow_the_selected_columns() {
        let layout = Layout::parse("phoneNumber, EMAIL ,custom:Employee Number,createTime,custom:Start Date,isEditable,custom:Nope,customFieldValues,isDeleted,managerEmail").unwrap();
        let u = user();
        let dmy = DateFormat::from_keepnet(Some("DD/MM/YYYY"), Some("24h"));
        let layout = layout
            .resolve(std::slice::from_ref(&u))
            .unwrap()
            .with_dates(dmy);
        let prepared = layout.prepare(&u);
        let row = cells(&layout, &u, &prepared);
        assert_eq!(row[0], Cell::Text("0532"));
        assert_eq!(row[1], Cell::Text("a@b.c"));
        assert_eq!(row[2], Cell::Text("000123"));
        assert!(matches!(
            row[3],
            Cell::DateTime { text: "05/03/2024 10:15:30", at } if at.month == 3 && at.day == 5
        ));
        assert!(matches!(row[4], Cell::DateTime { .. }));
        assert_eq!(row[5], Cell::Bool(false));
        assert_eq!(row[6], Cell::Null);
        assert_eq!(
            row[7].to_text(),
            "Employee Number: 000123; Start Date: 2024-01-02T00:00:00Z"
        );
        assert_eq!(row[8], Cell::Bool(true));
        assert_eq!(row[9], Cell::Text("boss@b.c"));
        assert_eq!(layout.columns()[2].label, "Employee Number");
        // Without the company's format the same text is ambiguous: kept as text.
        let unknown = Layout::parse("createTime").unwrap();
        let prepared = unknown.prepare(&u);
        assert_eq!(
            cells(&unknown, &u, &prepared)[0],
            Cell::Text("05/03/2024 10:15:30")
        );
    }

    #[test]
    fn the_language_fills_one_column_whatever_its_served_name() {
        let rows: Vec<TargetUser> = [
            json!({"resourceId": "a", "preferredLanguage": "tr-TR"}),
            json!({"resourceId": "b", "languageTypeName": "English"}),
            json!({"resourceId": "c", "preferredLanguageName": "Deutsch", "badge": 1}),
        ]
        .into_iter()
        .map(|v| serde_json::from_value(v).unwrap())
        .collect();
        let layout = Layout::all().resolve(&rows[1..]).unwrap();
        let keys: Vec<&str> = layout.columns().iter().map(|c| c.key.as_str()).collect();
        assert_eq!(keys.last(), Some(&"badge"), "no column per alias: {keys:?}");
        assert!(!keys.contains(&"languageTypeName"));
        let language = keys.iter().position(|k| *k == "preferredLanguage").unwrap();
        let got: Vec<String> = rows
            .iter()
            .map(|u| {
                cells(&layout, u, &layout.prepare(u))[language]
                    .to_text()
                    .into_owned()
            })
            .collect();
        assert_eq!(got, ["tr-TR", "English", "Deutsch"]);
        assert_eq!(layout.unlisted(&rows[1]).count(), 0, "no warning either");
        // Named, an alias is a column of its own.
        let named = Layout::parse("languageTypeName")
            .unwrap()
            .resolve(&rows[1..2])
            .unwrap();
        assert_eq!(named.columns()[0].key, "languageTypeName");
    }

    #[test]
    fn served_fields_become_columns() {
        let u = user();
        let layout = Layout::all().resolve(std::slice::from_ref(&u)).unwrap();
        let keys: Vec<&str> = layout.columns().iter().map(|c| c.key.as_str()).collect();
        assert_eq!(
            &keys[STANDARD.len()..],
            ["badgeLevel", "nickname", "score", "vip", "gone"],
            "every served field, in the order served"
        );
        let prepared = layout.prepare(&u);
        let row = cells(&layout, &u, &prepared);
        let tail = &row[STANDARD.len()..];
        assert_eq!(tail[0], Cell::Json(r#"{"level":3}"#));
        assert_eq!(tail[1], Cell::Text("Ace"));
        assert_eq!(tail[2], Cell::Json("7"));
        assert_eq!(tail[3], Cell::Bool(true));
        assert_eq!(tail[4], Cell::Null);
        // Named in --columns, matched case-insensitively, with the served spelling.
        let picked = Layout::parse("email,BADGELEVEL").unwrap();
        let picked = picked.resolve(std::slice::from_ref(&u)).unwrap();
        assert_eq!(picked.columns()[1].key, "badgeLevel");
        assert_eq!(picked.columns()[1].kind, ColumnKind::Json);
        let missing = Layout::parse("email,nosuchField").unwrap();
        let err = missing
            .resolve(std::slice::from_ref(&u))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("nosuchField") && err.contains("badgeLevel"),
            "{err}"
        );
        // An empty company cannot say: the column stays, empty.
        assert!(missing.resolve(&[]).is_ok());
        let later: TargetUser = serde_json::from_value(json!({"email": "x", "fresh": 1})).unwrap();
        assert_eq!(layout.unlisted(&later).collect::<Vec<_>>(), ["fresh"]);
        assert_eq!(
            picked.unlisted(&later).count(),
            0,
            "chosen columns are deliberate"
        );
    }

    #[test]
    fn the_record_layout_holds_the_user_as_served() {
        let u = user();
        let layout = Layout::record();
        let prepared = layout.prepare(&u);
        let row = cells(&layout, &u, &prepared);
        let [Cell::Json(text)] = row[..] else {
            panic!("one JSON cell: {row:?}");
        };
        let back: Value = serde_json::from_str(text).unwrap();
        assert_eq!(back, serde_json::to_value(&u).unwrap());
        assert_eq!(back["badgeLevel"]["level"], 3);
        assert_eq!(layout.columns()[0].kind, ColumnKind::Record);
    }

    #[test]
    fn bad_lists_are_usage_errors() {
        for bad in [
            "",
            "email,email",
            "no pe",
            "custom:",
            " , ",
            "9lives",
            "e-mail",
        ] {
            let err = Layout::parse(bad).unwrap_err();
            assert_eq!(err.code(), crate::exit::USAGE, "{bad:?}");
        }
        assert!(Layout::parse("no pe")
            .unwrap_err()
            .to_string()
            .contains("firstName"));
        assert!(Layout::is_known("MANAGEREMAIL") && !Layout::is_known("badgeLevel"));
    }
}
