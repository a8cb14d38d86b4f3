//! `WebhookDelivery` against a real local HTTP receiver: bodies (JSON, Teams, Slack), no
//! personal data, retries, redirects, timeouts, the URL and header rules.

use keepnet_test_support::webhook as receiver;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use keepnet_sink::{
    Artifact, Changes, Delivery, ExportInfo, Figures, Report, SinkError, Timestamp,
};
use keepnet_sink_webhook::{
    adaptive_text, slack_text, AuthHeader, Format, RetryPolicy, WebhookDelivery, WebhookSettings,
    TOOL,
};
use keepnet_test_support::sha256_hex as sha256;
use secrecy::SecretString;
use serde_json::{json, Value};

use receiver::{Answer, Receiver};

const CSV: &str = "text/csv";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const JOINED: &str = "Ada Lovelace <ada@acme.example>";
const LEFT: &str = "Alan Turing <alan@acme.example>";

/// Published files and what a report says about them.
struct Export {
    _dir: tempfile::TempDir,
    info: ExportInfo,
    artifacts: Vec<Artifact>,
    figures: Figures,
    changes: Changes,
}

impl Export {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let files: [(&str, &str, Vec<u8>, u64, bool); 2] = [
            (
                "Acme.csv",
                CSV,
                b"email\nada@acme.example\n".to_vec(),
                1,
                false,
            ),
            ("Acme.xlsx", XLSX, vec![7u8; 70_000], 1, true),
        ];
        let artifacts = files
            .iter()
            .map(|(name, media_type, bytes, rows, with_sha)| {
                let path = dir.path().join(name);
                std::fs::write(&path, bytes).unwrap();
                Artifact {
                    path,
                    media_type: (*media_type).to_owned(),
                    bytes: bytes.len() as u64,
                    rows: *rows,
                    sha256: with_sha.then(|| sha256(bytes)),
                }
            })
            .collect();
        Self {
            _dir: dir,
            info: ExportInfo {
                company_name: "Acme [Corp](https://evil.example) <b>&".to_owned(),
                company_id: "c0ffee".to_owned(),
                started_at: Timestamp::from_unix(1_772_705_730, 123),
                expected_rows: Some(1),
            },
            artifacts,
            figures: Figures {
                active: Some(40),
                inactive: Some(2),
                deleted: None,
                licence_limit: Some(35),
                monthly: vec![("2026-01".to_owned(), 4)],
            },
            changes: Changes {
                baseline: false,
                joined: 1,
                left: 1,
                changed: 3,
                joined_names: vec![JOINED.to_owned()],
                left_names: vec![LEFT.to_owned()],
                list: None,
            },
        }
    }

    fn report(&self) -> Report<'_> {
        Report {
            export: &self.info,
            rows: 1,
            artifacts: &self.artifacts,
            published: &self.artifacts,
            encryption: None,
            summary: &[],
            figures: Some(&self.figures),
            changes: Some(&self.changes),
            before: &[],
        }
    }
}

fn quick() -> RetryPolicy {
    RetryPolicy {
        max_retries: 3,
        initial_backoff: Duration::from_millis(10),
        max_backoff: Duration::from_secs(2),
        max_elapsed: Duration::from_secs(10),
    }
}

fn settings(url: &str, format: Format) -> WebhookSettings {
    WebhookSettings {
        format,
        timeout: Duration::from_secs(5),
        retry: quick(),
        ..WebhookSettings::new(url)
    }
}

fn deliver(settings: WebhookSettings, export: &Export) -> Result<String, SinkError> {
    WebhookDelivery::new(settings)
        .unwrap()
        .deliver(&export.report())
}

/// Posts one body in `format` and returns what the receiver got.
fn posted(format: Format) -> (Value, receiver::Request, String) {
    let server = Receiver::start(vec![Answer::ok()]);
    let export = Export::new();
    let line = deliver(settings(&server.url("/hook/secret-token"), format), &export).unwrap();
    let requests = server.requests();
    assert_eq!(requests.len(), 1);
    let request = requests[0].clone();
    (request.json(), request, line)
}

#[test]
fn json_body_fields_and_values() {
    let (body, request, line) = posted(Format::Json);
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/hook/secret-token");
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        line,
        format!(
            "posted the summary to http://127.0.0.1:{}/… (JSON), 200 OK",
            url_port(&request)
        )
    );
    let export = Export::new();
    let csv = std::fs::read(&export.artifacts[0].path).unwrap();
    let xlsx = std::fs::read(&export.artifacts[1].path).unwrap();
    let expected = json!({
        "version": 1,
        "tool": TOOL,
        "event": "export.delivered",
        "company": {"name": "Acme [Corp](https://evil.example) <b>&", "resourceId": "c0ffee"},
        "startedAt": "2026-03-05T10:15:30.123Z",
        "rows": 1,
        "counts": {"active": 40, "inactive": 2, "deleted": null, "licenceLimit": 35},
        "changes": {"baseline": false, "joined": 1, "left": 1, "changed": 3},
        "files": [
            {"name": "Acme.csv", "mediaType": CSV, "bytes": csv.len(), "rows": 1,
             "sha256": sha256(&csv), "encryption": null},
            {"name": "Acme.xlsx", "mediaType": XLSX, "bytes": xlsx.len(), "rows": 1,
             "sha256": sha256(&xlsx), "encryption": null},
        ],
        "encryption": null,
        "deliveries": [],
        "outcome": "delivered",
    });
    assert_eq!(body, expected);
    assert_eq!(TOOL, concat!("keepnet-export ", env!("CARGO_PKG_VERSION")));
}

fn url_port(request: &receiver::Request) -> String {
    request
        .header("host")
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn json_body_without_figures_changes_and_with_encryption() {
    let server = Receiver::start(vec![]);
    let export = Export::new();
    let mut report = export.report();
    report.figures = None;
    report.changes = None;
    report.encryption = Some("age");
    WebhookDelivery::new(settings(&server.url("/"), Format::Json))
        .unwrap()
        .deliver(&report)
        .unwrap();
    let body = server.requests()[0].json();
    assert_eq!(body["counts"], Value::Null);
    assert_eq!(body["changes"], Value::Null);
    assert_eq!(body["encryption"], "age");
    for file in body["files"].as_array().unwrap() {
        assert_eq!(file["encryption"], "age");
    }
}

#[test]
fn teams_card_shape() {
    let (body, _, line) = posted(Format::Teams);
    assert!(line.contains("(Teams), 200 OK"), "{line}");
    assert_eq!(body["type"], "message");
    let attachments = body["attachments"].as_array().unwrap();
    assert_eq!(attachments.len(), 1);
    let a = &attachments[0];
    assert_eq!(a["contentType"], "application/vnd.microsoft.card.adaptive");
    assert_eq!(a["contentUrl"], Value::Null);
    let card = &a["content"];
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    let blocks = card["body"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "TextBlock");
    assert_eq!(blocks[0]["wrap"], true);
    let title = blocks[0]["text"].as_str().unwrap();
    assert_eq!(
        title,
        adaptive_text("Keepnet export delivered: Acme [Corp](https://evil.example) <b>&")
    );
    assert!(!title.contains("](") && !title.contains("://"), "{title}");
    assert_eq!(blocks[1]["type"], "FactSet");
    let facts: Vec<(String, String)> = blocks[1]["facts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["title"].as_str().unwrap().to_owned(),
                f["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let fact = |t: &str| {
        facts
            .iter()
            .find(|(title, _)| title == t)
            .map(|(_, v)| v.replace('\u{200B}', ""))
            .unwrap_or_else(|| panic!("no fact {t}: {facts:?}"))
    };
    assert_eq!(fact("Company"), "Acme [Corp](https://evil.example) <b>&");
    assert_eq!(fact("Resource ID"), "c0ffee");
    assert_eq!(fact("Started (UTC)"), "2026-03-05T10:15:30.123Z");
    assert_eq!(fact("Users exported"), "1");
    assert_eq!(fact("Active / inactive / deleted"), "40 / 2 / unknown");
    assert_eq!(fact("Licence limit"), "35 (5 over)");
    assert_eq!(fact("Changes"), "1 joined, 1 left, 3 changed");
    assert_eq!(fact("Files"), "Acme.csv (23 bytes), Acme.xlsx (68.4 KiB)");
}

#[test]
fn adaptive_text_neutralises_links() {
    let t = adaptive_text("[x](https://e.example) www.e.example ![i](u) a\nb");
    assert!(!t.contains("]("));
    assert!(!t.contains("://"));
    assert!(!t.contains("www."));
    assert!(!t.contains('\n'));
    assert_eq!(
        t.replace('\u{200B}', ""),
        "[x](https://e.example) www.e.example ![i](u) a b"
    );
}

#[test]
fn slack_message_shape() {
    let (body, _, line) = posted(Format::Slack);
    assert!(line.contains("(Slack), 200 OK"), "{line}");
    assert_eq!(
        body["text"],
        "Keepnet export delivered: Acme [Corp](https://evil.example) &lt;b&gt;&amp;: 1 users exported"
    );
    let blocks = body["blocks"].as_array().unwrap();
    assert_eq!(blocks[0]["type"], "header");
    assert_eq!(blocks[0]["text"]["type"], "plain_text");
    assert_eq!(
        blocks[0]["text"]["text"],
        "Keepnet export delivered: Acme [Corp](https://evil.example) <b>&"
    );
    assert_eq!(blocks[1]["type"], "section");
    let fields: Vec<&str> = blocks[1]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!(f["type"], "mrkdwn");
            f["text"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        fields,
        [
            "*Company*\nAcme [Corp](https://evil.example) &lt;b&gt;&amp;",
            "*Resource ID*\nc0ffee",
            "*Started (UTC)*\n2026-03-05T10:15:30.123Z",
            "*Users exported*\n1",
            "*Active / inactive / deleted*\n40 / 2 / unknown",
            "*Licence limit*\n35 (5 over)",
            "*Changes*\n1 joined, 1 left, 3 changed",
        ]
    );
    assert_eq!(blocks[2]["type"], "section");
    assert_eq!(blocks[2]["text"]["type"], "mrkdwn");
    assert_eq!(
        blocks[2]["text"]["text"],
        "*Files*\nAcme.csv (23 bytes), Acme.xlsx (68.4 KiB)"
    );
    assert_eq!(
        slack_text("<!channel> & <x|y>"),
        "&lt;!channel&gt; &amp; &lt;x|y&gt;"
    );
}

#[test]
fn no_personal_data_in_any_format() {
    for format in [Format::Json, Format::Teams, Format::Slack] {
        let (_, request, _) = posted(format);
        let text = request.text();
        for name in [
            JOINED,
            LEFT,
            "Ada Lovelace",
            "Lovelace",
            "ada@",
            "Turing",
            "alan@",
        ] {
            assert!(!text.contains(name), "{format}: {name} in {text}");
        }
    }
}

#[test]
fn retries_503_then_succeeds() {
    let server = Receiver::start(vec![Answer::status(503), Answer::ok()]);
    let export = Export::new();
    let line = deliver(settings(&server.url("/h"), Format::Json), &export).unwrap();
    assert_eq!(server.requests().len(), 2);
    assert!(line.ends_with("200 OK after 2 attempts"), "{line}");
}

#[test]
fn retry_after_is_honoured() {
    let server = Receiver::start(vec![
        Answer::status(429).header("Retry-After", "1"),
        Answer::ok(),
    ]);
    let export = Export::new();
    let started = Instant::now();
    deliver(settings(&server.url("/h"), Format::Json), &export).unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn client_error_is_not_retried() {
    let server = Receiver::start(vec![Answer::status(400).body("bad   payload\n\tshape")]);
    let export = Export::new();
    let error = deliver(
        settings(&server.url("/h?token=sekrit"), Format::Json),
        &export,
    )
    .unwrap_err();
    assert_eq!(server.requests().len(), 1);
    assert_eq!(
        error.to_string(),
        format!(
            "the webhook at http://127.0.0.1:{} answered 400 Bad Request: bad payload shape",
            server.port
        )
    );
    assert!(matches!(error, SinkError::Other(_)));
}

#[test]
fn gives_up_after_the_policy() {
    let server = Receiver::start(vec![Answer::status(503).body("busy"); 10]);
    let export = Export::new();
    let mut s = settings(&server.url("/h"), Format::Json);
    s.retry.max_retries = 2;
    let error = deliver(s, &export).unwrap_err().to_string();
    assert_eq!(server.requests().len(), 3);
    let prefix = "gave up after 3 attempts in ";
    assert!(error.starts_with(prefix), "{error}");
    assert!(
        error.ends_with(&format!(
            ": the webhook at http://127.0.0.1:{} answered 503 Service Unavailable: busy",
            server.port
        )),
        "{error}"
    );
}

#[test]
fn endless_answer_is_read_bounded() {
    let server = Receiver::start(vec![Answer::endless(400)]);
    let export = Export::new();
    let started = Instant::now();
    let error = deliver(settings(&server.url("/h"), Format::Json), &export)
        .unwrap_err()
        .to_string();
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(error.contains("answered 400 Bad Request: xxxx"), "{error}");
    assert!(error.len() < 400, "{}", error.len());
}

#[test]
fn redirect_is_not_followed() {
    let target = Receiver::start(vec![]);
    let server = Receiver::start(vec![
        Answer::status(302).header("Location", &target.url("/elsewhere?token=t"))
    ]);
    let export = Export::new();
    let error = deliver(settings(&server.url("/h"), Format::Json), &export)
        .unwrap_err()
        .to_string();
    assert_eq!(server.requests().len(), 1);
    assert_eq!(target.requests().len(), 0);
    assert_eq!(
        error,
        format!(
            "the webhook at http://127.0.0.1:{} answered 302 Found, a redirect to http://127.0.0.1:{}: redirects are not followed, give the final URL",
            server.port, target.port
        )
    );
}

#[test]
fn url_rules_at_build() {
    let refused = |url: &str| match WebhookDelivery::check(&WebhookSettings::new(url)) {
        Err(SinkError::Invalid(message)) => message,
        other => panic!("{url}: {other:?}"),
    };
    let m = refused("http://hooks.example/services/T000/B000/XXXX");
    assert!(
        m.starts_with("the webhook URL http://hooks.example is plain http"),
        "{m}"
    );
    assert!(!m.contains("T000"), "{m}");
    assert!(refused("ftp://hooks.example/x").contains("uses ftp: use https"));
    assert!(refused("not a url").contains("not a valid URL"));
    assert!(refused("").contains("no webhook URL"));
    assert!(refused("https://user:pw@hooks.example/x").contains("user or password"));
    assert!(!refused("https://user:pw@hooks.example/x").contains("pw"));
    for ok in [
        "https://hooks.example/x",
        "http://127.0.0.1:9/x",
        "http://localhost/x",
        "http://[::1]:8080/x",
    ] {
        WebhookDelivery::check(&WebhookSettings::new(ok)).unwrap();
    }
    assert!(WebhookDelivery::new(WebhookSettings::new("http://10.0.0.1/x")).is_err());
    let mut zero = WebhookSettings::new("https://hooks.example/x");
    zero.timeout = Duration::ZERO;
    assert!(WebhookDelivery::check(&zero).is_err());
}

#[test]
fn formats_parse() {
    assert_eq!("json".parse::<Format>().unwrap(), Format::Json);
    assert_eq!("Teams".parse::<Format>().unwrap(), Format::Teams);
    assert_eq!("slack".parse::<Format>().unwrap(), Format::Slack);
    assert!(matches!(
        "xml".parse::<Format>(),
        Err(SinkError::Invalid(_))
    ));
    assert_eq!(Format::default(), Format::Json);
}

#[test]
fn token_header_sent_and_never_shown() {
    let server = Receiver::start(vec![Answer::status(401).body("who are you")]);
    let export = Export::new();
    let mut s = settings(&server.url("/hook/url-secret"), Format::Json);
    s.header = Some(AuthHeader::for_token(None, SecretString::from("tok-123")));
    let shown = format!("{s:?}");
    let delivery = WebhookDelivery::new(s).unwrap();
    let debug = format!("{delivery:?}");
    let mut delivery = delivery;
    let error = delivery.deliver(&export.report()).unwrap_err().to_string();
    let request = &server.requests()[0];
    assert_eq!(request.header("authorization"), Some("Bearer tok-123"));
    for text in [&shown, &debug, &error] {
        assert!(!text.contains("tok-123"), "{text}");
        assert!(!text.contains("url-secret"), "{text}");
    }
    assert!(shown.contains("[redacted]"), "{shown}");
    assert!(error.contains("401 Unauthorized: who are you"), "{error}");

    let raw = AuthHeader::for_token(Some("X-Api-Key"), SecretString::from("k"));
    assert_eq!(raw.name, "X-Api-Key");
    let given = AuthHeader::for_token(None, SecretString::from("Basic abc"));
    assert_eq!(
        secrecy::ExposeSecret::expose_secret(&given.value),
        "Basic abc"
    );

    let mut bad = WebhookSettings::new("https://hooks.example/x");
    bad.header = Some(AuthHeader::new("Authorization", SecretString::from("a\nb")));
    let m = WebhookDelivery::check(&bad).unwrap_err().to_string();
    assert!(m.contains("cannot carry") && !m.contains("a\nb"), "{m}");
    bad.header = Some(AuthHeader::new("Content-Type", SecretString::from("x")));
    assert!(WebhookDelivery::check(&bad).is_err());
    bad.header = Some(AuthHeader::new("bad name", SecretString::from("x")));
    assert!(WebhookDelivery::check(&bad).is_err());
}

#[test]
fn unreachable_port_fails_precisely() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let export = Export::new();
    let mut s = settings(&format!("http://127.0.0.1:{port}/h"), Format::Json);
    s.retry.max_retries = 1;
    let error = deliver(s, &export).unwrap_err().to_string();
    assert!(error.starts_with("gave up after 2 attempts in "), "{error}");
    assert!(
        error.contains(&format!(
            "could not post to the webhook at http://127.0.0.1:{port}: "
        )),
        "{error}"
    );
    assert!(error.to_lowercase().contains("connect"), "{error}");
    assert!(!error.contains("/h"), "{error}");
}

#[test]
fn a_receiver_that_never_answers_hits_the_timeout() {
    let server = Receiver::start(vec![Answer::hang()]);
    let export = Export::new();
    let mut s = settings(&server.url("/h"), Format::Json);
    s.timeout = Duration::from_millis(500);
    s.retry = RetryPolicy::none();
    let started = Instant::now();
    let error = deliver(s, &export).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(matches!(error, SinkError::Limit { .. }), "{error:?}");
    assert_eq!(
        error.to_string(),
        format!(
            "the webhook at http://127.0.0.1:{} did not answer within 500 ms",
            server.port
        )
    );
    assert_eq!(server.requests().len(), 1);
}

#[test]
fn works_inside_spawn_blocking_and_async_code() {
    let server = Receiver::start(vec![]);
    let url = server.url("/h");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let s = settings(&url, Format::Slack);
        let line = tokio::task::spawn_blocking(move || {
            let export = Export::new();
            deliver(s, &export)
        })
        .await
        .unwrap()
        .unwrap();
        assert!(line.contains("(Slack), 200 OK"), "{line}");
        // Straight from async code, too.
        let export = Export::new();
        deliver(settings(&url, Format::Teams), &export).unwrap();
    });
    assert_eq!(server.requests().len(), 2);
}

#[test]
fn missing_file_for_sha_is_an_io_error() {
    let export = Export::new();
    let mut artifacts = export.artifacts.clone();
    artifacts[0].path = PathBuf::from("/nonexistent/Acme.csv");
    let mut report = export.report();
    report.artifacts = &artifacts;
    let error = WebhookDelivery::new(settings("http://127.0.0.1:9/h", Format::Json))
        .unwrap()
        .deliver(&report)
        .unwrap_err();
    assert!(matches!(error, SinkError::Io { .. }), "{error:?}");
}
