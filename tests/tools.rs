//! `whoami`, `completions` and `man`.

use serde_json::Value;

use crate::util::{run_bare, Env};

#[test]
fn whoami_shows_a_reseller_that_can_export() {
    let env = Env::small(3, 10);
    let out = env.run(&["whoami"]);
    let text = out.ok();
    assert!(text.contains("role:            Reseller"), "{text}");
    assert!(text.contains("Northwind MSSP"), "{text}");
    assert_eq!(text.matches("ok ").count(), 4, "{text}");
    let json: Value = serde_json::from_str(env.run(&["whoami", "--format", "json"]).ok()).unwrap();
    assert_eq!(json["canExport"], true);
    assert_eq!(json["permissions"].as_array().unwrap().len(), 4);
    let all = format!("{}{}", out.stdout, out.stderr);
    assert!(
        !all.contains(&env.sandbox.reseller().client_secret) && !all.contains("eyJ"),
        "no secret, no token"
    );
}

#[test]
fn whoami_fails_precisely_for_a_company_admin() {
    let env = Env::small(3, 10);
    let run = Env::run_cmd(env.command_as(&env.sandbox.company_admin()), &["whoami"]);
    run.fails_with(
        4,
        &["Company Admin", "not a Reseller", "Client Role = Reseller"],
    );
    assert!(run.stdout.contains("Globex Corporation"), "{}", run.stdout);
}

#[test]
fn completions_and_man_page_come_from_the_same_definitions() {
    let dir = tempfile::tempdir().unwrap();
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = run_bare(&["completions", shell], dir.path());
        let script = run.ok();
        for word in ["keepnet-export", "users", "company", "sink", "whoami"] {
            assert!(script.contains(word), "{shell} completion mentions {word}");
        }
    }
    let man = run_bare(&["man"], dir.path());
    let page = man.ok();
    assert!(
        page.starts_with(".ie") || page.contains(".TH keepnet-export 1"),
        "{page}"
    );
    assert!(page.contains("keepnet\\-export\\-users") || page.contains("users"));
    run_bare(&["completions", "tcsh"], dir.path()).fails_with(2, &["invalid value"]);
}
