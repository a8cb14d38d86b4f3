//! The message: text and HTML bodies, one attachment per published file.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::SystemTime;

use keepnet_sink::{Artifact, Report, SinkError, Timestamp};
use lettre::message::header::{ContentTransferEncoding, Header, HeaderName, HeaderValue};
use lettre::message::{Body, Mailbox, MultiPart, SinglePart};
use lettre::Message;

use keepnet_sink::{Changes, Figures};

use crate::sections::{self, escape};
use crate::template::Values;
use crate::{EmailDelivery, Preview, LOGO_CONTENT_ID};

/// A file to attach, read into memory.
pub(crate) struct File {
    path: PathBuf,
    name: String,
    media_type: String,
    bytes: Vec<u8>,
    rows: u64,
}

/// Reads the artifacts, refusing before any read (and so before any connection) when their
/// sizes on disk exceed `limit` in total.
pub(crate) fn load_files(artifacts: &[Artifact], limit: u64) -> Result<Vec<File>, SinkError> {
    let mut total = 0u64;
    for artifact in artifacts {
        let meta =
            std::fs::metadata(&artifact.path).map_err(|e| SinkError::io(&artifact.path, e))?;
        total = total.saturating_add(meta.len());
    }
    if total > limit {
        return Err(too_big(total, limit));
    }
    let mut files = Vec::with_capacity(artifacts.len());
    let mut total = 0u64;
    for artifact in artifacts {
        // Bounded: the file at the path could have been replaced since it was measured.
        let bytes = keepnet_sink::read_regular_file(&artifact.path, limit)
            .map_err(|e| SinkError::io(&artifact.path, e))?;
        // The file at the path is sent only if it is still the one published.
        artifact.verify_bytes(&bytes)?;
        total = total.saturating_add(bytes.len() as u64);
        let name = artifact
            .path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "export".to_owned());
        files.push(File {
            path: artifact.path.clone(),
            name,
            media_type: artifact.media_type.clone(),
            bytes,
            rows: artifact.rows,
        });
    }
    // A file that grew since it was measured.
    if total > limit {
        return Err(too_big(total, limit));
    }
    Ok(files)
}

fn too_big(total: u64, limit: u64) -> SinkError {
    // The message names no flag: the front end adds how its user raises the limit.
    SinkError::Limit {
        message: format!(
            "the files to e-mail total {}, over the attachment limit of {}; nothing was sent. \
             Make the export smaller with fewer columns or a search filter, raise the limit if \
             the mail server accepts larger messages, or send a link to a file sink's output \
             instead",
            size_text(total),
            size_text(limit)
        ),
        setting: keepnet_sink::Setting::MailAttachmentLimit,
    }
}

/// `812 bytes`, `12.3 KiB (12595 bytes)`.
fn size_text(bytes: u64) -> String {
    if bytes < 1024 {
        human_size(bytes)
    } else {
        format!("{} ({bytes} bytes)", human_size(bytes))
    }
}

pub(crate) use keepnet_sink::human_size;

/// The formatted message (headers and body, CRLF line endings, ASCII only) and its HTML part.
/// Both [`EmailDelivery::preview`] and the delivery build the message here.
pub(crate) fn build(
    delivery: &EmailDelivery,
    report: &Report<'_>,
    files: &[File],
) -> Result<Preview, SinkError> {
    let export = report.export;
    let started = export.started_at;
    let date = format!(
        "{:04}-{:02}-{:02}",
        started.year, started.month, started.day
    );
    let subject = delivery.subject.render(&Values {
        company: &export.company_name,
        company_id: &export.company_id,
        date: &date,
        rows: report.rows,
    });
    let mail = &delivery.mail;
    let facts = Facts {
        company: &export.company_name,
        company_id: &export.company_id,
        rows: report.rows,
        summary: report.summary,
        figures: report.figures,
        changes: report.changes,
        started_at: utc(started),
        sender: show_mailbox(&delivery.from),
        files,
        encryption: report.encryption,
        header: mail
            .header
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty()),
        footer: mail
            .footer
            .as_deref()
            .map(str::trim)
            .filter(|f| !f.is_empty()),
        logo: delivery.logo.is_some(),
    };

    let mut builder = Message::builder()
        .from(delivery.from.clone())
        .subject(subject)
        .date(SystemTime::now())
        .message_id(Some(message_id(&delivery.from)));
    for mailbox in &delivery.to {
        builder = builder.to(mailbox.clone());
    }
    for mailbox in &delivery.cc {
        builder = builder.cc(mailbox.clone());
    }
    // Bcc recipients go into the SMTP envelope only: no Bcc header is ever written.

    let html = facts.html();
    let plain = SinglePart::plain(facts.plain());
    let bodies = match &delivery.logo {
        // The logo travels inside the message: the HTML and the image it shows by Content-ID
        // form one multipart/related, so no mail program has to load anything remote.
        Some(logo) => MultiPart::alternative().singlepart(plain).multipart(
            MultiPart::related()
                .singlepart(SinglePart::html(html.clone()))
                .singlepart(logo.part()),
        ),
        None => MultiPart::alternative()
            .singlepart(plain)
            .singlepart(SinglePart::html(html.clone())),
    };
    let mut mixed = MultiPart::mixed().multipart(bodies);
    for file in files {
        mixed = mixed.singlepart(attachment(file)?);
    }
    let message = builder
        .multipart(mixed)
        .map_err(|e| SinkError::other(format!("cannot build the e-mail: {e}")))?;
    Ok(Preview {
        eml: message.formatted(),
        html,
        logo: delivery.logo.as_ref().map(|l| l.file()),
    })
}

/// `2024-03-05 10:15:30 UTC`.
fn utc(t: Timestamp) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        t.year, t.month, t.day, t.hour, t.minute, t.second
    )
}

fn show_mailbox(mailbox: &Mailbox) -> String {
    match mailbox.name.as_deref().map(str::trim) {
        Some(name) if !name.is_empty() => format!("{name} <{}>", mailbox.email),
        _ => mailbox.email.to_string(),
    }
}

/// `<time.random@sender-domain>`: unique, and names no internal host.
fn message_id(from: &Mailbox) -> String {
    use std::hash::{BuildHasher, Hasher};
    let domain = from.email.domain();
    let domain = if domain.is_ascii() && !domain.is_empty() {
        domain
    } else {
        "keepnet-export.invalid"
    };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let mut random = String::new();
    for round in 0..2u32 {
        // RandomState is seeded randomly per process and per instance.
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(now.as_nanos());
        h.write_u32(std::process::id());
        h.write_u32(round);
        let _ = write!(random, "{:016x}", h.finish());
    }
    format!("<{}.{random}.keepnet@{domain}>", now.as_millis())
}

/// What both bodies say.
struct Facts<'a> {
    company: &'a str,
    company_id: &'a str,
    rows: u64,
    summary: &'a [(String, String)],
    figures: Option<&'a Figures>,
    changes: Option<&'a Changes>,
    started_at: String,
    sender: String,
    files: &'a [File],
    /// How the attachments are encrypted (`zip-aes`, `age`), if they are.
    encryption: Option<&'a str>,
    /// The branding header line.
    header: Option<&'a str>,
    /// The branding footer, replacing [`DEFAULT_FOOTER`].
    footer: Option<&'a str>,
    /// Whether the logo is embedded (as `cid:` [`LOGO_CONTENT_ID`]).
    logo: bool,
}

/// The footer when no other is set.
const DEFAULT_FOOTER: &str = "Sent by keepnet-export";

/// What the message says of encrypted attachments: how to open them, and that the password
/// is not in it.
fn encrypted_note(method: &str) -> String {
    match method {
        "zip-aes" => {
            "The attached files are encrypted ZIP archives (AES-256): open them with 7-Zip, \
             WinZip or your system's archive tool. The password is not in this e-mail: it reaches \
             you another way."
                .to_owned()
        }
        "age" => "The attached files are encrypted with age to your key: decrypt them with \
             `age -d -i YOUR_KEY_FILE`."
            .to_owned(),
        other => format!("The attached files are encrypted ({other})."),
    }
}

const PERSONAL_DATA: &str = "The attached files contain personal data (names, e-mail addresses, phone numbers): \
     store and share them only as your data protection obligations allow, and delete them when no longer needed.";

fn rows(n: u64) -> String {
    format!("{n} row{}", if n == 1 { "" } else { "s" })
}

impl Facts<'_> {
    /// The footer's lines.
    fn footer_lines(&self) -> Vec<&str> {
        match self.footer {
            Some(footer) => footer.lines().map(str::trim_end).collect(),
            None => vec![DEFAULT_FOOTER],
        }
    }

    fn plain(&self) -> String {
        let mut t = String::new();
        if let Some(header) = self.header {
            for line in header.lines() {
                let _ = writeln!(t, "{}", line.trim_end());
            }
            let _ = writeln!(t);
        }
        let _ = writeln!(t, "Hello,");
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "attached is the export of the target users of {} (company id {}).",
            self.company, self.company_id
        );
        let _ = writeln!(t);
        let _ = writeln!(
            t,
            "Company:        {} (id {})",
            self.company, self.company_id
        );
        let _ = writeln!(t, "Users exported: {}", self.rows);
        let _ = writeln!(t, "Exported at:    {}", self.started_at);
        let _ = writeln!(t, "Sent by:        {}", self.sender);
        let _ = writeln!(t);
        if self.summary.is_empty() {
            let _ = writeln!(t, "Count summary: not available");
        } else {
            let _ = writeln!(t, "Count summary:");
            for (label, value) in self.summary {
                let _ = writeln!(t, "  {label}: {value}");
            }
        }
        let _ = writeln!(t);
        t.push_str(&sections::plain(self.figures, self.changes));
        if self.files.is_empty() {
            let _ = writeln!(t, "Attached files: none");
        } else {
            let _ = writeln!(t, "Attached files:");
            for f in self.files {
                let _ = writeln!(
                    t,
                    "  - {}: {}, {}",
                    f.name,
                    rows(f.rows),
                    size_text(f.bytes.len() as u64)
                );
            }
        }
        let _ = writeln!(t);
        if let Some(method) = self.encryption {
            let _ = writeln!(t, "{}", encrypted_note(method));
            let _ = writeln!(t);
        }
        let _ = writeln!(t, "{PERSONAL_DATA}");
        let _ = writeln!(t);
        let _ = writeln!(t, "-- ");
        for line in self.footer_lines() {
            let _ = writeln!(t, "{line}");
        }
        t
    }

    fn html(&self) -> String {
        let e = escape;
        let mut h = String::new();
        h.push_str("<!DOCTYPE html>\n<html>\n<head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"></head>\n");
        // One centred column of at most 640 pixels, in tables and attributes that every mail
        // program keeps.
        h.push_str("<body bgcolor=\"#ffffff\" style=\"margin:0;padding:0\">\n");
        h.push_str("<table role=\"presentation\" width=\"100%\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr><td align=\"center\">\n");
        h.push_str("<table role=\"presentation\" width=\"640\" cellpadding=\"16\" cellspacing=\"0\" border=\"0\"><tr><td align=\"left\" style=\"font-family:Arial,Helvetica,sans-serif;font-size:14px;line-height:1.4;color:#1f2328\">\n");
        if self.logo || self.header.is_some() {
            h.push_str("<table role=\"presentation\" class=\"brand\" cellpadding=\"0\" cellspacing=\"0\" border=\"0\"><tr>");
            if self.logo {
                let alt = self.header.unwrap_or("Logo");
                let _ = write!(
                    h,
                    "<td valign=\"middle\" style=\"padding-right:12px\"><img src=\"cid:{LOGO_CONTENT_ID}\" alt=\"{}\" height=\"48\" border=\"0\" style=\"display:block;border:0\"></td>",
                    e(alt)
                );
            }
            if let Some(header) = self.header {
                let lines: Vec<String> = header.lines().map(|l| e(l.trim_end())).collect();
                let _ = write!(
                    h,
                    "<td valign=\"middle\" class=\"header\" style=\"font-size:20px;font-weight:bold\">{}</td>",
                    lines.join("<br>")
                );
            }
            h.push_str("</tr></table>\n");
        }
        let _ = writeln!(h, "<p>Hello,</p>");
        let _ = writeln!(
            h,
            "<p>attached is the export of the target users of <strong>{}</strong> (company id {}).</p>",
            e(self.company),
            e(self.company_id)
        );
        h.push_str("<table>\n");
        for (label, value) in [
            (
                "Company",
                format!("{} (id {})", e(self.company), e(self.company_id)),
            ),
            ("Users exported", self.rows.to_string()),
            ("Exported at", e(&self.started_at)),
            ("Sent by", e(&self.sender)),
        ] {
            let _ = writeln!(
                h,
                "<tr><th align=\"left\">{label}</th><td>{value}</td></tr>"
            );
        }
        h.push_str("</table>\n");
        if self.summary.is_empty() {
            h.push_str("<p>Count summary: not available</p>\n");
        } else {
            h.push_str("<p>Count summary:</p>\n<ul>\n");
            for (label, value) in self.summary {
                let _ = writeln!(h, "<li>{}: {}</li>", e(label), e(value));
            }
            h.push_str("</ul>\n");
        }
        h.push_str(&sections::html(self.figures, self.changes));
        if self.files.is_empty() {
            h.push_str("<p>Attached files: none</p>\n");
        } else {
            h.push_str("<p>Attached files:</p>\n<ul>\n");
            for f in self.files {
                let _ = writeln!(
                    h,
                    "<li>{}: {}, {}</li>",
                    e(&f.name),
                    rows(f.rows),
                    size_text(f.bytes.len() as u64)
                );
            }
            h.push_str("</ul>\n");
        }
        if let Some(method) = self.encryption {
            let _ = writeln!(h, "<p>{}</p>", e(&encrypted_note(method)));
        }
        let _ = writeln!(h, "<p><strong>{}</strong></p>", e(PERSONAL_DATA));
        let footer: Vec<String> = self.footer_lines().into_iter().map(e).collect();
        let _ = writeln!(
            h,
            "<p class=\"footer\" style=\"color:#59636e;font-size:12px\">-- <br>{}</p>",
            footer.join("<br>")
        );
        h.push_str("</td></tr></table>\n</td></tr></table>\n</body>\n</html>\n");
        h
    }
}

/// One attachment: the file's bytes in base64 (so they arrive exactly as on disk, line
/// endings included), its media type and its name.
fn attachment(file: &File) -> Result<SinglePart, SinkError> {
    let body = Body::new_with_encoding(file.bytes.clone(), ContentTransferEncoding::Base64)
        .map_err(|_| {
            SinkError::other(format!(
                "cannot encode {} as an attachment",
                file.path.display()
            ))
        })?;
    Ok(SinglePart::builder()
        .header(AttachmentType::new(&file.media_type, &file.name))
        .header(AttachmentDisposition::new(&file.name))
        .body(body))
}

/// Longest header line we write, without CRLF (RFC 5322 recommends 78).
const LINE: usize = 76;

/// Whether `name` can go into a quoted parameter as it is.
fn plain_name(name: &str) -> bool {
    name.len() <= 200 && name.bytes().all(|b| (b' '..=b'~').contains(&b)) && !name.contains("=?")
}

fn quote(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// `Content-Type: <media type>; name="..."`. The name is for mail programs that ignore the
/// RFC 2231 file name of `Content-Disposition` (older Outlook); a non-ASCII one is written as
/// RFC 2047 encoded words, the de-facto form those programs read.
#[derive(Clone)]
struct AttachmentType(HeaderValue);

impl AttachmentType {
    fn new(media_type: &str, name: &str) -> Self {
        let media_type = media_type.trim();
        let usable = !media_type.is_empty()
            && media_type.bytes().all(|b| (b' '..=b'~').contains(&b))
            && lettre::message::header::ContentType::parse(media_type).is_ok()
            && !media_type.to_ascii_lowercase().contains("name=");
        let media_type = if usable {
            media_type
        } else {
            "application/octet-stream"
        };
        let mut encoded = format!("{media_type};");
        if plain_name(name) {
            let _ = write!(encoded, "\r\n name={}", quote(name));
        } else {
            encoded.push_str("\r\n name=\"");
            let words = encoded_words(name);
            encoded.push_str(&words.join("\r\n "));
            encoded.push('"');
        }
        Self(HeaderValue::dangerous_new_pre_encoded(
            Self::name(),
            format!("{media_type}; name={}", quote(name)),
            encoded,
        ))
    }
}

impl Header for AttachmentType {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Type")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Err("attachment Content-Type headers are only written".into())
    }

    fn display(&self) -> HeaderValue {
        self.0.clone()
    }
}

/// `Content-Disposition: attachment; filename...`: the standard place of the file name. A
/// non-ASCII name is RFC 2231 encoded: `filename*=utf-8''M%C3%BC...` when it fits one line,
/// else split into `filename*0*=utf-8''...; filename*1*=...` continuations (never inside a
/// character).
#[derive(Clone)]
struct AttachmentDisposition(HeaderValue);

impl AttachmentDisposition {
    fn new(name: &str) -> Self {
        let mut encoded = String::from("attachment;\r\n ");
        if plain_name(name) {
            let _ = write!(encoded, "filename={}", quote(name));
        } else {
            let pieces: Vec<String> = name.chars().map(percent_encode).collect();
            let single = format!("filename*=utf-8''{}", pieces.concat());
            if single.len() < LINE {
                encoded.push_str(&single);
            } else {
                let mut sections: Vec<String> = Vec::new();
                let mut current = String::new();
                for piece in &pieces {
                    let head = format!("filename*{}*=", sections.len());
                    let charset = if sections.is_empty() { "utf-8''" } else { "" };
                    // 1 for the leading space, 1 for the ';' ending all but the last line.
                    if !current.is_empty()
                        && 1 + head.len() + charset.len() + current.len() + piece.len() + 1 > LINE
                    {
                        sections.push(format!("{head}{charset}{current}"));
                        current.clear();
                    }
                    current.push_str(piece);
                }
                let head = format!("filename*{}*=", sections.len());
                let charset = if sections.is_empty() { "utf-8''" } else { "" };
                sections.push(format!("{head}{charset}{current}"));
                encoded.push_str(&sections.join(";\r\n "));
            }
        }
        Self(HeaderValue::dangerous_new_pre_encoded(
            Self::name(),
            format!("attachment; filename={}", quote(name)),
            encoded,
        ))
    }
}

impl Header for AttachmentDisposition {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("Content-Disposition")
    }

    fn parse(_: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Err("attachment Content-Disposition headers are only written".into())
    }

    fn display(&self) -> HeaderValue {
        self.0.clone()
    }
}

/// One character as RFC 2231 `attribute-char`s or `%XX` escapes of its UTF-8 bytes.
fn percent_encode(c: char) -> String {
    if c.is_ascii_alphanumeric() || "!#$&+-.^_`|~".contains(c) {
        return c.to_string();
    }
    let mut buf = [0u8; 4];
    c.encode_utf8(&mut buf)
        .bytes()
        .map(|b| format!("%{b:02X}"))
        .collect()
}

/// `name` as RFC 2047 `=?utf-8?B?...?=` words (at most 68 characters, so that a line holding
/// ` name="` and a word stays within 78), each holding whole characters (so each decodes on
/// its own).
fn encoded_words(name: &str) -> Vec<String> {
    const MAX_WORD: usize = 68;
    const WRAP: usize = "=?utf-8?B?".len() + "?=".len();
    let mut words = Vec::new();
    let mut chunk = String::new();
    for c in name.chars() {
        let grown = chunk.len() + c.len_utf8();
        if !chunk.is_empty() && WRAP + grown.div_ceil(3) * 4 > MAX_WORD {
            words.push(format!("=?utf-8?B?{}?=", base64(chunk.as_bytes())));
            chunk.clear();
        }
        chunk.push(c);
    }
    if !chunk.is_empty() || words.is_empty() {
        words.push(format!("=?utf-8?B?{}?=", base64(chunk.as_bytes())));
    }
    words
}

/// Standard base64 with padding (RFC 4648), through the `base64` crate the API client uses.
pub(crate) fn base64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (input, expected) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), expected);
        }
    }

    #[test]
    fn sizes() {
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(812), "812 bytes");
        assert_eq!(human_size(12_595), "12.3 KiB");
        assert_eq!(human_size(20 * 1024 * 1024), "20.0 MiB");
        assert_eq!(size_text(812), "812 bytes");
        assert_eq!(size_text(12_595), "12.3 KiB (12595 bytes)");
    }

    fn value(h: &impl Header) -> String {
        let mut headers = lettre::message::header::Headers::new();
        headers.insert_raw(h.display());
        headers.to_string()
    }

    #[test]
    fn non_ascii_file_name_is_rfc_2231_and_2047_encoded() {
        let name = "Müşteri A.Ş. users.csv";
        assert_eq!(
            value(&AttachmentDisposition::new(name)),
            "Content-Disposition: attachment;\r\n filename*=utf-8''M%C3%BC%C5%9Fteri%20A.%C5%9E.%20users.csv\r\n"
        );
        let ct = value(&AttachmentType::new("text/csv", name));
        assert!(
            ct.starts_with("Content-Type: text/csv;\r\n name=\"=?utf-8?B?"),
            "{ct}"
        );
        assert!(ct.contains(&base64(name.as_bytes())), "{ct}");
    }

    #[test]
    fn long_names_fold_without_splitting_characters() {
        let name = "Çok uzun bir dosya adı olan Müşteri Anonim Şirketi hedef kullanıcıları 2024-03-05 ğüşiöç.xlsx";
        let cd = value(&AttachmentDisposition::new(name));
        let ct = value(&AttachmentType::new(
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            name,
        ));
        // The media type line of the Content-Type cannot be folded.
        for text in [&cd[..], ct.split_once("\r\n").unwrap().1] {
            for line in text.split("\r\n") {
                assert!(line.len() <= 78, "{line:?} in {text}");
            }
        }
        assert!(cd.contains(" filename*0*=utf-8''%C3%87ok"), "{cd}");
        assert!(cd.contains(" filename*1*="), "{cd}");
        // Every section ends on a whole character: no escape sequence is cut.
        for section in cd.split("\r\n").skip(1).filter(|s| !s.is_empty()) {
            let value = section.trim_end_matches(';');
            let value = value
                .split_once('=')
                .unwrap()
                .1
                .trim_start_matches("utf-8''");
            let mut bytes = Vec::new();
            let mut it = value.bytes();
            while let Some(b) = it.next() {
                if b == b'%' {
                    let hex = [it.next().unwrap(), it.next().unwrap()];
                    bytes.push(u8::from_str_radix(std::str::from_utf8(&hex).unwrap(), 16).unwrap());
                } else {
                    bytes.push(b);
                }
            }
            assert!(String::from_utf8(bytes).is_ok(), "{section}");
        }
        assert!(ct.matches("=?utf-8?B?").count() > 1, "{ct}");
    }

    #[test]
    fn ascii_names_are_quoted_and_media_types_checked() {
        assert_eq!(
            value(&AttachmentDisposition::new("a \"b\" \\c.csv")),
            "Content-Disposition: attachment;\r\n filename=\"a \\\"b\\\" \\\\c.csv\"\r\n"
        );
        assert_eq!(
            value(&AttachmentType::new("text/csv\r\nX-Evil: 1", "a.csv")),
            "Content-Type: application/octet-stream;\r\n name=\"a.csv\"\r\n"
        );
        // Control characters in a name are encoded, never written raw.
        let cd = value(&AttachmentDisposition::new("a\r\nb.csv"));
        assert!(cd.contains("filename*=utf-8''a%0D%0Ab.csv"), "{cd}");
    }

    #[test]
    fn escapes_html() {
        assert_eq!(
            escape("<a href=\"x\">&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;"
        );
    }
}
