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
        // Sorted by key, whatever order the file has.
        Value::Object(map) => {
            let mut pairs: Vec<_> = map.iter().collect();
            pairs.sort_by_key(|(k, _)| k.as_str());
            pairs
                .iter()
                .map(|(k, v)| format!("{k}: {}", text_of(v)))
                .collect::<Vec<_>>()
                .join("; ")
        }
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
            // Raw JSON arrives as the value it is.
            Cell::Json(raw) => text_of(&serde_json::from_str(raw).unwrap()),
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
    assert_eq!(
        lines[0]["New Field"],
        serde_json::json!({"level": 3, "tags": ["a", true, null], "note": "x, \"y\""}),
        "a raw value is embedded unchanged"
    );
    assert_eq!(lines[1]["New Field"], Value::Null);
}

#[test]
fn a_record_column_writes_each_record_as_served() {
    use keepnet_sink::{ColumnKind, Sink};
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("r.jsonl");
    let records = [
        r#"{"email":"a@b.c","isDeleted":false,"new":{"x":[1,2.5,"é"]},"n":1e3}"#,
        r#"{"resourceId":"u2","managerEmail":null}"#,
    ];
    let mut sink = JsonlSink::new(&path, HeaderStyle::Human);
    sink.begin(
        &keepnet_sink::conformance::sample_export(),
        &[Column::new("*", "Record", ColumnKind::Record)],
    )
    .unwrap();
    for record in records {
        sink.write_row(&[Cell::Json(record)]).unwrap();
    }
    assert!(sink.write_row(&[Cell::Text("x")]).is_err());
    sink.finish().unwrap();
    sink.commit().unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        text,
        format!("{}\n{}\n", records[0], records[1]),
        "byte for byte"
    );
}

/// The all-or-nothing publication beside failing and healthy neighbours (keepnet_sink::publish).
#[test]
fn conformance_publication() {
    keepnet_sink::conformance::check_publication(|p| JsonlSink::new(p, HeaderStyle::Api));
}
