//! The custom binary against the built-in sandbox: its own sink works, and so does every
//! built-in command and flag.

use std::process::Command;

fn run(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_keepnet-export-md"));
    for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("KEEPNET_")) {
        cmd.env_remove(key);
    }
    cmd.args(args).current_dir(dir).output().unwrap()
}

#[test]
fn the_md_sink_writes_one_table_row_per_user() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(
        dir.path(),
        &[
            "--sandbox",
            "users",
            "--company",
            "Initech",
            "--columns",
            "email,department,phoneNumber",
            "--header",
            "human",
            "--sink",
            "md:users.md",
            "--sink",
            "jsonl:users.jsonl",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let md = std::fs::read_to_string(dir.path().join("users.md")).unwrap();
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines[0], "# Target users of Initech");
    assert_eq!(lines[2], "| Email | Department | Phone Number |");
    assert_eq!(lines[3], "| --- | --- | --- |");
    let rows = &lines[4..];
    let jsonl_rows = std::fs::read_to_string(dir.path().join("users.jsonl"))
        .unwrap()
        .lines()
        .count();
    assert_eq!(
        rows.len(),
        jsonl_rows,
        "one row per user, like the built-in jsonl sink of the same run"
    );
    assert!(rows.len() >= 100, "{}", rows.len());
    // Every row has exactly three cells: `|` inside values is escaped.
    for row in rows {
        let unescaped_bars = row
            .match_indices('|')
            .filter(|(i, _)| *i == 0 || row.as_bytes()[i - 1] != b'\\')
            .count();
        assert_eq!(unescaped_bars, 4, "{row}");
    }
}

#[test]
fn escaping_keeps_the_table_intact() {
    assert_eq!(keepnet_export_markdown::escape("a|b\nc"), "a\\|b<br>c");
}

#[test]
fn built_in_commands_and_help_are_kept() {
    let dir = tempfile::tempdir().unwrap();
    let help = run(dir.path(), &["users", "--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("--sink") && text.contains("--columns"),
        "{text}"
    );
    let companies = run(dir.path(), &["--sandbox", "companies", "--format", "json"]);
    assert!(companies.status.success());
    let unknown = run(
        dir.path(),
        &[
            "--sandbox",
            "users",
            "--company",
            "Initech",
            "--sink",
            "pdf:x",
        ],
    );
    assert_eq!(unknown.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unknown.stderr).contains("md: Markdown table"),
        "the new kind is listed"
    );
}

/// A team's own kind declares its option the way the built-in kinds declare theirs: set by
/// flag or environment, checked before any request, with the same kind of message.
#[test]
fn the_md_kind_declares_its_own_option() {
    let dir = tempfile::tempdir().unwrap();
    let export = |extra: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_keepnet-export-md"));
        for (key, _) in std::env::vars().filter(|(k, _)| k.starts_with("KEEPNET_")) {
            cmd.env_remove(key);
        }
        if let Some(option) = env {
            cmd.env("KEEPNET_SINK_OPTION", option);
        }
        let mut args = vec![
            "--sandbox",
            "users",
            "--company",
            "Initech",
            "--columns",
            "email",
            "--sink",
            "md:users.md",
        ];
        args.extend(extra);
        cmd.args(args).current_dir(dir.path()).output().unwrap()
    };
    let heading = || {
        std::fs::read_to_string(dir.path().join("users.md"))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned()
    };
    let flag = export(&["--sink-option", "md.heading-level=3"], None);
    assert!(
        flag.status.success(),
        "{}",
        String::from_utf8_lossy(&flag.stderr)
    );
    assert_eq!(heading(), "### Target users of Initech");
    let env = export(&[], Some("md.heading-level=2"));
    assert!(
        env.status.success(),
        "{}",
        String::from_utf8_lossy(&env.stderr)
    );
    assert_eq!(heading(), "## Target users of Initech");

    let too_deep = export(&["--sink-option", "md.heading-level=7"], None);
    assert_eq!(too_deep.status.code(), Some(2));
    let text = String::from_utf8_lossy(&too_deep.stderr);
    assert!(
        text.contains("--sink-option md.heading-level=7: md.heading-level: \"7\" is not a whole number from 1 to 6"),
        "{text}"
    );
    assert_eq!(
        heading(),
        "## Target users of Initech",
        "the earlier file is kept"
    );
    let typo = export(&["--sink-option", "md.heading-levl=2"], None);
    let text = String::from_utf8_lossy(&typo.stderr);
    assert!(text.contains("did you mean md.heading-level?"), "{text}");
}
