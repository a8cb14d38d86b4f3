//! The exec sink against real child processes: a Python plugin (`tests/plugin.py`) and shell
//! commands.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use keepnet_sink::conformance::{sample_columns, sample_export, sample_rows};
use keepnet_sink::{Cell, HeaderStyle, Sink, SinkError};
use keepnet_sink_exec::{discover_in, header_line, ExecCommand, ExecSink};
use serde_json::{json, Value};

const PYTHON: &str = "/usr/bin/python3";

fn plugin(mode: &str, out: &Path) -> ExecCommand {
    ExecCommand::Program {
        path: PYTHON.into(),
        args: vec![
            concat!(env!("CARGO_MANIFEST_DIR"), "/tests/plugin.py").into(),
            mode.into(),
            out.to_str().unwrap().into(),
        ],
    }
}

fn read_json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap()
}

fn pid_of(out: &Path) -> u32 {
    let mut path = out.as_os_str().to_owned();
    path.push(".pid");
    std::fs::read_to_string(PathBuf::from(path))
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

/// Whether `pid` is no longer a running process (gone, or a zombie someone else must reap).
fn is_dead(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat[stat.rfind(')').unwrap() + 1..]
            .trim_start()
            .starts_with('Z'),
    }
}

/// The JSON a cell should arrive as, worked out independently of the encoder.
fn expected_cell(cell: &Cell<'_>) -> Value {
    match cell {
        Cell::Null => Value::Null,
        Cell::Text(text) | Cell::DateTime { text, .. } => json!(text),
        Cell::Bool(b) => json!(b),
        Cell::Json(raw) => serde_json::from_str(raw).unwrap(),
        Cell::Fields(fields) => Value::Object(
            fields
                .iter()
                .map(|f| (f.name.to_owned(), expected_cell(&f.value)))
                .collect(),
        ),
    }
}

fn expected_rows(style: HeaderStyle) -> Vec<Value> {
    let columns = sample_columns();
    sample_rows()
        .iter()
        .map(|row| {
            Value::Object(
                columns
                    .iter()
                    .zip(row)
                    .map(|(c, cell)| (c.header(style).to_owned(), expected_cell(cell)))
                    .collect(),
            )
        })
        .collect()
}

/// Runs the sample export through `sink` up to and including `finish`.
fn run(sink: &mut ExecSink) -> Result<(), SinkError> {
    sink.begin(&sample_export(), &sample_columns())?;
    for row in sample_rows() {
        sink.write_row(&row)?;
    }
    sink.finish()
}

#[test]
fn python_plugin_receives_header_every_row_and_the_trailer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("summary.json");
    let mut sink = ExecSink::new(plugin("ok", &out), HeaderStyle::Api);
    run(&mut sink).unwrap();
    assert_eq!(
        sink.commit().unwrap(),
        vec![],
        "the plugin owns its outputs"
    );
    let got = read_json(&out);

    let header = &got["header"];
    assert_eq!(header["protocol"], "keepnet-export/rows");
    assert_eq!(header["version"], 1);
    assert_eq!(header["keys"], "api");
    assert_eq!(header["export"]["company"]["name"], "Müşteri A.Ş.");
    assert_eq!(header["export"]["company"]["resourceId"], "xC5kfGz7w2Nz");
    assert_eq!(header["export"]["startedAt"], "2024-03-05T10:15:30.123Z");
    assert_eq!(header["export"]["expectedRows"], 8);
    assert_eq!(
        header["columns"],
        json!([
            {"key": "email", "label": "Email", "kind": "text"},
            {"key": "firstName", "label": "First Name", "kind": "text"},
            {"key": "department", "label": "Department", "kind": "text"},
            {"key": "phoneNumber", "label": "Phone Number", "kind": "identifier"},
            {"key": "createTime", "label": "Created", "kind": "dateTime"},
            {"key": "isEditable", "label": "Editable", "kind": "bool"},
            {"key": "customFieldValues", "label": "Custom Fields", "kind": "fields"},
            {"key": "newField", "label": "New Field", "kind": "json"},
        ])
    );

    assert_eq!(got["rows"], Value::Array(expected_rows(HeaderStyle::Api)));
    // Spot checks of exact values, in case both sides of the comparison were wrong alike.
    let rows = got["rows"].as_array().unwrap();
    assert_eq!(rows[0]["firstName"], "Ayşe İğdır");
    assert_eq!(rows[3]["firstName"], "Иван\nline two");
    assert_eq!(rows[5]["department"], Value::Null);
    assert_eq!(rows[5]["phoneNumber"], "00123");
    assert_eq!(rows[0]["isEditable"], true);
    assert_eq!(rows[2]["createTime"], "not a date");
    assert_eq!(
        rows[0]["customFieldValues"],
        json!({"Employee Number": "000123", "Cost Center": "=1+1"})
    );

    assert_eq!(got["trailer"], json!({"end": true, "rows": 8}));
    assert_eq!(got["after"], "", "stdin ends right after the trailer");
    assert_eq!(
        got["env"],
        json!({
            "KEEPNET_EXPORT_PROTOCOL": "1",
            "KEEPNET_EXPORT_COMPANY": "Müşteri A.Ş.",
            "KEEPNET_EXPORT_COMPANY_ID": "xC5kfGz7w2Nz",
        })
    );
    assert!(is_dead(pid_of(&out)));
}

#[test]
fn human_header_style_keys_rows_by_label() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("summary.json");
    let mut sink = ExecSink::new(plugin("ok", &out), HeaderStyle::Human);
    run(&mut sink).unwrap();
    let got = read_json(&out);
    assert_eq!(got["header"]["keys"], "human");
    assert_eq!(
        got["header"]["columns"][1]["key"], "firstName",
        "keys stay API keys"
    );
    assert_eq!(got["rows"], Value::Array(expected_rows(HeaderStyle::Human)));
    assert_eq!(got["rows"][0]["First Name"], "Ayşe İğdır");
    assert_eq!(got["trailer"]["rows"], 8);
}

#[test]
fn shell_plugin_receives_exactly_header_rows_and_trailer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("stream.jsonl");
    let command = ExecCommand::Shell(format!("cat > '{}'", out.display()));
    let mut export = sample_export();
    export.expected_rows = None;
    let columns = sample_columns();
    let mut sink = ExecSink::new(command, HeaderStyle::Api);
    sink.begin(&export, &columns).unwrap();
    let mut want = header_line(&export, &columns, HeaderStyle::Api);
    want.push(b'\n');
    let keys: Vec<String> = columns.iter().map(|c| c.key.clone()).collect();
    for row in sample_rows() {
        sink.write_row(&row).unwrap();
        keepnet_sink_jsonl::encode_row(&mut want, &keys, &row).unwrap();
        want.push(b'\n');
    }
    sink.finish().unwrap();
    want.extend_from_slice(b"{\"end\":true,\"rows\":8}\n");
    let got = std::fs::read(&out).unwrap();
    assert_eq!(
        String::from_utf8(got).unwrap(),
        String::from_utf8(want).unwrap()
    );
    assert!(std::str::from_utf8(&std::fs::read(&out).unwrap())
        .unwrap()
        .contains("\"expectedRows\":null"));
}

#[test]
fn an_empty_export_still_gets_header_and_trailer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("summary.json");
    let mut sink = ExecSink::new(plugin("ok", &out), HeaderStyle::Api);
    sink.begin(&sample_export(), &sample_columns()).unwrap();
    sink.finish().unwrap();
    let got = read_json(&out);
    assert_eq!(got["rows"], json!([]));
    assert_eq!(got["trailer"], json!({"end": true, "rows": 0}));
}

#[test]
fn a_non_zero_exit_status_fails_finish() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("summary.json");
    let mut sink = ExecSink::new(plugin("exit3", &out), HeaderStyle::Api);
    let error = run(&mut sink).unwrap_err().to_string();
    assert!(error.contains("exited with status 3"), "{error}");
    assert!(error.contains("plugin.py"), "names the command: {error}");
    assert!(
        sink.commit().is_err(),
        "nothing to commit after a failed finish"
    );
    sink.abort(); // the runner's next step: harmless

    let mut sink = ExecSink::new(
        ExecCommand::Shell("cat > /dev/null; exit 3".into()),
        HeaderStyle::Api,
    );
    let error = run(&mut sink).unwrap_err().to_string();
    assert_eq!(error, "exec `cat > /dev/null; exit 3` exited with status 3");
}

#[test]
fn a_plugin_killed_by_a_signal_is_reported() {
    let mut sink = ExecSink::new(
        ExecCommand::Shell("cat > /dev/null; kill -s TERM $$".into()),
        HeaderStyle::Api,
    );
    let error = run(&mut sink).unwrap_err().to_string();
    assert!(error.contains("killed by signal 15 (SIGTERM)"), "{error}");
}

#[test]
fn a_plugin_dying_mid_stream_fails_the_run_without_hanging() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("summary.json");
    let start = Instant::now();
    let mut sink = ExecSink::new(plugin("die-after-header", &out), HeaderStyle::Api);
    sink.begin(&sample_export(), &sample_columns()).unwrap();
    let rows = sample_rows();
    // Far more than the pipe and the sink's buffer hold.
    let mut result = Ok(());
    for _ in 0..5_000 {
        result = rows.iter().try_for_each(|row| sink.write_row(row));
        if result.is_err() {
            break;
        }
    }
    let error = match result {
        Err(e) => e,
        Ok(()) => sink.finish().unwrap_err(),
    }
    .to_string();
    assert!(error.contains("stopped reading its input"), "{error}");
    assert!(error.contains("exited with status 1"), "{error}");
    sink.abort();
    assert!(is_dead(pid_of(&out)));
    assert!(start.elapsed() < Duration::from_secs(5));

    // Small enough to sit in the buffer: the failure shows at finish.
    let out = dir.path().join("again.json");
    let mut sink = ExecSink::new(plugin("die-after-header", &out), HeaderStyle::Api);
    sink.begin(&sample_export(), &sample_columns()).unwrap();
    // Let it read the header and exit (a zombie until the sink reaps it).
    let pid_file = out.with_extension("json.pid");
    while std::fs::read_to_string(&pid_file).map_or(true, |p| !is_dead(p.parse().unwrap())) {
        std::thread::sleep(Duration::from_millis(5));
    }
    sink.write_row(&rows[0]).unwrap();
    let error = sink.finish().unwrap_err().to_string();
    assert!(
        error.contains("after 1 rows: it exited with status 1"),
        "{error}"
    );
}

#[test]
fn abort_closes_stdin_without_the_trailer() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("summary.json");
    let mut sink = ExecSink::new(plugin("ok", &out), HeaderStyle::Api);
    sink.begin(&sample_export(), &sample_columns()).unwrap();
    for row in &sample_rows()[..3] {
        sink.write_row(row).unwrap();
    }
    let start = Instant::now();
    sink.abort();
    assert!(start.elapsed() < Duration::from_secs(2), "it exits on EOF");
    assert_eq!(read_json(&out)["aborted"], true);
    assert!(is_dead(pid_of(&out)), "the plugin is gone");
    sink.abort(); // idempotent
    assert!(sink.finish().is_err());
    assert!(sink.commit().is_err());
}

#[test]
fn dropping_an_unfinished_sink_aborts() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("summary.json");
    let mut sink = ExecSink::new(plugin("ok", &out), HeaderStyle::Api);
    sink.begin(&sample_export(), &sample_columns()).unwrap();
    sink.write_row(&sample_rows()[0]).unwrap();
    drop(sink);
    assert_eq!(read_json(&out)["aborted"], true);
    assert!(is_dead(pid_of(&out)));
}

#[test]
fn abort_kills_a_plugin_that_ignores_stdin_and_its_children() {
    let dir = tempfile::tempdir().unwrap();
    let pids = dir.path().join("pids");
    let marker = dir.path().join("marker");
    let command = ExecCommand::Shell(format!(
        "sleep 30 & echo $$ $! > '{}'; wait; touch '{}'",
        pids.display(),
        marker.display()
    ));
    let mut sink = ExecSink::new(command, HeaderStyle::Api);
    sink.begin(&sample_export(), &sample_columns()).unwrap();
    sink.write_row(&sample_rows()[0]).unwrap();
    let pids = loop {
        match std::fs::read_to_string(&pids) {
            Ok(text) if text.ends_with('\n') => break text,
            _ => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let start = Instant::now();
    sink.abort();
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1_900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    // SIGKILL takes effect when the process is next scheduled: give the grandchild a moment.
    for pid in pids.split_whitespace() {
        let pid = pid.parse().unwrap();
        let deadline = Instant::now() + Duration::from_millis(500);
        while !is_dead(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(is_dead(pid), "{pid} of {pids:?} still runs");
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        !marker.exists(),
        "the shell went on after its child was killed"
    );
}

#[test]
fn a_missing_program_is_invalid_at_begin() {
    let mut sink = ExecSink::new(
        ExecCommand::Program {
            path: "/nonexistent/keepnet-export-sink-foo".into(),
            args: vec!["x".into()],
        },
        HeaderStyle::Api,
    );
    match sink.begin(&sample_export(), &sample_columns()) {
        Err(SinkError::Invalid(message)) => assert_eq!(
            message,
            "exec: cannot start `/nonexistent/keepnet-export-sink-foo x`: No such file or directory"
        ),
        other => panic!("{other:?}"),
    }
    assert!(sink.write_row(&sample_rows()[0]).is_err());
    sink.abort();
}

#[test]
fn new_starts_nothing_and_abort_before_begin_is_harmless() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let mut sink = ExecSink::new(
        ExecCommand::Shell(format!("touch '{}'", marker.display())),
        HeaderStyle::Api,
    );
    sink.abort();
    drop(sink);
    assert!(!marker.exists());
}

#[cfg(unix)]
#[test]
fn discover_finds_executable_plugins_only() {
    use std::os::unix::fs::PermissionsExt;
    let first = tempfile::tempdir().unwrap();
    let second = tempfile::tempdir().unwrap();
    let make = |dir: &Path, name: &str, mode: u32| {
        let path = dir.join(name);
        std::fs::write(&path, "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    };
    let md = make(second.path(), "keepnet-export-sink-md", 0o755);
    make(first.path(), "keepnet-export-sink-txt", 0o644);
    make(second.path(), "keepnet-export-sink-txt", 0o600);
    std::fs::create_dir(first.path().join("keepnet-export-sink-dir")).unwrap();
    let later = make(second.path(), "keepnet-export-sink-both", 0o700);
    let earlier = make(first.path(), "keepnet-export-sink-both", 0o750);
    make(first.path(), "x", 0o755);

    let path = std::env::join_paths([
        Path::new("relative/dir"),
        first.path(),
        Path::new(""),
        second.path(),
    ])
    .unwrap();
    assert_eq!(discover_in("md", &path), Some(md));
    assert_eq!(discover_in("both", &path), Some(earlier), "PATH order wins");
    assert_ne!(discover_in("both", &path), Some(later));
    assert_eq!(discover_in("txt", &path), None, "not executable");
    assert_eq!(discover_in("dir", &path), None, "not a file");
    assert_eq!(discover_in("nope", &path), None);
    for bad in ["../x", "A B", "", "MD", "md/../md", "m.d", "md\n"] {
        assert_eq!(discover_in(bad, &path), None, "{bad:?}");
    }
    // A relative PATH entry is never searched (no plugin from the current directory).
    let cwd_like = std::env::join_paths([Path::new(".")]).unwrap();
    assert_eq!(discover_in("md", &cwd_like), None);
}

#[test]
fn header_line_is_one_compact_json_line() {
    let line = header_line(&sample_export(), &sample_columns(), HeaderStyle::Human);
    let text = String::from_utf8(line).unwrap();
    assert!(!text.contains('\n'));
    assert!(text.starts_with(
        r#"{"protocol":"keepnet-export/rows","version":1,"export":{"company":{"name":"Müşteri A.Ş.","resourceId":"xC5kfGz7w2Nz"},"startedAt":"2024-03-05T10:15:30.123Z","expectedRows":8},"columns":[{"key":"email","label":"Email","kind":"text"},"#
    ));
    assert!(text.ends_with(
        r#"{"key":"customFieldValues","label":"Custom Fields","kind":"fields"},{"key":"newField","label":"New Field","kind":"json"}],"keys":"human"}"#
    ));
}
