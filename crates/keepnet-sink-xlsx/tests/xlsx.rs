//! The XLSX sink, read back with calamine and by unzipping the workbook.

use std::io::Read;
use std::path::Path;

use calamine::{open_workbook, Data, ExcelDateTime, Range, Reader, Xlsx};
use keepnet_sink::conformance::{
    check_file_sink, files_in, sample_columns, sample_export, sample_rows,
};
use keepnet_sink::{Cell, Column, ColumnKind, HeaderStyle, Sink, SinkError, Timestamp};
use keepnet_sink_xlsx::{XlsxOptions, XlsxSink, MAX_CELL_TEXT, MEDIA_TYPE};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Helpers

/// Every sheet of the workbook: its name and cells, from A1 (blank cells as `Data::Empty`).
fn read_sheets(path: &Path) -> Vec<(String, Vec<Vec<Data>>)> {
    let mut workbook: Xlsx<_> = open_workbook(path).expect("a valid xlsx file");
    workbook
        .sheet_names()
        .into_iter()
        .map(|name| {
            let range = workbook.worksheet_range(&name).unwrap();
            (name, grid(&range))
        })
        .collect()
}

fn grid(range: &Range<Data>) -> Vec<Vec<Data>> {
    let Some((last_row, last_col)) = range.end() else {
        return Vec::new();
    };
    (0..=last_row)
        .map(|r| {
            (0..=last_col)
                .map(|c| range.get_value((r, c)).cloned().unwrap_or(Data::Empty))
                .collect()
        })
        .collect()
}

/// ISO 8601 UTC, the way `Timestamp` displays itself.
fn iso(when: &ExcelDateTime) -> String {
    let (y, mo, d, h, mi, s, ms) = when.to_ymd_hms_milli();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
}

/// What calamine shows for a cell, as text.
fn text(cell: &Data) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Bool(b) => b.to_string(),
        Data::DateTime(when) => iso(when),
        other => panic!("unexpected cell type: {other:?}"),
    }
}

/// All sheets' rows as text: the header once, then every data row in order.
fn read_text(path: &Path) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for (name, rows) in read_sheets(path) {
        let mut rows = rows.iter().map(|r| r.iter().map(text).collect::<Vec<_>>());
        let header = rows.next().expect("every sheet has a header");
        match out.first() {
            None => out.push(header),
            Some(first) => assert_eq!(first, &header, "sheet {name} repeats the header"),
        }
        out.extend(rows);
    }
    out
}

/// The text the workbook should show for a sample cell.
fn expected_text(_column: &Column, cell: &Cell<'_>) -> String {
    match cell {
        Cell::Null => String::new(),
        Cell::Text(text) => (*text).to_owned(),
        Cell::Bool(b) => b.to_string(),
        Cell::DateTime { at, .. } => at.to_string(),
        Cell::Fields(_) | Cell::Json(_) => cell.to_text().into_owned(),
    }
}

/// Writes `rows` under `columns` and commits.
fn write(mut sink: XlsxSink, columns: &[Column], rows: &[Vec<Cell<'_>>]) -> XlsxSink {
    sink.begin(&sample_export(), columns).unwrap();
    for row in rows {
        sink.write_row(row).unwrap();
    }
    sink.finish().unwrap();
    let artifacts = sink.commit().unwrap();
    assert_eq!(artifacts.len(), 1);
    assert_eq!(artifacts[0].media_type, MEDIA_TYPE);
    assert_eq!(artifacts[0].rows, rows.len() as u64);
    sink
}

fn sample_workbook(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("users.xlsx");
    let sink = XlsxSink::new(&path, XlsxOptions::default());
    write(sink, &sample_columns(), &sample_rows());
    path
}

/// A file inside the workbook's zip container.
fn part(path: &Path, name: &str) -> String {
    let mut zip = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut xml = String::new();
    zip.by_name(name).unwrap().read_to_string(&mut xml).unwrap();
    xml
}

/// The value of attribute `name` in the first `<tag ...>` of `xml`.
fn attr<'a>(xml: &'a str, tag: &str, name: &str) -> Option<&'a str> {
    let start = xml.find(&format!("<{tag} "))?;
    let end = start + xml[start..].find('>')?;
    let element = &xml[start..end];
    let key = format!(" {name}=\"");
    let at = element.find(&key)? + key.len();
    Some(&element[at..at + element[at..].find('"')?])
}

/// The `n`th (0-based) `<tag ...>` element inside the `<section>` element.
fn nth_element<'a>(xml: &'a str, section: &str, tag: &str, n: usize) -> &'a str {
    let start = xml.find(&format!("<{section}")).unwrap();
    let end = start + xml[start..].find(&format!("</{section}>")).unwrap();
    let body = &xml[start..end];
    let open = format!("<{tag}");
    let mut pieces = body.match_indices(&open).map(|(i, _)| i).filter(|&i| {
        // `<font>` must not match `<fonts`.
        matches!(
            body.as_bytes().get(i + open.len()),
            Some(b' ' | b'>' | b'/')
        )
    });
    let at = pieces
        .nth(n)
        .unwrap_or_else(|| panic!("no {tag} #{n} in {section}"));
    let open_end = at + body[at..].find('>').unwrap();
    if body.as_bytes()[open_end - 1] == b'/' {
        &body[at..=open_end]
    } else {
        let close = format!("</{tag}>");
        &body[at..open_end + body[open_end..].find(&close).unwrap() + close.len()]
    }
}

/// Whether the cell at `cell` (e.g. `A1`) of a sheet's XML uses a bold font.
fn is_bold(sheet_xml: &str, styles_xml: &str, cell: &str) -> bool {
    let key = format!("<c r=\"{cell}\"");
    let at = sheet_xml
        .find(&key)
        .unwrap_or_else(|| panic!("no cell {cell}"));
    let Some(style) = attr(&sheet_xml[at..], "c", "s") else {
        return false;
    };
    let xf = nth_element(styles_xml, "cellXfs", "xf", style.parse().unwrap());
    let font_id: usize = attr(xf, "xf", "fontId").unwrap().parse().unwrap();
    nth_element(styles_xml, "fonts", "font", font_id).contains("<b/>")
}

// ---------------------------------------------------------------------------------------------
// 1. The shared contract

#[test]
fn conformance() {
    check_file_sink(
        |path| XlsxSink::new(path, XlsxOptions::default()),
        read_text,
        expected_text,
    );
}

// ---------------------------------------------------------------------------------------------
// 2. Typed cells

#[test]
fn cells_are_typed_and_text_stays_text() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_workbook(dir.path());
    let sheets = read_sheets(&path);
    assert_eq!(sheets.len(), 1);
    let (name, rows) = &sheets[0];
    assert_eq!(name, "Users");

    let header: Vec<String> = rows[0].iter().map(text).collect();
    let keys: Vec<String> = sample_columns().into_iter().map(|c| c.key).collect();
    assert_eq!(header, keys, "API keys by default");

    let samples = sample_rows();
    for (got, want) in rows[1..].iter().zip(&samples) {
        for (col, (cell, sent)) in got.iter().zip(want).enumerate() {
            match sent {
                Cell::Null => assert_eq!(cell, &Data::Empty, "column {col}"),
                Cell::Text("") => assert_eq!(cell, &Data::Empty),
                Cell::Text(s) => assert_eq!(cell, &Data::String((*s).to_owned()), "column {col}"),
                Cell::Bool(b) => assert_eq!(cell, &Data::Bool(*b)),
                Cell::DateTime { at, .. } => {
                    let Data::DateTime(when) = cell else {
                        panic!("a date-time cell, got {cell:?}");
                    };
                    assert!(when.is_datetime());
                    assert_eq!(iso(when), at.to_string());
                }
                Cell::Fields(_) | Cell::Json(_) => {
                    assert_eq!(cell, &Data::String(sent.to_text().into_owned()))
                }
            }
        }
    }
    // Spot checks of what matters most.
    let phone = 3;
    assert_eq!(
        rows[6][phone],
        Data::String("00123".into()),
        "leading zeros kept"
    );
    assert_eq!(rows[1][phone], Data::String("+90 532 000 00 00".into()));
    assert_eq!(
        rows[2][2],
        Data::String("=HYPERLINK(\"http://x\",\"y\")".into())
    );
    assert_eq!(
        rows[3][4],
        Data::String("not a date".into()),
        "unparsable dates stay text"
    );

    // No formula anywhere.
    let mut workbook: Xlsx<_> = open_workbook(&path).unwrap();
    let formulas = workbook.worksheet_formula("Users").unwrap();
    assert!(
        formulas.used_cells().all(|(_, _, f)| f.is_empty()),
        "{formulas:?}"
    );
    let xml = part(&path, "xl/worksheets/sheet1.xml");
    assert!(
        !xml.contains("<f>") && !xml.contains("<f "),
        "no <f> element"
    );
}

#[test]
fn dates_keep_their_instant_at_excels_edges() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("dates.xlsx");
    let texts = [
        "1900-01-01T00:00:00Z",
        "1900-02-28T23:59:59.999Z",
        "1900-03-01T00:00:00Z",
        "1970-01-01T00:00:00Z",
        "2024-02-29T12:34:56.789Z",
        "2024-01-01T01:30:00+03:00",
        "25/03/2024 10:15:30",
        "9999-12-31T23:59:59.999Z",
        "1899-12-31T23:59:59Z",
        "0001-01-01T00:00:00Z",
    ];
    let rows: Vec<Vec<Cell<'_>>> = texts
        .iter()
        .map(|t| vec![Cell::date_time(Some(t))])
        .collect();
    let columns = [Column::new("createTime", "Created", ColumnKind::DateTime)];
    write(
        XlsxSink::new(&path, XlsxOptions::default()),
        &columns,
        &rows,
    );
    let (_, got) = read_sheets(&path).remove(0);
    for (text, row) in texts.iter().zip(&got[1..]) {
        let cell = &row[0];
        let at = Timestamp::parse(text).unwrap();
        match cell {
            Data::DateTime(when) => assert_eq!(iso(when), at.to_string(), "{text}"),
            // Before 1900 Excel has no dates: the API's text is kept.
            Data::String(s) => {
                assert!(at.year < 1900, "{text} should be a date");
                assert_eq!(s, text);
            }
            other => panic!("{text}: {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Formatting

#[test]
fn header_is_bold_frozen_and_filtered_with_fitted_widths() {
    let dir = tempfile::tempdir().unwrap();
    let path = sample_workbook(dir.path());
    let sheet = part(&path, "xl/worksheets/sheet1.xml");
    let styles = part(&path, "xl/styles.xml");

    // Frozen header: the pane splits below row 1 and scrolling starts at A2.
    assert_eq!(attr(&sheet, "pane", "ySplit"), Some("1"), "{sheet}");
    assert_eq!(attr(&sheet, "pane", "topLeftCell"), Some("A2"));
    assert_eq!(attr(&sheet, "pane", "state"), Some("frozen"));

    // Autofilter over the header and the 8 data rows of the 8 columns.
    assert_eq!(attr(&sheet, "autoFilter", "ref"), Some("A1:H9"));
    let workbook = part(&path, "xl/workbook.xml");
    assert!(workbook.contains("_xlnm._FilterDatabase"), "{workbook}");

    // Bold header, regular data.
    for cell in ["A1", "B1", "C1", "D1", "E1", "F1", "G1", "H1"] {
        assert!(is_bold(&sheet, &styles, cell), "{cell} is bold");
    }
    for cell in ["A2", "D2", "E2", "F2"] {
        assert!(!is_bold(&sheet, &styles, cell), "{cell} is not bold");
    }
    // Date cells carry the date-time number format.
    assert!(
        styles.contains("formatCode=\"yyyy-mm-dd hh:mm:ss\""),
        "{styles}"
    );

    // Widths: one <col> per column, fitted and clamped.
    let cols = &sheet[sheet.find("<cols>").expect("<cols>")..sheet.find("</cols>").unwrap()];
    let widths: Vec<f64> = cols
        .match_indices("<col ")
        .map(|(i, _)| attr(&cols[i..], "col", "width").unwrap().parse().unwrap())
        .collect();
    assert_eq!(widths.len(), 8, "{cols}");
    for w in &widths {
        assert!((8.0..=61.0).contains(w), "{widths:?}");
    }
    // email: "eleni@example.com" (17) + 1 padding; created: a date column; editable: narrow.
    assert!((17.0..=19.5).contains(&widths[0]), "{widths:?}");
    assert!(widths[4] >= 20.0, "{widths:?}");
    assert!(widths[5] <= 14.0, "{widths:?}");
    // custom fields: "Employee Number: 000123; Cost Center: =1+1" (42 chars).
    assert!((42.0..=44.5).contains(&widths[6]), "{widths:?}");
}

#[test]
fn human_headers_and_a_custom_sheet_name() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("human.xlsx");
    let options = XlsxOptions {
        header: HeaderStyle::Human,
        sheet_name: "Hedef Kullanıcılar".into(),
        compression: 9,
    };
    write(
        XlsxSink::new(&path, options),
        &sample_columns(),
        &sample_rows()[..1],
    );
    let sheets = read_sheets(&path);
    assert_eq!(sheets[0].0, "Hedef Kullanıcılar");
    let header: Vec<String> = sheets[0].1[0].iter().map(text).collect();
    let labels: Vec<String> = sample_columns().into_iter().map(|c| c.label).collect();
    assert_eq!(header, labels);
}

#[test]
fn an_empty_export_is_a_header_with_its_filter() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.xlsx");
    write(
        XlsxSink::new(&path, XlsxOptions::default()),
        &sample_columns(),
        &[],
    );
    let sheet = part(&path, "xl/worksheets/sheet1.xml");
    assert_eq!(attr(&sheet, "autoFilter", "ref"), Some("A1:H1"));
    assert_eq!(read_text(&path).len(), 1);
}

// ---------------------------------------------------------------------------------------------
// 4. Sheet overflow

#[test]
fn rows_past_the_sheet_limit_continue_on_new_sheets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("overflow.xlsx");
    let names: Vec<String> = (1..=8).map(|i| format!("user{i}@example.com")).collect();
    let phones: Vec<String> = (1..=8).map(|i| format!("00{i}")).collect();
    let columns = [
        Column::new("email", "Email", ColumnKind::Text),
        Column::new("phoneNumber", "Phone", ColumnKind::Identifier),
    ];
    let rows: Vec<Vec<Cell<'_>>> = names
        .iter()
        .zip(&phones)
        .map(|(n, p)| vec![Cell::Text(n), Cell::Text(p)])
        .collect();
    let sink = XlsxSink::new(&path, XlsxOptions::default()).with_rows_per_sheet(3);
    write(sink, &columns, &rows);

    let sheets = read_sheets(&path);
    let sheet_names: Vec<&str> = sheets.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(sheet_names, ["Users", "Users (2)", "Users (3)"]);
    let mut seen = Vec::new();
    for (index, (name, rows)) in sheets.iter().enumerate() {
        let header: Vec<String> = rows[0].iter().map(text).collect();
        assert_eq!(header, ["email", "phoneNumber"], "{name}");
        assert_eq!(rows.len() - 1, if index < 2 { 3 } else { 2 }, "{name}");
        seen.extend(rows[1..].iter().map(|r| (text(&r[0]), text(&r[1]))));

        let xml = part(&path, &format!("xl/worksheets/sheet{}.xml", index + 1));
        assert_eq!(attr(&xml, "pane", "topLeftCell"), Some("A2"), "{name}");
        let want = format!("A1:B{}", rows.len());
        assert_eq!(
            attr(&xml, "autoFilter", "ref"),
            Some(want.as_str()),
            "{name}"
        );
        let styles = part(&path, "xl/styles.xml");
        assert!(
            is_bold(&xml, &styles, "A1") && is_bold(&xml, &styles, "B1"),
            "{name}"
        );
    }
    let want: Vec<(String, String)> = names.iter().cloned().zip(phones.iter().cloned()).collect();
    assert_eq!(seen, want, "every row exactly once, in order");
}

#[test]
fn a_full_last_sheet_adds_no_empty_sheet() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("exact.xlsx");
    let rows: Vec<Vec<Cell<'_>>> = (0..6).map(|_| vec![Cell::Text("x")]).collect();
    let columns = [Column::new("email", "Email", ColumnKind::Text)];
    let sink = XlsxSink::new(&path, XlsxOptions::default()).with_rows_per_sheet(3);
    write(sink, &columns, &rows);
    assert_eq!(read_sheets(&path).len(), 2);
}

// ---------------------------------------------------------------------------------------------
// 5. Text round trip

/// Writes each string as a row of one Text cell and reads them back.
fn round_trip(strings: &[String]) -> Vec<Data> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("text.xlsx");
    let rows: Vec<Vec<Cell<'_>>> = strings.iter().map(|s| vec![Cell::Text(s)]).collect();
    let columns = [Column::new("department", "Department", ColumnKind::Text)];
    write(
        XlsxSink::new(&path, XlsxOptions::default()),
        &columns,
        &rows,
    );
    let (_, grid) = read_sheets(&path).remove(0);
    let mut cells: Vec<Data> = grid.into_iter().skip(1).map(|mut r| r.remove(0)).collect();
    // Trailing empty strings are blank cells past the end of calamine's range.
    cells.resize(strings.len(), Data::Empty);
    cells
}

fn assert_round_trip(strings: &[String]) {
    let back = round_trip(strings);
    for (sent, got) in strings.iter().zip(&back) {
        let want = if sent.is_empty() {
            Data::Empty
        } else {
            Data::String(sent.clone())
        };
        assert_eq!(got, &want, "sent {sent:?}");
    }
}

#[test]
fn tricky_text_round_trips() {
    let strings: Vec<String> = [
        "=1+1",
        "@SUM(A1)",
        "+90 532 000 00 00",
        "-42",
        "00123",
        "1e5",
        "TRUE",
        "'quoted",
        " lead and trail ",
        "\tlead tab",
        "trail newline\n",
        "\r\n",
        "\r",
        " ",
        "\u{0}\u{1}\u{8}\u{B}\u{C}\u{E}\u{1F}\u{7F}\u{85}\u{A0}",
        "\u{FFFE}\u{FFFF}\u{FDD0}\u{10FFFF}",
        "\u{2028}\u{2029}\u{FEFF}",
        "_x0041_",
        "_x0041",
        "_x005F_",
        "_x0041\u{1}",
        "a_xBEEF\u{FFFF}_x12",
        "_x_x0041_x",
        "_xD800_",
        "max_xavier@example.com",
        "<b>R&D</b> ]]> &amp; \"'",
        "Zoë 🎉 李小龙 محمد",
        "",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    assert_round_trip(&strings);
}

/// Characters that stress the XLSX encoding, plus anything at all.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        2 => prop::char::range('\0', '\u{20}'),
        2 => prop::sample::select(vec!['_', 'x', '0', '4', '1', 'F', 'a', '5', '&', '<', '>', '"']),
        1 => prop::sample::select(vec![' ', '\n', '\r', '\t', '\u{85}', '\u{FFFE}', '\u{FFFF}', '\u{D7FF}', '\u{E000}']),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_text_round_trips(strings in prop::collection::vec(
        prop::collection::vec(tricky_char(), 0..200).prop_map(|cs| cs.into_iter().collect::<String>()),
        1..16,
    )) {
        assert_round_trip(&strings);
    }
}

#[test]
fn over_long_text_is_cut_and_counted() {
    let long = "ş".repeat(MAX_CELL_TEXT + 100);
    let emoji = "🎉".repeat(MAX_CELL_TEXT);
    let garble_prone = format!("_x0041\u{1}{}", "&".repeat(MAX_CELL_TEXT));
    let fits = "x".repeat(MAX_CELL_TEXT);
    let strings = [long.clone(), emoji, garble_prone, fits.clone()];

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("long.xlsx");
    let rows: Vec<Vec<Cell<'_>>> = strings.iter().map(|s| vec![Cell::Text(s)]).collect();
    let columns = [Column::new("notes", "Notes", ColumnKind::Text)];
    let sink = write(
        XlsxSink::new(&path, XlsxOptions::default()),
        &columns,
        &rows,
    );
    assert_eq!(sink.truncated_cells(), 3);
    let warnings = keepnet_sink::Sink::warnings(&sink);
    assert_eq!(warnings.len(), 1);
    assert!(warnings[0].contains("3 cell(s)"), "{warnings:?}");

    let (_, grid) = read_sheets(&path).remove(0);
    let back: Vec<String> = grid[1..].iter().map(|r| text(&r[0])).collect();
    assert_eq!(
        back[0],
        long.chars().take(MAX_CELL_TEXT).collect::<String>()
    );
    assert_eq!(
        back[1],
        "🎉".repeat(MAX_CELL_TEXT / 2),
        "an emoji counts twice"
    );
    assert!(back[2].starts_with("_x0041\u{1}&&&"));
    assert!(back[2].encode_utf16().count() <= MAX_CELL_TEXT);
    assert_eq!(back[3], fits);
}

// ---------------------------------------------------------------------------------------------
// 6. Abort, temporary files, misuse

/// The open files of this process inside `dir` (Linux), deleted ones included.
#[cfg(target_os = "linux")]
fn open_files_in(dir: &Path) -> Vec<String> {
    let dir = dir.canonicalize().unwrap();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|fd| std::fs::read_link(fd.ok()?.path()).ok())
        .map(|target| target.to_string_lossy().into_owned())
        .filter(|target| target.starts_with(&*dir.to_string_lossy()))
        .collect()
}

#[test]
fn constant_memory_spill_files_are_unnamed_and_released() {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("users.xlsx");
    std::fs::write(&target, b"previous export").unwrap();
    let long = "x".repeat(200);

    for finish_first in [false, true] {
        let mut sink = XlsxSink::new(&target, XlsxOptions::default()).with_rows_per_sheet(500);
        sink.begin(&sample_export(), &sample_columns()).unwrap();
        for row in sample_rows().iter().cycle().take(2_000) {
            let mut row = row.clone();
            row[2] = Cell::Text(&long); // enough data for the spill files to hit the disk
            sink.write_row(&row).unwrap();
        }
        // Four sheets' spill files exist, yet the only name in the folder is the workbook's
        // own temporary file beside the untouched earlier export.
        let names = files_in(dir.path());
        assert_eq!(names.len(), 2, "{names:?}");
        assert!(names.contains(&"users.xlsx".to_owned()));
        assert!(names
            .iter()
            .any(|n| n.starts_with(".users.xlsx.") && n.ends_with(".keepnet-tmp")));
        #[cfg(target_os = "linux")]
        {
            let open = open_files_in(dir.path());
            let spill = open.iter().filter(|f| f.ends_with("(deleted)")).count();
            assert!(
                spill >= 4,
                "one unnamed spill file per sheet in the output folder: {open:?}"
            );
        }
        if finish_first {
            sink.finish().unwrap();
        }
        sink.abort();
        assert_eq!(std::fs::read(&target).unwrap(), b"previous export");
        assert_eq!(files_in(dir.path()), ["users.xlsx"]);
        #[cfg(target_os = "linux")]
        assert_eq!(
            open_files_in(dir.path()),
            Vec::<String>::new(),
            "every file closed"
        );
    }
}

#[test]
fn bad_targets_and_options_fail_in_begin_without_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut sink = XlsxSink::new(dir.path(), XlsxOptions::default());
    assert!(matches!(
        sink.begin(&sample_export(), &sample_columns()),
        Err(SinkError::Invalid(_))
    ));

    let path = dir.path().join("x.xlsx");
    for name in ["", "a:b", "History", "this name is far too long for Excel"] {
        let options = XlsxOptions {
            sheet_name: name.into(),
            ..XlsxOptions::default()
        };
        let mut sink = XlsxSink::new(&path, options);
        let err = sink.begin(&sample_export(), &sample_columns()).unwrap_err();
        assert!(matches!(err, SinkError::Invalid(_)), "{name:?}: {err}");
    }
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

#[test]
fn misuse_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.xlsx");
    let mut sink = XlsxSink::new(&path, XlsxOptions::default());
    assert!(matches!(sink.write_row(&[]), Err(SinkError::Invalid(_))));
    assert!(matches!(sink.commit(), Err(SinkError::Invalid(_))));
    sink.begin(&sample_export(), &sample_columns()).unwrap();
    assert!(matches!(
        sink.begin(&sample_export(), &sample_columns()),
        Err(SinkError::Invalid(_))
    ));
    assert!(
        matches!(sink.commit(), Err(SinkError::Invalid(_))),
        "commit before finish"
    );
    // A row of the wrong width fails the sink and discards its file.
    assert!(matches!(
        sink.write_row(&[Cell::Null]),
        Err(SinkError::Invalid(_))
    ));
    assert!(matches!(sink.finish(), Err(SinkError::Invalid(_))));
    assert_eq!(files_in(dir.path()), Vec::<String>::new());

    let mut sink = XlsxSink::new(&path, XlsxOptions::default());
    sink.begin(&sample_export(), &sample_columns()).unwrap();
    sink.finish().unwrap();
    assert!(
        matches!(sink.finish(), Err(SinkError::Invalid(_))),
        "finish twice"
    );
    assert!(matches!(
        sink.write_row(&sample_rows()[0]),
        Err(SinkError::Invalid(_))
    ));
    sink.commit().unwrap();
    assert!(
        matches!(sink.commit(), Err(SinkError::Invalid(_))),
        "commit twice"
    );
    sink.abort(); // harmless after commit
    assert_eq!(files_in(dir.path()), ["x.xlsx"]);
}

// ---------------------------------------------------------------------------------------------
// Speed (run with `cargo test --release -p keepnet-sink-xlsx -- --ignored --nocapture`)

#[test]
#[ignore = "benchmark"]
fn write_speed_100k_rows_16_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.xlsx");
    let mut columns = sample_columns();
    columns.extend(sample_columns().into_iter().map(|mut c| {
        c.key.push('2');
        c
    }));
    columns.extend(sample_columns().into_iter().take(2).map(|mut c| {
        c.key.push('3');
        c
    }));
    assert_eq!(columns.len(), 16);
    let samples = sample_rows();
    let rows: Vec<Vec<Cell<'_>>> = samples
        .iter()
        .map(|r| {
            r.iter()
                .chain(r.iter())
                .chain(r.iter().take(2))
                .copied()
                .collect()
        })
        .collect();

    let started = std::time::Instant::now();
    let mut sink = XlsxSink::new(&path, XlsxOptions::default());
    sink.begin(&sample_export(), &columns).unwrap();
    for row in rows.iter().cycle().take(100_000) {
        sink.write_row(row).unwrap();
    }
    let written = started.elapsed();
    sink.finish().unwrap();
    let artifacts = sink.commit().unwrap();
    let total = started.elapsed();
    println!(
        "100000 rows x 16 columns: rows {:.2}s, save {:.2}s, total {:.2}s = {:.0} rows/s, {} bytes",
        written.as_secs_f64(),
        (total - written).as_secs_f64(),
        total.as_secs_f64(),
        100_000.0 / total.as_secs_f64(),
        artifacts[0].bytes
    );
}

/// The all-or-nothing publication beside failing and healthy neighbours (keepnet_sink::publish).
#[test]
fn conformance_publication() {
    keepnet_sink::conformance::check_publication(|path| {
        XlsxSink::new(path, XlsxOptions::default())
    });
}
