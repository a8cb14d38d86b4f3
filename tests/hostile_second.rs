//! The second hostile pass (issue 28): what an attacker or a careless operator does with job
//! files, path templates, change state, previews and deliveries. Loopback only, bounded in
//! time, no real device touched. One section per point of the issue.

use keepnet_sandbox::Config;
use mail_parser::MessageParser;
use serde_json::Value;

use crate::smtp::Server;
use crate::util::Env;

/// A job file's `[smtp]` for a plain server on loopback.
fn smtp(port: u16) -> String {
    format!(
        "[smtp]\nhost = \"127.0.0.1\"\nport = {port}\ntls = \"none\"\nfrom = \"reports@mssp.example\"\n"
    )
}

fn summary(env: &Env, name: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(env.path(name)).unwrap()).unwrap()
}

// 1. Recipient keys resolve exactly as --company does ----------------------------------------------

#[test]
fn a_recipient_key_two_customers_share_fails_the_job_and_mails_nobody() {
    let env = Env::small(6, 10);
    let server = Server::start(&[]);
    let supports = env.sandbox.dataset().find_by_name("Support").len();
    assert_eq!(supports, 2, "the sandbox has two customers named Support");
    let file = env.path("reports.toml");
    std::fs::write(
        &file,
        format!(
            "{}[[job]]\nname = \"support\"\ncompanies = \"all\"\nsinks = [\"csv:out/{{company_id}}.csv\"]\n\n[job.email.to]\n\"Support\" = [\"it@customer-a.example\"]\n",
            smtp(server.port)
        ),
    )
    .unwrap();
    // `run --check` says how keys are resolved.
    let check = env.run(&["run", file.to_str().unwrap(), "--check"]);
    assert!(check
        .ok()
        .contains("a key two companies share fails the job"));
    let run = env.run(&["run", file.to_str().unwrap(), "--summary-json", "s.json"]);
    let ids: Vec<String> = env
        .sandbox
        .dataset()
        .find_by_name("Support")
        .iter()
        .map(|c| c.resource_id.clone())
        .collect();
    run.fails_with(2, &["\"Support\"", &ids[0], &ids[1], "key it by id"]);
    assert!(server.messages().is_empty(), "nobody was mailed");
    let doc = summary(&env, "s.json");
    assert_eq!(doc["failedJobs"][0]["job"], "support");
    assert_eq!(doc["failedJobs"][0]["exitCode"], 2);

    // Keyed by id, each customer gets its own people only.
    std::fs::write(
        &file,
        format!(
            "{}[[job]]\nname = \"support\"\ncompanies = {:?}\nsinks = [\"csv:out/{{company_id}}.csv\"]\n\n[job.email.to]\n{:?} = [\"it@customer-a.example\"]\n\"No Such Customer\" = [\"x@nowhere.example\"]\n",
            smtp(server.port),
            ids,
            ids[0]
        ),
    )
    .unwrap();
    let run = env.run(&["run", file.to_str().unwrap()]);
    run.ok();
    assert!(
        run.stderr
            .contains("\"No Such Customer\" names no managed company"),
        "{}",
        run.stderr
    );
    let sent = server.single();
    assert_eq!(sent.rcpt_tos(), ["it@customer-a.example"]);
    let message = MessageParser::default().parse(&sent.raw).unwrap();
    let attachment = message.attachments().next().unwrap();
    let rows = csv::Reader::from_reader(attachment.contents())
        .records()
        .count();
    assert_eq!(rows, env.served(&ids[0]).len(), "customer A's people only");
}

// 10. A job that cannot start does not stop the others ---------------------------------------------

#[test]
fn a_job_whose_company_is_gone_fails_alone_and_the_summary_is_written() {
    let env = Env::small(6, 10);
    let file = env.path("reports.toml");
    std::fs::write(
        &file,
        "[[job]]\nname = \"offboarded\"\ncompanies = [\"Gone Ltd\"]\nsinks = [\"csv:gone.csv\"]\n\n\
         [[job]]\nname = \"current\"\ncompanies = [\"Initech\"]\nsinks = [\"csv:initech.csv\"]\n",
    )
    .unwrap();
    let run = env.run(&["run", file.to_str().unwrap(), "--summary-json", "s.json"]);
    run.fails_with(
        4,
        &["job offboarded", "Gone Ltd", "1 job(s) could not start"],
    );
    let id = env.company_id("Initech");
    let rows = csv::Reader::from_path(env.path("initech.csv"))
        .unwrap()
        .records()
        .count();
    assert_eq!(rows, env.served(&id).len(), "the next job ran");
    let doc = summary(&env, "s.json");
    assert_eq!(doc["failedJobs"][0]["job"], "offboarded");
    assert_eq!(doc["failedJobs"][0]["exitCode"], 4);
    assert_eq!(doc["totals"]["succeeded"], 1);
}

// 11. Names match across normal forms and Turkish case ---------------------------------------------

#[test]
fn company_names_match_in_nfd_and_in_turkish_case() {
    let env = Env::start(Config {
        users_per_company: 4,
        page_cap: 10,
        extra_companies: vec![
            "İSTANBUL Sigorta".into(),
            "IŞIK Ltd".into(),
            // As macOS stores it: decomposed.
            "Mu\u{308}s\u{327}teri Dan\u{131}s\u{327}manl\u{131}k".into(),
        ],
        ..Config::default()
    });
    for (typed, name) in [
        ("istanbul sigorta", "İSTANBUL Sigorta"),
        ("ışık ltd", "IŞIK Ltd"),
        ("Işık  LTD", "IŞIK Ltd"),
        (
            "Müşteri Danışmanlık",
            "Mu\u{308}s\u{327}teri Dan\u{131}s\u{327}manl\u{131}k",
        ),
    ] {
        let id = env.company_id(name);
        let users = env.run(&["users", "--company", typed]).json_lines();
        assert_eq!(users, env.served(&id), "{typed}");
    }
}
