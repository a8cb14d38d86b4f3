//! The CSV sink against the shared conformance harness, plus CSV-specific guarantees.

use std::path::Path;

use keepnet_sink::conformance::{check_file_sink, sample_columns, sample_export};
use keepnet_sink::{safety, Cell, Column, HeaderStyle, Sink};
use keepnet_sink_csv::{CsvOptions, CsvSink};
use proptest::prelude::*;

fn read(path: &Path) -> Vec<Vec<String>> {
    read_with(path, b',')
}

fn read_with(path: &Path, delimiter: u8) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .delimiter(delimiter)
        .from_path(path)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

#[test]
fn conformance_guarded() {
    check_file_sink(
        |p| CsvSink::new(p, CsvOptions::default()),
        read,
        |_: &Column, cell: &Cell<'_>| safety::guard(&cell.to_text()).into_owned(),
    );
}

#[test]
fn conformance_raw() {
    check_file_sink(
        |p| {
            CsvSink::new(
                p,
                CsvOptions {
                    guard_formulas: false,
                    ..CsvOptions::default()
                },
            )
        },
        read,
        |_: &Column, cell: &Cell<'_>| cell.to_text().into_owned(),
    );
}

fn write(path: &Path, options: CsvOptions, rows: &[Vec<Cell<'_>>], columns: &[Column]) -> Vec<u8> {
    let mut sink = CsvSink::new(path, options);
    sink.begin(&sample_export(), columns).unwrap();
    for row in rows {
        sink.write_row(row).unwrap();
    }
    sink.finish().unwrap();
    sink.commit().unwrap();
    std::fs::read(path).unwrap()
}

#[test]
fn rfc4180_bytes_bom_delimiter_and_human_header() {
    let dir = tempfile::tempdir().unwrap();
    let columns = vec![
        Column::new("firstName", "First Name", keepnet_sink::ColumnKind::Text),
        Column::new(
            "phoneNumber",
            "Phone Number",
            keepnet_sink::ColumnKind::Identifier,
        ),
    ];
    let rows = vec![
        vec![Cell::Text("Ayşe \"A\", B"), Cell::Text("+90 532 000 00 00")],
        vec![Cell::Text("line\nbreak"), Cell::Text("=cmd")],
    ];
    let path = dir.path().join("a.csv");
    let bytes = write(&path, CsvOptions::default(), &rows, &columns);
    assert_eq!(
        String::from_utf8(bytes).unwrap(),
        "firstName,phoneNumber\r\n\"Ayşe \"\"A\"\", B\",+90 532 000 00 00\r\n\"line\nbreak\",'=cmd\r\n"
    );

    let path = dir.path().join("b.csv");
    let options = CsvOptions {
        delimiter: b';',
        bom: true,
        header: HeaderStyle::Human,
        ..CsvOptions::default()
    };
    let bytes = write(&path, options, &rows, &columns);
    assert!(bytes.starts_with("\u{feff}First Name;Phone Number\r\n".as_bytes()));
    let back = read_with(&path, b';');
    assert_eq!(back[1], ["Ayşe \"A\", B", "+90 532 000 00 00"]);
}

#[test]
fn stdout_is_not_a_file() {
    let mut sink = CsvSink::new("-", CsvOptions::default());
    sink.begin(&sample_export(), &sample_columns()).unwrap();
    sink.finish().unwrap();
    assert!(
        sink.commit().unwrap().is_empty(),
        "stdout publishes no artifact"
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]
    /// Any text survives the round trip: raw exactly, guarded with at most a leading `'`.
    #[test]
    fn arbitrary_strings_round_trip(values in proptest::collection::vec(any::<String>(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let columns: Vec<Column> = (0..values.len())
            .map(|i| Column::new(format!("c{i}"), format!("C{i}"), keepnet_sink::ColumnKind::Text))
            .collect();
        let row: Vec<Cell<'_>> = values.iter().map(|v| Cell::Text(v)).collect();
        let raw = dir.path().join("raw.csv");
        write(&raw, CsvOptions { guard_formulas: false, ..CsvOptions::default() }, std::slice::from_ref(&row), &columns);
        prop_assert_eq!(&read(&raw)[1], &values);
        let guarded = dir.path().join("guarded.csv");
        write(&guarded, CsvOptions::default(), &[row], &columns);
        let back = &read(&guarded)[1];
        for (got, want) in back.iter().zip(&values) {
            prop_assert_eq!(got, &safety::guard(want).into_owned());
            prop_assert!(!safety::is_dangerous(got));
        }
    }
}

/// The all-or-nothing publication beside failing and healthy neighbours (keepnet_sink::publish).
#[test]
fn conformance_publication() {
    keepnet_sink::conformance::check_publication(|p| CsvSink::new(p, CsvOptions::default()));
}
