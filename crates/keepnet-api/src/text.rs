//! [`Text`]: the string type of a user's fields, kept inline when short.
//!
//! A target user has about twenty text fields and each custom field four more; as owned
//! `String`s, a CSV export spent about 19% of its CPU in `malloc` and `free` (profile in
//! docs/BENCHMARKS.md). Almost every value is short (names, statuses, time stamps, ids), so
//! [`Text`] keeps up to 24 bytes inside itself, with no allocation, and only longer values on
//! the heap. It reads like a `&str` (`Deref`), and converts from and to `String`.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

use compact_str::CompactString;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An immutable UTF-8 string stored inline up to 24 bytes, on the heap beyond.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Text(CompactString);

impl Text {
    /// The text of `value`, copied (no allocation up to 24 bytes).
    pub fn new(value: &str) -> Text {
        Text(CompactString::new(value))
    }

    /// The text as a `&str`.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.0.as_str()
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl Borrow<str> for Text {
    fn borrow(&self) -> &str {
        self.as_str()
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<&str> for Text {
    fn from(value: &str) -> Text {
        Text::new(value)
    }
}

impl From<String> for Text {
    /// Keeps the `String`'s buffer when the text is too long to be inline.
    fn from(value: String) -> Text {
        Text(CompactString::from(value))
    }
}

impl From<&String> for Text {
    fn from(value: &String) -> Text {
        Text::new(value)
    }
}

impl From<Text> for String {
    fn from(value: Text) -> String {
        value.0.into_string()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        self.as_str() == other
    }
}

impl Serialize for Text {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl Visitor<'_> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Text, E> {
                Ok(Text::new(v))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Text, E> {
                Ok(Text::from(v))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_compares_like_a_str_short_or_long() {
        let long = "a.rather.long.address.of.forty.bytes@example.com";
        for value in ["", "Çağrı", "2025-06-01T00:01:37.541Z", long] {
            let text = Text::new(value);
            assert_eq!(&*text, value);
            assert_eq!(text, value);
            assert_eq!(String::from(text.clone()), value);
            assert_eq!(Text::from(value.to_owned()), text);
            assert_eq!(format!("{text}"), value);
            assert_eq!(format!("{text:?}"), format!("{value:?}"));
            let json = serde_json::to_string(&text).unwrap();
            assert_eq!(json, serde_json::to_string(value).unwrap());
            assert_eq!(serde_json::from_str::<Text>(&json).unwrap(), text);
        }
        // An escaped string comes through the owned path and still reads back exactly.
        let escaped: Text = serde_json::from_str(r#""line\nbreak \u00e9""#).unwrap();
        assert_eq!(escaped, "line\nbreak é");
        assert!(serde_json::from_str::<Text>("12").is_err());
    }
}
