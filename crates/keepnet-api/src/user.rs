//! A target user as served: typed access to the fields the client knows, and every other field
//! kept exactly as the server sent it.
//!
//! The live API sends more than the spec's `TargetUserSearchView` declares (`isDeleted`, the
//! manager fields, and whatever it adds next). A client that keeps only declared fields silently
//! loses data, so deserialising keeps each unknown field, and each known field whose value is
//! not of the expected type, in [`TargetUser::extra`], in the order served; serialising writes
//! the same fields and values back (known fields first, then the extra ones). A known field the
//! server sent as `null` is written back as `null`; one it did not send is not written.

use std::fmt;

use std::borrow::Cow;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

use crate::status::UserState;
use crate::text::Text;

/// A target user (learner), as the live `target-users/search` serves it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TargetUser {
    /// The user's resource id: unique within the platform.
    pub resource_id: Option<Text>,
    /// E-mail address.
    pub email: Option<Text>,
    /// First name.
    pub first_name: Option<Text>,
    /// Last name.
    pub last_name: Option<Text>,
    /// Department.
    pub department: Option<Text>,
    /// Priority, e.g. `Low`, `High`.
    pub priority: Option<Text>,
    /// Status, e.g. `Active`, `Inactive` (a deleted user may still say `Active`: see
    /// [`TargetUser::state`]).
    pub status: Option<Text>,
    /// Values of the company's custom fields for this user.
    pub custom_field_values: Vec<CustomFieldValue>,
    /// Creation time, as sent (ISO 8601 or the company's date format).
    pub create_time: Option<Text>,
    /// Last update time, as sent.
    pub update_time: Option<Text>,
    /// Whether the user can be edited in Keepnet (false for directory-synced users).
    pub is_editable: Option<bool>,
    /// SCIM setting that provisioned the user.
    pub scim_setting_name: Option<Text>,
    /// LDAP configuration that provisioned the user.
    pub ldap_config_name: Option<Text>,
    /// Phone number, kept as text (leading zeros and `+` matter).
    pub phone_number: Option<Text>,
    /// IANA or Windows time zone name.
    pub time_zone: Option<Text>,
    /// Preferred language code.
    pub preferred_language: Option<Text>,
    /// The manager's first name (not in the spec's search view; served by the live API).
    pub manager_first_name: Option<Text>,
    /// The manager's last name.
    pub manager_last_name: Option<Text>,
    /// The manager's e-mail address.
    pub manager_email: Option<Text>,
    /// The manager's full name.
    pub manager_full_name: Option<Text>,
    /// Whether the user was deleted (the live list keeps deleted users for audit).
    pub is_deleted: Option<bool>,
    /// Every other field, exactly as served, in the order served: fields the client has no
    /// typed slot for, and known fields whose value was not of the expected type.
    pub extra: Vec<(String, Value)>,
    /// Known fields present in the served object (bit per [`Known`]), so a served `null` is
    /// written back as `null` and an absent field stays absent.
    served: u32,
    /// `customFieldValues` was served as `null` rather than a list.
    custom_fields_null: bool,
}

/// The value of one custom field for one user. Like [`TargetUser`], it writes back what was
/// served: a key the spec does not declare is kept in `extra`, and a value that is not text
/// (a number, say) is kept there as served while its typed slot holds its JSON text.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CustomFieldValue {
    /// The custom field's resource id.
    pub resource_id: Option<Text>,
    /// The custom field's name, e.g. `Employee Number`.
    pub name: Option<Text>,
    /// The field's data type, e.g. `String` or `DateTime`.
    pub data_type: Option<Text>,
    /// The value as text.
    pub value: Option<Text>,
    /// The value of a date-time field, as sent.
    pub timestamp_value: Option<Text>,
    /// Every other key, and the served form of values that were not text, in served order.
    pub extra: Vec<(String, Value)>,
    /// Keys present in the served object (bit per entry of `CUSTOM_KEYS`).
    served: u8,
}

/// Wire names of the custom field keys, in the order they are written back.
const CUSTOM_KEYS: [&str; 5] = ["resourceId", "name", "dataType", "value", "timestampValue"];

impl CustomFieldValue {
    fn slot(&mut self, index: usize) -> &mut Option<Text> {
        match index {
            0 => &mut self.resource_id,
            1 => &mut self.name,
            2 => &mut self.data_type,
            3 => &mut self.value,
            _ => &mut self.timestamp_value,
        }
    }

    fn get(&self, index: usize) -> &Option<Text> {
        match index {
            0 => &self.resource_id,
            1 => &self.name,
            2 => &self.data_type,
            3 => &self.value,
            _ => &self.timestamp_value,
        }
    }
}

impl Serialize for CustomFieldValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (index, key) in CUSTOM_KEYS.iter().enumerate() {
            let served = self.served & (1 << index) != 0;
            let value = self.get(index);
            let kept = self.extra.iter().any(|(k, _)| k == key);
            if !kept && (value.is_some() || served) {
                map.serialize_entry(key, value)?;
            }
        }
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for CustomFieldValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FieldVisitor;
        impl<'de> Visitor<'de> for FieldVisitor {
            type Value = CustomFieldValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a custom field value object")
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<CustomFieldValue, A::Error> {
                let mut field = CustomFieldValue::default();
                let mut extra = Extras::default();
                while let Some(key) = map.next_key::<Key>()? {
                    let key = key.0;
                    let loose: Loose = map.next_value()?;
                    let Some(index) = CUSTOM_KEYS.iter().position(|k| *k == key) else {
                        extra.push(key.into_owned(), loose.into_value());
                        continue;
                    };
                    field.served |= 1 << index;
                    *field.slot(index) = match loose {
                        Loose::Null => None,
                        Loose::Text(t) => Some(t),
                        other => {
                            let value = other.into_value();
                            let text = match &value {
                                Value::Bool(b) => b.to_string(),
                                v => v.to_string(),
                            };
                            extra.push(key.into_owned(), value);
                            Some(Text::from(text))
                        }
                    };
                }
                field.extra = extra.finish();
                Ok(field)
            }
        }
        deserializer.deserialize_map(FieldVisitor)
    }
}

/// The known fields, in the order they are written back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Known {
    ResourceId,
    Email,
    FirstName,
    LastName,
    Department,
    Priority,
    Status,
    CustomFieldValues,
    CreateTime,
    UpdateTime,
    IsEditable,
    ScimSettingName,
    LdapConfigName,
    PhoneNumber,
    TimeZone,
    PreferredLanguage,
    ManagerFirstName,
    ManagerLastName,
    ManagerEmail,
    ManagerFullName,
    IsDeleted,
}

/// Wire names of the known fields, in [`Known`] order.
const KNOWN: [(&str, Known); 21] = [
    ("resourceId", Known::ResourceId),
    ("email", Known::Email),
    ("firstName", Known::FirstName),
    ("lastName", Known::LastName),
    ("department", Known::Department),
    ("priority", Known::Priority),
    ("status", Known::Status),
    ("customFieldValues", Known::CustomFieldValues),
    ("createTime", Known::CreateTime),
    ("updateTime", Known::UpdateTime),
    ("isEditable", Known::IsEditable),
    ("scimSettingName", Known::ScimSettingName),
    ("ldapConfigName", Known::LdapConfigName),
    ("phoneNumber", Known::PhoneNumber),
    ("timeZone", Known::TimeZone),
    ("preferredLanguage", Known::PreferredLanguage),
    ("managerFirstName", Known::ManagerFirstName),
    ("managerLastName", Known::ManagerLastName),
    ("managerEmail", Known::ManagerEmail),
    ("managerFullName", Known::ManagerFullName),
    ("isDeleted", Known::IsDeleted),
];

impl Known {
    fn bit(self) -> u32 {
        1 << self as u32
    }

    /// The field a wire name names: a `match` rather than a scan of [`KNOWN`], which took
    /// 1.2% of a CSV export's CPU (a test keeps the two in step).
    fn from_key(key: &str) -> Option<Known> {
        Some(match key {
            "resourceId" => Known::ResourceId,
            "email" => Known::Email,
            "firstName" => Known::FirstName,
            "lastName" => Known::LastName,
            "department" => Known::Department,
            "priority" => Known::Priority,
            "status" => Known::Status,
            "customFieldValues" => Known::CustomFieldValues,
            "createTime" => Known::CreateTime,
            "updateTime" => Known::UpdateTime,
            "isEditable" => Known::IsEditable,
            "scimSettingName" => Known::ScimSettingName,
            "ldapConfigName" => Known::LdapConfigName,
            "phoneNumber" => Known::PhoneNumber,
            "timeZone" => Known::TimeZone,
            "preferredLanguage" => Known::PreferredLanguage,
            "managerFirstName" => Known::ManagerFirstName,
            "managerLastName" => Known::ManagerLastName,
            "managerEmail" => Known::ManagerEmail,
            "managerFullName" => Known::ManagerFullName,
            "isDeleted" => Known::IsDeleted,
            _ => return None,
        })
    }
}

/// The wire names of the fields [`TargetUser`] has typed slots for, in the order it writes them.
pub fn known_user_fields() -> impl Iterator<Item = &'static str> {
    KNOWN.iter().map(|(k, _)| *k)
}

impl TargetUser {
    /// Whether the user is current (active or inactive) or deleted, the way Keepnet's own UI
    /// decides: deleted when `isDeleted` is true or the status says `Deleted`.
    pub fn state(&self) -> UserState {
        UserState::of(self.status.as_deref(), self.is_deleted)
    }

    /// An extra (untyped) field by its wire name, compared ASCII case-insensitively.
    pub fn extra_field(&self, key: &str) -> Option<&Value> {
        self.extra
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    }

    /// The wire names of every field the server sent for this user, known ones first.
    pub fn served_keys(&self) -> impl Iterator<Item = &str> + '_ {
        KNOWN
            .iter()
            .filter(|(_, f)| self.served & f.bit() != 0)
            .map(|(k, _)| *k)
            .chain(self.extra.iter().map(|(k, _)| k.as_str()))
    }

    fn text(&self, field: Known) -> Option<&Option<Text>> {
        Some(match field {
            Known::ResourceId => &self.resource_id,
            Known::Email => &self.email,
            Known::FirstName => &self.first_name,
            Known::LastName => &self.last_name,
            Known::Department => &self.department,
            Known::Priority => &self.priority,
            Known::Status => &self.status,
            Known::CreateTime => &self.create_time,
            Known::UpdateTime => &self.update_time,
            Known::ScimSettingName => &self.scim_setting_name,
            Known::LdapConfigName => &self.ldap_config_name,
            Known::PhoneNumber => &self.phone_number,
            Known::TimeZone => &self.time_zone,
            Known::PreferredLanguage => &self.preferred_language,
            Known::ManagerFirstName => &self.manager_first_name,
            Known::ManagerLastName => &self.manager_last_name,
            Known::ManagerEmail => &self.manager_email,
            Known::ManagerFullName => &self.manager_full_name,
            Known::CustomFieldValues | Known::IsEditable | Known::IsDeleted => return None,
        })
    }

    fn text_mut(&mut self, field: Known) -> Option<&mut Option<Text>> {
        Some(match field {
            Known::ResourceId => &mut self.resource_id,
            Known::Email => &mut self.email,
            Known::FirstName => &mut self.first_name,
            Known::LastName => &mut self.last_name,
            Known::Department => &mut self.department,
            Known::Priority => &mut self.priority,
            Known::Status => &mut self.status,
            Known::CreateTime => &mut self.create_time,
            Known::UpdateTime => &mut self.update_time,
            Known::ScimSettingName => &mut self.scim_setting_name,
            Known::LdapConfigName => &mut self.ldap_config_name,
            Known::PhoneNumber => &mut self.phone_number,
            Known::TimeZone => &mut self.time_zone,
            Known::PreferredLanguage => &mut self.preferred_language,
            Known::ManagerFirstName => &mut self.manager_first_name,
            Known::ManagerLastName => &mut self.manager_last_name,
            Known::ManagerEmail => &mut self.manager_email,
            Known::ManagerFullName => &mut self.manager_full_name,
            Known::CustomFieldValues | Known::IsEditable | Known::IsDeleted => return None,
        })
    }

    fn flag_mut(&mut self, field: Known) -> Option<&mut Option<bool>> {
        match field {
            Known::IsEditable => Some(&mut self.is_editable),
            Known::IsDeleted => Some(&mut self.is_deleted),
            _ => None,
        }
    }
}

impl Serialize for TargetUser {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(None)?;
        for (key, field) in KNOWN {
            let served = self.served & field.bit() != 0;
            match field {
                Known::CustomFieldValues => {
                    if served && self.custom_fields_null && self.custom_field_values.is_empty() {
                        map.serialize_entry(key, &Value::Null)?;
                    } else if served || !self.custom_field_values.is_empty() {
                        map.serialize_entry(key, &self.custom_field_values)?;
                    }
                }
                Known::IsEditable | Known::IsDeleted => {
                    let value = if field == Known::IsEditable {
                        self.is_editable
                    } else {
                        self.is_deleted
                    };
                    // A served value of another type lives in `extra` under the same key.
                    if value.is_some() || (served && self.extra_field(key).is_none()) {
                        map.serialize_entry(key, &value)?;
                    }
                }
                _ => {
                    let value = self.text(field).expect("a text field");
                    if value.is_some() || (served && self.extra_field(key).is_none()) {
                        map.serialize_entry(key, value)?;
                    }
                }
            }
        }
        for (key, value) in &self.extra {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for TargetUser {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_map(UserVisitor)
    }
}

struct UserVisitor;

impl<'de> Visitor<'de> for UserVisitor {
    type Value = TargetUser;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a target user object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<TargetUser, A::Error> {
        let mut user = TargetUser::default();
        let mut extra = Extras::default();
        while let Some(key) = map.next_key::<Key>()? {
            let key = key.0;
            let Some(field) = Known::from_key(&key) else {
                let value: Value = map.next_value()?;
                extra.push(key.into_owned(), value);
                continue;
            };
            user.served |= field.bit();
            if field == Known::CustomFieldValues {
                match map.next_value::<Option<Vec<CustomFieldValue>>>()? {
                    Some(values) => user.custom_field_values = values,
                    None => user.custom_fields_null = true,
                }
                continue;
            }
            let loose: Loose = map.next_value()?;
            if let Some(slot) = user.flag_mut(field) {
                match loose {
                    Loose::Null => *slot = None,
                    Loose::Bool(b) => *slot = Some(b),
                    other => extra.push(key.into_owned(), other.into_value()),
                }
                continue;
            }
            let slot = user.text_mut(field).expect("a text field");
            match loose {
                Loose::Null => *slot = None,
                Loose::Text(text) => *slot = Some(text),
                other => extra.push(key.into_owned(), other.into_value()),
            }
        }
        user.extra = extra.finish();
        Ok(user)
    }
}

/// Up to this many kept fields, a repeated key is looked for among them as each arrives;
/// beyond, repeats are resolved once, at the end, by sorting.
const SCANNED: usize = 16;

/// The fields kept in `extra`, in served order; a repeated key keeps its last value in its
/// first place, as JSON readers do. Linear for the few fields a user usually has, and
/// `n log n` for many (a scan per field made 40,000 unknown fields cost 800 million
/// comparisons per user).
#[derive(Default)]
struct Extras {
    pairs: Vec<(String, Value)>,
    /// Whether fields were kept without looking for an earlier one of the same key.
    unchecked: bool,
}

impl Extras {
    fn push(&mut self, key: String, value: Value) {
        if self.pairs.len() >= SCANNED {
            self.unchecked = true;
            self.pairs.push((key, value));
            return;
        }
        match self.pairs.iter_mut().find(|(k, _)| *k == key) {
            Some((_, slot)) => *slot = value,
            None => self.pairs.push((key, value)),
        }
    }

    fn finish(mut self) -> Vec<(String, Value)> {
        if !self.unchecked {
            return self.pairs;
        }
        let pairs = &mut self.pairs;
        let mut order: Vec<usize> = (0..pairs.len()).collect();
        // Stable: equal keys stay in served order.
        order.sort_by(|a, b| pairs[*a].0.cmp(&pairs[*b].0));
        let mut dropped = vec![false; pairs.len()];
        let mut moves = Vec::new();
        for group in order.chunk_by(|a, b| pairs[*a].0 == pairs[*b].0) {
            if let [first, .., last] = group {
                moves.push((*first, *last));
                for repeat in &group[1..] {
                    dropped[*repeat] = true;
                }
            }
        }
        for (first, last) in moves {
            pairs[first].1 = std::mem::take(&mut pairs[last].1);
        }
        let mut index = 0;
        pairs.retain(|_| {
            index += 1;
            !dropped[index - 1]
        });
        self.pairs
    }
}

/// An object key, borrowed from the input when it has no escapes (no allocation for the
/// known fields).
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

/// A JSON value read without assuming its type: text and booleans fill typed slots, anything
/// else is kept as it came.
enum Loose {
    Null,
    Text(Text),
    Bool(bool),
    Other(Value),
}

impl Loose {
    fn into_value(self) -> Value {
        match self {
            Loose::Null => Value::Null,
            Loose::Text(t) => Value::String(t.into()),
            Loose::Bool(b) => Value::Bool(b),
            Loose::Other(v) => v,
        }
    }
}

impl<'de> Deserialize<'de> for Loose {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(LooseVisitor)
    }
}

struct LooseVisitor;

impl<'de> Visitor<'de> for LooseVisitor {
    type Value = Loose;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E: de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Loose, E> {
        Ok(Loose::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Loose, D::Error> {
        Loose::deserialize(d)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Loose, E> {
        Ok(Loose::Text(Text::new(v)))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Loose, E> {
        Ok(Loose::Text(Text::from(v)))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Loose, E> {
        Ok(Loose::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Loose, E> {
        Ok(Loose::Other(Value::from(v)))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Loose, E> {
        Ok(Loose::Other(Value::from(v)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Loose, E> {
        Ok(Loose::Other(Value::from(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Loose, A::Error> {
        Value::deserialize(de::value::SeqAccessDeserializer::new(seq)).map(Loose::Other)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Loose, A::Error> {
        Value::deserialize(de::value::MapAccessDeserializer::new(map)).map(Loose::Other)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_served_field_round_trips() {
        let served = json!({
            "resourceId": "u1", "email": "a@b.c", "firstName": "İsmail", "lastName": null,
            "createTime": "03/04/2024 06:25 PM", "phoneNumber": "0532",
            "customFieldValues": [{"resourceId": "c1", "name": "Level", "value": 7, "since": "2024"}],
            "isDeleted": true, "managerEmail": "boss@b.c", "managerFullName": "Big Boss",
            "newField": {"level": 3, "tags": ["a", true, null]}, "score": 1.5, "rank": 7,
            "priority": 2, "isEditable": "yes"
        });
        let user: TargetUser = serde_json::from_value(served.clone()).unwrap();
        assert_eq!(user.first_name.as_deref(), Some("İsmail"));
        assert_eq!(user.is_deleted, Some(true));
        assert_eq!(user.manager_email.as_deref(), Some("boss@b.c"));
        assert_eq!(user.custom_field_values[0].value.as_deref(), Some("7"));
        // Values of an unexpected type are kept, not dropped and not coerced.
        assert_eq!(user.priority, None);
        assert_eq!(user.extra_field("priority"), Some(&json!(2)));
        assert_eq!(user.extra_field("ISEDITABLE"), Some(&json!("yes")));
        assert_eq!(user.extra_field("newField").unwrap()["level"], 3);
        let back = serde_json::to_value(&user).unwrap();
        assert_eq!(back, served, "the same fields and values as served");
        let keys: Vec<&str> = user.served_keys().collect();
        assert!(keys.contains(&"lastName") && keys.contains(&"rank"));
        assert!(!keys.contains(&"department"), "absent stays absent");
    }

    #[test]
    fn a_repeated_key_keeps_its_last_value_in_its_first_place_however_many_fields() {
        for fields in [3, 40_000] {
            let mut text = String::from("{\"email\":\"a@b.c\"");
            for i in 0..fields {
                text.push_str(&format!(",\"f{i}\":{i}"));
            }
            // Repeats of an early, a middle and the last field, and of a known field's
            // served-as-other-type value.
            let middle = fields / 2;
            text.push_str(&format!(
                ",\"f0\":\"again\",\"f{middle}\":null,\"f{}\":true,\"priority\":1,\"priority\":2}}",
                fields - 1
            ));
            let user: TargetUser = serde_json::from_str(&text).unwrap();
            assert_eq!(user.extra.len(), fields + 1, "each key once");
            assert_eq!(user.extra[0], ("f0".to_owned(), json!("again")));
            assert_eq!(user.extra[middle].1, Value::Null);
            assert_eq!(user.extra[fields - 1].1, json!(true));
            assert_eq!(user.extra[fields], ("priority".to_owned(), json!(2)));
            if fields > 3 {
                assert_eq!(user.extra[1], ("f1".to_owned(), json!(1)), "served order");
            }
        }
    }

    #[test]
    fn the_key_lookup_and_the_key_table_agree() {
        for (index, (key, field)) in KNOWN.iter().enumerate() {
            assert_eq!(Known::from_key(key), Some(*field), "{key}");
            assert_eq!(
                *field as usize, index,
                "{key} is written back in table order"
            );
        }
        assert_eq!(
            Known::from_key("Email"),
            None,
            "wire names are case-sensitive"
        );
    }

    #[test]
    fn states_follow_keepnets_ui() {
        let state = |v: Value| serde_json::from_value::<TargetUser>(v).unwrap().state();
        assert_eq!(state(json!({"status": "Active"})), UserState::Active);
        assert_eq!(state(json!({"status": "inactive"})), UserState::Inactive);
        assert_eq!(
            state(json!({"status": "Active", "isDeleted": true})),
            UserState::Deleted
        );
        assert_eq!(state(json!({"status": "Deleted"})), UserState::Deleted);
        assert_eq!(state(json!({"status": null})), UserState::Unknown);
    }

    #[test]
    fn null_custom_fields_stay_null() {
        let served = json!({"email": "a@b.c", "customFieldValues": null});
        let user: TargetUser = serde_json::from_value(served.clone()).unwrap();
        assert!(user.custom_field_values.is_empty());
        assert_eq!(serde_json::to_value(&user).unwrap(), served);
    }

    #[test]
    fn a_built_user_writes_only_what_is_set() {
        let user = TargetUser {
            email: Some("x@y.z".into()),
            ..TargetUser::default()
        };
        assert_eq!(
            serde_json::to_value(&user).unwrap(),
            json!({"email": "x@y.z"})
        );
        let served =
            json!({"name": "Employee Number", "value": 123, "source": "HR", "dataType": null});
        let custom: CustomFieldValue = serde_json::from_value(served.clone()).unwrap();
        assert_eq!(custom.value.as_deref(), Some("123"), "text for columns");
        assert_eq!(
            serde_json::to_value(&custom).unwrap(),
            served,
            "exactly as served"
        );
    }
}
