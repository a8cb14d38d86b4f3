//! Request-body parsing (camelCase or PascalCase), filters and ordering.

use std::borrow::Cow;

use serde_json::{Map, Value};

use crate::data::{Dataset, Facts, User};
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

    pub(crate) fn field(name: &str, why: &str) -> InputError {
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
    ResourceId,
    ManagerEmail,
    ManagerFullName,
    ManagerFirstName,
    ManagerLastName,
    IsDeleted,
    MonthlyActiveUser,
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
            ("ResourceId", Field::ResourceId),
            ("TargetUserResourceId", Field::ResourceId),
            ("ManagerEmail", Field::ManagerEmail),
            ("ManagerFullName", Field::ManagerFullName),
            ("ManagerFirstName", Field::ManagerFirstName),
            ("ManagerLastName", Field::ManagerLastName),
            ("IsDeleted", Field::IsDeleted),
            ("MonthlyActiveUser", Field::MonthlyActiveUser),
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
            Field::ResourceId => Some(&u.resource_id),
            Field::ManagerEmail => u.manager_email.as_deref(),
            Field::ManagerFullName => u.manager_full_name.as_deref(),
            Field::ManagerFirstName => u.manager_first_name.as_deref(),
            Field::ManagerLastName => u.manager_last_name.as_deref(),
            Field::IsDeleted | Field::MonthlyActiveUser => None,
        }
    }
}

/// What a filter can look at: a whole user, or just the [`Facts`] that
/// status, deletion and month filters need.
pub(crate) trait Subject {
    /// Text of a text field (`None` when null or not known).
    fn text(&self, field: Field) -> Option<&str>;
    /// Whether the user is deleted.
    fn is_deleted(&self) -> bool;
    /// Creation instant.
    fn create_ms(&self) -> i64;
}

impl Subject for User {
    fn text(&self, field: Field) -> Option<&str> {
        field.text(self)
    }
    fn is_deleted(&self) -> bool {
        self.is_deleted
    }
    fn create_ms(&self) -> i64 {
        self.create_ms
    }
}

impl Subject for Facts {
    fn text(&self, field: Field) -> Option<&str> {
        (field == Field::Status).then_some(self.status)
    }
    fn is_deleted(&self) -> bool {
        self.is_deleted
    }
    fn create_ms(&self) -> i64 {
        self.create_ms
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Equal,
    Contains,
    Include,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Item {
    /// A text field compared with lower-cased values (Status values are
    /// normalised: "1" active, "0" inactive).
    Text {
        field: Field,
        op: Op,
        values: Vec<String>,
    },
    /// `IsDeleted` is one of these.
    Deleted(Vec<bool>),
    /// Created in one of these `[start, end)` months.
    Month(Vec<(i64, i64)>),
}

impl Item {
    fn facts_only(&self) -> bool {
        match self {
            Item::Text { field, .. } => *field == Field::Status,
            Item::Deleted(_) | Item::Month(_) => true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct Group {
    cond: Cond,
    items: Vec<Item>,
    groups: Vec<Group>,
}

impl Group {
    fn has_items(&self) -> bool {
        !self.items.is_empty() || self.groups.iter().any(Group::has_items)
    }

    fn facts_only(&self) -> bool {
        self.items.iter().all(Item::facts_only) && self.groups.iter().all(Group::facts_only)
    }
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

/// A filter value as text: strings as they are, booleans and numbers in
/// JSON form, arrays joined with commas, null as "".
fn value_text(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| value_text(Some(v)))
            .collect::<Vec<_>>()
            .join(","),
        Some(other) => other.to_string(),
    }
}

fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

/// "2026-03" (also "2026/03" or a longer date starting so) as `[start, end)`.
fn parse_month(v: &str) -> Option<(i64, i64)> {
    let v = v.trim();
    let b = v.as_bytes();
    if b.len() < 7
        || !(b[4] == b'-' || b[4] == b'/')
        || (b.len() > 7 && !b[7].is_ascii_punctuation())
    {
        return None;
    }
    let digits = |s: &str| s.bytes().all(|c| c.is_ascii_digit());
    let (y, m) = (v.get(0..4)?, v.get(5..7)?);
    if !digits(y) || !digits(m) {
        return None;
    }
    let (year, month): (i64, u32) = (y.parse().ok()?, m.parse().ok()?);
    if !(1..=12).contains(&month) {
        return None;
    }
    let (ny, nm) = time::next_month(year, month);
    Some((time::month_start(year, month), time::month_start(ny, nm)))
}

fn status_value(v: &str) -> String {
    match v.trim() {
        "1" => "active".to_string(),
        "0" => "inactive".to_string(),
        other => other.to_lowercase(),
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
        "equal" | "equals" | "=" => Op::Equal,
        "contains" => Op::Contains,
        "include" => Op::Include,
        _ => {
            return Err(InputError::field(
                "operator",
                &format!("Unsupported filter operator '{op_name}'."),
            ))
        }
    };
    let value = value_text(present(map, "value"));
    let list = |v: &str| -> Vec<String> {
        v.split(',')
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
            .collect()
    };
    let parts = if op == Op::Include {
        list(&value)
    } else {
        vec![value.clone()]
    };
    match field {
        Field::IsDeleted => {
            let parts = if parts.len() == 1 {
                list(&value)
            } else {
                parts
            };
            let values: Option<Vec<bool>> = parts.iter().map(|v| parse_bool(v)).collect();
            match values {
                Some(v) if !v.is_empty() => Ok(Item::Deleted(v)),
                _ => Err(InputError::field(
                    "value",
                    &format!("IsDeleted takes true or false, not '{value}'."),
                )),
            }
        }
        Field::MonthlyActiveUser => {
            let months: Option<Vec<(i64, i64)>> =
                list(&value).iter().map(|v| parse_month(v)).collect();
            match months {
                Some(m) if !m.is_empty() => Ok(Item::Month(m)),
                _ => Err(InputError::field(
                    "value",
                    &format!("MonthlyActiveUser takes a month such as 2026-03, not '{value}'."),
                )),
            }
        }
        Field::Status => Ok(Item::Text {
            field,
            op,
            values: parts.iter().map(|v| status_value(v)).collect(),
        }),
        _ => Ok(Item::Text {
            field,
            op,
            values: parts.iter().map(|v| v.to_lowercase()).collect(),
        }),
    }
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

    /// The same free-text search without any filter item: what a server that ignores filter
    /// items applies.
    pub(crate) fn search_only(&self) -> Filter {
        Filter {
            search: self.search.clone(),
            root: Group {
                cond: Cond::And,
                items: Vec::new(),
                groups: Vec::new(),
            },
        }
    }

    /// True when the filter keeps every user: no search text and no
    /// filter item anywhere (empty groups, such as the UI's default
    /// filter, keep everyone, deleted users included).
    pub(crate) fn is_trivial(&self) -> bool {
        self.search.is_empty() && !self.root.has_items()
    }

    /// True when the filter only looks at status, deletion and creation
    /// month, so [`Facts`] are enough to apply it.
    pub(crate) fn facts_only(&self) -> bool {
        self.search.is_empty() && self.root.facts_only()
    }

    /// Whether a user passes the filter.
    pub(crate) fn matches<S: Subject>(&self, u: &S) -> bool {
        if !self.search.is_empty() {
            let hit = [
                Field::Email,
                Field::FirstName,
                Field::LastName,
                Field::Department,
                Field::PhoneNumber,
            ]
            .iter()
            .any(|&f| u.text(f).is_some_and(|t| contains_ci(t, &self.search)));
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

fn item_matches<S: Subject>(item: &Item, u: &S) -> bool {
    match item {
        Item::Deleted(values) => values.contains(&u.is_deleted()),
        Item::Month(months) => {
            let ms = u.create_ms();
            months.iter().any(|&(lo, hi)| lo <= ms && ms < hi)
        }
        Item::Text { field, op, values } => {
            let text = u.text(*field).unwrap_or("");
            let one = |v: &String| {
                if *field == Field::Status && v == "deleted" {
                    // People.vue: deleted when isDeleted OR status "Deleted".
                    return u.is_deleted() || text.trim().eq_ignore_ascii_case("deleted");
                }
                match op {
                    Op::Contains => contains_ci(text, v),
                    Op::Equal => text.to_lowercase() == *v,
                    Op::Include => text.trim().to_lowercase() == *v,
                }
            };
            values.iter().any(one)
        }
    }
}

fn group_matches<S: Subject>(g: &Group, u: &S) -> bool {
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
        Some(name) => Field::parse(name)
            .filter(|f| *f != Field::MonthlyActiveUser)
            .ok_or_else(|| {
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
        Field::CreateTime | Field::MonthlyActiveUser => SortKey::Num(u.create_ms),
        Field::UpdateTime => u.update_ms.map_or(SortKey::Null, SortKey::Num),
        Field::IsDeleted => SortKey::Num(i64::from(u.is_deleted)),
        _ => match field.text(u) {
            Some(t) => SortKey::Text(t.to_lowercase()),
            None => SortKey::Null,
        },
    }
}

/// A selected user: company ordinal in the high 32 bits, position in
/// that company's list in the low 32.
pub(crate) type Pos = u64;

/// Pack a position.
pub(crate) fn pos(ord: usize, i: usize) -> Pos {
    ((ord as u64) << 32) | i as u64
}

/// Unpack a position.
pub(crate) fn unpos(p: Pos) -> (usize, usize) {
    ((p >> 32) as usize, (p & 0xFFFF_FFFF) as usize)
}

/// One company's users as a selection source.
pub(crate) enum Part<'a> {
    /// The generated users of a company, materialised only when needed.
    Gen(&'a Dataset, usize),
    /// A snapshot of a company changed by churn, in default order.
    Live(usize, &'a [User]),
}

impl Part<'_> {
    fn ord(&self) -> usize {
        match self {
            Part::Gen(_, ord) | Part::Live(ord, _) => *ord,
        }
    }

    fn user(&self, i: usize) -> Cow<'_, User> {
        match self {
            Part::Gen(ds, ord) => ds.user_at(*ord, i),
            Part::Live(_, users) => Cow::Borrowed(&users[i]),
        }
    }

    fn create_ms(&self, i: usize) -> i64 {
        match self {
            Part::Gen(ds, ord) => ds.create_ms_at(*ord, i),
            Part::Live(_, users) => users[i].create_ms,
        }
    }

    fn resource_id(&self, i: usize) -> Cow<'_, str> {
        match self {
            Part::Gen(ds, ord) => ds.resource_id_at(*ord, i),
            Part::Live(_, users) => Cow::Borrowed(users[i].resource_id.as_str()),
        }
    }

    /// Matching positions, in the part's (creation) order.
    fn matching(&self, filter: &Filter, out: &mut Vec<Pos>) {
        let ord = self.ord();
        match self {
            Part::Gen(ds, _) => {
                let n = ds.user_count_of(ord);
                if filter.is_trivial() {
                    out.extend((0..n).map(|i| pos(ord, i)));
                } else if filter.facts_only() {
                    out.extend(
                        (0..n)
                            .filter(|&i| filter.matches(&ds.facts(ord, i)))
                            .map(|i| pos(ord, i)),
                    );
                } else {
                    let users = ds.users_of(ord);
                    out.extend(
                        (0..n)
                            .filter(|&i| filter.matches(&users[i]))
                            .map(|i| pos(ord, i)),
                    );
                }
            }
            Part::Live(_, users) => out.extend(
                (0..users.len())
                    .filter(|&i| filter.matches(&users[i]))
                    .map(|i| pos(ord, i)),
            ),
        }
    }
}

/// Matching users of every part in the requested order. Ties are broken
/// by resource id; descending is the exact reverse of ascending.
pub(crate) fn select(
    parts: &[Part<'_>],
    filter: &Filter,
    order: Field,
    ascending: bool,
) -> Vec<Pos> {
    let mut sel = Vec::new();
    for part in parts {
        part.matching(filter, &mut sel);
    }
    let part_of = |p: Pos| {
        let (ord, i) = unpos(p);
        let part = parts
            .iter()
            .find(|x| x.ord() == ord)
            .expect("part of a position");
        (part, i)
    };
    let rid_cmp = |a: Pos, b: Pos| {
        let (pa, ia) = part_of(a);
        let (pb, ib) = part_of(b);
        pa.resource_id(ia).cmp(&pb.resource_id(ib))
    };
    if order == Field::CreateTime {
        // One company's list is already in creation order; several are merged.
        if parts.len() > 1 {
            let mut keyed: Vec<(i64, Pos)> = sel
                .iter()
                .map(|&p| {
                    let (part, i) = part_of(p);
                    (part.create_ms(i), p)
                })
                .collect();
            keyed.sort_unstable();
            // Equal instants (different companies): resource id decides.
            let mut start = 0;
            while start < keyed.len() {
                let mut end = start + 1;
                while end < keyed.len() && keyed[end].0 == keyed[start].0 {
                    end += 1;
                }
                if end - start > 1 {
                    keyed[start..end].sort_by(|a, b| rid_cmp(a.1, b.1));
                }
                start = end;
            }
            sel = keyed.into_iter().map(|(_, p)| p).collect();
        }
    } else {
        for part in parts {
            if let Part::Gen(ds, ord) = part {
                ds.users_of(*ord);
            }
        }
        let mut keyed: Vec<(SortKey, Pos)> = sel
            .iter()
            .map(|&p| {
                let (part, i) = part_of(p);
                (sort_key(order, &part.user(i)), p)
            })
            .collect();
        keyed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| rid_cmp(a.1, b.1)));
        sel = keyed.into_iter().map(|(_, p)| p).collect();
    }
    if !ascending {
        sel.reverse();
    }
    sel
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
            language_key: crate::LanguageField::default(),
            manager_first_name: None,
            manager_last_name: None,
            manager_email: None,
            manager_full_name: None,
            is_deleted: false,
            is_deleted_key: true,
            extra: Vec::new(),
            create_ms: id.len() as i64,
            update_ms: None,
        }
    }

    fn filter(v: Value) -> Filter {
        Filter::parse(v.as_object().unwrap()).unwrap()
    }

    fn items(items: Value) -> Filter {
        filter(
            json!({"Condition":"AND","SearchInputTextValue":"","FilterGroups":[
            {"Condition":"AND","FilterItems":items,"FilterGroups":[]},
            {"Condition":"OR","FilterItems":[],"FilterGroups":[]}]}),
        )
    }

    #[test]
    fn filters_and_orders() {
        let users = vec![
            user("Ayşe", Some("Sales"), "b"),
            user("Bob", Some("IT"), "a"),
            user("İsmail", None, "c"),
        ];
        let parts = [Part::Live(0, &users)];
        let f = filter(json!({"Condition":"AND","SearchInputTextValue":"",
            "FilterGroups":[{"Condition":"OR","FilterItems":[
                {"FieldName":"Department","Operator":"Include","Value":"sales, it"}]}]}));
        assert_eq!(select(&parts, &f, Field::FirstName, true), vec![0, 1]);
        assert_eq!(select(&parts, &f, Field::FirstName, false), vec![1, 0]);
        let s = filter(json!({"searchInputTextValue":"AYŞ"}));
        assert_eq!(select(&parts, &s, Field::CreateTime, true), vec![0]);
        let none = filter(json!({}));
        assert!(none.is_trivial());
        assert_eq!(
            select(&parts, &none, Field::Department, true),
            vec![2, 1, 0]
        );
        assert!(parse_user_order(Some("bogus")).is_err());
        assert!(parse_user_order(Some("MonthlyActiveUser")).is_err());
        assert_eq!(parse_user_order(Some("email")).unwrap(), Field::Email);
        let bad =
            json!({"filterGroups":[{"filterItems":[{"fieldName":"Nope","operator":"Equal"}]}]});
        assert!(Filter::parse(bad.as_object().unwrap()).is_err());
    }

    #[test]
    fn keepnet_ui_filters() {
        let mut a = user("Ann", None, "a");
        let mut b = user("Ben", None, "bb");
        let mut c = user("Cem", None, "ccc");
        let mut d = user("Dan", None, "dddd");
        b.status = Some("Inactive".into());
        c.is_deleted = true;
        d.is_deleted = true;
        d.status = Some("Deleted".into());
        a.manager_email = Some("Boss@x.example".into());
        a.manager_full_name = Some("Big Boss".into());
        a.create_ms = time::ms_from(2026, 3, 31, 23, 59, 59);
        b.create_ms = time::ms_from(2026, 4, 1, 0, 0, 0);
        let users = [a, b, c, d];
        let parts = [Part::Live(0, &users)];
        let run = |f: &Filter| select(&parts, f, Field::CreateTime, true);
        // The UI's default filter, empty: everyone, deleted users included.
        let default = items(json!([]));
        assert!(default.is_trivial());
        assert_eq!(run(&default), vec![0, 1, 2, 3]);
        let minimal = filter(json!({"Condition":"AND","SearchInputTextValue":""}));
        assert_eq!(run(&minimal), vec![0, 1, 2, 3]);
        // The client's default: Status Include "1,0" + IsDeleted false.
        let live = items(json!([
            {"FieldName":"Status","Operator":"Include","Value":"1,0"},
            {"FieldName":"IsDeleted","Operator":"Contains","Value":false}]));
        assert!(live.facts_only() && !live.is_trivial());
        assert_eq!(run(&live), vec![0, 1]);
        let active = items(json!([{"FieldName":"Status","Operator":"Include","Value":"1"}]));
        assert_eq!(run(&active), vec![0, 2]);
        let words =
            items(json!([{"FieldName":"status","Operator":"include","Value":"Inactive, DELETED"}]));
        assert_eq!(run(&words), vec![1, 2, 3]);
        for v in [json!(true), json!("true"), json!("TRUE")] {
            for op in ["Contains", "Equal", "Equals", "="] {
                let f = items(json!([{"FieldName":"IsDeleted","Operator":op,"Value":v}]));
                assert_eq!(run(&f), vec![2, 3], "{op} {v}");
            }
        }
        let not_deleted =
            items(json!([{"fieldName":"isDeleted","operator":"Contains","value":"false"}]));
        assert_eq!(run(&not_deleted), vec![0, 1]);
        // Deleted OR Status (the UI's OR group).
        let or = filter(
            json!({"Condition":"AND","SearchInputTextValue":"","FilterGroups":[
            {"Condition":"AND","FilterItems":[],"FilterGroups":[]},
            {"Condition":"OR","FilterItems":[
                {"FieldName":"IsDeleted","Value":true,"Operator":"Contains"},
                {"FieldName":"Status","Value":"0","Operator":"Include"}],"FilterGroups":[]}]}),
        );
        assert_eq!(run(&or), vec![1, 2, 3]);
        let march =
            items(json!([{"FieldName":"MonthlyActiveUser","Operator":"=","Value":"2026-03"}]));
        assert_eq!(run(&march), vec![0]);
        let april =
            items(json!([{"FieldName":"MonthlyActiveUser","Operator":"=","Value":"2026-04"}]));
        assert_eq!(run(&april), vec![1]);
        let mgr =
            items(json!([{"FieldName":"ManagerEmail","Operator":"=","Value":"boss@X.example"}]));
        assert!(!mgr.facts_only());
        assert_eq!(run(&mgr), vec![0]);
        let mgr =
            items(json!([{"FieldName":"ManagerFullName","Operator":"Contains","Value":"big"}]));
        assert_eq!(run(&mgr), vec![0]);
        let email = items(json!([{"FieldName":"Email","Operator":"=","Value":"BEN@x.example"}]));
        assert_eq!(run(&email), vec![1]);
        for bad in [
            json!([{"FieldName":"IsDeleted","Operator":"Contains","Value":"maybe"}]),
            json!([{"FieldName":"MonthlyActiveUser","Operator":"=","Value":"March"}]),
            json!([{"FieldName":"MonthlyActiveUser","Operator":"=","Value":"2026-13"}]),
            json!([{"FieldName":"Status","Operator":"Like","Value":"1"}]),
        ] {
            let f = json!({"FilterGroups":[{"FilterItems":bad}]});
            assert!(Filter::parse(f.as_object().unwrap()).is_err(), "{f}");
        }
    }

    #[test]
    fn parts_merge_by_creation_then_resource_id() {
        let mut x = vec![user("A", None, "x1"), user("B", None, "x2")];
        let mut y = vec![user("C", None, "y1"), user("D", None, "a2")];
        x[0].create_ms = 10;
        x[1].create_ms = 30;
        y[0].create_ms = 20;
        y[1].create_ms = 30;
        let parts = [Part::Live(3, &x), Part::Live(5, &y)];
        let f = filter(json!({}));
        let want = vec![pos(3, 0), pos(5, 0), pos(5, 1), pos(3, 1)];
        assert_eq!(select(&parts, &f, Field::CreateTime, true), want);
        let mut rev = want.clone();
        rev.reverse();
        assert_eq!(select(&parts, &f, Field::CreateTime, false), rev);
        assert_eq!(unpos(pos(5, 1)), (5, 1));
    }
}
