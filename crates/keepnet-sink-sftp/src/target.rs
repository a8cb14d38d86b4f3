//! The `--sink sftp:TARGET` target: `user@host:/folder/` (scp-like) or
//! `sftp://user@host:port/folder/` (URL).

use std::fmt;

/// Where the files go: parsed from the part after `sftp:` in `--sink sftp:TARGET`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The user to log in as.
    pub user: String,
    /// The host name or IP address, IPv6 without brackets.
    pub host: String,
    /// The port given in a URL target; `None` in the scp-like form or a URL without one.
    pub port: Option<u16>,
    /// The remote folder: absolute (`/srv/drop/acme/`) or relative to the login folder
    /// (`drop/acme`, or empty for the login folder itself), as the scp-like form allows.
    pub folder: String,
}

impl Target {
    /// Parses `user@host:folder` (IPv6 as `user@[::1]:folder`; a relative folder is relative to
    /// the login folder) or `sftp://user@host[:port]/folder` (an absolute folder; `/~/folder`
    /// for one relative to the login folder; `%XX` escapes decoded).
    pub fn parse(text: &str) -> Result<Target, String> {
        let shown = format!("sftp target `{text}`");
        let target = match text.strip_prefix("sftp://") {
            Some(rest) => Self::parse_url(rest),
            None => Self::parse_scp(text),
        }
        .map_err(|why| format!("{shown}: {why}"))?;
        target.validate().map_err(|why| format!("{shown}: {why}"))?;
        Ok(target)
    }

    fn parse_scp(text: &str) -> Result<Target, String> {
        let Some((user, rest)) = text.split_once('@') else {
            return Err(
                "no user: write `user@host:/folder/` or `sftp://user@host:port/folder/`".into(),
            );
        };
        let (host, folder) = if let Some(bracketed) = rest.strip_prefix('[') {
            let Some((host, after)) = bracketed.split_once(']') else {
                return Err("`[` without `]` around the IPv6 address".into());
            };
            let Some(folder) = after.strip_prefix(':') else {
                return Err("`:` and the folder expected after `]` (`user@[::1]:/folder/`; a port goes in the URL form `sftp://user@[::1]:2222/folder/`)".into());
            };
            (host, folder)
        } else {
            let Some((host, folder)) = rest.split_once(':') else {
                return Err("no `:` after the host: write `user@host:/folder/` (`user@host:` for the login folder)".into());
            };
            (host, folder)
        };
        Ok(Target {
            user: user.to_owned(),
            host: host.to_owned(),
            port: None,
            folder: folder.to_owned(),
        })
    }

    fn parse_url(rest: &str) -> Result<Target, String> {
        let (authority, path) = match rest.find('/') {
            Some(slash) => rest.split_at(slash),
            None => (rest, ""),
        };
        let Some((user, host_port)) = authority.rsplit_once('@') else {
            return Err("no user: write `sftp://user@host:port/folder/`".into());
        };
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let Some((host, after)) = bracketed.split_once(']') else {
                return Err("`[` without `]` around the IPv6 address".into());
            };
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("unexpected `{after}` after `]`")),
                },
            }
        } else {
            match host_port.split_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        let port = match port {
            None | Some("") => None,
            Some(port) => match port.parse::<u16>() {
                Ok(0) | Err(_) => return Err(format!("bad port `{port}` (1-65535)")),
                Ok(port) => Some(port),
            },
        };
        let path = decode(path)?;
        let folder = if path == "/~" {
            String::new()
        } else if let Some(relative) = path.strip_prefix("/~/") {
            relative.to_owned()
        } else if path.is_empty() {
            "/".to_owned()
        } else {
            path
        };
        Ok(Target {
            user: decode(user)?,
            host: host.to_owned(),
            port,
            folder,
        })
    }

    fn validate(&self) -> Result<(), String> {
        let bad = |c: char| c.is_control() || c.is_whitespace();
        if self.user.is_empty() {
            return Err("the user is empty".into());
        }
        if self.user.chars().any(|c| bad(c) || c == ':' || c == '/') {
            return Err(format!("bad user `{}`", self.user));
        }
        if self.host.is_empty() {
            return Err("the host is empty".into());
        }
        if self
            .host
            .chars()
            .any(|c| bad(c) || matches!(c, '/' | '@' | '[' | ']'))
            || (self.host.contains(':') && self.host.parse::<std::net::Ipv6Addr>().is_err())
        {
            return Err(format!("bad host `{}`", self.host));
        }
        if self.folder.chars().any(|c| c.is_control()) {
            return Err("the folder has a control character".into());
        }
        Ok(())
    }

    /// The remote path of file `name` in [`Target::folder`].
    pub fn path_of(&self, name: &str) -> String {
        join(&self.folder, name)
    }

    /// `sftp://user@host:port/folder/` with the effective `port`, for messages (`/~/folder/`
    /// for a relative folder).
    pub fn url(&self, port: u16) -> String {
        format!("sftp://{}@{}{}", self.user, self.authority(port), {
            let folder = if self.folder.starts_with('/') {
                self.folder.clone()
            } else if self.folder.is_empty() {
                "/~".to_owned()
            } else {
                format!("/~/{}", self.folder)
            };
            if folder.ends_with('/') {
                folder
            } else {
                format!("{folder}/")
            }
        })
    }

    /// `host:port`, IPv6 in brackets.
    pub fn authority(&self, port: u16) -> String {
        if self.host.contains(':') {
            format!("[{}]:{port}", self.host)
        } else {
            format!("{}:{port}", self.host)
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(port) => f.write_str(&self.url(port)),
            None if self.host.contains(':') => {
                write!(f, "{}@[{}]:{}", self.user, self.host, self.folder)
            }
            None => write!(f, "{}@{}:{}", self.user, self.host, self.folder),
        }
    }
}

/// `folder/name`; `name` alone for the login folder.
pub(crate) fn join(folder: &str, name: &str) -> String {
    if folder.is_empty() {
        name.to_owned()
    } else if folder.ends_with('/') {
        format!("{folder}{name}")
    } else {
        format!("{folder}/{name}")
    }
}

/// Decodes `%XX` escapes (UTF-8).
fn decode(text: &str) -> Result<String, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| format!("bad `%` escape in `{text}`"))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| format!("`{text}` decodes to bytes that are not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(user: &str, host: &str, port: Option<u16>, folder: &str) -> Target {
        Target {
            user: user.into(),
            host: host.into(),
            port,
            folder: folder.into(),
        }
    }

    #[test]
    fn scp_like() {
        assert_eq!(
            Target::parse("acme@files.example.com:/drop/Acme Corp/").unwrap(),
            t("acme", "files.example.com", None, "/drop/Acme Corp/")
        );
        assert_eq!(
            Target::parse("u@h:drop").unwrap(),
            t("u", "h", None, "drop")
        );
        assert_eq!(Target::parse("u@h:").unwrap(), t("u", "h", None, ""));
        assert_eq!(
            Target::parse("u@[2001:db8::1]:/in/").unwrap(),
            t("u", "2001:db8::1", None, "/in/")
        );
        // A colon or @ in the folder is the folder's.
        assert_eq!(
            Target::parse("u@h:/a:b/c@d/").unwrap(),
            t("u", "h", None, "/a:b/c@d/")
        );
    }

    #[test]
    fn url() {
        assert_eq!(
            Target::parse("sftp://u@h:2222/drop/").unwrap(),
            t("u", "h", Some(2222), "/drop/")
        );
        assert_eq!(Target::parse("sftp://u@h").unwrap(), t("u", "h", None, "/"));
        assert_eq!(
            Target::parse("sftp://u@h:/~/in").unwrap(),
            t("u", "h", None, "in")
        );
        assert_eq!(
            Target::parse("sftp://u@h/~").unwrap(),
            t("u", "h", None, "")
        );
        assert_eq!(
            Target::parse("sftp://u@[::1]:22/x%20y/").unwrap(),
            t("u", "::1", Some(22), "/x y/")
        );
        assert_eq!(
            Target::parse("sftp://a%40b@[::1]").unwrap(),
            t("a@b", "::1", None, "/")
        );
    }

    #[test]
    fn refused() {
        for (text, why) in [
            ("host:/x", "no user"),
            ("sftp://host/x", "no user"),
            ("u@host", "no `:` after the host"),
            ("u@[::1/x", "without `]`"),
            ("u@[::1]/x", "`:` and the folder"),
            ("sftp://u@h:0/", "bad port `0`"),
            ("sftp://u@h:99999/", "bad port"),
            ("sftp://u@h:x/", "bad port `x`"),
            ("@h:/x", "the user is empty"),
            ("u@:/x", "the host is empty"),
            ("u@bad host:/x", "bad host"),
            ("sftp://u@a:b:c/", "bad port"),
            ("sftp://u@h/%zz", "bad `%` escape"),
            ("u@h:/a\nb", "control character"),
        ] {
            let err = Target::parse(text).unwrap_err();
            assert!(err.contains(why), "{text}: {err}");
            assert!(err.contains(text), "{text}: {err}");
        }
    }

    #[test]
    fn paths_and_urls() {
        let abs = t("u", "h", None, "/drop");
        assert_eq!(abs.path_of("a.csv"), "/drop/a.csv");
        assert_eq!(abs.url(22), "sftp://u@h:22/drop/");
        let rel = t("u", "::1", None, "in/");
        assert_eq!(rel.path_of("a.csv"), "in/a.csv");
        assert_eq!(rel.url(2222), "sftp://u@[::1]:2222/~/in/");
        let home = t("u", "h", None, "");
        assert_eq!(home.path_of("a.csv"), "a.csv");
        assert_eq!(home.url(22), "sftp://u@h:22/~/");
        assert_eq!(t("u", "h", None, "/").path_of("a"), "/a");
    }
}
