//! Matching a server's host key against an OpenSSH `known_hosts` file.
//!
//! Supported, as `ssh` reads them: plain host patterns (`host`, `[host]:port`, several separated
//! by commas, `*` and `?` wildcards, `!` negation), hashed entries (`|1|salt|hash`, HMAC-SHA1 as
//! `ssh-keygen -H` writes them), comments and blank lines, and the `@revoked` marker.
//! `@cert-authority` lines are skipped: host certificates are not accepted.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;

/// What a known_hosts file says about a host's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A line for this host holds this key.
    Known,
    /// Lines for this host exist, none with this key: the lines' numbers (1-based) and key
    /// types.
    Changed(Vec<(usize, String)>),
    /// No line names this host.
    Unknown,
    /// The key is marked `@revoked` (on this 1-based line).
    Revoked(usize),
}

/// The name `ssh` looks up for `host` and `port`: `host` on port 22, else `[host]:port`;
/// host names in lower case.
pub(crate) fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

/// Checks `key` (the SSH wire encoding of the public key) for `host` and `port` in the text of
/// a known_hosts file.
pub(crate) fn check(text: &str, host: &str, port: u16, key: &[u8]) -> Verdict {
    let name = lookup_name(host, port);
    let mut known = false;
    let mut others = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let mut fields = line.split_whitespace();
        let Some(mut first) = fields.next() else {
            continue;
        };
        if first.starts_with('#') {
            continue;
        }
        let mut revoked = false;
        if first.starts_with('@') {
            match first {
                "@revoked" => revoked = true,
                _ => continue, // @cert-authority, or a marker ssh does not know either
            }
            let Some(next) = fields.next() else { continue };
            first = next;
        }
        let (Some(key_type), Some(blob)) = (fields.next(), fields.next()) else {
            continue;
        };
        let same_key = STANDARD.decode(blob).is_ok_and(|blob| blob == key);
        if revoked {
            // A revoked key is refused for every host.
            if same_key {
                return Verdict::Revoked(number);
            }
            continue;
        }
        if !hosts_match(first, &name) {
            continue;
        }
        if same_key {
            known = true;
        } else {
            others.push((number, key_type.to_owned()));
        }
    }
    match (known, others.is_empty()) {
        (true, _) => Verdict::Known,
        (false, false) => Verdict::Changed(others),
        (false, true) => Verdict::Unknown,
    }
}

/// Whether a line's host field (`a,b,[c]:2222,!d`, or `|1|salt|hash`) names `name`.
fn hosts_match(field: &str, name: &str) -> bool {
    if let Some(hashed) = field.strip_prefix("|1|") {
        return hashed_match(hashed, name);
    }
    let mut matched = false;
    for pattern in field.split(',') {
        if let Some(negated) = pattern.strip_prefix('!') {
            if glob(&negated.to_ascii_lowercase(), name) {
                return false;
            }
        } else if glob(&pattern.to_ascii_lowercase(), name) {
            matched = true;
        }
    }
    matched
}

/// `salt|hash` (both base64): whether HMAC-SHA1 of `name` keyed with the salt is the hash.
fn hashed_match(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// `*` (any run) and `?` (any one character) wildcards, as in ssh's host patterns.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &[u8] = b"\0\0\0\x0bssh-ed25519\0\0\0\x20abcdefghijklmnopqrstuvwxyz012345";
    const OTHER: &[u8] = b"\0\0\0\x0bssh-ed25519\0\0\0\x20ABCDEFGHIJKLMNOPQRSTUVWXYZ012345";

    fn b64(key: &[u8]) -> String {
        STANDARD.encode(key)
    }

    /// `|1|salt|hash` for `name`, as `ssh-keygen -H` writes it.
    fn hashed(name: &str, salt: &[u8]) -> String {
        let mut mac = Hmac::<Sha1>::new_from_slice(salt).unwrap();
        mac.update(name.as_bytes());
        format!(
            "|1|{}|{}",
            STANDARD.encode(salt),
            STANDARD.encode(mac.finalize().into_bytes())
        )
    }

    #[test]
    fn plain_and_bracketed() {
        let text = format!(
            "# comment\n\nfiles.example.com,10.0.0.5 ssh-ed25519 {k} c\n[files.example.com]:2222 ssh-ed25519 {k}\n",
            k = b64(KEY)
        );
        assert_eq!(check(&text, "files.example.com", 22, KEY), Verdict::Known);
        assert_eq!(check(&text, "FILES.example.com", 22, KEY), Verdict::Known);
        assert_eq!(check(&text, "10.0.0.5", 22, KEY), Verdict::Known);
        assert_eq!(check(&text, "files.example.com", 2222, KEY), Verdict::Known);
        assert_eq!(
            check(&text, "files.example.com", 2223, KEY),
            Verdict::Unknown
        );
        assert_eq!(check(&text, "other.example.com", 22, KEY), Verdict::Unknown);
        assert_eq!(
            check(&text, "files.example.com", 22, OTHER),
            Verdict::Changed(vec![(3, "ssh-ed25519".into())])
        );
    }

    #[test]
    fn hashed_entries() {
        let text = format!(
            "{} ssh-ed25519 {}\n{} ssh-ed25519 {}\n",
            hashed("[127.0.0.1]:2222", b"0123456789abcdefghij"),
            b64(KEY),
            hashed("files.example.com", b"jihgfedcba9876543210"),
            b64(KEY)
        );
        assert_eq!(check(&text, "127.0.0.1", 2222, KEY), Verdict::Known);
        assert_eq!(check(&text, "files.example.com", 22, KEY), Verdict::Known);
        assert_eq!(check(&text, "127.0.0.1", 22, KEY), Verdict::Unknown);
        assert_eq!(
            check(&text, "127.0.0.1", 2222, OTHER),
            Verdict::Changed(vec![(1, "ssh-ed25519".into())])
        );
        // Garbage after |1| matches nothing and breaks nothing.
        assert_eq!(
            check("|1|x ssh-ed25519 AAAA\n|1|!!|!! x y\n", "h", 22, KEY),
            Verdict::Unknown
        );
    }

    #[test]
    fn wildcards_and_negation() {
        let text = format!("*.example.com,!bad.example.com ssh-ed25519 {}\n", b64(KEY));
        assert_eq!(check(&text, "a.example.com", 22, KEY), Verdict::Known);
        assert_eq!(check(&text, "bad.example.com", 22, KEY), Verdict::Unknown);
        assert_eq!(check(&text, "example.com", 22, KEY), Verdict::Unknown);
        let q = format!("files?.example.com ssh-ed25519 {}\n", b64(KEY));
        assert_eq!(check(&q, "files1.example.com", 22, KEY), Verdict::Known);
        assert_eq!(check(&q, "files12.example.com", 22, KEY), Verdict::Unknown);
        assert!(glob("*", "anything"));
        assert!(glob("a*b*c", "axxbyyc"));
        assert!(!glob("a*b*c", "axxbyy"));
    }

    #[test]
    fn markers() {
        let text = format!(
            "@cert-authority *.example.com ssh-ed25519 {k}\n@revoked * ssh-ed25519 {o}\nh ssh-ed25519 {o}\n",
            k = b64(KEY),
            o = b64(OTHER)
        );
        // A CA line does not make its key a host key.
        assert_eq!(check(&text, "a.example.com", 22, KEY), Verdict::Unknown);
        assert_eq!(check(&text, "h", 22, OTHER), Verdict::Revoked(2));
    }

    #[test]
    fn lookup_names() {
        assert_eq!(lookup_name("Files.Example.com", 22), "files.example.com");
        assert_eq!(lookup_name("::1", 2222), "[::1]:2222");
    }
}
