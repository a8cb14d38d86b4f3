//! Request-body parsing (camelCase or PascalCase), filters and ordering.

use serde_json::{Map, Value};

use crate::data::User;
use crate::time;

/// A 400 answer: a message plus optional validation messages.
#[derive(Debug, Clone)]
pub(crate) struct InputError {
    pub message: String,
    pub validation: Vec<String>,
}

impl InputError {
    pub(crate) fn new(message: impl Into<String>) -> InputError {
        InputError {
            message: message.into(),
            validation: Vec::new(),
        }
    }

    fn field(name: &str, why: &str) -> InputError {
        InputError {
            message: "One or more validation errors occurred.".into(),
            validation: vec![format!("{name}: {why}")],
        }
    }
}

/// Look a key up exactly, then ASCII-case-insensitively.
pub(crate) fn get_ci<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    map.get(name).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    })
}

/// Present and not null.
pub(crate) fn present<'a>(map: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    get_ci(map, name).filter(|v| !v.is_null())
}

/// Integer field fitting in i32; absent or null gives `None`.
pub(crate) fn get_int(map: &Map<String, Value>, name: &str) -> Result<Option<i64>, InputError> {
    match present(map, name) {
        None => Ok(None),
        Some(v) => match v.as_i64() {
            Some(n) if i32::try_from(n).is_ok() => Ok(Some(n)),
            _ => Err(InputError::field(
                name,
                "The JSON value could not be converted to System.Int32.",
            )),
        },
    }
}

/// Boolean field; absent or null gives `None`.
pub(crate) fn get_bool(map: &Map<String, Value>, name: &str) -> Result<Option<bool>, InputError> {
    match present(map, name) {
        None => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(_) => Err(InputError::field(
            name,
            "The JSON value could not be converted to System.Boolean.",
        )),
    }
}

/// String field; absent or null gives `None`.
pub(crate) fn get_str<'a>(
    map: &'a Map<String, Value>,
    name: &str,
) -> Result<Option<&'a str>, InputError> {
    match present(map, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(InputError::field(
            name,
            "The JSON value could not be converted to System.String.",
        )),
    }
}

/// Parse a non-empty JSON object body.
pub(crate) fn parse_body(body: &[u8]) -> Result<Map<String, Value>, InputError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(InputError {
            message: "A non-empty request body is required.".into(),
            validation: vec!["The request body is empty.".into()],
        });
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(InputError::new("The request body must be a JSON object.")),
        Err(e) => Err(InputError {
            message: "The request body is not valid JSON.".into(),
            validation: vec![e.to_string()],
        }),
    }
}

/// The mandatory, non-null filter object.
pub(crate) fn required_filter(map: &Map<String, Value>) -> Result<&Map<String, Value>, InputError> {
    match present(map, "filter") {
        Some(Value::Object(f)) => Ok(f),
        Some(_) => Err(InputError::field("filter", "The filter must be an object.")),
        None => Err(InputError {
            message: "One or more validation errors occurred.".into(),
            validation: vec!["The filter field is required.".into()],
        }),
    }
}

/// Page number and page size from a body, with defaults.
pub(crate) fn paging(
    map: &Map<String, Value>,
    default_size: i64,
) -> Result<(u32, u32), InputError> {
    let page = get_int(map, "pageNumber")?.unwrap_or(1);
    let size = get_int(map, "pageSize")?.unwrap_or(default_size);
    if page < 1 {
        return Err(InputError::field(
            "pageNumber",
            "PageNumber must be greater than 0.",
        ));
    }
    if size < 1 {
        return Err(InputError::field(
            "pageSize",
            "PageSize must be greater than 0.",
        ));
    }
    Ok((page as u32, size as u32))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cond {
    And,
    Or,
}

/// Target-user fields that filters and ordering can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Field {
    CreateTime,
    Email,
    FirstName,
    LastName,
    Department,
    Status,
    Priority,
    UpdateTime,
    PhoneNumber,
}

impl Field {
    fn parse(name: &str) -> Option<Field> {
        const ALL: &[(&str, Field)] = &[
            ("CreateTime", Field::CreateTime),
            ("Email", Field::Email),
            ("FirstName", Field::FirstName),
            ("LastName", Field::LastName),
            ("Department", Field::Department),
            ("Status", Field::Status),
            ("Priority", Field::Priority),
            ("UpdateTime", Field::UpdateTime),
            ("PhoneNumber", Field::PhoneNumber),
        ];
        ALL.iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
            .map(|(_, f)| *f)
    }

    fn text(self, u: &User) -> Option<&str> {
        match self {
            Field::CreateTime => Some(&u.create_time),
            Field::Email => u.email.as_deref(),
            Field::FirstName => u.first_name.as_deref(),
            Field::LastName => u.last_name.as_deref(),
            Field::Department => u.department.as_deref(),
            Field::Status => u.status.as_deref(),
            Field::Priority => u.priority.as_deref(),
            Field::UpdateTime => u.update_time.as_deref(),
            Field::PhoneNumber => u.phone_number.as_deref(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Equal,
    Contains,
    Include,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Item {
    field: Field,
    op: Op,
    values: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Group {
    cond: Cond,
    items: Vec<Item>,
    groups: Vec<Group>,
}

/// A parsed target-user filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Filter {
    search: String,
    root: Group,
}

fn parse_cond(map: &Map<String, Value>) -> Result<Cond, InputError> {
    match get_str(map, "condition")?.map(str::trim) {
        None | Some("") => Ok(Cond::And),
        Some(c) if c.eq_ignore_ascii_case("and") => Ok(Cond::And),
        Some(c) if c.eq_ignore_ascii_case("or") => Ok(Cond::Or),
        Some(c) => Err(InputError::field(
            "condition",
            &format!("Unknown condition '{c}'; use AND or OR."),
        )),
    }
}

fn objects<'a>(
    map: &'a Map<String, Value>,
    name: &str,
) -> Result<Vec<&'a Map<String, Value>>, InputError> {
    match present(map, name) {
        None => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_object()
                    .ok_or_else(|| InputError::field(name, "Each element must be an object."))
            })
            .collect(),
        Some(_) => Err(InputError::field(name, "Must be an array.")),
    }
}

fn parse_item(map: &Map<String, Value>) -> Result<Item, InputError> {
    let name = get_str(map, "fieldName")?.unwrap_or("");
    let field = match Field::parse(name) {
        Some(f) if f != Field::CreateTime && f != Field::UpdateTime => f,
        _ => {
            return Err(InputError::field(
                "fieldName",
                &format!("Unsupported filter field '{name}'."),
            ))
        }
    };
    let op_name = get_str(map, "operator")?.unwrap_or("").trim();
    let op = match op_name.to_ascii_lowercase().as_str() {
        "equal" | "equals" => Op::Equal,
        "contains" => Op::Contains,
        "include" => Op::Include,
        _ => {
            return Err(InputError::field(
                "operator",
                &format!("Unsupported filter operator '{op_name}'."),
            ))
        }
    };
    let value = match present(map, "value") {
        None => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let values = if op == Op::Include {
        value
            .split(',')
            .map(|v| v.trim().to_lowercase())
            .filter(|v| !v.is_empty())
            .collect()
    } else {
        vec![value.to_lowercase()]
    };
    Ok(Item { field, op, values })
}

fn parse_group(map: &Map<String, Value>, depth: usize) -> Result<Group, InputError> {
    if depth > 16 {
        return Err(InputError::new("Filter groups are nested too deeply."));
    }
    Ok(Group {
        cond: parse_cond(map)?,
        items: objects(map, "filterItems")?
            .into_iter()
            .map(parse_item)
            .collect::<Result<_, _>>()?,
        groups: objects(map, "filterGroups")?
            .into_iter()
            .map(|g| parse_group(g, depth + 1))
            .collect::<Result<_, _>>()?,
    })
}

impl Filter {
    /// Parse the body's `filter` object.
    pub(crate) fn parse(map: &Map<String, Value>) -> Result<Filter, InputError> {
        let search = get_str(map, "searchInputTextValue")?
            .unwrap_or("")
            .trim()
            .to_lowercase();
        Ok(Filter {
            search,
            root: parse_group(map, 0)?,
        })
    }

    /// True when the filter keeps every user.
    pub(crate) fn is_trivial(&self) -> bool {
        self.search.is_empty() && self.root.items.is_empty() && self.root.groups.is_empty()
    }

    /// Whether a user passes the filter.
    pub(crate) fn matches(&self, u: &User) -> bool {
        if !self.search.is_empty() {
            let hit = [
                &u.email,
                &u.first_name,
                &u.last_name,
                &u.department,
                &u.phone_number,
            ]
            .iter()
            .any(|f| f.as_deref().is_some_and(|t| contains_ci(t, &self.search)));
            if !hit {
                return false;
            }
        }
        group_matches(&self.root, u)
    }
}

fn contains_ci(text: &str, needle_lower: &str) -> bool {
    if text.is_ascii() && needle_lower.is_ascii() {
        let t = text.as_bytes();
        let n = needle_lower.as_bytes();
        return n.is_empty() || t.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n));
    }
    text.to_lowercase().contains(needle_lower)
}

fn item_matches(item: &Item, u: &User) -> bool {
    let text = item.field.text(u).unwrap_or("");
    match item.op {
        Op::Contains => contains_ci(text, &item.values[0]),
        Op::Equal => text.to_lowercase() == item.values[0],
        Op::Include => {
            let t = text.trim().to_lowercase();
            item.values.contains(&t)
        }
    }
}

fn group_matches(g: &Group, u: &User) -> bool {
    let mut results = g
        .items
        .iter()
        .map(|i| item_matches(i, u))
        .chain(g.groups.iter().map(|sub| group_matches(sub, u)));
    match g.cond {
        Cond::And => results.all(|r| r),
        Cond::Or => {
            if g.items.is_empty() && g.groups.is_empty() {
                true
            } else {
                results.any(|r| r)
            }
        }
    }
}

/// Parse an `orderBy` value for target users (null/empty: CreateTime).
pub(crate) fn parse_user_order(value: Option<&str>) -> Result<Field, InputError> {
    match value.map(str::trim) {
        None | Some("") => Ok(Field::CreateTime),
        Some(name) => Field::parse(name).ok_or_else(|| {
            InputError::field("orderBy", &format!("Unsupported orderBy value '{name}'."))
        }),
    }
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum SortKey {
    Null,
    Num(i64),
    Text(String),
}

fn sort_key(field: Field, u: &User) -> SortKey {
    match field {
        Field::Priority => match u.priority.as_deref() {
            Some("Low") => SortKey::Num(0),
            Some("Medium") => SortKey::Num(1),
            Some("High") => SortKey::Num(2),
            Some("VeryHigh") => SortKey::Num(3),
            Some(other) => SortKey::Text(other.to_lowercase()),
            None => SortKey::Null,
        },
        Field::UpdateTime | Field::CreateTime => match field.text(u).and_then(time::parse_ms) {
            Some(ms) => SortKey::Num(ms),
            None => SortKey::Null,
        },
        _ => match field.text(u) {
            Some(t) => SortKey::Text(t.to_lowercase()),
            None => SortKey::Null,
        },
    }
}

/// Indices of matching users in the requested order. Ties are broken by
/// resource id; descending is the exact reverse of ascending.
pub(crate) fn select(users: &[User], filter: &Filter, order: Field, ascending: bool) -> Vec<u32> {
    let mut idx: Vec<u32> = if filter.is_trivial() {
        (0..users.len() as u32).collect()
    } else {
        (0..users.len() as u32)
            .filter(|&i| filter.matches(&users[i as usize]))
            .collect()
    };
    if order != Field::CreateTime {
        let mut keyed: Vec<(SortKey, u32)> = idx
            .iter()
            .map(|&i| (sort_key(order, &users[i as usize]), i))
            .collect();
        keyed.sort_by(|a, b| {
            a.0.cmp(&b.0).then_with(|| {
                users[a.1 as usize]
                    .resource_id
                    .cmp(&users[b.1 as usize].resource_id)
            })
        });
        idx = keyed.into_iter().map(|(_, i)| i).collect();
    }
    if !ascending {
        idx.reverse();
    }
    idx
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn user(first: &str, dept: Option<&str>, id: &str) -> User {
        User {
            resource_id: id.into(),
            email: Some(format!("{first}@x.example")),
            first_name: Some(first.into()),
            last_name: None,
            department: dept.map(Into::into),
            priority: Some("Low".into()),
            status: Some("Active".into()),
            custom_field_values: vec![],
            create_time: format!("2024-01-01T00:00:0{}.000Z", id.len()),
            update_time: None,
            is_editable: true,
            scim_setting_name: None,
            ldap_config_name: None,
            phone_number: None,
            time_zone: None,
            preferred_language: None,
        }
    }

    #[test]
    fn filters_and_orders() {
        let users = vec![
            user("Ayşe", Some("Sales"), "b"),
            user("Bob", Some("IT"), "a"),
            user("İsmail", None, "c"),
        ];
        let f = json!({"Condition":"AND","SearchInputTextValue":"",
            "FilterGroups":[{"Condition":"OR","FilterItems":[
                {"FieldName":"Department","Operator":"Include","Value":"sales, it"}]}]});
        let f = Filter::parse(f.as_object().unwrap()).unwrap();
        assert_eq!(select(&users, &f, Field::FirstName, true), vec![0, 1]);
        assert_eq!(select(&users, &f, Field::FirstName, false), vec![1, 0]);
        let s = Filter::parse(json!({"searchInputTextValue":"AYŞ"}).as_object().unwrap()).unwrap();
        assert_eq!(select(&users, &s, Field::CreateTime, true), vec![0]);
        let none = Filter::parse(json!({}).as_object().unwrap()).unwrap();
        assert_eq!(
            select(&users, &none, Field::Department, true),
            vec![2, 1, 0]
        );
        assert!(parse_user_order(Some("bogus")).is_err());
        assert_eq!(parse_user_order(Some("email")).unwrap(), Field::Email);
        let bad =
            json!({"filterGroups":[{"filterItems":[{"fieldName":"Nope","operator":"Equal"}]}]});
        assert!(Filter::parse(bad.as_object().unwrap()).is_err());
    }
}
