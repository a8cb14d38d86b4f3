//! The three bodies a webhook posts: the versioned JSON object, a Teams Adaptive Card and a
//! Slack message. None carries personal data: counts, the company and the file names only.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use keepnet_sink::{Artifact, Report};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::{Format, WebhookError};

/// The version of the JSON object ([`Format::Json`]'s `version` field).
pub const PAYLOAD_VERSION: u32 = 1;

/// The JSON object's `event` field.
pub const EVENT: &str = "export.delivered";

/// The longest text a Slack header block takes.
const SLACK_HEADER_MAX: usize = 150;

/// The longest text of a Slack section block (its limit is 3000).
const SLACK_SECTION_MAX: usize = 2900;

/// What the bodies say about one delivered file.
struct FileFacts {
    name: String,
    media_type: String,
    bytes: u64,
    rows: u64,
    sha256: String,
}

/// The body for `format`. Reads the files whose artifact has no SHA-256, in bounded memory.
pub(crate) fn build(
    format: Format,
    tool: &str,
    report: &Report<'_>,
) -> Result<Value, WebhookError> {
    let files = report
        .artifacts
        .iter()
        .map(file_facts)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(match format {
        Format::Json => json_body(tool, report, &files),
        Format::Teams => teams_body(report, &files),
        Format::Slack => slack_body(report, &files),
    })
}

fn file_facts(artifact: &Artifact) -> Result<FileFacts, WebhookError> {
    let sha256 = match &artifact.sha256 {
        Some(sha) => sha.clone(),
        None => sha256_file(&artifact.path)?,
    };
    Ok(FileFacts {
        name: file_name(&artifact.path),
        media_type: artifact.media_type.clone(),
        bytes: artifact.bytes,
        rows: artifact.rows,
        sha256,
    })
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .unwrap_or(path.as_os_str())
        .to_string_lossy()
        .into_owned()
}

/// SHA-256 of a file (lower-case hex), read in 64 KiB blocks.
pub(crate) fn sha256_file(path: &Path) -> Result<String, WebhookError> {
    let io = |source| WebhookError::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(io)?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = match file.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io(e)),
        };
        hasher.update(&buffer[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

fn json_body(tool: &str, report: &Report<'_>, files: &[FileFacts]) -> Value {
    let export = report.export;
    let counts = report.figures.map(|f| {
        json!({
            "active": f.active,
            "inactive": f.inactive,
            "deleted": f.deleted,
            "licenceLimit": f.licence_limit,
        })
    });
    let changes = report.changes.map(|c| {
        json!({
            "baseline": c.baseline,
            "joined": c.joined,
            "left": c.left,
            "changed": c.changed,
        })
    });
    let files: Vec<Value> = files
        .iter()
        .map(|f| {
            json!({
                "name": f.name,
                "mediaType": f.media_type,
                "bytes": f.bytes,
                "rows": f.rows,
                "sha256": f.sha256,
                "encryption": report.encryption,
            })
        })
        .collect();
    json!({
        "version": PAYLOAD_VERSION,
        "tool": tool,
        "event": EVENT,
        "company": { "name": export.company_name, "resourceId": export.company_id },
        "startedAt": export.started_at.to_string(),
        "rows": report.rows,
        "counts": counts,
        "changes": changes,
        "files": files,
        "encryption": report.encryption,
        "deliveries": report.before.iter().map(|d| json!({
            "kind": d.kind,
            "ok": d.ok,
            "line": d.line,
        })).collect::<Vec<_>>(),
        "outcome": outcome(report),
    })
}

/// `delivered` when every delivery before this notice succeeded, else `failed`.
fn outcome(report: &Report<'_>) -> &'static str {
    match report.before.iter().all(|d| d.ok) {
        true => "delivered",
        false => "failed",
    }
}

/// The facts both chat formats show, as label/value pairs of plain text (not yet escaped).
fn facts(report: &Report<'_>, files: &[FileFacts]) -> Vec<(&'static str, String)> {
    let export = report.export;
    let mut facts = vec![
        ("Company", export.company_name.clone()),
        ("Resource ID", export.company_id.clone()),
        ("Started (UTC)", export.started_at.to_string()),
        ("Users exported", report.rows.to_string()),
    ];
    if let Some(f) = report.figures {
        let shown = |n: Option<u64>| n.map_or_else(|| "unknown".to_owned(), |n| n.to_string());
        facts.push((
            "Active / inactive / deleted",
            format!(
                "{} / {} / {}",
                shown(f.active),
                shown(f.inactive),
                shown(f.deleted)
            ),
        ));
        if let Some(limit) = f.licence_limit {
            let over = f
                .over_limit()
                .filter(|&n| n > 0)
                .map_or_else(String::new, |n| format!(" ({n} over)"));
            facts.push(("Licence limit", format!("{limit}{over}")));
        }
    }
    if let Some(c) = report.changes {
        let text = if c.baseline {
            "first run (baseline)".to_owned()
        } else {
            format!(
                "{} joined, {} left, {} changed",
                c.joined, c.left, c.changed
            )
        };
        facts.push(("Changes", text));
    }
    facts.push(("Files", files_line(files)));
    if !report.before.is_empty() {
        let each: Vec<String> = report
            .before
            .iter()
            .map(|d| format!("{} {}", d.kind, if d.ok { "ok" } else { "FAILED" }))
            .collect();
        facts.push(("Deliveries", each.join(", ")));
    }
    if let Some(encryption) = report.encryption {
        facts.push(("Encryption", encryption.to_owned()));
    }
    facts
}

fn files_line(files: &[FileFacts]) -> String {
    if files.is_empty() {
        return "none".to_owned();
    }
    files
        .iter()
        .map(|f| format!("{} ({})", f.name, keepnet_sink::human_size(f.bytes)))
        .collect::<Vec<_>>()
        .join(", ")
}

fn title(report: &Report<'_>) -> String {
    format!("Keepnet export delivered: {}", report.export.company_name)
}

/// Text safe in an Adaptive Card's markdown: control characters become spaces, and a
/// zero-width space after each markdown or HTML sign (`[ ] ( ) * _ ~ \` # < > ! |`), in `://`
/// and before the dot of `www.` keeps a company name from forming a link, an image, emphasis or an
/// auto-link. It reads the same.
pub fn adaptive_text(text: &str) -> String {
    const ZWSP: char = '\u{200B}';
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    for (i, &c) in chars.iter().enumerate() {
        if c.is_control() {
            out.push(' ');
            continue;
        }
        let www =
            c == '.' && i >= 3 && chars[i - 3..i].iter().all(|w| w.eq_ignore_ascii_case(&'w'));
        if www {
            out.push(ZWSP);
        }
        out.push(c);
        let scheme = c == ':' && chars.get(i + 1) == Some(&'/');
        let sign = matches!(
            c,
            '[' | ']' | '(' | ')' | '*' | '_' | '~' | '`' | '\\' | '#' | '<' | '>' | '!' | '|'
        );
        if scheme || sign {
            out.push(ZWSP);
        }
    }
    out
}

/// Text safe in Slack `mrkdwn`: `&`, `<` and `>` escaped as Slack asks (so no link, mention
/// or `<!channel>` can be formed), control characters become spaces.
pub fn slack_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c if c.is_control() => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// `text` cut to at most `max` characters, with `…` when cut.
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

fn teams_body(report: &Report<'_>, files: &[FileFacts]) -> Value {
    let facts: Vec<Value> = facts(report, files)
        .into_iter()
        .map(|(label, value)| json!({ "title": label, "value": adaptive_text(&value) }))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": null,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {
                        "type": "TextBlock",
                        "text": adaptive_text(&title(report)),
                        "size": "Medium",
                        "weight": "Bolder",
                        "wrap": true,
                    },
                    { "type": "FactSet", "facts": facts },
                ],
            },
        }],
    })
}

fn slack_body(report: &Report<'_>, files: &[FileFacts]) -> Value {
    let mut fields = Vec::new();
    let mut files_text = String::new();
    for (label, value) in facts(report, files) {
        if label == "Files" {
            files_text = cut(
                &format!("*Files*\n{}", slack_text(&value)),
                SLACK_SECTION_MAX,
            );
        } else {
            fields.push(json!({
                "type": "mrkdwn",
                "text": cut(&format!("*{label}*\n{}", slack_text(&value)), 1900),
            }));
        }
    }
    // Slack takes at most 10 fields per section.
    fields.truncate(10);
    let fallback = slack_text(&format!(
        "{}: {} users exported",
        title(report),
        report.rows
    ));
    json!({
        "text": fallback,
        "blocks": [
            {
                "type": "header",
                "text": { "type": "plain_text", "text": cut(&title(report), SLACK_HEADER_MAX), "emoji": false },
            },
            { "type": "section", "fields": fields },
            { "type": "section", "text": { "type": "mrkdwn", "text": files_text } },
        ],
    })
}
