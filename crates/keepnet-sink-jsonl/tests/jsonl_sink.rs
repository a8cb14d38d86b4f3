//! The JSON Lines sink against the shared conformance harness.

use std::path::Path;

use keepnet_sink::conformance::{check_file_sink, sample_columns};
use keepnet_sink::{Cell, Column, HeaderStyle};
use keepnet_sink_jsonl::JsonlSink;
use serde_json::Value;

fn text_of(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        // serde_json's Map iterates sorted by key.
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}: {}", text_of(v)))
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// Reads the file back as rows of text in column order, with the keys as a header row, and
/// checks each line is one object with exactly those keys.
fn read(path: &Path) -> Vec<Vec<String>> {
    let keys: Vec<String> = sample_columns().iter().map(|c| c.key.clone()).collect();
    let mut rows = vec![keys.clone()];
    for line in std::fs::read_to_string(path).unwrap().lines() {
        let object: serde_json::Map<String, Value> = serde_json::from_str(line).unwrap();
        assert_eq!(object.len(), keys.len(), "one key per column");
        let positions: Vec<usize> = keys
            .iter()
            .map(|k| line.find(&format!("\"{k}\":")).unwrap())
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "keys in column order: {line}"
        );
        rows.push(keys.iter().map(|k| text_of(&object[k])).collect());
    }
    rows
}

#[test]
fn conformance() {
    check_file_sink(
        |p| JsonlSink::new(p, HeaderStyle::Api),
        read,
        // JSON objects are unordered: compare custom fields sorted by name on both sides.
        |_: &Column, cell: &Cell<'_>| match cell {
            Cell::Fields(fields) => {
                let mut fields = fields.to_vec();
                fields.sort_by_key(|f| f.name);
                Cell::Fields(&fields).to_text().into_owned()
            }
            other => other.to_text().into_owned(),
        },
    );
}

#[test]
fn values_keep_their_json_types() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.jsonl");
    let rows = keepnet_sink::conformance::sample_rows();
    let mut sink = JsonlSink::new(&path, HeaderStyle::Human);
    use keepnet_sink::Sink;
    sink.begin(
        &keepnet_sink::conformance::sample_export(),
        &sample_columns(),
    )
    .unwrap();
    sink.write_row(&rows[0]).unwrap();
    sink.write_row(&rows[3]).unwrap();
    sink.finish().unwrap();
    sink.commit().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["Editable"], Value::Bool(true));
    assert_eq!(lines[0]["Created"], "2024-03-05T10:15:30.123Z");
    assert_eq!(lines[0]["Custom Fields"]["Employee Number"], "000123");
    assert_eq!(
        lines[0]["Custom Fields"]["Cost Center"], "=1+1",
        "no guard in JSON"
    );
    assert_eq!(lines[1]["Phone Number"], Value::Null);
    assert_eq!(lines[1]["Custom Fields"], Value::Null);
}
