//! `users --sink`: CSV, XLSX and JSON Lines files read back with real readers and compared cell
//! by cell with what the sandbox served; atomic publication under failure and Ctrl-C.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::time::Duration;

use calamine::{Data, Reader, Xlsx};
use keepnet_sandbox::{Config, Faults};
use keepnet_sink::safety;
use serde_json::Value;

use crate::util::{assert_previous_kept, write_previous, Env, Watched};

/// The default columns, in order (API field names), before any field the client does not know.
pub const COLUMNS: [&str; 21] = [
    "email",
    "firstName",
    "lastName",
    "department",
    "phoneNumber",
    "priority",
    "status",
    "isDeleted",
    "managerFullName",
    "managerEmail",
    "managerFirstName",
    "managerLastName",
    "customFieldValues",
    "createTime",
    "updateTime",
    "timeZone",
    "preferredLanguage",
    "isEditable",
    "scimSettingName",
    "ldapConfigName",
    "resourceId",
];

/// The position of a default column.
pub fn col(key: &str) -> usize {
    COLUMNS
        .iter()
        .position(|k| *k == key)
        .unwrap_or_else(|| panic!("{key} is a default column"))
}

/// The text a served user's field should read as: null is empty, custom fields read
/// `Name: value; Name: value` (a date field shows its timestamp).
pub fn expected_text(user: &Value, key: &str) -> String {
    match (key, &user[key]) {
        ("customFieldValues", Value::Array(fields)) => fields
            .iter()
            .map(|f| {
                let value = match (&f["value"], &f["timestampValue"]) {
                    (Value::String(v), _) => v.clone(),
                    (Value::Null, Value::String(t)) => t.clone(),
                    _ => String::new(),
                };
                format!("{}: {value}", f["name"].as_str().unwrap_or(""))
            })
            .collect::<Vec<_>>()
            .join("; "),
        (_, Value::Null) => String::new(),
        (_, Value::String(s)) => s.clone(),
        (_, Value::Bool(b)) => b.to_string(),
        (_, other) => other.to_string(),
    }
}

/// Excel's serial date (days since 1899-12-30, fraction for the time) of unix milliseconds.
fn excel_serial(ms: i64) -> f64 {
    ms as f64 / 86_400_000.0 + 25_569.0
}

/// The sandbox's true instants of each user's dates, by resourceId then field (`createTime`,
/// `updateTime`), in unix milliseconds: what the served text stands for, known without parsing
/// it.
pub fn true_instants(
    env: &Env,
    company_id: &str,
) -> HashMap<String, HashMap<&'static str, Option<i64>>> {
    env.sandbox
        .dataset()
        .users(company_id)
        .iter()
        .map(|u| {
            let fields = HashMap::from([
                ("createTime", Some(u.create_ms)),
                ("updateTime", u.update_ms),
            ]);
            (u.resource_id.clone(), fields)
        })
        .collect()
}

/// Asserts an Excel date-time cell is the instant `ms` the served `text` stands for: exactly
/// for ISO 8601 text, else to the precision the text has (minutes, or seconds when it has
/// them), never a different day, month or half-day.
#[track_caller]
pub fn assert_same_instant(serial: f64, ms: i64, text: &str, what: &str) {
    let precision_ms = if text.contains('T') {
        1
    } else if text.matches(':').count() == 2 {
        1000
    } else {
        60_000
    };
    let truncated = ms - ms.rem_euclid(precision_ms);
    assert!(
        (serial - excel_serial(truncated)).abs() < 0.5 / 86_400_000.0,
        "{what}: cell {serial} is not the instant {ms} of {text:?}"
    );
}

pub fn read_csv(path: &Path) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_path(path)
        .unwrap()
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

/// Every row of every sheet (a continuation sheet's repeated header skipped), after checking
/// that no cell is a formula.
pub(crate) fn read_xlsx(path: &Path) -> Vec<Vec<Data>> {
    let mut book: Xlsx<_> = calamine::open_workbook(path).unwrap();
    let mut rows = Vec::new();
    for name in book.sheet_names() {
        let range = book.worksheet_range(&name).unwrap();
        let formulas = book.worksheet_formula(&name).unwrap();
        assert!(
            formulas.used_cells().all(|(_, _, f)| f.is_empty()),
            "no formula cells"
        );
        for (i, row) in range.rows().enumerate() {
            if i == 0 && !rows.is_empty() {
                continue; // the header repeated on a continuation sheet
            }
            rows.push(row.to_vec());
        }
    }
    rows
}

/// What one run wrote, read back, next to what the sandbox served.
struct Exported {
    served: Vec<Value>,
    csv: Vec<Vec<String>>,
    xlsx: Vec<Vec<Data>>,
    jsonl: Vec<Value>,
}

/// The export of `company` to CSV, XLSX and JSON Lines in one run.
fn export_all(env: &Env, company: &str) -> Exported {
    let id = env.company_id(company);
    let csv_path = env.path("users.csv");
    let xlsx_path = env.path("users.xlsx");
    let jsonl_path = env.path("users.jsonl");
    let mut args = vec!["users", "--company", company];
    let sinks = [
        format!("csv:{}", csv_path.display()),
        format!("xlsx:{}", xlsx_path.display()),
        format!("jsonl:{}", jsonl_path.display()),
    ];
    for s in &sinks {
        args.extend(["--sink", s.as_str()]);
    }
    let before = env.sandbox.stats().user_search_requests;
    let run = env.run(&args);
    run.ok();
    let served = env.served(&id);
    let pages = served.len().div_ceil(10).max(1) as u64;
    assert_eq!(
        env.sandbox.stats().user_search_requests - before,
        pages + 1,
        "one fetch (and the closing total check) feeds every sink"
    );
    let jsonl: Vec<Value> = std::fs::read_to_string(&jsonl_path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Exported {
        served,
        csv: read_csv(&csv_path),
        xlsx: read_xlsx(&xlsx_path),
        jsonl,
    }
}

fn env() -> Env {
    Env::small(57, 10)
}

/// The sandbox most sink tests use: 57 users per company, pages of 10.
pub fn small_env() -> Env {
    env()
}

#[test]
fn csv_xlsx_and_jsonl_hold_every_user_cell_by_cell() {
    let env = env();
    let Exported {
        served,
        csv: csv_rows,
        xlsx: xlsx_rows,
        jsonl,
    } = export_all(&env, "Müşteri A.Ş.");
    assert_eq!(csv_rows[0], COLUMNS, "API header by default");
    assert_eq!(csv_rows.len(), served.len() + 1);
    assert_eq!(xlsx_rows.len(), served.len() + 1);
    assert_eq!(jsonl.len(), served.len());
    let ids: HashSet<&str> = csv_rows[1..]
        .iter()
        .map(|r| r[col("resourceId")].as_str())
        .collect();
    assert_eq!(ids.len(), served.len(), "every user exactly once");
    let truth = true_instants(&env, &env.company_id("Müşteri A.Ş."));

    let (mut guarded, mut dates, mut leading_zero) = (0, 0, 0);
    for (i, user) in served.iter().enumerate() {
        for (c, key) in COLUMNS.iter().enumerate() {
            let want = expected_text(user, key);
            // CSV: the same text, formula-like text neutralised with a leading apostrophe.
            let csv_cell = &csv_rows[i + 1][c];
            assert_eq!(
                csv_cell,
                &safety::guard(&want).into_owned(),
                "CSV row {i} {key}"
            );
            if csv_cell.starts_with('\'') && !want.starts_with('\'') {
                guarded += 1;
            }
            // XLSX: text exact (never a formula), dates typed, booleans typed.
            let cell = &xlsx_rows[i + 1][c];
            match cell {
                Data::DateTime(dt) => {
                    let id = user["resourceId"].as_str().unwrap();
                    let at = truth[id][*key].expect("only dates become dates");
                    assert_same_instant(dt.as_f64(), at, &want, &format!("XLSX row {i} {key}"));
                    dates += 1;
                }
                Data::Bool(b) => assert_eq!(b.to_string(), want, "XLSX row {i} {key}"),
                Data::Empty => assert_eq!(want, "", "XLSX row {i} {key}"),
                Data::String(s) => {
                    assert_eq!(s, &want, "XLSX row {i} {key}");
                    if *key == "phoneNumber" && s.starts_with('0') {
                        leading_zero += 1;
                    }
                }
                other => panic!("XLSX row {i} {key}: unexpected cell {other:?}"),
            }
        }
        // JSON Lines without --columns: each user exactly as served, every field.
        assert_eq!(&jsonl[i], user, "JSONL row {i}");
    }
    assert!(
        guarded > 0,
        "the sandbox served formula-like text and it was neutralised"
    );
    assert!(
        dates > served.len(),
        "createTime and updateTime are real date-times"
    );
    assert!(
        leading_zero > 0,
        "phone numbers with leading zeros stay text"
    );
    let scripts = ["ş", "İ", "ı"];
    assert!(scripts
        .iter()
        .any(|s| csv_rows.iter().flatten().any(|c| c.contains(s))));
}

#[test]
fn columns_custom_fields_human_headers_and_raw_cells() {
    let env = env();
    let id = env.company_id("Initech");
    let path = env.path("picked.csv");
    let xlsx = env.path("picked.xlsx");
    env.run(&[
        "users",
        "--company",
        &id,
        "--columns",
        "department,custom:Employee Number,email",
        "--header",
        "human",
        "--raw-cells",
        "--csv-delimiter",
        ";",
        "--csv-bom",
        "--sink",
        &format!("csv:{}", path.display()),
        "--sink",
        &format!("xlsx:{}", xlsx.display()),
    ])
    .ok();
    let bytes = std::fs::read(&path).unwrap();
    assert!(bytes.starts_with("\u{feff}Department;Employee Number;Email\r\n".as_bytes()));
    let rows: Vec<Vec<String>> = csv::ReaderBuilder::new()
        .has_headers(true)
        .delimiter(b';')
        .from_reader(&bytes[3..])
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    let served = env.served(&id);
    assert_eq!(rows.len(), served.len());
    let mut raw_formulas = 0;
    for (row, user) in rows.iter().zip(&served) {
        assert_eq!(
            row[0],
            expected_text(user, "department"),
            "raw: no apostrophe"
        );
        if safety::is_dangerous(&row[0]) {
            raw_formulas += 1;
        }
        let employee = user["customFieldValues"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == "Employee Number"))
            .and_then(|f| f["value"].as_str())
            .unwrap_or("");
        assert_eq!(
            row[1], employee,
            "custom field as its own column, leading zeros kept"
        );
        assert_eq!(row[2], expected_text(user, "email"));
    }
    assert!(
        raw_formulas > 0,
        "--raw-cells keeps formula-like text as is"
    );
    let sheet = read_xlsx(&xlsx);
    assert_eq!(
        sheet[0],
        [
            Data::String("Department".into()),
            Data::String("Employee Number".into()),
            Data::String("Email".into())
        ]
    );
    assert!(sheet[1..]
        .iter()
        .any(|r| matches!(&r[1], Data::String(s) if s.starts_with('0'))));
}

#[test]
fn stdout_sinks_and_jsonl_default_with_columns() {
    let env = env();
    let run = env.run(&[
        "users",
        "--company",
        "Initech",
        "--columns",
        "email,isEditable",
    ]);
    let lines = run.json_lines();
    let served = env.served(&env.company_id("Initech"));
    assert_eq!(lines.len(), served.len());
    assert_eq!(lines[0].as_object().unwrap().len(), 2);
    assert_eq!(lines[0]["isEditable"], served[0]["isEditable"]);

    let run = env.run(&[
        "users",
        "--company",
        "Initech",
        "--sink",
        "csv:-",
        "--columns",
        "email",
    ]);
    let out = run.ok();
    assert!(out.starts_with("email\r\n"), "{out}");
    assert_eq!(out.lines().count(), served.len() + 1);
}

#[test]
fn bad_sink_arguments_fail_before_any_request() {
    let env = env();
    let before = env.sandbox.stats().requests;
    for (args, needle) in [
        (vec!["--sink", "pdf:x.pdf"], "unknown sink kind"),
        (vec!["--sink", "xlsx:-"], "cannot stream to stdout"),
        (vec!["--sink", "csv"], "KIND:TARGET"),
        (vec!["--sink", "csv:-", "--sink", "jsonl:-"], "only one"),
        (vec!["--columns", "email,no pe"], "unknown column"),
        (vec!["--status", "current"], "active, inactive, deleted"),
        (vec!["--csv-delimiter", "ab"], "csv-delimiter"),
    ] {
        let mut all = vec!["users", "--company", "Initech"];
        all.extend(args);
        env.run(&all).fails_with(2, &[needle]);
    }
    assert_eq!(
        env.sandbox.stats().requests,
        before,
        "validation sent nothing"
    );
}

/// Names in a folder, sorted: the conformance harness's helper.
pub use keepnet_sink::conformance::files_in as leftovers;

#[test]
fn a_failure_mid_stream_keeps_the_previous_export_and_leaves_no_temp_file() {
    let env = Env::start(Config {
        users_per_company: 57,
        page_cap: 10,
        faults: Faults {
            fail_user_pages_from: Some(4),
            ..Faults::default()
        },
        ..Config::default()
    });
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    let (csv_path, xlsx_path) = (out.join("users.csv"), out.join("users.xlsx"));
    std::fs::write(&csv_path, "previous good export\n").unwrap();
    std::fs::write(&xlsx_path, b"PK previous workbook").unwrap();
    let run = env.run(&[
        "--retries",
        "0",
        "users",
        "--company",
        "Initech",
        "--sink",
        &format!("csv:{}", csv_path.display()),
        "--sink",
        &format!("xlsx:{}", xlsx_path.display()),
        "--sink",
        &format!("jsonl:{}", out.join("new.jsonl").display()),
    ]);
    run.fails_with(5, &["HTTP 500"]);
    assert_eq!(std::fs::read(&csv_path).unwrap(), b"previous good export\n");
    assert_eq!(std::fs::read(&xlsx_path).unwrap(), b"PK previous workbook");
    assert_eq!(
        leftovers(&out),
        ["users.csv", "users.xlsx"],
        "nothing new, no temporary file"
    );
}

#[test]
fn ctrl_c_mid_run_publishes_nothing() {
    let env = Env::start(Config {
        users_per_company: 200,
        page_cap: 5,
        latency: Duration::from_millis(40),
        ..Config::default()
    });
    let out = env.path("out");
    std::fs::create_dir(&out).unwrap();
    let csv_path = out.join("users.csv");
    std::fs::write(&csv_path, "previous").unwrap();
    let mut cmd = env.command_as(&env.sandbox.reseller());
    cmd.args([
        "-v",
        "users",
        "--company",
        "Initech",
        "--sink",
        &format!("csv:{}", csv_path.display()),
    ])
    .args([
        "--sink",
        &format!("xlsx:{}", out.join("users.xlsx").display()),
    ]);
    // Wait until pages are flowing (and so temporary files exist), then interrupt.
    let mut watched = Watched::spawn(cmd);
    watched.read_until(|line| line.contains("page fetched"));
    let started = std::time::Instant::now();
    while out.read_dir().unwrap().count() < 3 && started.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        out.read_dir().unwrap().count(),
        3,
        "both temporary files exist mid-run"
    );
    let (code, rest) = watched.interrupt();
    assert_eq!(code, Some(130), "{rest}");
    assert!(rest.contains("interrupted"), "{rest}");
    assert_eq!(std::fs::read(&csv_path).unwrap(), b"previous");
    assert_eq!(leftovers(&out), ["users.csv"]);
}

#[test]
fn a_disk_error_mid_stream_aborts_every_sink_and_keeps_the_previous_export() {
    let env = env();
    let (out, csv_path) = (env.path("out"), env.path("out/users.csv"));
    write_previous(&csv_path);
    // A file-size limit makes writes past 4 KiB fail with EFBIG, as a full disk would (the
    // signal that would otherwise kill the process is ignored, so the error reaches the sink).
    let cmd = env.command_after("trap '' XFSZ; ulimit -f 8");
    let run = Env::run_cmd(
        cmd,
        &[
            "users",
            "--company",
            "Initech",
            "--sink",
            &format!("csv:{}", csv_path.display()),
            "--sink",
            &format!("jsonl:{}", out.join("users.jsonl").display()),
        ],
    );
    run.fails_with(6, &["--sink", "users.csv", "file too large"]);
    assert_previous_kept(&csv_path, &["users.csv"]);
}
