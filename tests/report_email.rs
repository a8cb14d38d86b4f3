//! The monthly summary e-mail through the binary, delivered to a real SMTP server (aiosmtpd):
//! the figures and chart the sandbox serves, the changes since the previous run, and the
//! branding; and `preview-email`, which writes the same message to files.

use std::collections::BTreeMap;

use keepnet_sandbox::UserChanges;
use mail_parser::{MessageParser, MimeHeaders};
use serde_json::Value;

use crate::smtp::Server;
use crate::util::{plain_smtp_args, Env};

const COMPANY: &str = "Initech";

/// A 1x1 PNG image.
const PNG: [u8; 67] = [
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0D, 0x0A, 0x2D, 0xB4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE,
    0x42, 0x60, 0x82,
];

/// The branding flags, with the logo written into the test's folder.
fn branding(env: &Env) -> Vec<String> {
    let logo = env.path("logo.png");
    std::fs::write(&logo, PNG).unwrap();
    [
        "--mail-sender-name",
        "MSSP Security Reports",
        "--mail-header",
        "MSSP <Security> Reports",
        "--mail-logo",
        logo.to_str().unwrap(),
        "--mail-footer",
        "MSSP Ltd.\nsupport@mssp.example",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn export_args(env: &Env) -> Vec<String> {
    let mut args: Vec<String> = [
        "users",
        "--company",
        COMPANY,
        "--columns",
        "email,firstName,lastName,department,phoneNumber",
        "--sink",
        "csv:users.csv",
        "--state",
        "state",
        "--changes",
        "csv:changes.csv",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(branding(env));
    args
}

/// Every chart row of an HTML body: (month, data-count, bar width in percent).
fn bars(html: &str) -> Vec<(String, u64, u64)> {
    fn attr<'t>(text: &'t str, name: &str) -> Option<&'t str> {
        let start = text.find(&format!("{name}=\""))? + name.len() + 2;
        let end = start + text[start..].find('"')?;
        Some(&text[start..end])
    }
    html.lines()
        .filter(|line| line.starts_with("<tr data-month="))
        .map(|row| {
            let month = attr(row, "data-month").unwrap().to_owned();
            let count = attr(row, "data-count").unwrap().parse().unwrap();
            let width = row.find("class=\"bar\"").map_or(0, |i| {
                let w = attr(&row[i..], "width").unwrap();
                w.strip_suffix('%').unwrap().parse().unwrap()
            });
            (month, count, width)
        })
        .collect()
}

/// The count summary the sandbox serves now, as `count --format json` prints it.
fn served_summary(env: &Env) -> Value {
    let out = env.run(&["count", "--company", COMPANY, "--format", "json"]);
    serde_json::from_str(out.ok()).unwrap()
}

/// The served users by resourceId.
fn by_id(users: Vec<Value>) -> BTreeMap<String, Value> {
    users
        .into_iter()
        .map(|u| (u["resourceId"].as_str().unwrap().to_owned(), u))
        .collect()
}

/// How the message names a user: `First Last <email>`, HTML-escaped.
fn named(user: &Value) -> String {
    let text = format!(
        "{} {} <{}>",
        user["firstName"].as_str().unwrap(),
        user["lastName"].as_str().unwrap(),
        user["email"].as_str().unwrap()
    );
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[test]
fn the_monthly_mail_shows_figures_changes_chart_and_branding() {
    let env = Env::small(40, 10);
    let server = Server::start(&[]);
    let id = env.company_id(COMPANY);
    let mut args = export_args(&env);
    args.extend(["--sink".to_owned(), "email:it@initech.example".to_owned()]);
    args.extend(plain_smtp_args(server.port, "reports@mssp.example"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // The baseline's message says so.
    env.run(&args).ok();
    let first = server.single();
    let first = MessageParser::default().parse(&first.raw).unwrap();
    let html = first.body_html(0).unwrap().replace("\r\n", "\n");
    assert!(html.contains("First report"), "{html}");

    // Between runs: 7 join, 5 leave, 3 change.
    let before = by_id(env.served(&id));
    let done = env
        .sandbox
        .change_users(
            &id,
            UserChanges {
                add: 7,
                remove: 5,
                modify: 3,
            },
        )
        .unwrap();
    let after = by_id(env.served(&id));
    env.run(&args).ok();
    let messages = server.messages();
    assert_eq!(messages.len(), 2);
    let parsed = MessageParser::default().parse(&messages[1].raw).unwrap();
    let html = parsed.body_html(0).unwrap().replace("\r\n", "\n");
    let text = parsed.body_text(0).unwrap().replace("\r\n", "\n");

    // The figures are the ones the sandbox serves now.
    let summary = served_summary(&env);
    for (label, key) in [
        ("Active", "totalNumberOfActiveUsers"),
        ("Inactive", "totalNumberOfInActiveUsers"),
        ("Deleted", "totalNumberOfDeletedUsers"),
    ] {
        let value = summary[key].as_u64().unwrap();
        let cell = format!(
            "<th align=\"left\" style=\"padding-right:16px\">{label}</th><td align=\"right\">{value}</td>"
        );
        assert!(html.contains(&cell), "{cell}:\n{html}");
        let plain = format!("{:<10}{value}", format!("{label}:"));
        assert!(text.contains(&plain), "{plain}:\n{text}");
    }
    let limit = env
        .sandbox
        .dataset()
        .all_companies()
        .into_iter()
        .find(|c| c.resource_id == id)
        .unwrap()
        .license_limit
        .unwrap();
    let active = summary["totalNumberOfActiveUsers"].as_u64().unwrap();
    let licence = format!(
        "{active} of {limit} licences in use ({}%)",
        active * 100 / u64::from(limit)
    );
    assert!(html.contains(&licence), "{licence}:\n{html}");

    // The changes: counts, and everyone who joined and left by name.
    for (label, value) in [("Joined", 7), ("Left", 5), ("Changed", 3)] {
        let cell = format!(
            "<th align=\"left\" style=\"padding-right:16px\">{label}</th><td align=\"right\">{value}</td>"
        );
        assert!(html.contains(&cell), "{cell}:\n{html}");
    }
    for joined in &done.added {
        let name = named(&after[joined]);
        assert!(
            html.contains(&format!("<li>{name}</li>")),
            "{name}:\n{html}"
        );
    }
    for left in &done.removed {
        let name = named(&before[left]);
        assert!(
            html.contains(&format!("<li>{name}</li>")),
            "{name}:\n{html}"
        );
    }
    assert!(html.contains("Full list attached: changes.csv"), "{html}");
    let attached: Vec<&str> = parsed
        .attachments()
        .filter(|a| a.content_id().is_none())
        .filter_map(|a| a.attachment_name())
        .collect();
    assert_eq!(attached, ["users.csv", "changes.csv"]);

    // The chart: one bar per month of the served series, proportional, the largest full.
    let series: Vec<(String, u64)> = summary["monthlyActiveUsers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["period"].as_str().unwrap().to_owned(),
                m["count"].as_u64().unwrap(),
            )
        })
        .collect();
    let rows = bars(&html);
    assert_eq!(rows.len(), series.len(), "{html}");
    let max = series.iter().map(|m| m.1).max().unwrap();
    for ((month, count), (shown, data, width)) in series.iter().zip(&rows) {
        assert_eq!((month, count), (shown, data));
        let exact = *count as f64 * 100.0 / max as f64;
        assert!(
            (*width as f64 - exact).abs() <= 0.5 + f64::EPSILON,
            "{month}: {width}% for {count} of {max}"
        );
    }
    assert!(rows.iter().any(|r| r.2 == 100));

    // Branding: the sender's name, the header and footer, the logo embedded.
    let from = parsed.from().unwrap().first().unwrap();
    assert_eq!(from.name(), Some("MSSP Security Reports"));
    assert_eq!(from.address(), Some("reports@mssp.example"));
    assert!(html.contains("MSSP &lt;Security&gt; Reports"), "{html}");
    assert!(text.starts_with("MSSP <Security> Reports\n"), "{text}");
    assert!(
        html.contains("-- <br>MSSP Ltd.<br>support@mssp.example</p>"),
        "{html}"
    );
    assert!(!html.contains("Sent by keepnet-export"), "{html}");
    let logo = parsed
        .parts
        .iter()
        .find(|p| p.content_id().is_some())
        .expect("the logo is an inline part");
    assert_eq!(logo.contents(), PNG, "the image arrives byte for byte");
    assert!(html.contains("<img src=\"cid:"), "{html}");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "nothing remote: {html}"
    );
}

#[test]
fn preview_email_writes_the_message_a_run_would_send_and_sends_nothing() {
    let env = Env::small(20, 10);
    let mut args = vec![
        "preview-email".to_owned(),
        "--out".to_owned(),
        "preview".to_owned(),
    ];
    args.extend(export_args(&env).into_iter().skip(1));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    env.run(&args).ok();
    let refused = [
        "preview-email",
        "--out",
        "p",
        "--company",
        COMPANY,
        "--dry-run",
    ];
    env.run(&refused).fails_with(2, &["drop --dry-run"]);
    env.run(&["preview-email", "--out", "p", "--company", "all"])
        .fails_with(2, &["give one --company"]);
    let eml = std::fs::read(env.path(&format!("preview/{COMPANY}.eml"))).unwrap();
    let parsed = MessageParser::default().parse(&eml).unwrap();
    let html = std::fs::read_to_string(env.path(&format!("preview/{COMPANY}.html"))).unwrap();
    assert!(html.contains("MSSP &lt;Security&gt; Reports"), "{html}");
    assert!(html.contains("First report"), "{html}");
    assert!(
        html.contains("<img src=\"logo.png\""),
        "the preview's HTML shows the logo from the file beside it: {html}"
    );
    assert_eq!(std::fs::read(env.path("preview/logo.png")).unwrap(), PNG);
    let to = parsed.to().unwrap().first().unwrap();
    assert_eq!(to.address(), Some("it@customer.example"));
    let summary = served_summary(&env);
    let active = summary["totalNumberOfActiveUsers"].as_u64().unwrap();
    assert!(
        html.contains(&format!(
            "<th align=\"left\" style=\"padding-right:16px\">Active</th><td align=\"right\">{active}</td>"
        )),
        "{html}"
    );
    assert!(
        parsed
            .attachments()
            .any(|a| a.attachment_name() == Some("users.csv")),
        "the export's file is attached as it would be"
    );
    // The export itself is published as a run publishes it; the state is not advanced, so
    // the run that sends still reports this month's changes.
    assert!(env.path("users.csv").exists());
    assert!(!env.path("state").exists(), "a preview leaves no state");
    let run = export_args(&env);
    let run: Vec<&str> = run.iter().map(String::as_str).collect();
    env.run(&run).ok();
    let state = env.path(&format!("state/{}.state.json", env.company_id(COMPANY)));
    let baseline = std::fs::read(&state).unwrap();
    let change = UserChanges {
        add: 2,
        remove: 1,
        modify: 0,
    };
    let done = env
        .sandbox
        .change_users(&env.company_id(COMPANY), change)
        .unwrap();
    env.run(&args).ok();
    let html = std::fs::read_to_string(env.path(&format!("preview/{COMPANY}.html"))).unwrap();
    // Joined: the added users the export selects (the sandbox may create a new user deleted).
    let served = by_id(env.served(&env.company_id(COMPANY)));
    let expected = done
        .added
        .iter()
        .filter(|id| served.contains_key(*id))
        .count();
    assert!(expected > 0);
    let joined = format!(
        "<th align=\"left\" style=\"padding-right:16px\">Joined</th><td align=\"right\">{expected}</td>"
    );
    assert!(
        html.contains(&joined),
        "the preview shows the changes: {html}"
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        baseline,
        "and leaves the state as it was"
    );
}
