//! The plugin's environment: the protocol variables, and none of the runner's `KEEPNET_*`
//! settings (credentials). Its own test binary: it changes this process's environment before
//! any child is started.

use keepnet_sink::conformance::{sample_columns, sample_export};
use keepnet_sink::{HeaderStyle, Sink};
use keepnet_sink_exec::{ExecCommand, ExecSink};

#[test]
fn the_plugin_gets_the_protocol_variables_and_no_runner_secret() {
    std::env::set_var("KEEPNET_CLIENT_SECRET", "s3cret");
    std::env::set_var("KEEPNET_SMTP_PASSWORD", "hunter2");
    std::env::set_var("KEEPNET_EXPORT_COMPANY", "stale");
    std::env::set_var("UNRELATED_SETTING", "kept");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("env.txt");
    let mut sink = ExecSink::new(
        ExecCommand::Shell(format!("cat > /dev/null; env > '{}'", out.display())),
        HeaderStyle::Api,
    );
    sink.begin(&sample_export(), &sample_columns()).unwrap();
    sink.finish().unwrap();
    let env = std::fs::read_to_string(&out).unwrap();
    let mut keepnet: Vec<&str> = env.lines().filter(|l| l.starts_with("KEEPNET_")).collect();
    keepnet.sort();
    assert_eq!(
        keepnet,
        [
            "KEEPNET_EXPORT_COMPANY=Müşteri A.Ş.",
            "KEEPNET_EXPORT_COMPANY_ID=xC5kfGz7w2Nz",
            "KEEPNET_EXPORT_PROTOCOL=1",
        ]
    );
    assert!(env.lines().any(|l| l == "UNRELATED_SETTING=kept"));
}
