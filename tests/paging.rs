//! Concurrent paging: order kept and every user exactly once whatever the concurrency and
//! however the server's answers are delayed; concurrency backs off under 429.

use std::time::Duration;

use keepnet_sandbox::{Config, Faults};

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
