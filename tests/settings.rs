//! One rule, one message: the same sinks given as `--sink` flags and as a job file's `sinks`
//! get the same verdict and, when refused, the same text; only where the value came from is
//! shown differently (`--sink TEXT: ...` against `reports.toml:LINE:COL: ...`).

use crate::util::Env;

/// A job file with one job for `companies` (TOML) writing `sinks`.
fn job_file(env: &Env, companies: &str, sinks: &[&str]) -> std::path::PathBuf {
    let list: Vec<String> = sinks.iter().map(|s| format!("{s:?}")).collect();
    let path = env.path("reports.toml");
    std::fs::write(
        &path,
        format!(
            "[[job]]\nname = \"a\"\ncompanies = {companies}\nsinks = [{}]\n",
            list.join(", ")
        ),
    )
    .unwrap();
    path
}

/// The message of the first error `run --check` printed, without its `file:line:col: `.
fn file_message(stderr: &str) -> String {
    let line = stderr
        .lines()
        .find(|l| l.contains("reports.toml:") && !l.contains("error(s) in"))
        .unwrap_or_else(|| panic!("no located error in {stderr}"));
    let after = &line[line.find("reports.toml:").unwrap() + "reports.toml:".len()..];
    // LINE:COL: message
    let mut parts = after.splitn(3, ':');
    let (_line, _column) = (parts.next(), parts.next());
    parts.next().unwrap().trim_start().to_owned()
}

/// The message of the error about `--sink sink`, without that prefix.
fn flag_message(stderr: &str, sink: &str) -> String {
    let prefix = format!("--sink {sink}: ");
    let at = stderr
        .find(&prefix)
        .unwrap_or_else(|| panic!("no error about {prefix:?} in {stderr}"));
    stderr[at + prefix.len()..]
        .lines()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn flags_and_job_files_give_one_verdict_and_one_message() {
    let env = Env::small(6, 4);
    let companies_all = "\"all\"";
    // (companies as a job file writes them, sinks, the refusal expected or None)
    let cases: [(&str, &[&str], Option<&str>); 6] = [
        (
            companies_all,
            &["csv:all.csv"],
            Some("needs {company} or {company_id}"),
        ),
        (companies_all, &["jsonl:-"], Some("cannot share stdout")),
        (
            companies_all,
            &["csv:out/{day}.csv"],
            Some("unknown placeholder `{day}`"),
        ),
        (companies_all, &["out.csv"], Some("not KIND:TARGET")),
        (
            "[\"Initech\"]",
            &["csv:x/{firm}.csv"],
            Some("unknown placeholder `{firm}`"),
        ),
        // An exec plugin's target is a command, run once per company: allowed for several
        // companies in both front ends (before, job files refused what the flags accepted).
        (companies_all, &["exec:cat >> plugin-input.jsonl"], None),
    ];
    for (companies, sinks, refusal) in cases {
        let mut args = vec!["users".to_owned()];
        let company = if companies == companies_all {
            "all"
        } else {
            "Initech"
        };
        args.extend(["--company".to_owned(), company.to_owned()]);
        for sink in sinks {
            args.extend(["--sink".to_owned(), (*sink).to_owned()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let file = job_file(&env, companies, sinks);
        let check = env.run(&["run", "--check", file.to_str().unwrap()]);
        match refusal {
            Some(needle) => {
                let before = env.sandbox.stats().requests;
                let flags = env.run(&args);
                assert_eq!(flags.code, 2, "{sinks:?}: {}", flags.stderr);
                assert_eq!(check.code, 2, "{sinks:?}: {}", check.stderr);
                assert_eq!(
                    env.sandbox.stats().requests,
                    before,
                    "refused before any request"
                );
                let (from_flags, from_file) = (
                    flag_message(&flags.stderr, sinks[0]),
                    file_message(&check.stderr),
                );
                assert!(from_flags.contains(needle), "{from_flags}");
                assert_eq!(from_flags, from_file, "{sinks:?}: one rule, one message");
            }
            None => {
                check.ok();
                let input = env.path("plugin-input.jsonl");
                let _ = std::fs::remove_file(&input);
                env.run(&args).ok();
                let from_flags = std::fs::read_to_string(&input).unwrap();
                std::fs::remove_file(&input).unwrap();
                env.run(&["run", file.to_str().unwrap()]).ok();
                let from_file = std::fs::read_to_string(&input).unwrap();
                let headers =
                    |text: &str| text.lines().filter(|l| l.contains("\"protocol\"")).count();
                let companies = env.run(&["companies", "--format", "json"]);
                let listed: serde_json::Value = serde_json::from_str(companies.ok()).unwrap();
                let count = listed.as_array().unwrap().len();
                assert_eq!(headers(&from_flags), count, "one plugin run per company");
                assert_eq!(headers(&from_file), count, "the same from the job file");
                assert_eq!(from_flags.lines().count(), from_file.lines().count());
            }
        }
    }
}

#[test]
fn a_timestamp_placeholder_keeps_two_runs_a_day_apart() {
    let env = Env::small(6, 4);
    let stamp_of = |name: &str| -> String {
        // out/<company>-20261202T050234Z.csv
        let stem = name.strip_suffix(".csv").unwrap();
        stem[stem.len() - 16..].to_owned()
    };
    let sink = "csv:out/{company}-{timestamp}.csv";
    let before = keepnet_sink::Timestamp::now().unix_seconds();
    env.run(&["users", "--company", "all", "--sink", sink]).ok();
    let after = keepnet_sink::Timestamp::now().unix_seconds();
    let mut names: Vec<String> = std::fs::read_dir(env.path("out"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(names.len() > 1, "{names:?}");
    let stamps: std::collections::BTreeSet<String> = names.iter().map(|n| stamp_of(n)).collect();
    assert_eq!(stamps.len(), 1, "one run, one timestamp: {names:?}");
    let stamp = stamps.into_iter().next().unwrap();
    let iso = format!(
        "{}-{}-{}T{}:{}:{}Z",
        &stamp[0..4],
        &stamp[4..6],
        &stamp[6..8],
        &stamp[9..11],
        &stamp[11..13],
        &stamp[13..15]
    );
    let at = keepnet_sink::Timestamp::parse(&iso)
        .unwrap_or_else(|| panic!("{stamp} is not a UTC timestamp"))
        .unix_seconds();
    assert!((before..=after).contains(&at), "{stamp} outside the run");
    // The next run a second later writes beside it instead of over it.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    env.run(&["users", "--company", "Initech", "--sink", sink])
        .ok();
    let initech = std::fs::read_dir(env.path("out"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with("Initech-")
        })
        .count();
    assert_eq!(initech, 2);
    // Job files take it too.
    let file = job_file(&env, "\"all\"", &[sink]);
    env.run(&["run", "--check", file.to_str().unwrap()]).ok();
}
