//! Concurrent paging: order kept and every user exactly once whatever the concurrency and
//! however the server's answers are delayed; concurrency backs off under 429.

use std::time::Duration;

use keepnet_sandbox::{Config, Faults, OversizePages};

use crate::util::Env;

/// A `key=value` number from the run's log line containing `marker`.
pub fn logged_number(stderr: &str, marker: &str, key: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains(marker))
        .unwrap_or_else(|| panic!("no {marker:?} line in:\n{stderr}"));
    let start = line
        .find(&format!("{key}="))
        .unwrap_or_else(|| panic!("no {key} in {line}"))
        + key.len()
        + 1;
    line[start..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn order_and_exactly_once_at_concurrency_1_8_32_with_random_delays() {
    let env = Env::start(Config {
        users_per_company: 230,
        page_cap: 7,
        jitter: Duration::from_millis(12),
        ..Config::default()
    });
    let id = env.company_id("Initech");
    let want = env.served(&id);
    for concurrency in ["1", "8", "32"] {
        let run = env.run(&[
            "--concurrency",
            concurrency,
            "users",
            "--company",
            &id,
            "--page-size",
            "7",
        ]);
        let got = run.json_lines();
        assert_eq!(got.len(), want.len(), "concurrency {concurrency}");
        assert!(
            got == want,
            "concurrency {concurrency}: users out of order or altered"
        );
        assert_eq!(
            logged_number(&run.stderr, "api usage", "concurrency"),
            concurrency.parse::<u64>().unwrap()
        );
    }
}

#[test]
fn concurrency_halves_under_429_and_the_export_is_still_exact() {
    let env = Env::start(Config {
        users_per_company: 200,
        page_cap: 5,
        faults: Faults {
            rate: 0.3,
            statuses: vec![429],
            retry_after: Some(Duration::ZERO),
            ..Faults::default()
        },
        ..Config::default()
    });
    let id = env.company_id("Globex Corporation");
    let run = env.run(&[
        "--concurrency",
        "8",
        "--retries",
        "20",
        "users",
        "--company",
        &id,
    ]);
    assert!(run.json_lines() == env.served(&id), "exact despite 429s");
    let throttled = logged_number(&run.stderr, "api usage", "throttled");
    let lowest = logged_number(&run.stderr, "api usage", "lowest_concurrency");
    assert!(throttled > 0, "{}", run.stderr);
    assert!(lowest < 8, "concurrency dropped below 8 (lowest {lowest})");
    assert!(lowest >= 1);
}

#[test]
fn max_rps_caps_the_request_rate() {
    let env = Env::small(40, 10);
    let before = std::time::Instant::now();
    let run = env.run(&["--max-rps", "20", "users", "--company", "Initech"]);
    let current = env.served(&env.company_id("Initech")).len();
    assert_eq!(run.json_lines().len(), current);
    // companies + the company's settings + the pages + the closing count: at least 6 paced
    // calls, 50 ms apart, so at least 250 ms.
    assert!(
        before.elapsed() >= Duration::from_millis(250),
        "{:?}",
        before.elapsed()
    );
}

/// Every user of every company, from the summary's files: (company id, resource ids read).
fn exported_per_company(summary: &std::path::Path) -> Vec<(String, Vec<String>)> {
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    summary["companies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|entry| {
            let id = entry["company"]["resourceId"].as_str().unwrap().to_owned();
            let path = entry["files"][0]["path"].as_str().unwrap();
            let mut reader = csv::Reader::from_path(path).unwrap();
            let column = reader
                .headers()
                .unwrap()
                .iter()
                .position(|h| h == "resourceId")
                .expect("a resourceId column");
            let ids = reader
                .records()
                .map(|r| r.unwrap()[column].to_owned())
                .collect();
            (id, ids)
        })
        .collect()
}

fn served_ids(env: &Env, company: &str) -> Vec<String> {
    env.served(company)
        .iter()
        .map(|u| u["resourceId"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn a_refused_page_size_falls_back_to_100_once_per_run_and_every_user_is_read() {
    for refusal in [OversizePages::Refuse, OversizePages::RefuseInside200] {
        let env = Env::start(Config {
            users_per_company: 230,
            page_cap: 100,
            oversize_pages: refusal,
            ..Config::default()
        });
        // One company, the default page size (1000): refused, then asked at 100.
        let id = env.company_id("Initech");
        let run = env.run(&["users", "--company", &id]);
        assert!(run.json_lines() == env.served(&id), "{refusal:?}: exact");
        assert!(
            run.stderr.contains("refused pages of 1000 users")
                && run.stderr.contains("asking for 100 per page"),
            "{refusal:?}: a log line, not an error:\n{}",
            run.stderr
        );
        assert_eq!(env.sandbox.stats().oversize_refusals, 1, "{refusal:?}");

        // Every company in one run: the refusal is learnt once, for the whole credential.
        let summary = env.path("summary.json");
        let run = env.run(&[
            "users",
            "--company",
            "all",
            "--sink",
            &format!("csv:{}/{{company}}.csv", env.path("out").display()),
            "--summary-json",
            summary.to_str().unwrap(),
        ]);
        run.ok();
        assert_eq!(
            env.sandbox.stats().oversize_refusals,
            2,
            "{refusal:?}: one more refusal for the second run, not one per company"
        );
        let exported = exported_per_company(&summary);
        assert!(exported.len() > 3);
        for (company, ids) in exported {
            assert_eq!(ids, served_ids(&env, &company), "{refusal:?}: {company}");
        }
    }
}

#[test]
fn a_refused_page_size_at_or_below_100_is_an_error_not_a_retry_loop() {
    let env = Env::start(Config {
        users_per_company: 30,
        page_cap: 50,
        oversize_pages: OversizePages::Refuse,
        ..Config::default()
    });
    let run = env.run(&["users", "--company", "Initech", "--page-size", "80"]);
    assert_ne!(run.code, 0);
    assert!(run.stderr.contains("PageSize"), "{}", run.stderr);
    assert_eq!(env.sandbox.stats().oversize_refusals, 1, "asked once");
}

#[test]
fn every_company_of_a_run_shares_one_budget_of_requests_in_flight() {
    let env = Env::start(Config {
        users_per_company: 60,
        page_cap: 10,
        latency: Duration::from_millis(40),
        extra_companies: keepnet_sandbox::numbered_companies(10),
        ..Config::default()
    });
    let summary = env.path("summary.json");
    let run = env.run(&[
        "--concurrency",
        "3",
        "users",
        "--company",
        "all",
        "--company-concurrency",
        "8",
        "--sink",
        &format!("csv:{}/{{company}}.csv", env.path("out").display()),
        "--summary-json",
        summary.to_str().unwrap(),
    ]);
    run.ok();
    let stats = env.sandbox.stats();
    // Eight companies at once, each with six pages to read: only the budget holds them to 3.
    assert_eq!(
        stats.peak_requests_in_flight, 3,
        "at most 3 API requests at once across companies, and the budget is used"
    );
    assert!(stats.peak_user_searches_in_flight <= 3);
    assert!(logged_number(&run.stderr, "api usage", "peak_in_flight") <= 3);
    let exported = exported_per_company(&summary);
    assert!(exported.len() >= 10, "{}", exported.len());
    for (company, ids) in exported {
        assert_eq!(ids, served_ids(&env, &company), "{company}");
    }
}
