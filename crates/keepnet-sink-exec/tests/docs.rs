//! `docs/exec-protocol.md` stays true: its example session is what the sink sends, and its
//! Python plugin works.

use std::path::{Path, PathBuf};

use keepnet_sink::{Cell, Column, ColumnKind, ExportInfo, Field, HeaderStyle, Sink, Timestamp};
use keepnet_sink_exec::{ExecCommand, ExecSink};

fn doc() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/exec-protocol.md");
    std::fs::read_to_string(path).unwrap()
}

/// The first fenced block opened with exactly "```lang".
fn block(doc: &str, lang: &str) -> String {
    let open = format!("```{lang}\n");
    let start = doc.find(&open).unwrap_or_else(|| panic!("no {lang} block")) + open.len();
    let len = doc[start..].find("```\n").unwrap();
    doc[start..start + len].to_owned()
}

fn export() -> ExportInfo {
    ExportInfo {
        company_name: "Acme Holdings".into(),
        company_id: "xC5kfGz7w2Nz".into(),
        started_at: Timestamp::parse("2026-11-27T04:10:00Z").unwrap(),
        expected_rows: Some(2),
    }
}

fn columns() -> Vec<Column> {
    vec![
        Column::new("email", "Email", ColumnKind::Text),
        Column::new("firstName", "First Name", ColumnKind::Text),
        Column::new("phoneNumber", "Phone Number", ColumnKind::Identifier),
        Column::new("createTime", "Created", ColumnKind::DateTime),
        Column::new("isEditable", "Editable", ColumnKind::Bool),
        Column::new("customFieldValues", "Custom Fields", ColumnKind::Fields),
    ]
}

const FIELDS: [Field<'static>; 1] = [Field {
    name: "Employee Number",
    value: Cell::Text("000123"),
}];

/// Feeds the documented export to `command`; `complete` says whether the run succeeds.
fn feed(command: ExecCommand, complete: bool) -> Result<(), keepnet_sink::SinkError> {
    let rows = [
        vec![
            Cell::Text("ayse@example.com"),
            Cell::Text("Ayşe"),
            Cell::Text("+90 532 000 00 00"),
            Cell::date_time(Some("2024-03-05T10:15:30.123Z")),
            Cell::Bool(true),
            Cell::Fields(&FIELDS),
        ],
        vec![
            Cell::Text("li@example.com"),
            Cell::Text("李\n小龙"),
            Cell::Null,
            Cell::date_time(Some("05/03/2024 10:15:30")),
            Cell::Bool(false),
            Cell::Null,
        ],
    ];
    let mut sink = ExecSink::new(command, HeaderStyle::Api);
    sink.begin(&export(), &columns())?;
    for row in &rows {
        sink.write_row(row)?;
    }
    if complete {
        sink.finish()?;
        sink.commit()?;
    } else {
        sink.abort();
    }
    Ok(())
}

#[test]
fn the_example_session_is_what_a_plugin_receives() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("session.jsonl");
    feed(
        ExecCommand::Shell(format!("cat > '{}'", out.display())),
        true,
    )
    .unwrap();
    let got = std::fs::read_to_string(&out).unwrap();
    assert_eq!(block(&doc(), "jsonl"), got, "update docs/exec-protocol.md");
}

#[test]
fn the_example_python_plugin_publishes_only_complete_runs() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("keepnet-export-sink-emails");
    std::fs::write(&script, block(&doc(), "python")).unwrap();
    let target = dir.path().join("emails.txt");
    let command = |target: &PathBuf| ExecCommand::Program {
        path: "/usr/bin/python3".into(),
        args: vec![
            script.to_str().unwrap().into(),
            target.to_str().unwrap().into(),
        ],
    };
    feed(command(&target), true).unwrap();
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "ayse@example.com\nli@example.com\n"
    );

    let aborted = dir.path().join("aborted.txt");
    feed(command(&aborted), false).unwrap();
    assert!(!aborted.exists());
    let mut left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    left.sort();
    assert_eq!(
        left,
        ["emails.txt", "keepnet-export-sink-emails"],
        "no temporary file left"
    );
}
