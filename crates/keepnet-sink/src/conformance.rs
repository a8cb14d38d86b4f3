//! The shared conformance harness: every sink's tests run [`check_file_sink`] and
//! [`check_publication`] so the guarantees (every row written, nothing published before
//! commit, abort leaves nothing and keeps an earlier file, files private, all or nothing
//! beside other sinks) are proven the same way for each format.
//!
//! Enabled by the `conformance` feature, for dev-dependencies.

use std::path::Path;

use crate::{Cell, Column, ColumnKind, ExportInfo, Field, Sink, Timestamp};

/// Columns of the sample: one of each kind.
pub fn sample_columns() -> Vec<Column> {
    vec![
        Column::new("email", "Email", ColumnKind::Text),
        Column::new("firstName", "First Name", ColumnKind::Text),
        Column::new("department", "Department", ColumnKind::Text),
        Column::new("phoneNumber", "Phone Number", ColumnKind::Identifier),
        Column::new("createTime", "Created", ColumnKind::DateTime),
        Column::new("isEditable", "Editable", ColumnKind::Bool),
        Column::new("customFieldValues", "Custom Fields", ColumnKind::Fields),
        Column::new("newField", "New Field", ColumnKind::Json),
    ]
}

/// Values of a field the client has no type for, as served: an object, a number, text, null.
const JSON_VALUES: [Cell<'static>; 4] = [
    Cell::Json(r#"{"level":3,"tags":["a",true,null],"note":"x, \"y\""}"#),
    Cell::Json("-42"),
    Cell::Text("plain"),
    Cell::Null,
];

const WHEN: Timestamp = Timestamp {
    year: 2024,
    month: 3,
    day: 5,
    hour: 10,
    minute: 15,
    second: 30,
    millisecond: 123,
};

static FIELDS: [Field<'static>; 2] = [
    Field {
        name: "Employee Number",
        value: Cell::Text("000123"),
    },
    Field {
        name: "Cost Center",
        value: Cell::Text("=1+1"),
    },
];

/// Rows full of what real tenants contain: scripts, quotes, separators, newlines, leading
/// zeros, formula-like text, nulls.
pub fn sample_rows() -> Vec<Vec<Cell<'static>>> {
    let texts: [(&str, &str, &str, Option<&str>); 8] = [
        (
            "ayse@example.com",
            "Ayşe İğdır",
            "Satış, \"Kuzey\"",
            Some("+90 532 000 00 00"),
        ),
        (
            "ali@example.com",
            "محمد",
            "=HYPERLINK(\"http://x\",\"y\")",
            Some("0532 000 00 00"),
        ),
        (
            "li@example.com",
            "李小龙",
            "@SUM(A1)",
            Some("+1 (555) 010-0199"),
        ),
        ("ivan@example.com", "Иван\nline two", "-2+3", None),
        (
            "eleni@example.com",
            "Ελένη\ttab",
            "+cmd|' /C calc'!A0",
            Some("-42"),
        ),
        ("emoji@example.com", "Zoë 🎉", "", Some("00123")),
        ("crlf@example.com", "a\r\nb", "\tlead tab", Some("=cmd")),
        ("plain@example.com", "Plain", "R&D <b>", Some("555")),
    ];
    texts
        .iter()
        .enumerate()
        .map(|(i, &(email, first, dept, phone))| {
            vec![
                Cell::Text(email),
                Cell::Text(first),
                if dept.is_empty() {
                    Cell::Null
                } else {
                    Cell::Text(dept)
                },
                Cell::text(phone),
                if i % 3 == 2 {
                    Cell::Text("not a date")
                } else {
                    Cell::DateTime {
                        at: WHEN,
                        text: "2024-03-05T10:15:30.123Z",
                    }
                },
                Cell::Bool(i % 2 == 0),
                if i % 4 == 3 {
                    Cell::Null
                } else {
                    Cell::Fields(&FIELDS)
                },
                JSON_VALUES[i % JSON_VALUES.len()],
            ]
        })
        .collect()
}

/// The export given to `begin`.
pub fn sample_export() -> ExportInfo {
    ExportInfo {
        company_name: "Müşteri A.Ş.".into(),
        company_id: "xC5kfGz7w2Nz".into(),
        started_at: WHEN,
        expected_rows: Some(sample_rows().len() as u64),
    }
}

/// Names in `dir`, sorted.
pub fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Runs a file sink through its whole contract.
///
/// - `make(path)` builds the sink writing to `path`;
/// - `read(path)` reads the published file back as rows of text, header row first;
/// - `expect(column, cell)` is the text the format should hold for that cell.
pub fn check_file_sink<S, M, R, E>(make: M, read: R, expect: E)
where
    S: Sink,
    M: Fn(&Path) -> S,
    R: Fn(&Path) -> Vec<Vec<String>>,
    E: Fn(&Column, &Cell<'_>) -> String,
{
    let columns = sample_columns();
    let rows = sample_rows();
    let export = sample_export();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out.file");

    // 1. A full run publishes every row, exactly once, only at commit.
    let mut sink = make(&target);
    sink.begin(&export, &columns).unwrap();
    for row in &rows {
        sink.write_row(row).unwrap();
    }
    sink.finish().unwrap();
    assert!(!target.exists(), "nothing is published before commit");
    let artifacts = sink.commit().unwrap();
    assert_eq!(artifacts.len(), 1, "one file published");
    assert_eq!(artifacts[0].path, target);
    assert_eq!(artifacts[0].rows, rows.len() as u64);
    assert_eq!(
        artifacts[0].bytes,
        std::fs::metadata(&target).unwrap().len()
    );
    assert_eq!(
        files_in(dir.path()),
        ["out.file"],
        "no temporary file remains"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "exports are private to their owner");
    }
    let back = read(&target);
    assert_eq!(
        back.len(),
        rows.len() + 1,
        "header + one line per row: {back:?}"
    );
    for (got, row) in back[1..].iter().zip(&rows) {
        let want: Vec<String> = columns
            .iter()
            .zip(row)
            .map(|(c, cell)| expect(c, cell))
            .collect();
        assert_eq!(got, &want);
    }
    let published = std::fs::read(&target).unwrap();

    // 2. An abort mid-stream leaves the earlier file byte-identical and no temporary file.
    let mut sink = make(&target);
    sink.begin(&export, &columns).unwrap();
    sink.write_row(&rows[0]).unwrap();
    sink.abort();
    drop(sink);
    assert_eq!(
        std::fs::read(&target).unwrap(),
        published,
        "earlier export untouched"
    );
    assert_eq!(files_in(dir.path()), ["out.file"]);

    // 3. A sink dropped after finish but before commit publishes nothing either.
    let other = dir.path().join("other.file");
    let mut sink = make(&other);
    sink.begin(&export, &columns).unwrap();
    sink.write_row(&rows[1]).unwrap();
    sink.finish().unwrap();
    drop(sink);
    assert!(!other.exists());
    assert_eq!(files_in(dir.path()), ["out.file"]);

    // 4. No rows at all is still a valid file with its header.
    let empty = dir.path().join("empty.file");
    let mut sink = make(&empty);
    sink.begin(&export, &columns).unwrap();
    sink.finish().unwrap();
    sink.commit().unwrap();
    let back = read(&empty);
    assert_eq!(back.len(), 1, "header only: {back:?}");
}

/// A sink that fails at one step, to put a real sink's neighbours in trouble.
struct Refusing {
    /// Fail in `finish` and ask to be finished last (as a plugin does), instead of in `commit`.
    at_finish: bool,
}

impl Sink for Refusing {
    fn write_row(&mut self, _row: &[Cell<'_>]) -> Result<(), crate::SinkError> {
        Ok(())
    }
    fn finish(&mut self) -> Result<(), crate::SinkError> {
        match self.at_finish {
            true => Err(crate::SinkError::other("refused at finish")),
            false => Ok(()),
        }
    }
    fn commit(&mut self) -> Result<Vec<crate::Artifact>, crate::SinkError> {
        Err(crate::SinkError::other("refused at commit"))
    }
    fn finish_last(&self) -> bool {
        self.at_finish
    }
}

/// Runs a file sink through the all-or-nothing publication of [`crate::publish`] beside
/// other sinks: beside one that cannot commit (placed first, so this one is aborted), beside
/// a finish-last sink that fails (everything aborted), and beside another of its kind (both
/// published, in order). Each time an earlier file at the target is either replaced whole or
/// kept byte for byte, and no temporary file is left.
pub fn check_publication<S, M>(make: M)
where
    S: Sink,
    M: Fn(&Path) -> S,
{
    use crate::publish::{commit_all, finish_last};
    let columns = sample_columns();
    let export = sample_export();
    let feed = |sink: &mut dyn Sink| {
        sink.begin(&export, &columns).unwrap();
        for row in &sample_rows() {
            sink.write_row(row).unwrap();
        }
    };
    for at_finish in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.file");
        std::fs::write(&target, b"previous").unwrap();
        let mut real = make(&target);
        let mut refusing = Refusing { at_finish };
        feed(&mut real);
        feed(&mut refusing);
        real.finish().unwrap();
        let failed = if at_finish {
            let mut set: Vec<&mut dyn Sink> = vec![&mut real, &mut refusing];
            finish_last(&mut set).unwrap_err()
        } else {
            refusing.finish().unwrap();
            let mut set: Vec<&mut dyn Sink> = vec![&mut refusing, &mut real];
            commit_all(&mut set).unwrap_err()
        };
        let expected_index = usize::from(at_finish);
        assert_eq!(failed.index, expected_index, "the failing sink is named");
        assert_eq!(
            std::fs::read(&target).unwrap(),
            b"previous",
            "a neighbour's failure keeps the earlier file (at_finish: {at_finish})"
        );
        assert_eq!(files_in(dir.path()), ["out.file"], "no temporary file");
    }
    // Two of a kind, both fine: both published, in order.
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (dir.path().join("a.file"), dir.path().join("b.file"));
    let (mut first, mut second) = (make(&a), make(&b));
    for sink in [&mut first as &mut dyn Sink, &mut second] {
        feed(sink);
        sink.finish().unwrap();
    }
    let mut set: Vec<&mut dyn Sink> = vec![&mut first, &mut second];
    finish_last(&mut set).unwrap();
    let published = commit_all(&mut set).unwrap();
    let paths: Vec<_> = published.artifacts.iter().map(|x| x.path.clone()).collect();
    assert_eq!(paths, [a, b]);
    assert_eq!(files_in(dir.path()), ["a.file", "b.file"]);
}
