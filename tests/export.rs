//! `export`: the server-side export saved to disk, both response shapes.

use std::io::Cursor;

use calamine::{Reader, Xlsx};
use keepnet_sandbox::{Config, ExportStyle};

use crate::util::Env;

fn read_csv(bytes: &[u8]) -> Vec<Vec<String>> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect()
}

fn read_xlsx(bytes: Vec<u8>) -> Vec<Vec<String>> {
    let mut book = Xlsx::new(Cursor::new(bytes)).expect("a valid workbook");
    let sheet = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&sheet).unwrap();
    range
        .rows()
        .map(|row| row.iter().map(|c| c.to_string()).collect())
        .collect()
}

fn check(style: ExportStyle) {
    let env = Env::start(Config {
        users_per_company: 37,
        page_cap: 10,
        export_style: style,
        ..Config::default()
    });
    let id = env.company_id("Müşteri A.Ş.");
    let users = env.served(&id);

    let csv_path = env.path("users.csv");
    env.run(&[
        "export",
        "--company",
        "Müşteri A.Ş.",
        "--type",
        "csv",
        "--out",
        csv_path.to_str().unwrap(),
    ])
    .ok();
    let rows = read_csv(&std::fs::read(&csv_path).unwrap());
    assert_eq!(rows[0][..3], ["First Name", "Last Name", "Email"]);
    assert_eq!(
        rows.len(),
        users.len() + 1,
        "header + every user (all pages)"
    );
    let emails: Vec<&str> = rows[1..].iter().map(|r| r[2].as_str()).collect();
    for user in &users {
        assert!(emails.contains(&user["email"].as_str().unwrap_or("")));
    }

    let xlsx_path = env.path("users.xlsx");
    env.run(&[
        "export",
        "--company",
        &id,
        "--type",
        "excel",
        "--out",
        xlsx_path.to_str().unwrap(),
    ])
    .ok();
    let sheet = read_xlsx(std::fs::read(&xlsx_path).unwrap());
    assert_eq!(sheet.len(), users.len() + 1);
    assert_eq!(sheet[0][2], "Email");

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&xlsx_path).unwrap().permissions().mode();
        assert_eq!(
            mode & 0o777,
            0o600,
            "exports are readable by the owner only"
        );
    }
}

#[test]
fn file_response_is_saved_and_readable() {
    check(ExportStyle::File);
}

#[test]
fn service_result_json_response_is_decoded_and_saved() {
    check(ExportStyle::ServiceResult);
}

#[test]
fn a_directory_keeps_the_server_file_name_and_no_temp_files_remain() {
    let env = Env::small(8, 50);
    let out = env.path("exports");
    std::fs::create_dir(&out).unwrap();
    env.run(&[
        "export",
        "--company",
        "Müşteri A.Ş.",
        "--type",
        "csv",
        "--out",
        out.to_str().unwrap(),
    ])
    .ok();
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(names.len(), 1, "{names:?}");
    assert!(
        names[0].starts_with("TargetUsers_") && names[0].ends_with(".csv"),
        "{names:?}"
    );
    assert!(
        names[0].contains("Müşteri"),
        "the UTF-8 file name survives: {names:?}"
    );
}

#[test]
fn the_status_selection_applies_to_the_server_side_export() {
    let env = Env::small(40, 10);
    let id = env.company_id("Initech");
    let deleted = env.served_deleted(&id);
    assert!(!deleted.is_empty());
    let path = env.path("deleted.csv");
    env.run(&[
        "export",
        "--company",
        &id,
        "--type",
        "csv",
        "--status",
        "deleted",
        "--out",
        path.to_str().unwrap(),
    ])
    .ok();
    let rows = read_csv(&std::fs::read(&path).unwrap());
    let mut got: Vec<&str> = rows[1..].iter().map(|r| r[2].as_str()).collect();
    let mut want: Vec<&str> = deleted
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    got.sort_unstable();
    want.sort_unstable();
    assert_eq!(got, want, "exactly the deleted users");
}
