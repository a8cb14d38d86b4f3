//! Formats in any language: `--sink exec:COMMAND` and `keepnet-export-sink-NAME` on PATH.

use serde_json::Value;

use crate::util::Env;

fn plugin() -> String {
    format!(
        "/usr/bin/python3 {}/tests/support/rows_plugin.py",
        env!("CARGO_MANIFEST_DIR")
    )
}

#[test]
fn an_exec_plugin_receives_the_header_and_every_row() {
    let env = Env::small(23, 5);
    let out = env.path("rows.json");
    let sink = format!("exec:{} {}", plugin(), out.display());
    env.run(&[
        "users",
        "--company",
        "Müşteri A.Ş.",
        "--columns",
        "resourceId,email,customFieldValues",
        "--sink",
        &sink,
    ])
    .ok();
    let got: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(got["header"]["export"]["company"]["name"], "Müşteri A.Ş.");
    assert_eq!(got["header"]["columns"].as_array().unwrap().len(), 3);
    let served = env.served(&env.company_id("Müşteri A.Ş."));
    let rows = got["rows"].as_array().unwrap();
    assert_eq!(rows.len(), served.len());
    for (row, user) in rows.iter().zip(&served) {
        assert_eq!(row["resourceId"], user["resourceId"]);
        assert_eq!(row["email"], user["email"]);
    }
}

#[test]
fn a_failing_plugin_fails_the_run_and_nothing_is_published() {
    let env = Env::small(12, 5);
    let csv = env.path("users.csv");
    std::fs::write(&csv, "previous").unwrap();
    let out = env.path("rows.json");
    let run = env.run(&[
        "users",
        "--company",
        "Initech",
        "--sink",
        &format!("csv:{}", csv.display()),
        "--sink",
        &format!("exec:{} {} --fail", plugin(), out.display()),
    ]);
    run.fails_with(
        6,
        &["exited with status 3", "rows_plugin: refusing on purpose"],
    );
    assert_eq!(
        std::fs::read(&csv).unwrap(),
        b"previous",
        "the CSV was not published"
    );
    assert!(!out.exists());
}

#[cfg(unix)]
#[test]
fn a_plugin_on_path_is_a_sink_kind() {
    use std::os::unix::fs::PermissionsExt;
    let env = Env::small(17, 5);
    let bin = env.path("bin");
    std::fs::create_dir(&bin).unwrap();
    let script = bin.join("keepnet-export-sink-count");
    // Counts the rows: every line but the header and the trailer.
    std::fs::write(
        &script,
        "#!/bin/sh\nn=$(($(wc -l) - 2))\nprintf '%s\\n' \"$n\" > \"$1\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = env.path("count.txt");
    let mut cmd = env.command_as(&env.sandbox.reseller());
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    cmd.env("PATH", path);
    Env::run_cmd(
        cmd,
        &[
            "users",
            "--company",
            "Initech",
            "--sink",
            &format!("count:{}", out.display()),
        ],
    )
    .ok();
    let current = env.served(&env.company_id("Initech")).len();
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().trim(),
        current.to_string()
    );
    env.run(&["users", "--company", "Initech", "--sink", "nosuchplugin:x"])
        .fails_with(2, &["keepnet-export-sink-nosuchplugin"]);
}
