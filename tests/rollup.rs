//! `--rollup`: one row per company of a run, checked against the sandbox's own figures, with
//! the XLSX total row, and the changes of a second run.

use std::collections::BTreeMap;

use calamine::{Data, Reader, Xlsx};
use keepnet_sandbox::UserChanges;

use crate::util::Env;

const COLUMNS: [&str; 15] = [
    "companyId",
    "company",
    "parent",
    "usersExported",
    "active",
    "inactive",
    "deleted",
    "monthlyAdded",
    "licenceLimit",
    "overLimit",
    "joined",
    "left",
    "changed",
    "outcome",
    "files",
];

fn run(env: &Env) {
    env.run(&[
        "users",
        "--company",
        "all",
        "--sink",
        "csv:out/{company_id}.csv",
        "--state",
        "state",
        "--rollup",
        "xlsx:rollup-{date}.xlsx",
        "--rollup",
        "csv:rollup.csv",
    ])
    .ok();
}

/// The XLSX rollup's rows (header first) as calamine reads them.
fn xlsx_rows(env: &Env) -> Vec<Vec<Data>> {
    let name = std::fs::read_dir(env.path(""))
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .find(|n| n.starts_with("rollup-") && n.ends_with(".xlsx"))
        .expect("the {date} in the target was filled in");
    let mut book: Xlsx<_> = calamine::open_workbook(env.path(&name)).unwrap();
    let sheet = book.sheet_names()[0].clone();
    let range = book.worksheet_range(&sheet).unwrap();
    range.rows().map(<[Data]>::to_vec).collect()
}

/// A numeric cell as a whole number; an empty cell as `None`; text fails the test.
fn number(cell: &Data) -> Option<u64> {
    match cell {
        Data::Empty => None,
        Data::Float(f) => Some(*f as u64),
        Data::Int(i) => Some(*i as u64),
        other => panic!("a number cell holds {other:?}"),
    }
}

/// The row of each company by id, as column -> cell.
fn by_id(rows: &[Vec<Data>]) -> BTreeMap<String, BTreeMap<&'static str, Data>> {
    rows.iter()
        .filter(|r| !r[0].to_string().is_empty())
        .map(|r| {
            let cells = COLUMNS.iter().copied().zip(r.iter().cloned()).collect();
            (r[0].to_string(), cells)
        })
        .collect()
}

#[test]
fn the_rollup_matches_the_sandboxs_figures_row_by_row_with_a_total_row() {
    let env = Env::small(12, 5);
    run(&env);
    let rows = xlsx_rows(&env);
    let header: Vec<String> = rows[0].iter().map(ToString::to_string).collect();
    assert_eq!(header, COLUMNS);
    let dataset = env.sandbox.dataset();
    let companies = dataset.all_companies();
    // One row per company, then the total.
    assert_eq!(rows.len(), 1 + companies.len() + 1);
    let rows_by_id = by_id(&rows[1..rows.len() - 1]);
    assert_eq!(rows_by_id.len(), companies.len());
    let names: BTreeMap<&str, &str> = companies
        .iter()
        .map(|c| (c.resource_id.as_str(), c.name.as_str()))
        .collect();
    for company in &companies {
        let row = &rows_by_id[&company.resource_id];
        let n = |key: &str| number(&row[key]);
        let id = &company.resource_id;
        assert_eq!(row["company"].to_string(), company.name, "{id}");
        let parent = company.parent.as_deref().map(|p| names[p]).unwrap_or("");
        assert_eq!(row["parent"].to_string(), parent, "{id}");
        assert_eq!(
            n("usersExported"),
            Some(env.served(id).len() as u64),
            "{id}"
        );
        assert_eq!(n("active"), Some(company.active_user_count as u64), "{id}");
        assert_eq!(
            n("inactive"),
            Some(company.inactive_user_count as u64),
            "{id}"
        );
        assert_eq!(
            n("deleted"),
            Some(company.deleted_user_count as u64),
            "{id}"
        );
        assert_eq!(
            n("monthlyAdded"),
            company.monthly_user_counts.last().map(|&m| m as u64),
            "{id}: this month's figure"
        );
        let limit = company.license_limit.map(u64::from);
        assert_eq!(n("licenceLimit"), limit, "{id}");
        assert_eq!(
            n("overLimit"),
            limit.map(|l| (company.active_user_count as u64).saturating_sub(l)),
            "{id}"
        );
        for key in ["joined", "left", "changed"] {
            assert_eq!(n(key), None, "{id}: a baseline has no changes");
        }
        assert_eq!(row["outcome"].to_string(), "succeeded");
        assert!(
            row["files"].to_string().ends_with(&format!("{id}.csv")),
            "{id}: {}",
            row["files"]
        );
    }
    // The total row sums every number column.
    let total = rows.last().unwrap();
    assert_eq!(total[1].to_string(), "Total");
    for (i, key) in COLUMNS.iter().enumerate().take(10).skip(3) {
        let sum: u64 = rows[1..rows.len() - 1]
            .iter()
            .filter_map(|r| number(&r[i]))
            .sum();
        assert_eq!(number(&total[i]), Some(sum), "total of {key}");
    }
    let count = companies.len();
    assert_eq!(
        total[13].to_string(),
        format!("{count} of {count} succeeded")
    );

    // The CSV rollup has the same rows, without a total (programs sum for themselves).
    let mut csv = csv::Reader::from_path(env.path("rollup.csv")).unwrap();
    let records: Vec<csv::StringRecord> = csv.records().map(Result::unwrap).collect();
    assert_eq!(records.len(), companies.len());
    for record in &records {
        let row = &rows_by_id[&record[0]];
        for (i, key) in COLUMNS.iter().enumerate() {
            assert_eq!(record[i], row[key].to_string(), "{key} of {}", &record[0]);
        }
    }

    // Between runs, one company's people change; the next rollup says who, per company.
    let initech = env.company_id("Initech");
    let change = UserChanges {
        add: 7,
        remove: 5,
        modify: 3,
    };
    env.sandbox.change_users(&initech, change).unwrap();
    std::fs::remove_file(env.path("rollup.csv")).unwrap();
    for entry in std::fs::read_dir(env.path("")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "xlsx") {
            std::fs::remove_file(path).unwrap();
        }
    }
    run(&env);
    let rows = xlsx_rows(&env);
    let rows_by_id = by_id(&rows[1..rows.len() - 1]);
    for company in &companies {
        let row = &rows_by_id[&company.resource_id];
        let changes: Vec<Option<u64>> = ["joined", "left", "changed"]
            .iter()
            .map(|k| number(&row[*k]))
            .collect();
        let want = match company.resource_id == initech {
            true => [Some(7), Some(5), Some(3)],
            false => [Some(0), Some(0), Some(0)],
        };
        assert_eq!(changes, want, "{}", company.name);
    }
    let total = rows.last().unwrap();
    assert_eq!(
        (number(&total[10]), number(&total[11]), number(&total[12])),
        (Some(7), Some(5), Some(3))
    );
}

#[test]
fn a_rollup_is_one_file_for_the_run_and_a_row_sink() {
    let env = Env::small(3, 5);
    let before = env.sandbox.stats().requests;
    let base = [
        "users",
        "--company",
        "all",
        "--sink",
        "csv:out/{company}.csv",
    ];
    let with = |extra: &[&str]| {
        let mut args = base.to_vec();
        args.extend_from_slice(extra);
        env.run(&args)
    };
    with(&["--rollup", "csv:rollup-{company}.csv"]).fails_with(
        2,
        &[
            "--rollup csv:rollup-{company}.csv",
            "one file for the whole run",
        ],
    );
    with(&["--rollup", "email:a@b.example"])
        .fails_with(2, &["is a delivery, and a rollup is rows"]);
    with(&["--rollup", "csv:out/{company}.csv"]).fails_with(2, &["--rollup"]);
    assert_eq!(
        env.sandbox.stats().requests,
        before,
        "refused before any request"
    );
}
