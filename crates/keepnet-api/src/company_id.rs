//! A validated company resource id, safe to put into the scoping header.

use std::fmt;

/// Longest company id accepted. Keepnet ids are 12 characters; the bound leaves room for other
/// deployments without letting arbitrary text into a header.
const MAX_LEN: usize = 64;

/// A company resource id that has been checked to be 1 to 64 characters of `[A-Za-z0-9_-]`.
///
/// Only a `CompanyId` can scope a request, so nothing unvalidated reaches the
/// `X-KEEPNET-Company-Id` header.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CompanyId(String);

/// Why a text is not a valid company id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid company id {shown:?}: {reason}")]
pub struct InvalidCompanyId {
    shown: String,
    reason: &'static str,
}

impl CompanyId {
    /// Validates `text` as a company resource id.
    pub fn parse(text: &str) -> Result<Self, InvalidCompanyId> {
        let fail = |reason| InvalidCompanyId {
            shown: text.chars().take(80).collect(),
            reason,
        };
        if text.is_empty() {
            return Err(fail("it is empty"));
        }
        if text.len() > MAX_LEN {
            return Err(fail("it is longer than 64 characters"));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(fail("only letters, digits, '-' and '_' are allowed"));
        }
        Ok(Self(text.to_owned()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CompanyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CompanyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CompanyId({})", self.0)
    }
}

impl serde::Serialize for CompanyId {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl AsRef<str> for CompanyId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for CompanyId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for CompanyId {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

impl std::str::FromStr for CompanyId {
    type Err = InvalidCompanyId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_keepnet_ids() {
        assert_eq!(
            CompanyId::parse("xC5kfGz7w2Nz").unwrap().as_str(),
            "xC5kfGz7w2Nz"
        );
        assert!(CompanyId::parse("a_b-C9").is_ok());
    }

    #[test]
    fn rejects_header_breaking_text() {
        for bad in ["", "a b", "a\r\nX-Evil: 1", "é", "a/b", &"x".repeat(65)] {
            assert!(CompanyId::parse(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
