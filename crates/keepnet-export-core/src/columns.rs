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

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

use keepnet_api::{Page, TargetUser, Text};
use keepnet_sink::{Cell, Column, ColumnKind, DateFormat, Field};
use serde_json::Value;

use crate::exit::{self, Failure};

/// The most distinct fields beyond the ones the client has a typed slot for (fields the API
/// adds, and known fields served with another type) that one company's export accepts, over
/// all its users. Without `--columns` each becomes a column of every row; a server that sent
/// a new field per user would make the work grow with the square of its rows. More fails the
/// export (exit 5), naming this limit.
pub const MAX_UNKNOWN_FIELDS: usize = 1000;

/// Up to this many fields, a user's field is found by a scan; beyond, through an index built
/// for the user.
const SCANNED: usize = 16;

/// Prefix that selects one custom field as its own column.
const CUSTOM_PREFIX: &str = "custom:";

/// A field of the API's user view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Source {
    Standard(UserField),
    Custom(String),
    /// A field the client has no type for, by its wire name.
    Extra(String),
    /// The whole record as served.
    Record,
}

/// A field name compared and hashed ignoring ASCII case, as columns match served fields.
#[derive(Debug, Clone, Copy)]
struct Folded<'a>(&'a str);

impl PartialEq for Folded<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(other.0)
    }
}

impl Eq for Folded<'_> {}

impl Hash for Folded<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for byte in self.0.bytes() {
            state.write_u8(byte.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

/// The failure of an export whose server sent more unknown fields than a run accepts.
fn too_many_unknown(what: &str) -> Failure {
    Failure::msg(
        exit::API,
        format!(
            "the API sent more than {MAX_UNKNOWN_FIELDS} distinct fields keepnet-export does \
             not know ({what}); an export accepts at most {MAX_UNKNOWN_FIELDS} \
             (MAX_UNKNOWN_FIELDS), so that a server sending a new field per user cannot make \
             the run's work grow without bound: nothing was published"
        ),
    )
}

/// The fields beyond the known ones seen in one company's export, counted against
/// [`MAX_UNKNOWN_FIELDS`], and the ones that arrived after the columns were fixed.
#[derive(Debug, Default)]
pub struct UnknownFields {
    seen: HashSet<String>,
}

impl UnknownFields {
    /// Counts the fields of `page`'s users; calls `unlisted` once for each field seen for the
    /// first time that `layout` has no column for (see [`Layout::unlisted`]). Fails when a
    /// user, or the export so far, has more than [`MAX_UNKNOWN_FIELDS`] such fields.
    pub fn check(
        &mut self,
        layout: &Layout,
        page: &Page<TargetUser>,
        mut unlisted: impl FnMut(&str),
    ) -> Result<(), Failure> {
        for user in &page.results {
            if user.extra.len() > MAX_UNKNOWN_FIELDS {
                return Err(too_many_unknown(&format!(
                    "{} for one user on page {}",
                    user.extra.len(),
                    page.page_number
                )));
            }
            for (key, _) in &user.extra {
                if self.seen.contains(key.as_str()) {
                    continue;
                }
                if self.seen.len() == MAX_UNKNOWN_FIELDS {
                    return Err(too_many_unknown(&format!(
                        "a further one, {key:?}, on page {}",
                        page.page_number
                    )));
                }
                self.seen.insert(key.clone());
                if layout.is_unlisted(key) {
                    unlisted(key);
                }
            }
        }
        Ok(())
    }
}

/// Finds a user's fields by name, ignoring ASCII case (the first of that name, as
/// [`TargetUser::extra_field`] does), in time that does not grow with the columns.
enum ExtraIndex<'u> {
    Scan,
    Map(HashMap<Folded<'u>, usize>),
}

impl<'u> ExtraIndex<'u> {
    fn new(user: &'u TargetUser) -> Self {
        if user.extra.len() <= SCANNED {
            return Self::Scan;
        }
        let mut map = HashMap::with_capacity(user.extra.len());
        for (index, (key, _)) in user.extra.iter().enumerate() {
            map.entry(Folded(key.as_str())).or_insert(index);
        }
        Self::Map(map)
    }

    fn find(&self, user: &TargetUser, key: &str) -> Option<usize> {
        match self {
            Self::Scan => user
                .extra
                .iter()
                .position(|(k, _)| k.eq_ignore_ascii_case(key)),
            Self::Map(map) => map.get(&Folded(key)).copied(),
        }
    }
}

/// The selected columns and how to fill them.
#[derive(Debug, Clone)]
pub struct Layout {
    columns: Vec<Column>,
    sources: Vec<Source>,
    /// The names of the [`Source::Extra`] columns, as written, for [`Layout::unlisted`].
    extras: HashSet<String>,
    /// Whether the `preferredLanguage` column is among the sources.
    language: bool,
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
    /// For each [`Source::Extra`] column in order, the index of its field in the user's
    /// `extra`.
    extra: Vec<Option<usize>>,
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
        let mut listed = HashSet::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let source = Self::source(name)?;
            if !listed.insert(source.clone()) {
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
        let extras = sources
            .iter()
            .filter_map(|s| match s {
                Source::Extra(key) => Some(key.clone()),
                _ => None,
            })
            .collect();
        let language = sources
            .iter()
            .any(|s| matches!(s, Source::Standard(UserField::PreferredLanguage)));
        Self {
            columns,
            sources,
            extras,
            language,
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
        self.language
    }

    /// Fixes the columns from the first page of users: a named field the server does not send
    /// is an error (naming what it does send); without `--columns`, every field the server
    /// sends that the client has no column for is added, in the order first seen.
    ///
    /// Fails when the first page holds more than [`MAX_UNKNOWN_FIELDS`] distinct fields the
    /// client does not know. Linear in the fields served (sets, not scans).
    pub fn resolve(&self, first_page: &[TargetUser]) -> Result<Layout, Failure> {
        let mut served: Vec<&str> = Vec::new();
        let mut seen: HashSet<&str> = HashSet::new();
        for user in first_page {
            for (key, _) in &user.extra {
                if seen.insert(key) {
                    if served.len() == MAX_UNKNOWN_FIELDS {
                        return Err(too_many_unknown("on the first page of users"));
                    }
                    served.push(key);
                }
            }
        }
        // The first served spelling of each name, ignoring case.
        let mut spelled: HashMap<Folded<'_>, &str> = HashMap::with_capacity(served.len());
        for key in &served {
            spelled.entry(Folded(key)).or_insert(key);
        }
        let mut sources = Vec::with_capacity(self.sources.len() + served.len());
        for source in &self.sources {
            let Source::Extra(name) = source else {
                sources.push(source.clone());
                continue;
            };
            match spelled.get(&Folded(name)) {
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
            // Every resolved extra column is the served spelling of a listed name.
            let mut listed: HashSet<Folded<'_>> = self
                .sources
                .iter()
                .filter_map(|s| match s {
                    Source::Extra(name) => Some(Folded(name.as_str())),
                    _ => None,
                })
                .collect();
            for key in served {
                let known = listed.contains(&Folded(key)) || (language && is_language_alias(key));
                if !known {
                    sources.push(Source::Extra(key.to_owned()));
                    listed.insert(Folded(key));
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
        user.extra
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(move |key| self.is_unlisted(key))
    }

    /// Whether a served field `key` is one this layout has no column for while every field is
    /// meant to be exported (see [`Layout::unlisted`]).
    fn is_unlisted(&self, key: &str) -> bool {
        self.discover
            && !self.extras.contains(key)
            && !(self.has_language() && is_language_alias(key))
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
        let index = match self.extras.is_empty() {
            true => ExtraIndex::Scan,
            false => ExtraIndex::new(user),
        };
        for source in &self.sources {
            let json = match source {
                Source::Record => serde_json::to_string(user).expect("a user always serialises"),
                Source::Extra(key) => {
                    let at = index.find(user, key);
                    prepared.extra.push(at);
                    match at.map(|i| &user.extra[i].1) {
                        Some(value @ (Value::Number(_) | Value::Array(_) | Value::Object(_))) => {
                            value.to_string()
                        }
                        _ => String::new(),
                    }
                }
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
        let mut extra = prepared.extra.iter();
        for source in &self.sources {
            row.push(match source {
                Source::Standard(field) => standard(*field, user, &prepared.fields, &self.dates),
                Source::Custom(name) => prepared
                    .fields
                    .iter()
                    .find(|f| f.name == name)
                    .map_or(Cell::Null, |f| f.value),
                Source::Record => Cell::Json(json.next().map_or("null", String::as_str)),
                Source::Extra(_) => {
                    let text = json.next().map_or("", String::as_str);
                    let at = extra.next().copied().flatten();
                    match at.map(|i| &user.extra[i].1) {
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

    /// A user with `fields` extra fields `{prefix}0`, `{prefix}1`... (every fifth a number).
    fn wide(prefix: &str, fields: usize) -> TargetUser {
        let mut user = TargetUser::default();
        user.resource_id = Some("w".into());
        user.extra = (0..fields)
            .map(|i| {
                let value = match i % 5 {
                    0 => json!(i),
                    _ => json!(format!("v{i}")),
                };
                (format!("{prefix}{i}"), value)
            })
            .collect();
        user
    }

    fn page(users: Vec<TargetUser>, number: u32) -> Page<TargetUser> {
        serde_json::from_value(json!({
            "pageNumber": number, "pageSize": users.len(), "totalNumberOfPages": 9,
            "totalNumberOfRecords": 9, "results": users,
        }))
        .unwrap()
    }

    #[test]
    fn forty_thousand_unknown_fields_cost_time_linear_in_them() {
        // 40,000 columns of served fields, each found by name in each row: with a scan per
        // column, 1.6 billion comparisons per row (3 such users took 70 s of CPU); here a
        // map per row. The limit below keeps a run from ever getting there; the columns do
        // not rely on it.
        let fields = 40_000;
        let mut layout = Layout::from_sources(
            (0..fields)
                .map(|i| Source::Extra(format!("F{i}")))
                .collect(),
        );
        layout.discover = true;
        let user = wide("f", fields);
        let prepared = layout.prepare(&user);
        let row = cells(&layout, &user, &prepared);
        assert_eq!(row.len(), fields);
        assert_eq!(row[0], Cell::Json("0"), "found ignoring case");
        assert_eq!(row[39_999], Cell::Text("v39999"));
        assert_eq!(row[25_000], Cell::Json("25000"));
        assert_eq!(layout.unlisted(&user).count(), fields, "F0 is not f0 here");
        let same = wide("F", fields);
        assert_eq!(layout.unlisted(&same).count(), 0);
        // A repeated name (ignoring case): the first one, as extra_field finds it.
        let mut twice = wide("F", 20);
        twice.extra.push(("f3".to_owned(), json!("later")));
        let prepared = layout.prepare(&twice);
        assert_eq!(cells(&layout, &twice, &prepared)[3], Cell::Text("v3"));
        assert_eq!(twice.extra_field("f3"), Some(&json!("v3")));
    }

    #[test]
    fn more_unknown_fields_than_a_run_accepts_fail_naming_the_limit() {
        let limit = MAX_UNKNOWN_FIELDS;
        // The first page: exactly the limit is fine, over it is not (over several users).
        let at_limit = Layout::all()
            .resolve(&[wide("a", limit / 2), wide("a", limit)])
            .unwrap();
        assert_eq!(at_limit.columns().len(), STANDARD.len() + limit);
        let over = Layout::all()
            .resolve(&[wide("a", limit / 2), wide("b", limit / 2 + 1)])
            .unwrap_err();
        assert_eq!(over.code(), crate::exit::API);
        let text = over.to_string();
        assert!(
            text.contains("more than 1000 distinct fields") && text.contains("at most 1000"),
            "{text}"
        );
        // Chosen columns do not lift it: every field served is kept and counted.
        assert!(Layout::parse("email")
            .unwrap()
            .resolve(&[wide("a", limit + 1)])
            .is_err());
        // Later pages: counted over the whole export, and per user.
        let mut unknown = UnknownFields::default();
        let mut warned = Vec::new();
        unknown
            .check(&at_limit, &page(vec![wide("a", limit)], 1), |f| {
                warned.push(f.to_owned())
            })
            .unwrap();
        assert!(warned.is_empty(), "the columns' own fields: {warned:?}");
        let e = unknown
            .check(&at_limit, &page(vec![wide("z", 1)], 2), |_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("a further one, \"z0\", on page 2"), "{e}");
        let mut fresh = UnknownFields::default();
        let mut warned = Vec::new();
        fresh
            .check(&at_limit, &page(vec![wide("z", 3)], 2), |f| {
                warned.push(f.to_owned())
            })
            .unwrap();
        assert_eq!(warned, ["z0", "z1", "z2"], "new fields warned once each");
        fresh
            .check(&at_limit, &page(vec![wide("z", 3)], 3), |f| {
                warned.push(f.to_owned())
            })
            .unwrap();
        assert_eq!(warned.len(), 3);
        let e = UnknownFields::default()
            .check(&at_limit, &page(vec![wide("a", limit + 1)], 4), |_| ())
            .unwrap_err()
            .to_string();
        assert!(e.contains("1001 for one user on page 4"), "{e}");
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
