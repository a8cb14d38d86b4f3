//! `companies`: the whole managed tree, in every format.

use serde_json::Value;

use keepnet_sandbox::Config;

use crate::util::Env;

#[test]
fn json_lists_every_company_with_nested_children_and_parents() {
    let env = Env::small(5, 3);
    let listed: Vec<Value> =
        serde_json::from_str(env.run(&["companies", "--format", "json"]).ok()).unwrap();
    let data = env.sandbox.dataset();
    let expected = data.all_companies();
    assert_eq!(listed.len(), expected.len(), "{listed:#?}");
    for (got, want) in listed.iter().zip(&expected) {
        assert_eq!(got["resourceId"], want.resource_id.as_str());
        assert_eq!(got["name"], want.name.as_str());
        assert_eq!(
            got["parent"].as_str(),
            want.parent.as_deref(),
            "parent of {}",
            want.name
        );
        // targetUserCount counts active users (the licence figure); the others apart.
        assert_eq!(
            got["targetUserCount"], want.active_user_count as u64,
            "count of {}",
            want.name
        );
        assert_eq!(
            got["inactiveTargetUserCount"],
            want.inactive_user_count as u64
        );
        assert_eq!(
            got["deletedTargetUserCount"],
            want.deleted_user_count as u64
        );
    }
    // A grandchild: Acme Holdings > Acme Europe > Acme Europe Support.
    let support = listed
        .iter()
        .find(|c| c["name"] == "Acme Europe Support")
        .unwrap();
    assert_eq!(support["parentName"], "Acme Europe");
    assert_eq!(support["depth"], 2);
    assert_eq!(support["parent"], env.company_id("Acme Europe").as_str());
    // The other reseller's company is not listed.
    assert!(!listed
        .iter()
        .any(|c| c["resourceId"] == data.unmanaged_company_id()));
}

#[test]
fn table_indents_children_and_csv_parses() {
    let env = Env::small(5, 50);
    let table = env.run(&["companies"]);
    let table = table.ok();
    assert!(table.starts_with("ID"), "{table}");
    let europe_line = table.lines().find(|l| l.ends_with("Acme Europe")).unwrap();
    assert!(
        europe_line.contains("  Acme Europe")
            && europe_line.contains(&env.company_id("Acme Europe"))
    );
    assert!(
        table
            .lines()
            .any(|l| l.ends_with("    Acme Europe Support")),
        "{table}"
    );

    let csv_out = env.run(&["companies", "--format", "csv"]);
    let mut reader = csv::Reader::from_reader(csv_out.ok().as_bytes());
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[0], "resourceId");
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), env.sandbox.dataset().all_companies().len());
    assert!(rows.iter().any(|r| &r[1] == "Müşteri A.Ş."));
}

#[test]
fn exceeding_limit_returns_only_companies_over_licence() {
    let env = Env::small(20, 50);
    let listed: Vec<Value> = serde_json::from_str(
        env.run(&["companies", "--format", "json", "--exceeding-limit"])
            .ok(),
    )
    .unwrap();
    let data = env.sandbox.dataset();
    let over: Vec<&str> = data
        .all_companies()
        .into_iter()
        .filter(|c| c.over_license_limit())
        .map(|c| c.name.as_str())
        .collect();
    assert!(
        !over.is_empty(),
        "the sandbox has a company over its licence"
    );
    let names: Vec<&str> = listed.iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names, over);
}

#[test]
fn a_company_listed_both_nested_and_at_top_level_is_one_company() {
    let env = Env::start(Config {
        users_per_company: 8,
        page_cap: 4,
        children_also_top_level: true,
        ..Config::default()
    });
    let listed: Vec<Value> =
        serde_json::from_str(env.run(&["companies", "--format", "json"]).ok()).unwrap();
    let data = env.sandbox.dataset();
    assert_eq!(
        listed.len(),
        data.all_companies().len(),
        "each company once"
    );
    let europe = listed.iter().find(|c| c["name"] == "Acme Europe").unwrap();
    assert_eq!(
        europe["parentName"], "Acme Holdings",
        "kept where it is nested"
    );
    // No false ambiguity: the name resolves to the one company.
    let id = env.company_id("Acme Europe");
    let users = env.run(&["users", "--company", "Acme Europe"]).json_lines();
    assert_eq!(users, env.served(&id));
}
