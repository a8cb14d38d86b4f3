//! The `s3://BUCKET/PREFIX/` target and the object keys made from it.

use std::fmt;

/// Where the files go: a bucket and a key prefix, parsed from `s3://BUCKET/PREFIX/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    /// The bucket name (3 to 63 characters: lower-case letters, digits, `.` and `-`).
    pub bucket: String,
    /// The key prefix: empty (the bucket root) or ending in `/`.
    pub prefix: String,
}

/// The longest object key S3 accepts, in bytes.
pub const MAX_KEY_BYTES: usize = 1024;

impl S3Target {
    /// Parses `s3://BUCKET`, `s3://BUCKET/` or `s3://BUCKET/PREFIX[/]`. A prefix not ending in
    /// `/` gets one; an empty prefix means the bucket root. Refused: another scheme, a query or
    /// fragment, an invalid bucket name, empty, `.` or `..` path segments, control characters
    /// and backslashes.
    pub fn parse(target: &str) -> Result<Self, String> {
        let rest = target
            .get(..5)
            .filter(|scheme| scheme.eq_ignore_ascii_case("s3://"))
            .map(|_| &target[5..])
            .ok_or_else(|| {
                format!("s3 target {target:?} must start with s3:// (s3://BUCKET/PREFIX/)")
            })?;
        if rest.contains(['?', '#']) {
            return Err(format!(
                "s3 target {target:?} has a query or fragment: give s3://BUCKET/PREFIX/ only"
            ));
        }
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        check_bucket(bucket).map_err(|why| format!("s3 target {target:?}: {why}"))?;
        let mut prefix = prefix.to_owned();
        if !prefix.is_empty() {
            if !prefix.ends_with('/') {
                prefix.push('/');
            }
            check_key_part(&prefix[..prefix.len() - 1])
                .map_err(|why| format!("s3 target {target:?}: the prefix {why}"))?;
        }
        Ok(S3Target {
            bucket: bucket.to_owned(),
            prefix,
        })
    }

    /// The key of the object for a file named `file_name`: the prefix followed by the name.
    pub fn key(&self, file_name: &str) -> Result<String, String> {
        if file_name.contains('/') {
            return Err(format!("file name {file_name:?} contains '/'"));
        }
        check_key_part(file_name).map_err(|why| format!("file name {file_name:?}: {why}"))?;
        let key = format!("{}{file_name}", self.prefix);
        if key.len() > MAX_KEY_BYTES {
            return Err(format!(
                "object key {key:?} is {} bytes long, S3 allows {MAX_KEY_BYTES}",
                key.len()
            ));
        }
        Ok(key)
    }

    /// `s3://bucket/key`, for messages.
    pub fn url_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }
}

impl fmt::Display for S3Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// Checks an S3 bucket name against the general-purpose bucket naming rules.
pub(crate) fn check_bucket(bucket: &str) -> Result<(), String> {
    if bucket.is_empty() {
        return Err("the bucket name is empty (s3://BUCKET/PREFIX/)".into());
    }
    if !(3..=63).contains(&bucket.len()) {
        return Err(format!(
            "bucket name {bucket:?} must be 3 to 63 characters long"
        ));
    }
    if !bucket
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-')
    {
        return Err(format!(
            "bucket name {bucket:?} may hold only lower-case letters, digits, '.' and '-'"
        ));
    }
    let edge = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !edge(bucket.as_bytes()[0]) || !edge(bucket.as_bytes()[bucket.len() - 1]) {
        return Err(format!(
            "bucket name {bucket:?} must begin and end with a letter or digit"
        ));
    }
    if bucket.contains("..") {
        return Err(format!("bucket name {bucket:?} has two adjacent dots"));
    }
    Ok(())
}

/// Checks a key prefix (without its last `/`) or a file name: no empty, `.` or `..` segment, no
/// control character or backslash.
fn check_key_part(part: &str) -> Result<(), String> {
    if part.chars().any(|c| c.is_control() || c == '\\') {
        return Err("holds a control character or a backslash".into());
    }
    for segment in part.split('/') {
        match segment {
            "" => return Err("has an empty path segment ('//' or a leading '/')".into()),
            "." | ".." => return Err(format!("has a {segment:?} path segment")),
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::S3Target;

    fn parse(s: &str) -> (String, String) {
        let t = S3Target::parse(s).unwrap();
        (t.bucket, t.prefix)
    }

    #[test]
    fn bucket_and_prefix() {
        assert_eq!(parse("s3://bucket"), ("bucket".into(), "".into()));
        assert_eq!(parse("s3://bucket/"), ("bucket".into(), "".into()));
        assert_eq!(parse("s3://bucket/a/b/"), ("bucket".into(), "a/b/".into()));
        assert_eq!(parse("s3://bucket/a/b"), ("bucket".into(), "a/b/".into()));
        assert_eq!(
            parse("S3://my.bucket-1/x"),
            ("my.bucket-1".into(), "x/".into())
        );
        assert_eq!(
            parse("s3://b12/Acme Ltd/2026-01-02"),
            ("b12".into(), "Acme Ltd/2026-01-02/".into())
        );
    }

    #[test]
    fn bad_targets() {
        for (bad, why) in [
            ("bucket/a", "must start with s3://"),
            ("https://bucket/a", "must start with s3://"),
            ("s3://", "bucket name is empty"),
            ("s3:///a", "bucket name is empty"),
            ("s3://ab", "3 to 63"),
            ("s3://Bucket", "lower-case"),
            ("s3://under_score", "lower-case"),
            ("s3://-bucket", "begin and end"),
            ("s3://a..b", "adjacent dots"),
            ("s3://bucket//a", "empty path segment"),
            ("s3://bucket/a//b/", "empty path segment"),
            ("s3://bucket/a/../b", "\"..\" path segment"),
            ("s3://bucket/./b", "\".\" path segment"),
            ("s3://bucket/a?x=1", "query or fragment"),
            ("s3://bucket/a#x", "query or fragment"),
            ("s3://bucket/a\\b", "backslash"),
            ("s3://bucket/a\nb", "control character"),
        ] {
            let err = S3Target::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad:?}: {err}");
        }
        let long = format!("s3://{}", "a".repeat(64));
        assert!(S3Target::parse(&long).unwrap_err().contains("3 to 63"));
    }

    #[test]
    fn keys() {
        let root = S3Target::parse("s3://bucket").unwrap();
        assert_eq!(root.key("Acme.csv").unwrap(), "Acme.csv");
        assert_eq!(root.url_of("Acme.csv"), "s3://bucket/Acme.csv");
        let deep = S3Target::parse("s3://bucket/exports/acme").unwrap();
        assert_eq!(deep.key("Acme.xlsx").unwrap(), "exports/acme/Acme.xlsx");
        assert_eq!(deep.to_string(), "s3://bucket/exports/acme/");
        assert!(deep.key("..").is_err());
        assert!(deep.key("a/b").is_err());
        assert!(deep.key(&"x".repeat(1020)).unwrap_err().contains("1024"));
    }
}
