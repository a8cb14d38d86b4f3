//! A command-line value that must never be printed.

use std::fmt;
use std::str::FromStr;

/// A secret given on the command line or through the environment. `Debug` and `Display` are
/// redacted, so deriving `Debug` on argument structs cannot leak it.
#[derive(Clone)]
pub struct SecretArg(String);

impl SecretArg {
    /// The secret itself, for handing to a type that guards it further.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
