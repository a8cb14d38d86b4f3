//! `--sink webhook:URL`: after the other deliveries, a summary posted to a real local HTTP
//! receiver (JSON, Teams and Slack shapes); its URL never shown whole; no personal data; a
//! failed notice exits 6 and leaves what was published and delivered in place.

use mail_parser::MessageParser;

use crate::smtp::Server;
use crate::util::{plain_smtp_args, Env, Run};
use crate::webhook::{Answer, Receiver};
use keepnet_test_support::sha256_hex;

const COMPANY: &str = "Initech";

fn run(env: &Env, args: &[String], vars: &[(&str, &str)]) -> Run {
    env.run_with(args, vars)
}

fn base(env: &Env, hook: &str) -> Vec<String> {
    vec![
        "users".into(),
        "--company".into(),
        COMPANY.into(),
        "--sink".into(),
        format!("csv:{}", env.path("Initech.csv").display()),
        // Written before the e-mail on purpose: a notice runs after every other delivery.
        "--sink".into(),
        format!("webhook:{hook}"),
        "--summary-json".into(),
        env.path("summary.json").display().to_string(),
    ]
}

#[test]
fn the_json_notice_comes_after_the_email_with_hashes_and_no_personal_data() {
    let env = Env::small(30, 10);
    let smtp = Server::start(&[]);
    let receiver = Receiver::start(vec![Answer::ok()]);
    let hook = receiver.url("/hooks/T0/B0/very-secret-token");
    let mut args = base(&env, &hook);
    args.extend(["--sink".into(), "email:it@initech.example".into()]);
    args.extend(plain_smtp_args(smtp.port, "reports@mssp.example"));
    let run = run(&env, &args, &[("KEEPNET_WEBHOOK_TOKEN", "tok-123")]);
    run.ok();
    assert_eq!(smtp.messages().len(), 1);
    let requests = receiver.requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(request.path, "/hooks/T0/B0/very-secret-token");
    assert_eq!(request.header("authorization"), Some("Bearer tok-123"));
    let body = request.json();
    let csv = std::fs::read(env.path("Initech.csv")).unwrap();
    let id = env.company_id(COMPANY);
    assert_eq!(body["version"], 1);
    assert_eq!(body["company"]["name"], COMPANY);
    assert_eq!(body["company"]["resourceId"], id.as_str());
    assert_eq!(body["rows"].as_u64(), Some(env.served(&id).len() as u64));
    assert_eq!(body["files"][0]["name"], "Initech.csv");
    assert_eq!(body["files"][0]["bytes"].as_u64(), Some(csv.len() as u64));
    assert_eq!(
        body["files"][0]["sha256"].as_str().unwrap(),
        sha256_hex(&csv)
    );
    assert_eq!(
        body["deliveries"][0]["kind"], "email",
        "the e-mail ran first"
    );
    assert_eq!(body["deliveries"][0]["ok"], true);
    assert_eq!(body["outcome"], "delivered");
    // No user is named: none of the exported addresses is in the body.
    let text = request.text();
    for user in env.served(&id) {
        let email = user["email"].as_str().unwrap();
        assert!(!text.contains(email), "{email} in the notice");
    }
    // The URL is a secret: the log shows its host only.
    assert!(!run.stderr.contains("very-secret-token"), "{}", run.stderr);
    assert!(!run.stderr.contains("tok-123"), "{}", run.stderr);
    let summary = std::fs::read_to_string(env.path("summary.json")).unwrap();
    assert!(!summary.contains("very-secret-token"), "{summary}");
    let parsed: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let kinds: Vec<&str> = parsed["companies"][0]["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["email", "webhook"]);
    let received = smtp.single();
    let mail = MessageParser::default().parse(&received.raw).unwrap();
    assert_eq!(mail.attachments().count(), 1);
}

#[test]
fn a_dry_run_shows_the_webhook_cut_to_its_host() {
    let env = Env::small(5, 10);
    let mut args = base(&env, "https://hooks.slack.com/services/T0/B0/xoxb-secret");
    args.push("--dry-run".into());
    let out = run(&env, &args, &[]);
    let shown = out.ok();
    assert!(
        shown.contains("webhook:https://hooks.slack.com/…"),
        "{shown}"
    );
    assert!(!shown.contains("xoxb-secret"), "{shown}");
    assert!(!out.stderr.contains("xoxb-secret"), "{}", out.stderr);
}

#[test]
fn teams_and_slack_presets_post_their_shapes() {
    let env = Env::small(12, 10);
    for (format, check) in [
        (
            "teams",
            (|body: &serde_json::Value| {
                assert_eq!(body["type"], "message");
                let card = &body["attachments"][0];
                assert_eq!(
                    card["contentType"],
                    "application/vnd.microsoft.card.adaptive"
                );
                assert_eq!(card["content"]["type"], "AdaptiveCard");
                let facts = serde_json::to_string(&card["content"]["body"]).unwrap();
                assert!(facts.contains("FactSet"), "{facts}");
                assert!(facts.contains(COMPANY), "{facts}");
            }) as fn(&serde_json::Value),
        ),
        (
            "slack",
            (|body: &serde_json::Value| {
                assert!(body["text"].as_str().unwrap().contains(COMPANY));
                assert_eq!(body["blocks"][0]["type"], "header");
                assert_eq!(body["blocks"][1]["type"], "section");
            }) as fn(&serde_json::Value),
        ),
    ] {
        let receiver = Receiver::start(vec![Answer::ok()]);
        let mut args = base(&env, &receiver.url("/hook"));
        args.extend(["--sink-option".into(), format!("webhook.format={format}")]);
        run(&env, &args, &[]).ok();
        let requests = receiver.requests();
        assert_eq!(requests.len(), 1, "{format}");
        check(&requests[0].json());
    }
}

#[test]
fn a_failed_notice_exits_6_and_keeps_what_was_published() {
    let env = Env::small(12, 10);
    let receiver = Receiver::start(vec![Answer::status(400).body("bad payload")]);
    let args = base(&env, &receiver.url("/hook/secret"));
    let run = run(&env, &args, &[]);
    run.fails_with(6, &["delivery failed", "400", "bad payload"]);
    assert!(!run.stderr.contains("/hook/secret"), "{}", run.stderr);
    assert!(env.path("Initech.csv").exists(), "the file is kept");
    assert_eq!(receiver.requests().len(), 1, "a 400 is not retried");

    // Retried on 503, then delivered.
    let receiver = Receiver::start(vec![Answer::status(503), Answer::ok()]);
    let args = base(&env, &receiver.url("/hook"));
    run_ok(&env, &args);
    assert_eq!(receiver.requests().len(), 2);

    // http to another machine is refused before anything is read, its URL cut to its host.
    let args = base(&env, "http://hooks.example/x/secret-path");
    std::fs::remove_file(env.path("Initech.csv")).unwrap();
    let refused = crate::webhooks::run(&env, &args, &[]);
    refused.fails_with(2, &["https", "webhook:http://hooks.example/…"]);
    assert!(
        !refused.stderr.contains("secret-path"),
        "{}",
        refused.stderr
    );
    assert!(!env.path("Initech.csv").exists());
}

fn run_ok(env: &Env, args: &[String]) {
    run(env, args, &[]).ok();
}

#[test]
fn a_notice_reports_a_failed_upload() {
    let env = Env::small(12, 10);
    let receiver = Receiver::start(vec![Answer::ok()]);
    let mut args = base(&env, &receiver.url("/hook"));
    let closed = keepnet_test_support::closed_port();
    args.extend(["--sink".into(), "email:it@initech.example".into()]);
    args.extend(plain_smtp_args(closed, "reports@mssp.example"));
    let run = run(&env, &args, &[]);
    run.fails_with(6, &["delivery failed", "email"]);
    let body = receiver.requests()[0].json();
    assert_eq!(body["outcome"], "failed");
    assert_eq!(body["deliveries"][0]["kind"], "email");
    assert_eq!(body["deliveries"][0]["ok"], false);
}
