//! The columns of a target-user export and how a user becomes a row of cells.
//!
//! Default columns cover every field of the API's user view, in a spreadsheet-friendly
//! order. Custom fields are kept in one readable column, `customFieldValues`
//! (`Employee Number: 000123; Cost Center: CC-7`), because their names are only known once
//! users arrive and every output must know its columns before the first row. A custom field
//! can also be its own column: `--columns 'email,custom:Employee Number'`.

use keepnet_api::TargetUser;
use keepnet_sink::{Cell, Column, ColumnKind, Field};

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
const STANDARD: [(&str, &str, ColumnKind, UserField); 16] = [
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
}

/// The selected columns and how to fill them.
#[derive(Debug, Clone)]
pub struct Layout {
    columns: Vec<Column>,
    sources: Vec<Source>,
}

impl Layout {
    /// Every standard column.
    pub fn all() -> Self {
        Self::from_sources(STANDARD.iter().map(|s| Source::Standard(s.3)).collect())
    }

    /// Columns from a comma-separated list of API field names and `custom:NAME` entries.
    pub fn parse(list: &str) -> Result<Self, Failure> {
        let mut sources = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let source = if let Some(custom) = name.strip_prefix(CUSTOM_PREFIX) {
                if custom.trim().is_empty() {
                    return Err(Failure::usage(
                        "`custom:` needs a custom field name, e.g. `custom:Employee Number`",
                    ));
                }
                Source::Custom(custom.trim().to_owned())
            } else {
                let field = STANDARD
                    .iter()
                    .find(|(key, ..)| key.eq_ignore_ascii_case(name))
                    .map(|s| s.3)
                    .ok_or_else(|| {
                        Failure::usage(format!(
                            "unknown column {name:?}; columns are {}, or custom:NAME for one custom field",
                            STANDARD.iter().map(|(k, ..)| *k).collect::<Vec<_>>().join(", ")
                        ))
                    })?;
                Source::Standard(field)
            };
            if sources.contains(&source) {
                return Err(Failure::usage(format!("column {name:?} is listed twice")));
            }
            sources.push(source);
        }
        if sources.is_empty() {
            return Err(Failure::usage("--columns lists no column"));
        }
        Ok(Self::from_sources(sources))
    }

    fn from_sources(sources: Vec<Source>) -> Self {
        let columns = sources
            .iter()
            .map(|s| match s {
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
            })
            .collect();
        Self { columns, sources }
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

    /// The custom fields of `user`, prepared for [`Layout::row`].
    pub fn fields<'a>(&self, user: &'a TargetUser) -> Vec<Field<'a>> {
        if !self.uses_custom_fields() {
            return Vec::new();
        }
        user.custom_field_values
            .iter()
            .map(|f| Field {
                name: f.name.as_deref().unwrap_or(""),
                value: match f.timestamp_value.as_deref() {
                    Some(ts) if f.value.is_none() => Cell::date_time(Some(ts)),
                    _ => Cell::text(f.value.as_deref()),
                },
            })
            .collect()
    }

    /// Fills `row` with `user`'s cells in column order; `fields` comes from [`Layout::fields`].
    pub fn row<'a>(&self, user: &'a TargetUser, fields: &'a [Field<'a>], row: &mut Vec<Cell<'a>>) {
        row.clear();
        for source in &self.sources {
            row.push(match source {
                Source::Standard(field) => standard(*field, user, fields),
                Source::Custom(name) => fields
                    .iter()
                    .find(|f| f.name == name)
                    .map_or(Cell::Null, |f| f.value),
            });
        }
    }
}

fn standard<'a>(field: UserField, u: &'a TargetUser, fields: &'a [Field<'a>]) -> Cell<'a> {
    let t = |v: &'a Option<String>| Cell::text(v.as_deref());
    match field {
        UserField::Email => t(&u.email),
        UserField::FirstName => t(&u.first_name),
        UserField::LastName => t(&u.last_name),
        UserField::Department => t(&u.department),
        UserField::PhoneNumber => t(&u.phone_number),
        UserField::Priority => t(&u.priority),
        UserField::Status => t(&u.status),
        UserField::CustomFieldValues if fields.is_empty() => Cell::Null,
        UserField::CustomFieldValues => Cell::Fields(fields),
        UserField::CreateTime => Cell::date_time(u.create_time.as_deref()),
        UserField::UpdateTime => Cell::date_time(u.update_time.as_deref()),
        UserField::TimeZone => t(&u.time_zone),
        UserField::PreferredLanguage => t(&u.preferred_language),
        UserField::IsEditable => u.is_editable.map_or(Cell::Null, Cell::Bool),
        UserField::ScimSettingName => t(&u.scim_setting_name),
        UserField::LdapConfigName => t(&u.ldap_config_name),
        UserField::ResourceId => t(&u.resource_id),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use keepnet_api::CustomFieldValue;

    fn user() -> TargetUser {
        TargetUser {
            resource_id: Some("u1".into()),
            email: Some("a@b.c".into()),
            phone_number: Some("0532".into()),
            create_time: Some("05/03/2024 10:15:30".into()),
            is_editable: Some(false),
            custom_field_values: vec![
                CustomFieldValue {
                    name: Some("Employee Number".into()),
                    value: Some("000123".into()),
                    ..Default::default()
                },
                CustomFieldValue {
                    name: Some("Start Date".into()),
                    timestamp_value: Some("2024-01-02T00:00:00Z".into()),
                    ..Default::default()
                },
            ],
            ..TargetUser::default()
        }
    }

    #[test]
    fn default_layout_covers_every_user_field() {
        let layout = Layout::all();
        let keys: Vec<&str> = layout.columns().iter().map(|c| c.key.as_str()).collect();
        let user_json = serde_json::to_value(TargetUser::default()).unwrap();
        for field in user_json.as_object().unwrap().keys() {
            assert!(keys.contains(&field.as_str()), "{field} has a column");
        }
        assert_eq!(keys.len(), user_json.as_object().unwrap().len());
    }

    #[test]
    fn rows_follow_the_selected_columns() {
        let layout = Layout::parse("phoneNumber, EMAIL ,custom:Employee Number,createTime,custom:Start Date,isEditable,custom:Nope,customFieldValues").unwrap();
        let u = user();
        let fields = layout.fields(&u);
        let mut row = Vec::new();
        layout.row(&u, &fields, &mut row);
        assert_eq!(row[0], Cell::Text("0532"));
        assert_eq!(row[1], Cell::Text("a@b.c"));
        assert_eq!(row[2], Cell::Text("000123"));
        assert!(matches!(
            row[3],
            Cell::DateTime {
                text: "05/03/2024 10:15:30",
                ..
            }
        ));
        assert!(matches!(row[4], Cell::DateTime { .. }));
        assert_eq!(row[5], Cell::Bool(false));
        assert_eq!(row[6], Cell::Null);
        assert_eq!(
            row[7].to_text(),
            "Employee Number: 000123; Start Date: 2024-01-02T00:00:00Z"
        );
        assert_eq!(layout.columns()[2].label, "Employee Number");
    }

    #[test]
    fn bad_lists_are_usage_errors() {
        for bad in ["", "email,email", "nope", "custom:", " , "] {
            let err = Layout::parse(bad).unwrap_err();
            assert_eq!(err.code(), crate::exit::USAGE, "{bad:?}");
        }
        assert!(Layout::parse("nope")
            .unwrap_err()
            .to_string()
            .contains("firstName"));
    }
}
