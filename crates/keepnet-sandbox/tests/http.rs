//! End-to-end tests of the sandbox over real HTTP.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use keepnet_sandbox::{
    Churn, CompanyKeys, Config, CountSummaryShape, Credentials, Dataset, DateStyle, DeletedRows,
    EnvelopeStyle, ExportStyle, Faults, LanguageField, Sandbox, TargetUserCount, UserChanges,
};
use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

fn small() -> Config {
    Config {
        users_per_company: 40,
        page_cap: 25,
        ..Config::default()
    }
}

async fn token(c: &Client, sb: &Sandbox, creds: &Credentials) -> String {
    let r = c
        .post(format!("{}/connect/token", sb.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", &creds.client_id),
            ("client_secret", &creds.client_secret),
            ("scope", "api1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let v: Value = r.json().await.unwrap();
    v["access_token"].as_str().unwrap().to_string()
}

/// A sandbox started with `config`, an HTTP client, and a reseller token for it.
async fn reseller_session(config: Config) -> (Sandbox, Client, String) {
    let sb = Sandbox::start(config).await.unwrap();
    let c = Client::new();
    let tok = token(&c, &sb, &sb.reseller()).await;
    (sb, c, tok)
}

async fn post(
    c: &Client,
    sb: &Sandbox,
    path: &str,
    tok: &str,
    company: Option<&str>,
    body: Value,
) -> (StatusCode, Value) {
    let mut rb = c
        .post(format!("{}{path}", sb.base_url()))
        .bearer_auth(tok)
        .json(&body);
    if let Some(id) = company {
        rb = rb.header("X-KEEPNET-Company-Id", id);
    }
    let r = rb.send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn user_body(page: u32, size: u32) -> Value {
    json!({"pageNumber": page, "pageSize": size, "orderBy": "CreateTime", "ascending": false,
           "filter": {"Condition": "AND", "SearchInputTextValue": ""}})
}

/// The filter Keepnet's UI and agent send for current users:
/// Status Include "1,0" plus IsDeleted false, in the UI's two-group shape.
fn client_filter() -> Value {
    ui_filter(json!([
        {"FieldName": "Status", "Operator": "Include", "Value": "1,0"},
        {"FieldName": "IsDeleted", "Operator": "Contains", "Value": false}
    ]))
}

/// The UI's default filter (getDefaultFilter) with these items in group 0.
fn ui_filter(items: Value) -> Value {
    json!({"Condition": "AND", "SearchInputTextValue": "", "FilterGroups": [
        {"Condition": "AND", "FilterItems": items, "FilterGroups": []},
        {"Condition": "OR", "FilterItems": [], "FilterGroups": []}]})
}

fn company_body(page: u32, size: u32) -> Value {
    json!({"pageNumber": page, "pageSize": size, "orderBy": "CreateTime", "ascending": true,
           "filter": {"Condition": "AND", "SearchInputTextValue": ""}})
}

#[tokio::test]
async fn token_endpoint_rules() {
    let sb = Sandbox::start(small()).await.unwrap();
    let c = Client::new();
    let url = format!("{}/connect/token", sb.base_url());
    let creds = sb.reseller();
    assert!(format!("{creds:?}").contains("[redacted]"));
    assert!(!format!("{creds:?}").contains(&creds.client_secret));

    let r = c
        .post(&url)
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.as_str()),
            ("scope", "api1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["expires_in"], 3600);
    assert_eq!(v["scope"], "api1");
    assert_eq!(v["permissions"].as_array().unwrap().len(), 4);
    let tok = v["access_token"].as_str().unwrap();
    let parts: Vec<&str> = tok.split('.').collect();
    assert_eq!(parts.len(), 3);
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["role"], "Reseller");
    assert_eq!(claims["reseller_access"], "true");
    assert_eq!(claims["user_company_name"], "Northwind MSSP");
    assert!(claims["exp"].as_u64().unwrap() > 0);

    let second = token(&c, &sb, &creds).await;
    assert_ne!(second, tok);
    let admin_tok = token(&c, &sb, &sb.company_admin()).await;
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(admin_tok.split('.').nth(1).unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["role"], "Company Admin");
    assert_eq!(claims["user_company_name"], "Globex Corporation");

    let json_body = json!({"grant_type": "client_credentials", "client_id": creds.client_id,
        "client_secret": creds.client_secret, "scope": "api1"});
    let r = c.post(&url).json(&json_body).send().await.unwrap();
    assert_eq!(r.status(), 500);

    let cases = [
        (
            creds.client_id.as_str(),
            "wrong",
            "client_credentials",
            "api1",
            "invalid_client",
        ),
        (
            creds.client_id.as_str(),
            creds.client_secret.as_str(),
            "password",
            "api1",
            "unsupported_grant_type",
        ),
        (
            creds.client_id.as_str(),
            creds.client_secret.as_str(),
            "client_credentials",
            "api2",
            "invalid_scope",
        ),
        (
            "",
            creds.client_secret.as_str(),
            "client_credentials",
            "api1",
            "invalid_request",
        ),
    ];
    for (id, secret, grant, scope, want) in cases {
        let r = c
            .post(&url)
            .form(&[
                ("grant_type", grant),
                ("client_id", id),
                ("client_secret", secret),
                ("scope", scope),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{want}");
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["error"], want);
    }
    let st = sb.stats();
    assert_eq!(st.tokens_issued, 3);
    assert_eq!(st.token_requests, 8);
    sb.shutdown().await;
}

#[tokio::test]
async fn expired_and_missing_tokens_get_401() {
    let (sb, c, tok) = reseller_session(Config {
        token_lifetime: Duration::from_millis(900),
        ..small()
    })
    .await;
    let (s, _) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(1, 10),
    )
    .await;
    assert_eq!(s, 200);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let r = c
        .post(format!("{}/api/target-users/search", sb.base_url()))
        .bearer_auth(&tok)
        .json(&user_body(1, 10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        r.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert!(r.text().await.unwrap().is_empty());
    let r = c
        .get(format!("{}/api/target-users/count-summary", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{}/api/target-users/count-summary", sb.base_url()))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(sb.stats().unauthorized, 3);
    let r = c
        .get(format!("{}/nope", sb.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    sb.shutdown().await;
}

#[tokio::test]
async fn companies_paging_children_and_filters() {
    let (sb, c, tok) = reseller_session(Config {
        page_cap: 4,
        ..small()
    })
    .await;
    let mut names = Vec::new();
    for page in 1..=3 {
        let (s, v) = post(
            &c,
            &sb,
            "/api/companies/search",
            &tok,
            None,
            company_body(page, 100),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(v["status"], "SUCCESS");
        let d = &v["data"];
        assert_eq!(d["pageSize"], 4);
        assert_eq!(d["totalNumberOfRecords"], 6);
        assert_eq!(d["totalNumberOfPages"], 2);
        assert_eq!(d["limitExceededCompanyCount"], 1);
        for item in d["results"].as_array().unwrap() {
            names.push(item["companyName"].as_str().unwrap().to_string());
            assert!(item["numberOfUsers"].is_string() || item["numberOfUsers"].is_null());
            assert!(item["children"].is_array());
            assert_eq!(item["resellerName"], "Northwind MSSP");
        }
    }
    assert_eq!(
        names,
        [
            "Acme Holdings",
            "Müşteri A.Ş.",
            "Globex Corporation",
            "Initech",
            "Umbrella Empty",
            "東京商事株式会社"
        ]
    );
    let (_, v) = post(
        &c,
        &sb,
        "/api/companies/search",
        &tok,
        None,
        company_body(1, 1),
    )
    .await;
    let acme = &v["data"]["results"][0];
    let kids: Vec<&str> = acme["children"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["companyName"].as_str().unwrap())
        .collect();
    assert_eq!(kids, ["Acme Europe", "Acme Türkiye"]);
    assert_eq!(
        acme["children"][0]["children"][0]["companyName"],
        "Acme Europe Support"
    );
    assert_eq!(acme["children"][0]["children"][0]["children"], json!([]));

    let body = json!({"PageNumber": 1, "PageSize": 10, "OrderBy": "Name", "Ascending": true,
        "IsTargetUserCountExceededLimit": true, "Filter": {"SearchInputTextValue": ""}});
    let (s, v) = post(&c, &sb, "/api/companies/search", &tok, None, body).await;
    assert_eq!(s, 200);
    let r = v["data"]["results"].as_array().unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(r[0]["companyName"], "Acme Türkiye");
    assert!(
        r[0]["targetUserCount"].as_u64().unwrap()
            > r[0]["numberOfUsers"].as_str().unwrap().parse().unwrap()
    );

    let body = json!({"pageNumber": 1, "pageSize": 10, "orderBy": "CompanyName", "ascending": true,
        "filter": {"searchInputTextValue": "acme"}});
    let (_, v) = post(&c, &sb, "/api/companies/search", &tok, None, body).await;
    assert_eq!(v["data"]["totalNumberOfRecords"], 1);

    let (s, v) = post(
        &c,
        &sb,
        "/api/companies/search",
        &tok,
        None,
        json!({"pageNumber": 1, "filter": null}),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["status"], "INPUT_ERROR");
    let msgs = v["validationMessages"].to_string();
    for f in ["pageSize", "orderBy", "ascending", "filter"] {
        assert!(msgs.contains(f), "{msgs}");
    }
    let admin = token(&c, &sb, &sb.company_admin()).await;
    let (s, v) = post(
        &c,
        &sb,
        "/api/companies/search",
        &admin,
        None,
        company_body(1, 10),
    )
    .await;
    assert_eq!(s, 403);
    assert_eq!(v["status"], "FORBIDDEN");
    sb.shutdown().await;
}

#[tokio::test]
async fn user_paging_covers_every_user_once() {
    let (sb, c, tok) = reseller_session(Config {
        users_per_company: 137,
        page_cap: 20,
        ..Config::default()
    })
    .await;
    let ds = sb.dataset();
    let globex = ds.find_by_name("Globex Corporation")[0].resource_id.clone();
    for order in [
        "CreateTime",
        "Email",
        "lastname",
        "Department",
        "Priority",
        "UpdateTime",
    ] {
        let mut seen = Vec::new();
        let mut page = 1;
        loop {
            let body = json!({"pageNumber": page, "pageSize": 1000, "orderBy": order, "ascending": true,
                "filter": {"condition": "AND", "searchInputTextValue": ""}});
            let (s, v) = post(
                &c,
                &sb,
                "/api/target-users/search",
                &tok,
                Some(&globex),
                body,
            )
            .await;
            assert_eq!(s, 200, "{v}");
            let d = &v["data"];
            assert_eq!(d["pageSize"], 20);
            assert_eq!(d["totalNumberOfRecords"], 137);
            assert_eq!(d["totalNumberOfPages"], 7);
            let results = d["results"].as_array().unwrap();
            if results.is_empty() {
                break;
            }
            seen.extend(
                results
                    .iter()
                    .map(|u| u["resourceId"].as_str().unwrap().to_string()),
            );
            page += 1;
        }
        assert_eq!(page, 8);
        let unique: HashSet<_> = seen.iter().collect();
        assert_eq!(unique.len(), 137, "{order}");
        let expected: HashSet<_> = ds.users(&globex).iter().map(|u| &u.resource_id).collect();
        assert_eq!(unique, expected);
    }
    // Default order is newest first, and results equal the dataset JSON.
    let (_, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&globex),
        user_body(1, 5),
    )
    .await;
    let json_users = ds.users_json(&globex);
    assert_eq!(v["data"]["results"][0], json_users[136]);
    assert_eq!(v["data"]["results"][0].as_object().unwrap().len(), 21);
    // Without the header a reseller sees every managed company's users.
    let (_, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(1, 50),
    )
    .await;
    assert_eq!(v["data"]["totalNumberOfRecords"], managed_user_count(&ds));
    // PascalCase filter with groups.
    let body = json!({"PageNumber": 1, "PageSize": 50, "OrderBy": "Email", "Ascending": true,
        "Filter": {"Condition": "AND", "SearchInputTextValue": "", "FilterGroups": [
            {"Condition": "OR", "FilterItems": [{"FieldName": "Status", "Operator": "Equal", "Value": "inactive"}]}]}});
    let (s, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&globex),
        body,
    )
    .await;
    assert_eq!(s, 200);
    let inactive = ds
        .users(&globex)
        .iter()
        .filter(|u| u.status.as_deref() == Some("Inactive"))
        .count();
    assert_eq!(v["data"]["totalNumberOfRecords"], inactive);
    // Bad bodies.
    let (s, _) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&globex),
        json!({"pageNumber": 1, "filter": null}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&globex),
        json!({"orderBy": "Shoe", "filter": {}}),
    )
    .await;
    assert_eq!(s, 400);
    let r = c
        .post(format!("{}/api/target-users/search", sb.base_url()))
        .bearer_auth(&tok)
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(sb.stats().user_search_requests >= 40);
    sb.shutdown().await;
}

#[tokio::test]
async fn company_scoping_errors() {
    let (sb, c, tok) = reseller_session(small()).await;
    let admin = token(&c, &sb, &sb.company_admin()).await;
    let ds = sb.dataset();
    let path = "/api/target-users/search";
    let (s, v) = post(&c, &sb, path, &tok, Some("bad id!"), user_body(1, 10)).await;
    assert_eq!(
        (s.as_u16(), v["message"].as_str()),
        (400, Some("Invalid Company ID"))
    );
    let (s, v) = post(&c, &sb, path, &tok, Some("ZZZZZZZZZZZZ"), user_body(1, 10)).await;
    assert_eq!((s.as_u16(), v["status"].as_str()), (404, Some("NOT_FOUND")));
    let (s, v) = post(
        &c,
        &sb,
        path,
        &tok,
        Some(ds.unmanaged_company_id()),
        user_body(1, 10),
    )
    .await;
    assert_eq!((s.as_u16(), v["status"].as_str()), (403, Some("FORBIDDEN")));
    let acme = &ds.find_by_name("Acme Holdings")[0].resource_id;
    let (s, _) = post(&c, &sb, path, &admin, Some(acme), user_body(1, 10)).await;
    assert_eq!(s, 403);
    let (s, v) = post(&c, &sb, path, &admin, None, user_body(1, 10)).await;
    assert_eq!(s, 200);
    let globex = &ds.find_by_name("Globex Corporation")[0];
    assert_eq!(v["data"]["totalNumberOfRecords"], globex.user_count);
    // Lower-case header name and ?companyId= both work.
    let r = c
        .post(format!("{}{path}?companyId={acme}", sb.base_url()))
        .bearer_auth(&tok)
        .json(&user_body(1, 10))
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(
        v["data"]["results"][0]["resourceId"],
        ds.users(acme).last().unwrap().resource_id
    );
    let r = c
        .post(format!("{}{path}", sb.base_url()))
        .bearer_auth(&tok)
        .header("x-keepnet-company-id", acme.as_str())
        .json(&user_body(1, 10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    sb.shutdown().await;
}

/// Every user a reseller manages: its own company's and every managed company's.
fn managed_user_count(ds: &keepnet_sandbox::Dataset) -> usize {
    ds.reseller_company().user_count
        + ds.all_companies()
            .iter()
            .map(|c| c.user_count)
            .sum::<usize>()
}

#[tokio::test]
async fn exports_csv_xlsx_and_service_result() {
    let (sb, c, tok) = reseller_session(small()).await;
    let ds = sb.dataset();
    let tr = ds.find_by_name("Acme Türkiye")[0].resource_id.clone();
    let url = format!("{}/api/target-users/search/export", sb.base_url());
    let body = json!({"pageNumber": 1, "pageSize": 10, "orderBy": "CreateTime", "ascending": true,
        "reportAllPages": true, "exportType": "Csv", "filter": {"condition": "AND", "searchInputTextValue": ""}});
    let r = c
        .post(&url)
        .bearer_auth(&tok)
        .header("X-KEEPNET-Company-Id", &tr)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let cd = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        cd.starts_with("attachment; filename=\"TargetUsers_Acme T_rkiye_"),
        "{cd}"
    );
    assert!(
        cd.contains("filename*=UTF-8''TargetUsers_Acme%20T%C3%BCrkiye_"),
        "{cd}"
    );
    let bytes = r.bytes().await.unwrap();
    let mut rd = csv::Reader::from_reader(bytes.as_ref());
    assert_eq!(
        rd.headers().unwrap().iter().collect::<Vec<_>>(),
        [
            "First Name",
            "Last Name",
            "Email",
            "Phone Number",
            "Department",
            "Priority",
            "Status",
            "Create Time"
        ]
    );
    let rows: Vec<csv::StringRecord> = rd.records().map(Result::unwrap).collect();
    let users = ds.users(&tr);
    assert_eq!(rows.len(), users.len());
    for (row, u) in rows.iter().zip(users) {
        assert_eq!(&row[1], u.last_name.as_deref().unwrap_or(""));
        assert_eq!(&row[2], u.email.as_deref().unwrap());
        assert_eq!(&row[4], u.department.as_deref().unwrap_or(""));
    }

    let mut one_page = body.clone();
    one_page["reportAllPages"] = json!(false);
    one_page["exportType"] = json!("CSV");
    let r = c
        .post(&url)
        .bearer_auth(&tok)
        .header("X-KEEPNET-Company-Id", &tr)
        .json(&one_page)
        .send()
        .await
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    assert_eq!(
        csv::Reader::from_reader(bytes.as_ref()).records().count(),
        10
    );

    let mut xlsx = body.clone();
    xlsx["exportType"] = json!("excel");
    let r = c
        .post(&url)
        .bearer_auth(&tok)
        .header("X-KEEPNET-Company-Id", &tr)
        .json(&xlsx)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    let bytes = r.bytes().await.unwrap();
    assert_eq!(&bytes[..2], b"PK");

    let mut bad = body.clone();
    bad["exportType"] = json!("Pdf");
    let r = c
        .post(&url)
        .bearer_auth(&tok)
        .header("X-KEEPNET-Company-Id", &tr)
        .json(&bad)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    sb.shutdown().await;

    let sb = Sandbox::start(Config {
        export_style: ExportStyle::ServiceResult,
        ..small()
    })
    .await
    .unwrap();
    let tok = token(&c, &sb, &sb.reseller()).await;
    let url = format!("{}/api/target-users/search/export", sb.base_url());
    let r = c
        .post(&url)
        .bearer_auth(&tok)
        .header("X-KEEPNET-Company-Id", &tr)
        .json(&body)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "SUCCESS");
    assert!(v["fileName"].as_str().unwrap().ends_with(".csv"));
    let file = base64::engine::general_purpose::STANDARD
        .decode(v["byteArray"].as_str().unwrap())
        .unwrap();
    assert!(file.starts_with(b"First Name,Last Name,Email"));
    sb.shutdown().await;
}

#[tokio::test]
async fn envelope_and_key_styles() {
    let c = Client::new();
    let sb = Sandbox::start(Config {
        envelope: EnvelopeStyle::Quickstart,
        company_keys: CompanyKeys::Prose,
        ..small()
    })
    .await
    .unwrap();
    let tok = token(&c, &sb, &sb.reseller()).await;
    let (_, v) = post(
        &c,
        &sb,
        "/api/companies/search",
        &tok,
        None,
        company_body(1, 10),
    )
    .await;
    assert_eq!(v["isSuccess"], true);
    assert_eq!(v["messages"], json!([]));
    assert!(v["data"]["results"][0]["resourceId"].is_string());
    assert!(v["data"]["results"][0]["name"].is_string());
    assert!(v["data"]["results"][0].get("companyName").is_none());
    let (s, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some("nope!"),
        user_body(1, 10),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["isSuccess"], false);
    assert_eq!(v["messages"][0], "Invalid Company ID");
    sb.shutdown().await;

    let sb = Sandbox::start(Config {
        envelope: EnvelopeStyle::Pascal,
        ..small()
    })
    .await
    .unwrap();
    let tok = token(&c, &sb, &sb.reseller()).await;
    let (_, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(1, 10),
    )
    .await;
    assert_eq!(v["Status"], "SUCCESS");
    assert_eq!(v["Message"], Value::Null);
    assert_eq!(
        v["Data"]["totalNumberOfRecords"],
        managed_user_count(&sb.dataset())
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_bytes() {
    let c = Client::new();
    let config = || Config {
        extra_user_fields: vec!["riskScore".into()],
        ..small()
    };
    let a = Sandbox::start(config()).await.unwrap();
    let b = Sandbox::start(config()).await.unwrap();
    let mut bodies = Vec::new();
    for sb in [&a, &b] {
        let tok = token(&c, sb, &sb.reseller()).await;
        let mut texts = Vec::new();
        let r = c
            .post(format!("{}/api/companies/search", sb.base_url()))
            .bearer_auth(&tok)
            .json(&company_body(1, 10))
            .send()
            .await
            .unwrap();
        texts.push(r.text().await.unwrap());
        let id = sb.dataset().find_by_name("東京商事株式会社")[0]
            .resource_id
            .clone();
        let r = c
            .post(format!("{}/api/target-users/search", sb.base_url()))
            .bearer_auth(&tok)
            .header("X-KEEPNET-Company-Id", id)
            .json(&user_body(2, 25))
            .send()
            .await
            .unwrap();
        texts.push(r.text().await.unwrap());
        // Unscoped, filtered, and the company and count endpoints.
        let r = c
            .post(format!("{}/api/target-users/search", sb.base_url()))
            .bearer_auth(&tok)
            .json(
                &json!({"pageNumber": 3, "pageSize": 25, "orderBy": "Email", "ascending": true,
                          "filter": client_filter()}),
            )
            .send()
            .await
            .unwrap();
        texts.push(r.text().await.unwrap());
        let globex = sb.dataset().find_by_name("Globex Corporation")[0]
            .resource_id
            .clone();
        for path in [
            format!("/api/companies/{globex}"),
            "/api/target-users/count-summary".to_string(),
        ] {
            let r = c
                .get(format!("{}{path}", sb.base_url()))
                .bearer_auth(&tok)
                .header("x-ir-company-id", &globex)
                .send()
                .await
                .unwrap();
            texts.push(r.text().await.unwrap());
        }
        bodies.push(texts);
    }
    assert_eq!(bodies[0], bodies[1]);
    assert_eq!(a.reseller(), b.reseller());
    let other = Sandbox::start(Config { seed: 7, ..small() }).await.unwrap();
    assert_ne!(
        other.dataset().companies()[0].resource_id,
        a.dataset().companies()[0].resource_id
    );
    a.shutdown().await;
    b.shutdown().await;
    other.shutdown().await;
}

#[tokio::test]
async fn fault_injection() {
    let (sb, c, tok) = reseller_session(Config {
        faults: Faults {
            rate: 1.0,
            statuses: vec![429],
            retry_after: Some(Duration::from_secs(3)),
            ..Faults::default()
        },
        ..small()
    })
    .await;
    let r = c
        .post(format!("{}/api/target-users/search", sb.base_url()))
        .bearer_auth(&tok)
        .json(&user_body(1, 10))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "3");

    sb.set_faults(Faults {
        rate: 1.0,
        statuses: vec![200],
        ..Faults::default()
    });
    let (s, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(1, 10),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "INTERNAL_SERVER_ERROR");
    assert_eq!(v["message"], "Simulated failure");

    sb.set_faults(Faults {
        rate: 1.0,
        statuses: vec![502, 503],
        ..Faults::default()
    });
    for _ in 0..4 {
        let (s, _) = post(
            &c,
            &sb,
            "/api/target-users/search",
            &tok,
            None,
            user_body(1, 10),
        )
        .await;
        assert!(s == 502 || s == 503);
    }

    sb.set_faults(Faults {
        fail_user_pages_from: Some(2),
        ..Faults::default()
    });
    let (s, _) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(1, 10),
    )
    .await;
    assert_eq!(s, 200);
    let (s, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(2, 10),
    )
    .await;
    assert_eq!(s, 500);
    assert_eq!(v["status"], "INTERNAL_SERVER_ERROR");

    let st = sb.stats();
    assert_eq!(st.faults_injected, 7);
    assert_eq!(st.user_search_requests, 8);
    assert_eq!(st.tokens_issued, 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn latency_is_applied() {
    let sb = Sandbox::start(Config {
        latency: Duration::from_millis(120),
        jitter: Duration::from_millis(30),
        ..small()
    })
    .await
    .unwrap();
    let c = Client::new();
    let t = std::time::Instant::now();
    let _ = token(&c, &sb, &sb.reseller()).await;
    assert!(t.elapsed() >= Duration::from_millis(120));
    sb.shutdown().await;
}

async fn count_summary_status(
    c: &Client,
    sb: &Sandbox,
    tok: &str,
) -> Result<StatusCode, reqwest::Error> {
    c.get(format!("{}/api/target-users/count-summary", sb.base_url()))
        .bearer_auth(tok)
        .send()
        .await
        .map(|r| r.status())
}

#[tokio::test]
async fn latency_spikes_make_short_timeouts_fire() {
    let spike_delay = Duration::from_millis(400);
    let sb = Sandbox::start(Config {
        faults: Faults {
            spike_rate: 0.3,
            spike_delay,
            ..Faults::default()
        },
        ..small()
    })
    .await
    .unwrap();
    // The token endpoint is not spiked by default.
    let patient = Client::new();
    let tok = token(&patient, &sb, &sb.reseller()).await;
    assert_eq!(sb.stats().spikes, 0);

    let hasty = Client::builder()
        .timeout(Duration::from_millis(150))
        .build()
        .unwrap();
    let n = 40;
    let mut timeouts = 0;
    for _ in 0..n {
        match count_summary_status(&hasty, &sb, &tok).await {
            Ok(s) => assert_eq!(s, 200),
            Err(e) => {
                assert!(e.is_timeout(), "{e}");
                timeouts += 1;
            }
        }
    }
    let spikes = sb.stats().spikes;
    assert_eq!(timeouts, spikes, "every spike and only spikes time out");
    assert!(
        (6..=20).contains(&spikes),
        "{spikes} spikes of {n} at rate 0.3"
    );

    // A patient client just waits the spike out.
    sb.set_faults(Faults {
        spike_rate: 1.0,
        spike_delay,
        ..Faults::default()
    });
    let t = std::time::Instant::now();
    assert_eq!(
        count_summary_status(&patient, &sb, &tok).await.unwrap(),
        200
    );
    assert!(t.elapsed() >= spike_delay);
    // Still not the token endpoint...
    let t = std::time::Instant::now();
    let _ = token(&patient, &sb, &sb.reseller()).await;
    assert!(t.elapsed() < spike_delay);
    // ...unless asked.
    sb.set_faults(Faults {
        spike_rate: 1.0,
        spike_delay,
        include_token_endpoint: true,
        ..Faults::default()
    });
    let t = std::time::Instant::now();
    let _ = token(&patient, &sb, &sb.reseller()).await;
    assert!(t.elapsed() >= spike_delay);
    assert_eq!(sb.stats().spikes, spikes + 2);
    sb.shutdown().await;
}

fn ids(users: &[Value]) -> Vec<String> {
    users
        .iter()
        .map(|u| u["resourceId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn churn_changes_users_between_pages() {
    let size = 10usize;
    let (sb, c, tok) = reseller_session(Config {
        users_per_company: 60,
        page_cap: size as u32,
        faults: Faults {
            churn: Some(keepnet_sandbox::Churn {
                inserts_per_search: 3,
                removes_per_search: 2,
                searches: None,
            }),
            ..Faults::default()
        },
        ..Config::default()
    })
    .await;
    let ds = sb.dataset();
    let globex = ds.find_by_name("Globex Corporation")[0].resource_id.clone();
    let acme = ds.find_by_name("Acme Holdings")[0].resource_id.clone();
    assert_eq!(sb.current_users_json(&globex), ds.users_json(&globex));
    assert!(sb.current_users_json("nope").is_empty());

    let body = |page: usize| {
        json!({"pageNumber": page, "pageSize": size, "orderBy": "CreateTime", "ascending": true,
               "filter": {"Condition": "AND", "SearchInputTextValue": ""}})
    };
    let mut ever: HashSet<String> = ids(&ds.users_json(&globex)).into_iter().collect();
    let mut removed_all: HashSet<String> = HashSet::new();
    let mut paged: Vec<String> = Vec::new();
    let (mut before_offset, mut after_offset) = (0, 0);
    let mut page = 1;
    loop {
        let before = sb.current_users_json(&globex);
        let (s, v) = post(
            &c,
            &sb,
            "/api/target-users/search",
            &tok,
            Some(&globex),
            body(page),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let d = &v["data"];
        // The answer is the state before this search...
        assert_eq!(d["totalNumberOfRecords"], before.len());
        let offset = (page - 1) * size;
        let want = &before[offset.min(before.len())..(offset + size).min(before.len())];
        assert_eq!(d["results"].as_array().unwrap().as_slice(), want);
        // ...and the data has changed once it arrives: 3 users added, 2
        // soft-deleted (still listed, isDeleted now true, status unchanged).
        let after = sb.current_users_json(&globex);
        assert_eq!(after.len(), before.len() + 3);
        let before_ids: HashSet<String> = ids(&before).into_iter().collect();
        let after_ids = ids(&after);
        let inserted: Vec<(usize, &String)> = after_ids
            .iter()
            .enumerate()
            .filter(|(_, id)| !before_ids.contains(*id))
            .collect();
        let was: std::collections::HashMap<&str, &Value> = before
            .iter()
            .map(|u| (u["resourceId"].as_str().unwrap(), u))
            .collect();
        let removed: Vec<String> = after
            .iter()
            .filter(|u| {
                was.get(u["resourceId"].as_str().unwrap())
                    .is_some_and(|b| b["isDeleted"] == false && u["isDeleted"] == true)
            })
            .map(|u| {
                let b = was[u["resourceId"].as_str().unwrap()];
                assert_eq!(b["status"], u["status"]);
                u["resourceId"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!((inserted.len(), removed.len()), (3, 2));
        for (pos, id) in &inserted {
            assert!(ever.insert((*id).clone()), "resourceId {id} reused");
            if *pos < page * size {
                before_offset += 1;
            } else {
                after_offset += 1;
            }
        }
        removed_all.extend(removed);
        // Default order holds, emails stay unique.
        let truth = sb.current_users(&globex);
        for w in truth.windows(2) {
            assert!((w[0].create_ms, &w[0].resource_id) < (w[1].create_ms, &w[1].resource_id));
        }
        let emails: HashSet<&str> = after.iter().map(|u| u["email"].as_str().unwrap()).collect();
        assert_eq!(emails.len(), after.len());
        let results = d["results"].as_array().unwrap();
        if results.is_empty() {
            break;
        }
        paged.extend(ids(results));
        page += 1;
    }
    assert!(
        before_offset > 0 && after_offset > 0,
        "{before_offset}/{after_offset}"
    );
    let final_users = sb.current_users(&globex);
    let final_ids: HashSet<String> = final_users.iter().map(|u| u.resource_id.clone()).collect();
    assert!(removed_all.iter().all(|id| final_users
        .iter()
        .any(|u| &u.resource_id == id && u.is_deleted)));
    // Soft-deleted users leave a search that asks for current users only.
    let live_only = json!({"pageNumber": 1, "pageSize": 1000, "orderBy": "CreateTime", "ascending": true,
        "filter": client_filter()});
    let (_, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&globex),
        live_only,
    )
    .await;
    let listed: HashSet<String> = ids(v["data"]["results"].as_array().unwrap())
        .into_iter()
        .collect();
    assert!(removed_all.iter().all(|id| !listed.contains(id)));
    // (that search churned once more, so the counts below re-read the state)
    // Offset paging over changing data both repeats and skips users.
    let unique: HashSet<&String> = paged.iter().collect();
    assert!(unique.len() < paged.len(), "some user was served twice");
    assert!(
        final_ids.iter().any(|id| !unique.contains(id)),
        "some user was never served"
    );
    let st = sb.stats();
    assert_eq!(st.users_inserted, 3 * (page as u64 + 1));
    assert_eq!(st.users_removed, 2 * (page as u64 + 1));

    // Exports, count-summary and companies/search see the same state.
    let current = sb.current_users_json(&globex);
    let export = json!({"pageNumber": 1, "pageSize": 10, "orderBy": "CreateTime", "ascending": true,
        "reportAllPages": true, "exportType": "CSV", "filter": {"condition": "AND", "searchInputTextValue": ""}});
    let r = c
        .post(format!("{}/api/target-users/search/export", sb.base_url()))
        .bearer_auth(&tok)
        .header("X-KEEPNET-Company-Id", &globex)
        .json(&export)
        .send()
        .await
        .unwrap();
    let bytes = r.bytes().await.unwrap();
    let emails: Vec<String> = csv::Reader::from_reader(bytes.as_ref())
        .records()
        .map(|r| r.unwrap()[2].to_string())
        .collect();
    let want: Vec<String> = current
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(emails, want);
    let r = c
        .get(format!("{}/api/target-users/count-summary", sb.base_url()))
        .bearer_auth(&tok)
        .header("X-KEEPNET-Company-Id", &globex)
        .send()
        .await
        .unwrap();
    let v: Value = r.json().await.unwrap();
    let deleted = current.iter().filter(|u| u["isDeleted"] == true).count();
    let active = current
        .iter()
        .filter(|u| u["isDeleted"] == false && u["status"] == "Active")
        .count();
    assert_eq!(v["data"]["totalNumberOfActiveUsers"], active);
    assert_eq!(v["data"]["totalNumberOfDeletedUsers"], deleted);
    assert_eq!(
        v["data"]["totalNumberOfInActiveUsers"],
        current.len() - active - deleted
    );
    let (_, v) = post(
        &c,
        &sb,
        "/api/companies/search",
        &tok,
        None,
        company_body(1, 10),
    )
    .await;
    let g = v["data"]["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["companyResourceId"] == globex.as_str())
        .unwrap()
        .clone();
    assert_eq!(g["targetUserCount"], active);
    assert_eq!(g["deletedTargetUserCount"], deleted);
    // None of that changed anything; neither did other companies change.
    assert_eq!(sb.current_users_json(&globex), current);
    assert_eq!(sb.current_users_json(&acme), ds.users_json(&acme));

    // A faulted search does not churn; a churned company keeps its state
    // once churn is switched off.
    sb.set_faults(Faults {
        fail_user_pages_from: Some(1),
        churn: Some(keepnet_sandbox::Churn {
            inserts_per_search: 1,
            removes_per_search: 1,
            searches: None,
        }),
        ..Faults::default()
    });
    let (s, _) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&globex),
        body(1),
    )
    .await;
    assert_eq!(s, 500);
    sb.set_faults(Faults::default());
    let (_, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&globex),
        body(1),
    )
    .await;
    assert_eq!(v["data"]["totalNumberOfRecords"], current.len());
    assert_eq!(sb.current_users_json(&globex), current);
    assert_eq!(sb.stats().users_inserted, 3 * (page as u64 + 1));
    sb.shutdown().await;
}

#[tokio::test]
async fn churn_is_consistent_under_concurrent_searches() {
    let (sb, c, tok) = reseller_session(Config {
        users_per_company: 80,
        page_cap: 20,
        faults: Faults {
            churn: Some(keepnet_sandbox::Churn {
                inserts_per_search: 2,
                removes_per_search: 1,
                searches: None,
            }),
            ..Faults::default()
        },
        ..Config::default()
    })
    .await;
    let globex = sb.dataset().find_by_name("Globex Corporation")[0]
        .resource_id
        .clone();
    let mut tasks = Vec::new();
    for i in 0..16u32 {
        let (c, tok, globex, url) = (c.clone(), tok.clone(), globex.clone(), sb.base_url());
        tasks.push(tokio::spawn(async move {
            let r = c
                .post(format!("{url}/api/target-users/search"))
                .bearer_auth(&tok)
                .header("X-KEEPNET-Company-Id", &globex)
                .json(&user_body(i % 4 + 1, 20))
                .send()
                .await
                .unwrap();
            let v: Value = r.json().await.unwrap();
            v["data"]["totalNumberOfRecords"].as_u64().unwrap()
        }));
    }
    let mut totals = Vec::new();
    for t in tasks {
        totals.push(t.await.unwrap());
    }
    // Each search saw one state: 80 + 2k for k searches before it.
    totals.sort_unstable();
    assert_eq!(totals, (0..16).map(|k| 80 + 2 * k).collect::<Vec<u64>>());
    let current = sb.current_users_json(&globex);
    assert_eq!(current.len(), 112);
    let unique: HashSet<&str> = current
        .iter()
        .map(|u| u["resourceId"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), 112);
    let st = sb.stats();
    assert_eq!((st.users_inserted, st.users_removed), (32, 16));
    sb.shutdown().await;
}

#[tokio::test]
async fn kill_drops_every_connection_and_refuses_new_ones() {
    let sb = Sandbox::start(small()).await.unwrap();
    let addr = sb.addr();
    let idle = Client::new();
    let tok = token(&idle, &sb, &sb.reseller()).await;
    // A keep-alive connection left idle in `idle`'s pool.
    assert_eq!(count_summary_status(&idle, &sb, &tok).await.unwrap(), 200);
    // A request in flight, held by a long spike.
    sb.set_faults(Faults {
        spike_rate: 1.0,
        spike_delay: Duration::from_secs(30),
        ..Faults::default()
    });
    let busy = Client::new();
    let url = format!("{}/api/target-users/count-summary", sb.base_url());
    let tok2 = tok.clone();
    let in_flight = tokio::spawn(async move {
        busy.get(url)
            .bearer_auth(tok2)
            .send()
            .await
            .map(|r| r.status())
    });
    while sb.stats().spikes == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let t = std::time::Instant::now();
    sb.kill().await;
    let fast = Duration::from_secs(2);
    let r = tokio::time::timeout(fast, in_flight)
        .await
        .expect("in-flight request fails fast")
        .unwrap();
    assert!(r.is_err(), "{r:?}");
    let r = tokio::time::timeout(fast, async {
        idle.get(format!("http://{addr}/api/target-users/count-summary"))
            .bearer_auth(&tok)
            .send()
            .await
    })
    .await
    .expect("pooled connection fails fast");
    assert!(r.is_err(), "{r:?}");
    let e = tokio::time::timeout(fast, Client::new().get(format!("http://{addr}/")).send())
        .await
        .expect("new connection fails fast")
        .unwrap_err();
    assert!(e.is_connect(), "{e}");
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert!(t.elapsed() < fast);
}

#[tokio::test]
async fn stop_accepting_keeps_the_handle_usable() {
    let (sb, c, tok) = reseller_session(small()).await;
    assert_eq!(count_summary_status(&c, &sb, &tok).await.unwrap(), 200);
    sb.stop_accepting();
    let r = tokio::time::timeout(Duration::from_secs(2), count_summary_status(&c, &sb, &tok))
        .await
        .expect("fails fast");
    assert!(r.is_err(), "{r:?}");
    let r = tokio::time::timeout(
        Duration::from_secs(2),
        count_summary_status(&Client::new(), &sb, &tok),
    )
    .await
    .expect("fails fast");
    assert!(r.is_err(), "{r:?}");
    assert_eq!(sb.stats().tokens_issued, 1);
    let globex = sb.dataset().find_by_name("Globex Corporation")[0]
        .resource_id
        .clone();
    assert_eq!(sb.current_users_json(&globex).len(), 40);
    sb.shutdown().await;
}

// ---------------------------------------------------------------- fidelity

/// Every page of a target-users search, ascending by CreateTime.
async fn search_all(
    c: &Client,
    sb: &Sandbox,
    tok: &str,
    headers: &[(&str, &str)],
    filter: Value,
) -> Vec<Value> {
    let mut out = Vec::new();
    for page in 1.. {
        let mut rb = c
            .post(format!("{}/api/target-users/search", sb.base_url()))
            .bearer_auth(tok)
            .json(
                &json!({"pageNumber": page, "pageSize": 1000, "orderBy": "CreateTime",
                          "ascending": true, "filter": filter}),
            );
        for (k, v) in headers {
            rb = rb.header(*k, *v);
        }
        let r = rb.send().await.unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let results = v["data"]["results"].as_array().unwrap();
        if results.is_empty() {
            break;
        }
        out.extend(results.iter().cloned());
    }
    out
}

async fn get(
    c: &Client,
    sb: &Sandbox,
    path: &str,
    tok: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, Value) {
    let mut rb = c.get(format!("{}{path}", sb.base_url())).bearer_auth(tok);
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn export_csv(
    c: &Client,
    sb: &Sandbox,
    tok: &str,
    headers: &[(&str, &str)],
    filter: Value,
) -> Vec<csv::StringRecord> {
    let mut rb = c
        .post(format!("{}/api/target-users/search/export", sb.base_url()))
        .bearer_auth(tok)
        .json(
            &json!({"pageNumber": 1, "pageSize": 10, "orderBy": "CreateTime", "ascending": true,
                      "reportAllPages": true, "exportType": "CSV", "filter": filter}),
        );
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.unwrap();
    csv::Reader::from_reader(bytes.as_ref())
        .records()
        .map(Result::unwrap)
        .collect()
}

fn minimal() -> Value {
    json!({"Condition": "AND", "SearchInputTextValue": ""})
}

/// Days since 1970-01-01 of a civil date: the one calendar (`keepnet_sink`), at this file's
/// integer width.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let narrow = |n: i64| u8::try_from(n).expect("a month or a day");
    keepnet_sink::days_from_civil(i32::try_from(y).expect("a year"), narrow(m), narrow(d))
}

fn num(s: &str, len: usize) -> i64 {
    assert_eq!(s.len(), len, "{s}");
    assert!(s.bytes().all(|b| b.is_ascii_digit()), "{s}");
    s.parse().unwrap()
}

/// (year, month, day) of a company-format date part.
fn company_date(date: &str, date_format: &str) -> (i64, i64, i64) {
    let p: Vec<&str> = date.split('/').collect();
    assert_eq!(p.len(), 3, "{date}");
    match date_format {
        "DD/MM/YYYY" => (num(p[2], 4), num(p[1], 2), num(p[0], 2)),
        "MM/DD/YYYY" => (num(p[2], 4), num(p[0], 2), num(p[1], 2)),
        "YYYY/MM/DD" => (num(p[0], 4), num(p[1], 2), num(p[2], 2)),
        other => panic!("{other}"),
    }
}

/// Minutes since the epoch of "05/03/2024 18:25", "03/05/2024 06:25 PM", ...
fn company_minutes(text: &str, date_format: &str, time_format: &str) -> i64 {
    let (date, rest) = text.split_once(' ').unwrap();
    let (y, m, d) = company_date(date, date_format);
    let (hm, ampm) = if time_format == "12h" {
        let (hm, ampm) = rest.split_once(' ').unwrap();
        (hm, Some(ampm))
    } else {
        (rest, None)
    };
    let (h, mi) = hm.split_once(':').unwrap();
    let (h, mi) = (num(h, 2), num(mi, 2));
    let h = match ampm {
        Some(x) => {
            assert!((1..=12).contains(&h), "{text}");
            match x {
                "AM" => h % 12,
                "PM" => h % 12 + 12,
                other => panic!("{other}"),
            }
        }
        None => h,
    };
    assert!(h < 24 && mi < 60, "{text}");
    days_from_civil(y, m, d) * 1440 + h * 60 + mi
}

/// Seconds since the epoch of "05/03/2024 18:25:30" (the company's date order).
fn company_seconds(text: &str, date_format: &str) -> i64 {
    let (date, time) = text.split_once(' ').unwrap();
    let (y, m, d) = company_date(date, date_format);
    let t: Vec<i64> = time.split(':').map(|x| num(x, 2)).collect();
    days_from_civil(y, m, d) * 86_400 + t[0] * 3600 + t[1] * 60 + t[2]
}

/// Milliseconds of "2024-03-05T18:25:30.123Z".
fn iso_ms(text: &str) -> i64 {
    assert_eq!(text.len(), 24, "{text}");
    assert!(text.ends_with('Z'));
    let days = days_from_civil(
        num(&text[0..4], 4),
        num(&text[5..7], 2),
        num(&text[8..10], 2),
    );
    days * 86_400_000
        + num(&text[11..13], 2) * 3_600_000
        + num(&text[14..16], 2) * 60_000
        + num(&text[17..19], 2) * 1000
        + num(&text[20..23], 3)
}

#[tokio::test]
async fn deleted_users_are_listed_until_a_filter_drops_them() {
    let (sb, c, tok) = reseller_session(small()).await;
    let ds = sb.dataset();
    let g = ds.find_by_name("Globex Corporation")[0];
    let h = [("X-KEEPNET-Company-Id", g.resource_id.as_str())];
    let truth = ds.users(&g.resource_id);
    assert!(g.deleted_user_count >= 1);
    assert_eq!(
        g.active_user_count + g.inactive_user_count + g.deleted_user_count,
        g.user_count
    );
    // No filter items (minimal filter or the UI's empty default): everyone.
    for f in [minimal(), ui_filter(json!([]))] {
        let all = search_all(&c, &sb, &tok, &h, f).await;
        assert_eq!(all.len(), truth.len());
        let deleted = all.iter().filter(|u| u["isDeleted"] == true).count();
        assert_eq!(deleted, g.deleted_user_count);
        assert!(all.iter().all(|u| u["isDeleted"].is_boolean()));
    }
    // The client's current-users filter drops them.
    let current = search_all(&c, &sb, &tok, &h, client_filter()).await;
    assert_eq!(current.len(), g.active_user_count + g.inactive_user_count);
    assert!(current
        .iter()
        .all(|u| u["isDeleted"] == false && u["status"] != "Deleted"));
    // The same in words and strings.
    let words = ui_filter(json!([
        {"fieldName": "status", "operator": "include", "value": "Active, inactive"},
        {"fieldName": "isDeleted", "operator": "=", "value": "false"}]));
    assert_eq!(search_all(&c, &sb, &tok, &h, words).await, current);
    // Only deleted users.
    let deleted = search_all(
        &c,
        &sb,
        &tok,
        &h,
        ui_filter(json!([{"FieldName": "IsDeleted", "Operator": "Contains", "Value": true}])),
    )
    .await;
    assert_eq!(deleted.len(), g.deleted_user_count);
    assert!(deleted.iter().all(|u| u["isDeleted"] == true));
    // Status "1" is the status text, deleted or not.
    let active = search_all(
        &c,
        &sb,
        &tok,
        &h,
        ui_filter(json!([{"FieldName": "Status", "Operator": "Include", "Value": "1"}])),
    )
    .await;
    let want = truth
        .iter()
        .filter(|u| u.status.as_deref() == Some("Active"))
        .count();
    assert_eq!(active.len(), want);
    // Deleted users say "Active", "Inactive" or "Deleted"; only deleted ones say "Deleted".
    let everyone: Vec<&keepnet_sandbox::User> = ds
        .all_companies()
        .iter()
        .flat_map(|c| ds.users(&c.resource_id))
        .collect();
    assert!(everyone
        .iter()
        .any(|u| u.is_deleted && u.status.as_deref() == Some("Active")));
    assert!(everyone
        .iter()
        .any(|u| u.is_deleted && u.status.as_deref() == Some("Deleted")));
    assert!(everyone
        .iter()
        .all(|u| u.is_deleted || u.status.as_deref() != Some("Deleted")));
    // MonthlyActiveUser picks one creation month; March 2026 is entry 3.
    let march = search_all(
        &c,
        &sb,
        &tok,
        &h,
        ui_filter(json!([{"FieldName": "MonthlyActiveUser", "Operator": "=", "Value": "2026-03"}])),
    )
    .await;
    assert_eq!(march.len(), g.monthly_user_counts[3]);
    let lo = days_from_civil(2026, 3, 1) * 86_400_000;
    let hi = days_from_civil(2026, 4, 1) * 86_400_000;
    for u in &march {
        let t = truth
            .iter()
            .find(|t| t.resource_id == u["resourceId"].as_str().unwrap())
            .unwrap();
        assert!(lo <= t.create_ms && t.create_ms < hi);
    }
    // The export honours the same filter.
    let rows = export_csv(&c, &sb, &tok, &h, client_filter()).await;
    let emails: Vec<&str> = current
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(rows.iter().map(|r| &r[2]).collect::<Vec<_>>(), emails);
    let rows = export_csv(&c, &sb, &tok, &h, minimal()).await;
    assert_eq!(rows.len(), truth.len());
    sb.shutdown().await;
}

#[tokio::test]
async fn manager_fields_are_served_and_filterable() {
    let (sb, c, tok) = reseller_session(small()).await;
    let ds = sb.dataset();
    let acme = ds.find_by_name("Acme Holdings")[0];
    let h = [("X-KEEPNET-Company-Id", acme.resource_id.as_str())];
    let served = search_all(&c, &sb, &tok, &h, minimal()).await;
    let with = served
        .iter()
        .filter(|u| u["managerEmail"].is_string())
        .count();
    assert!(with > 0 && with < served.len());
    for u in &served {
        for k in [
            "managerFirstName",
            "managerLastName",
            "managerEmail",
            "managerFullName",
        ] {
            assert!(u.get(k).is_some(), "{k}");
        }
        if let Some(email) = u["managerEmail"].as_str() {
            assert_ne!(u["email"].as_str(), Some(email));
            let m = served
                .iter()
                .find(|m| m["email"] == email)
                .expect("manager in the company");
            assert_eq!(m["firstName"], u["managerFirstName"]);
            assert_eq!(m["lastName"], u["managerLastName"]);
        } else {
            assert!(u["managerFullName"].is_null());
        }
    }
    let sample = served
        .iter()
        .find(|u| u["managerFullName"].is_string())
        .unwrap();
    let email = sample["managerEmail"].as_str().unwrap();
    let by_email = search_all(
        &c,
        &sb,
        &tok,
        &h,
        ui_filter(
            json!([{"FieldName": "ManagerEmail", "Operator": "=", "Value": email.to_uppercase()}]),
        ),
    )
    .await;
    let want: Vec<&Value> = served
        .iter()
        .filter(|u| u["managerEmail"] == email)
        .collect();
    assert_eq!(by_email.iter().collect::<Vec<_>>(), want);
    let full = sample["managerFullName"].as_str().unwrap();
    let by_name = search_all(
        &c,
        &sb,
        &tok,
        &h,
        ui_filter(json!([{"FieldName": "ManagerFullName", "Operator": "Contains", "Value": full}])),
    )
    .await;
    assert!(by_name.iter().any(|u| u == sample));
    sb.shutdown().await;
}

#[tokio::test]
async fn extra_user_fields_are_served_after_the_known_ones() {
    let (sb, c, tok) = reseller_session(Config {
        extra_user_fields: vec!["riskScore".into(), "hrProfile".into()],
        ..small()
    })
    .await;
    let ds = sb.dataset();
    let id = ds.find_by_name("Initech")[0].resource_id.clone();
    let r = c
        .post(format!("{}/api/target-users/search", sb.base_url()))
        .bearer_auth(&tok)
        .header("X-KEEPNET-Company-Id", &id)
        .json(&user_body(1, 25))
        .send()
        .await
        .unwrap();
    let text = r.text().await.unwrap();
    // Serialised after isDeleted, in the configured order.
    assert_eq!(text.matches(",\"riskScore\":").count(), 25);
    assert!(text.contains("\"isDeleted\":false,\"riskScore\":"));
    let v: Value = serde_json::from_str(&text).unwrap();
    let mut kinds = HashSet::new();
    for u in v["data"]["results"].as_array().unwrap() {
        assert_eq!(u.as_object().unwrap().len(), 23);
        for k in ["riskScore", "hrProfile"] {
            kinds.insert(match &u[k] {
                Value::Null => "null",
                Value::String(s) => {
                    assert!(s.contains('"') && s.contains(','), "{s}");
                    "string"
                }
                Value::Number(n) => {
                    assert!(n.is_i64());
                    "integer"
                }
                Value::Object(o) => {
                    assert!(o["tags"].is_array());
                    "object"
                }
                other => panic!("{other}"),
            });
        }
    }
    assert_eq!(kinds.len(), 4, "{kinds:?}");
    assert_eq!(
        v["data"]["results"][0],
        ds.users_json(&id)[ds.users(&id).len() - 1]
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn dates_follow_each_company_format() {
    let (sb, c, tok) = reseller_session(Config {
        users_per_company: 200,
        ..small()
    })
    .await;
    let ds = sb.dataset();
    let cases = [
        ("Globex Corporation", 0, "MM/DD/YYYY", "12h"),
        ("Support", 1, "DD/MM/YYYY", "12h"),
        ("Support", 0, "MM/DD/YYYY", "24h"),
        ("Acme Europe", 0, "DD/MM/YYYY", "24h"),
        ("Acme Europe Support", 0, "YYYY/MM/DD", "24h"),
        ("東京商事株式会社", 0, "YYYY/MM/DD", "24h"),
    ];
    for (name, nth, df, tf) in cases {
        let company = ds.find_by_name(name)[nth];
        assert_eq!(
            (
                company.date_format.as_str(),
                company.time_format.as_str(),
                company.dates
            ),
            (df, tf, keepnet_sandbox::DateStyle::CompanyFormat),
            "{name}"
        );
        let h = [("X-KEEPNET-Company-Id", company.resource_id.as_str())];
        let served = search_all(&c, &sb, &tok, &h, minimal()).await;
        let truth = ds.users(&company.resource_id);
        assert_eq!(served.len(), truth.len());
        let (mut am, mut pm) = (0, 0);
        for (u, t) in served.iter().zip(truth) {
            assert_eq!(u["resourceId"].as_str(), Some(t.resource_id.as_str()));
            let created = u["createTime"].as_str().unwrap();
            assert_eq!(
                company_minutes(created, df, tf),
                t.create_ms.div_euclid(60_000),
                "{name} {created}"
            );
            am += usize::from(created.ends_with(" AM"));
            pm += usize::from(created.ends_with(" PM"));
            match (u["updateTime"].as_str(), t.update_ms) {
                (Some(text), Some(ms)) => {
                    assert_eq!(company_minutes(text, df, tf), ms.div_euclid(60_000))
                }
                (None, None) => {}
                other => panic!("{other:?}"),
            }
            for f in u["customFieldValues"].as_array().unwrap() {
                if let Some(ts) = f["timestampValue"].as_str() {
                    assert!(ts.ends_with('Z') && ts.contains('T'), "{ts}");
                }
            }
        }
        if tf == "12h" {
            assert!(am > 0 && pm > 0, "{name}: {am} AM, {pm} PM");
        } else {
            assert_eq!(am + pm, 0);
        }
    }
    // ISO companies: milliseconds, plus a few update times in the
    // company's date order with seconds (MM/DD for Initech).
    for (name, df) in [("Initech", "MM/DD/YYYY"), ("Acme Holdings", "DD/MM/YYYY")] {
        let company = ds.find_by_name(name)[0];
        assert_eq!(company.dates, keepnet_sandbox::DateStyle::Iso);
        let h = [("X-KEEPNET-Company-Id", company.resource_id.as_str())];
        let served = search_all(&c, &sb, &tok, &h, minimal()).await;
        let truth = ds.users(&company.resource_id);
        let mut odd = 0;
        for (u, t) in served.iter().zip(truth) {
            assert_eq!(iso_ms(u["createTime"].as_str().unwrap()), t.create_ms);
            match (u["updateTime"].as_str(), t.update_ms) {
                (Some(text), Some(ms)) if text.contains('T') => assert_eq!(iso_ms(text), ms),
                (Some(text), Some(ms)) => {
                    odd += 1;
                    assert_eq!(company_seconds(text, df), ms.div_euclid(1000), "{text}");
                }
                (None, None) => {}
                other => panic!("{other:?}"),
            }
        }
        assert!(
            (1..=30).contains(&odd),
            "{name}: {odd} odd update times of 200"
        );
        // Ordering by UpdateTime follows the instants, whatever the text.
        let r = c
            .post(format!("{}/api/target-users/search", sb.base_url()))
            .bearer_auth(&tok)
            .header("X-KEEPNET-Company-Id", &company.resource_id)
            .json(
                &json!({"pageNumber": 1, "pageSize": 25, "orderBy": "UpdateTime",
                          "ascending": false, "filter": minimal()}),
            )
            .send()
            .await
            .unwrap();
        let v: Value = r.json().await.unwrap();
        let mut want: Vec<&keepnet_sandbox::User> = truth.iter().collect();
        want.sort_by(|a, b| {
            b.update_ms
                .cmp(&a.update_ms)
                .then_with(|| b.resource_id.cmp(&a.resource_id))
        });
        let got: Vec<&str> = v["data"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["resourceId"].as_str().unwrap())
            .collect();
        let want: Vec<&str> = want[..25].iter().map(|u| u.resource_id.as_str()).collect();
        assert_eq!(got, want);
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn company_detail_endpoint() {
    let (sb, c, tok) = reseller_session(small()).await;
    let admin = token(&c, &sb, &sb.company_admin()).await;
    let ds = sb.dataset();
    let path = |id: &str| format!("/api/companies/{id}");
    let globex = ds.find_by_name("Globex Corporation")[0];
    let (s, v) = get(&c, &sb, &path(&globex.resource_id), &tok, &[]).await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "SUCCESS");
    let d = &v["data"];
    for k in [
        "resourceId",
        "name",
        "description",
        "industryResourceId",
        "industryName",
        "countryResourceId",
        "countryName",
        "countryCode",
        "address",
        "websiteUrl",
        "logoUrl",
        "licenseTypeResourceId",
        "licenseTypeName",
        "licensePeriodTypeResourceId",
        "licensePeriodTypeName",
        "licenseStartDate",
        "licenseEndDate",
        "isNumberOfUsersLimited",
        "numberOfUsers",
        "parentId",
        "statusId",
        "statusName",
        "licenseModules",
        "targetUserCount",
        "timeZoneId",
        "dateFormat",
        "timeFormat",
        "tags",
        "hasAgenticAILicense",
    ] {
        assert!(d.get(k).is_some(), "{k}");
    }
    assert_eq!(d["resourceId"], globex.resource_id.as_str());
    assert_eq!(d["name"], "Globex Corporation");
    assert_eq!(d["dateFormat"], "MM/DD/YYYY");
    assert_eq!(d["timeFormat"], "12h");
    assert_eq!(d["timeZoneId"], "America/New_York");
    assert_eq!(d["description"], Value::Null);
    assert_eq!(d["parentId"], Value::Null);
    assert_eq!(d["numberOfUsers"], globex.license_limit.unwrap());
    assert_eq!(d["targetUserCount"], globex.active_user_count);
    // A child names its parent by an integer id.
    let support = ds.find_by_name("Support")[0];
    let (_, v) = get(&c, &sb, &path(&support.resource_id), &tok, &[]).await;
    assert!(v["data"]["parentId"].is_i64());
    assert_eq!(v["data"]["numberOfUsers"], Value::Null);
    assert_eq!(v["data"]["isNumberOfUsersLimited"], false);
    for company in ds.all_companies() {
        let (s, v) = get(&c, &sb, &path(&company.resource_id), &tok, &[]).await;
        assert_eq!(s, 200);
        assert_eq!(v["data"]["dateFormat"], company.date_format.as_str());
        assert_eq!(v["data"]["timeFormat"], company.time_format.as_str());
        assert_eq!(v["data"]["timeZoneId"], company.time_zone_id.as_str());
    }
    let (s, v) = get(
        &c,
        &sb,
        &path(&ds.reseller_company().resource_id),
        &tok,
        &[],
    )
    .await;
    assert_eq!(
        (s.as_u16(), v["data"]["name"].as_str()),
        (200, Some("Northwind MSSP"))
    );
    // Errors as for scoped calls.
    let (s, v) = get(&c, &sb, &path(ds.unmanaged_company_id()), &tok, &[]).await;
    assert_eq!((s.as_u16(), v["status"].as_str()), (403, Some("FORBIDDEN")));
    let (s, v) = get(&c, &sb, &path("ZZZZZZZZZZZZ"), &tok, &[]).await;
    assert_eq!((s.as_u16(), v["status"].as_str()), (404, Some("NOT_FOUND")));
    let (s, v) = get(&c, &sb, &path("bad%20id!"), &tok, &[]).await;
    assert_eq!(
        (s.as_u16(), v["status"].as_str()),
        (400, Some("INPUT_ERROR"))
    );
    let (s, _) = get(&c, &sb, &path(&globex.resource_id), &admin, &[]).await;
    assert_eq!(s, 200);
    let acme = ds.find_by_name("Acme Holdings")[0];
    let (s, _) = get(&c, &sb, &path(&acme.resource_id), &admin, &[]).await;
    assert_eq!(s, 403);
    let (s, _) = get(&c, &sb, &path(&acme.resource_id), "nope", &[]).await;
    assert_eq!(s, 401);
    // Formats hidden.
    sb.set_faults(Faults {
        hide_company_formats: true,
        ..Faults::default()
    });
    let (_, v) = get(&c, &sb, &path(&globex.resource_id), &tok, &[]).await;
    assert_eq!(v["data"]["dateFormat"], Value::Null);
    assert_eq!(v["data"]["timeFormat"], Value::Null);
    assert_eq!(v["data"]["timeZoneId"], "America/New_York");
    assert_eq!(sb.stats().company_detail_requests, 20);
    sb.shutdown().await;
}

#[tokio::test]
async fn privacy_errors_for_scoped_calls() {
    let (sb, c, tok) = reseller_session(Config {
        envelope: EnvelopeStyle::Pascal,
        ..small()
    })
    .await;
    let ds = sb.dataset();
    let acme = ds.find_by_name("Acme Holdings")[0].resource_id.clone();
    let globex = ds.find_by_name("Globex Corporation")[0].resource_id.clone();
    sb.set_faults(Faults {
        privacy_error_companies: vec![acme.clone()],
        ..Faults::default()
    });
    let check = |s: StatusCode, v: &Value| {
        assert_eq!(s, 403);
        assert_eq!(v["Status"], "PRIVACY_ERROR");
        assert_eq!(
            v["Message"],
            "The privacy settings of this company do not allow access to its data."
        );
    };
    let (s, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&acme),
        user_body(1, 10),
    )
    .await;
    check(s, &v);
    let (s, v) = post(
        &c,
        &sb,
        &format!("/api/target-users/search?companyId={acme}"),
        &tok,
        None,
        user_body(1, 10),
    )
    .await;
    check(s, &v);
    let (s, v) = get(
        &c,
        &sb,
        "/api/target-users/count-summary",
        &tok,
        &[("x-ir-company-id", &acme)],
    )
    .await;
    check(s, &v);
    let (s, v) = get(&c, &sb, &format!("/api/companies/{acme}"), &tok, &[]).await;
    check(s, &v);
    let (s, _) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&globex),
        user_body(1, 10),
    )
    .await;
    assert_eq!(s, 200);
    sb.shutdown().await;
}

#[tokio::test]
async fn count_summary_has_the_ui_shape_and_sums_to_the_data() {
    let (sb, c, tok) = reseller_session(small()).await;
    let ds = sb.dataset();
    let months: Vec<(i64, i64)> = (0..13)
        .map(|k| {
            let (y, m) = if k == 0 { (2025, 12) } else { (2026, k) };
            (y, m)
        })
        .collect();
    let month_ms: Vec<i64> = months
        .iter()
        .map(|&(y, m)| days_from_civil(y, m, 1) * 86_400_000)
        .collect();
    let names = [
        "December 2025",
        "January 2026",
        "February 2026",
        "March 2026",
        "April 2026",
        "May 2026",
        "June 2026",
        "July 2026",
        "August 2026",
        "September 2026",
        "October 2026",
        "November 2026",
    ];
    let (_, companies) = post(
        &c,
        &sb,
        "/api/companies/search",
        &tok,
        None,
        company_body(1, 25),
    )
    .await;
    let mut listed = Vec::new();
    fn walk(items: &Value, out: &mut Vec<Value>) {
        for i in items.as_array().unwrap() {
            out.push(i.clone());
            walk(&i["children"], out);
        }
    }
    walk(&companies["data"]["results"], &mut listed);
    assert_eq!(listed.len(), 11);
    let mut sums = [0usize; 3];
    let mut series = [0usize; 12];
    let mut everyone = vec![ds.reseller_company()];
    everyone.extend(ds.all_companies());
    for company in everyone {
        let h = [("X-KEEPNET-Company-Id", company.resource_id.as_str())];
        let (s, v) = get(&c, &sb, "/api/target-users/count-summary", &tok, &h).await;
        assert_eq!(s, 200);
        let d = &v["data"];
        assert_eq!(d.as_object().unwrap().len(), 4);
        let served = search_all(&c, &sb, &tok, &h, minimal()).await;
        let deleted = served.iter().filter(|u| u["isDeleted"] == true).count();
        let active = served
            .iter()
            .filter(|u| u["isDeleted"] == false && u["status"] == "Active")
            .count();
        assert_eq!(d["totalNumberOfActiveUsers"], active, "{}", company.name);
        assert_eq!(
            d["totalNumberOfInActiveUsers"],
            served.len() - active - deleted
        );
        assert_eq!(d["totalNumberOfDeletedUsers"], deleted);
        let monthly = d["monthlyActiveUsers"].as_array().unwrap();
        assert_eq!(monthly.len(), 12);
        let truth = ds.users(&company.resource_id);
        for (k, entry) in monthly.iter().enumerate() {
            assert_eq!(entry.as_object().unwrap().len(), 3);
            assert_eq!(entry["period"], names[k]);
            let n = truth
                .iter()
                .filter(|u| month_ms[k] <= u.create_ms && u.create_ms < month_ms[k + 1])
                .count();
            assert_eq!(entry["count"], n);
            assert_eq!(entry["count"], company.monthly_user_counts[k]);
            series[k] += n;
            let start = entry["periodStart"].as_str().unwrap();
            if company.dates == keepnet_sandbox::DateStyle::Iso {
                let (y, m) = months[k];
                assert_eq!(start, format!("{y:04}-{m:02}-01T00:00:00"));
            } else {
                assert_eq!(
                    company_minutes(start, &company.date_format, &company.time_format),
                    month_ms[k] / 60_000,
                    "{start}"
                );
            }
        }
        if company.user_count > 0 {
            assert!(monthly.iter().any(|e| e["count"].as_u64().unwrap() > 0));
        }
        sums[0] += active;
        sums[1] += served.len() - active - deleted;
        sums[2] += deleted;
        // companies/search shows the same figures.
        if let Some(item) = listed
            .iter()
            .find(|i| i["companyResourceId"] == company.resource_id.as_str())
        {
            assert_eq!(item["targetUserCount"], active);
            assert_eq!(item["deletedTargetUserCount"], deleted);
            assert_eq!(
                item["inactiveTargetUserCount"],
                served.len() - active - deleted
            );
            assert_eq!(item["monthlyActiveUserCount"], monthly[11]["count"]);
        }
    }
    // Unscoped: sums over every managed company, dated in ISO.
    let (_, v) = get(&c, &sb, "/api/target-users/count-summary", &tok, &[]).await;
    let d = &v["data"];
    assert_eq!(d["totalNumberOfActiveUsers"], sums[0]);
    assert_eq!(d["totalNumberOfInActiveUsers"], sums[1]);
    assert_eq!(d["totalNumberOfDeletedUsers"], sums[2]);
    for (k, entry) in d["monthlyActiveUsers"]
        .as_array()
        .unwrap()
        .iter()
        .enumerate()
    {
        assert_eq!(entry["count"], series[k]);
        assert_eq!(entry["period"], names[k]);
    }
    assert_eq!(
        d["monthlyActiveUsers"][0]["periodStart"],
        "2025-12-01T00:00:00"
    );
    assert_eq!(
        d["monthlyActiveUsers"][11]["periodStart"],
        "2026-11-01T00:00:00"
    );
    // A Company Admin without a header: Globex, in Globex's format.
    let admin = token(&c, &sb, &sb.company_admin()).await;
    let (_, v) = get(&c, &sb, "/api/target-users/count-summary", &admin, &[]).await;
    assert_eq!(
        v["data"]["monthlyActiveUsers"][0]["periodStart"],
        "12/01/2025 12:00 AM"
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn unscoped_calls_answer_for_every_managed_company() {
    let (sb, c, tok) = reseller_session(small()).await;
    let ds = sb.dataset();
    let mut truth: Vec<&keepnet_sandbox::User> = ds
        .users(&ds.reseller_company().resource_id)
        .iter()
        .collect();
    for company in ds.all_companies() {
        truth.extend(ds.users(&company.resource_id));
    }
    truth.sort_by(|a, b| (a.create_ms, &a.resource_id).cmp(&(b.create_ms, &b.resource_id)));
    let served = search_all(&c, &sb, &tok, &[], minimal()).await;
    assert_eq!(served.len(), managed_user_count(&ds));
    let got: Vec<&str> = served
        .iter()
        .map(|u| u["resourceId"].as_str().unwrap())
        .collect();
    let want: Vec<&str> = truth.iter().map(|u| u.resource_id.as_str()).collect();
    assert_eq!(got, want);
    let other: HashSet<&str> = ds
        .users(ds.unmanaged_company_id())
        .iter()
        .map(|u| u.resource_id.as_str())
        .collect();
    assert!(got.iter().all(|id| !other.contains(id)));
    // Each user keeps its own company's date format.
    let emails: HashSet<&str> = served
        .iter()
        .map(|u| u["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails.len(), served.len());
    // Filtered, and newest first.
    let current = search_all(&c, &sb, &tok, &[], client_filter()).await;
    let alive: usize = std::iter::once(ds.reseller_company())
        .chain(ds.all_companies())
        .map(|c| c.active_user_count + c.inactive_user_count)
        .sum();
    assert_eq!(current.len(), alive);
    let (_, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(1, 5),
    )
    .await;
    assert_eq!(v["data"]["results"][0]["resourceId"], *want.last().unwrap());
    // The export too.
    let rows = export_csv(&c, &sb, &tok, &[], minimal()).await;
    assert_eq!(rows.len(), served.len());
    // A Company Admin without a header still gets its own company.
    let admin = token(&c, &sb, &sb.company_admin()).await;
    let mine = search_all(&c, &sb, &admin, &[], minimal()).await;
    assert_eq!(
        mine.len(),
        ds.find_by_name("Globex Corporation")[0].user_count
    );
    assert!(sb.stats().unscoped_requests >= 4);
    sb.shutdown().await;
}

#[tokio::test]
async fn dropped_and_ignored_company_headers_answer_unscoped() {
    let (sb, c, tok) = reseller_session(small()).await;
    let ds = sb.dataset();
    let g = ds.find_by_name("Globex Corporation")[0];
    let h = [("X-KEEPNET-Company-Id", g.resource_id.as_str())];
    let everyone = managed_user_count(&ds);
    let total = |v: &Value| v["data"]["totalNumberOfRecords"].as_u64().unwrap() as usize;
    sb.set_faults(Faults {
        strip_company_header: true,
        ..Faults::default()
    });
    let (_, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&g.resource_id),
        user_body(1, 5),
    )
    .await;
    assert_eq!(total(&v), everyone);
    assert_eq!(
        export_csv(&c, &sb, &tok, &h, minimal()).await.len(),
        everyone
    );
    let (_, v) = get(&c, &sb, "/api/target-users/count-summary", &tok, &h).await;
    let all_active: usize = std::iter::once(ds.reseller_company())
        .chain(ds.all_companies())
        .map(|c| c.active_user_count)
        .sum();
    assert_eq!(v["data"]["totalNumberOfActiveUsers"], all_active);
    // The query parameter is not a header: it still scopes.
    let (_, v) = post(
        &c,
        &sb,
        &format!("/api/target-users/search?companyId={}", g.resource_id),
        &tok,
        None,
        user_body(1, 5),
    )
    .await;
    assert_eq!(total(&v), g.user_count);
    // One endpoint ignores the headers, the others honour them.
    sb.set_faults(Faults {
        ignore_company_header_on: vec!["/api/target-users/search/export".into()],
        ..Faults::default()
    });
    let (_, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&g.resource_id),
        user_body(1, 5),
    )
    .await;
    assert_eq!(total(&v), g.user_count);
    assert_eq!(
        export_csv(&c, &sb, &tok, &h, minimal()).await.len(),
        everyone
    );
    let (_, v) = get(&c, &sb, "/api/target-users/count-summary", &tok, &h).await;
    assert_eq!(v["data"]["totalNumberOfActiveUsers"], g.active_user_count);
    sb.set_faults(Faults {
        ignore_company_header_on: vec![
            "/api/target-users/count-summary".into(),
            "/API/target-users/search/".into(),
        ],
        ..Faults::default()
    });
    let (_, v) = get(&c, &sb, "/api/target-users/count-summary", &tok, &h).await;
    assert_eq!(v["data"]["totalNumberOfActiveUsers"], all_active);
    let (_, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&g.resource_id),
        user_body(1, 5),
    )
    .await;
    assert_eq!(total(&v), everyone);
    assert_eq!(
        export_csv(&c, &sb, &tok, &h, minimal()).await.len(),
        g.user_count
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn ip_restriction_refuses_token_and_api_calls() {
    let sb = Sandbox::start(small()).await.unwrap();
    let c = Client::new();
    let creds = sb.reseller();
    let tok = token(&c, &sb, &creds).await;
    sb.set_faults(Faults {
        ip_restricted: true,
        ..Faults::default()
    });
    let body = r#"{"status":"IP_RESTRICTED","message":"Access from your IP address is not allowed for this client."}"#;
    let r = c
        .post(format!("{}/connect/token", sb.base_url()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_id", creds.client_id.as_str()),
            ("client_secret", creds.client_secret.as_str()),
            ("scope", "api1"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("application/json"));
    assert_eq!(r.text().await.unwrap(), body);
    for path in [
        "/api/target-users/count-summary",
        "/api/companies/ZZZZZZZZZZZZ",
    ] {
        let r = c
            .get(format!("{}{path}", sb.base_url()))
            .bearer_auth(&tok)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(r.text().await.unwrap(), body);
    }
    let r = c
        .post(format!("{}/api/target-users/search", sb.base_url()))
        .bearer_auth(&tok)
        .json(&user_body(1, 5))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert_eq!(r.text().await.unwrap(), body);
    sb.set_faults(Faults::default());
    assert_eq!(count_summary_status(&c, &sb, &tok).await.unwrap(), 200);
    let st = sb.stats();
    assert_eq!((st.tokens_issued, st.token_requests), (1, 2));
    sb.shutdown().await;
}

#[tokio::test]
async fn x_ir_company_id_scopes_and_both_headers_are_counted() {
    let (sb, c, tok) = reseller_session(small()).await;
    let ds = sb.dataset();
    let g = ds.find_by_name("Globex Corporation")[0];
    let acme = ds.find_by_name("Acme Holdings")[0];
    let only_ir = search_all(
        &c,
        &sb,
        &tok,
        &[("x-ir-company-id", g.resource_id.as_str())],
        minimal(),
    )
    .await;
    assert_eq!(only_ir, ds.users_json(&g.resource_id));
    assert_eq!(sb.stats().both_company_headers, 0);
    let both = [
        ("X-KEEPNET-Company-Id", g.resource_id.as_str()),
        ("x-ir-company-id", g.resource_id.as_str()),
    ];
    let (s, _) = get(&c, &sb, "/api/target-users/count-summary", &tok, &both).await;
    assert_eq!(s, 200);
    assert_eq!(sb.stats().both_company_headers, 1);
    // Different values: X-KEEPNET-Company-Id wins, and it is not counted.
    let mixed = [
        ("X-KEEPNET-Company-Id", acme.resource_id.as_str()),
        ("x-ir-company-id", g.resource_id.as_str()),
    ];
    let served = search_all(&c, &sb, &tok, &mixed, minimal()).await;
    assert_eq!(served.len(), acme.user_count);
    assert_eq!(
        served[0]["email"],
        ds.users(&acme.resource_id)[0].email.as_deref().unwrap()
    );
    assert_eq!(sb.stats().both_company_headers, 1);
    // Errors as for the other header.
    let (s, _) = get(
        &c,
        &sb,
        "/api/target-users/count-summary",
        &tok,
        &[("x-ir-company-id", ds.unmanaged_company_id())],
    )
    .await;
    assert_eq!(s, 403);
    sb.shutdown().await;
}

#[tokio::test]
async fn children_can_also_be_listed_at_top_level() {
    for twice in [false, true] {
        let sb = Sandbox::start(Config {
            children_also_top_level: twice,
            page_cap: 100,
            ..small()
        })
        .await
        .unwrap();
        let c = Client::new();
        let tok = token(&c, &sb, &sb.reseller()).await;
        let (_, v) = post(
            &c,
            &sb,
            "/api/companies/search",
            &tok,
            None,
            company_body(1, 100),
        )
        .await;
        let results = v["data"]["results"].as_array().unwrap();
        let mut seen: std::collections::HashMap<String, usize> = Default::default();
        fn walk(items: &[Value], seen: &mut std::collections::HashMap<String, usize>) {
            for i in items {
                *seen
                    .entry(i["companyResourceId"].as_str().unwrap().to_string())
                    .or_default() += 1;
                walk(i["children"].as_array().unwrap(), seen);
            }
        }
        walk(results, &mut seen);
        let ds = sb.dataset();
        assert_eq!(seen.len(), 11);
        for company in ds.all_companies() {
            let want = if twice && company.parent.is_some() {
                2
            } else {
                1
            };
            assert_eq!(seen[&company.resource_id], want, "{}", company.name);
        }
        let top = ds.companies().len();
        if twice {
            assert_eq!(results.len(), 11);
            assert_eq!(v["data"]["totalNumberOfRecords"], 11);
            for item in &results[top..] {
                assert_eq!(item["children"], json!([]));
                let id = item["companyResourceId"].as_str().unwrap();
                assert!(ds.find_company(id).unwrap().parent.is_some());
            }
        } else {
            assert_eq!(results.len(), top);
        }
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn a_million_user_tenant_pages_fast_with_the_client_filter() {
    let (sb, c, tok) = reseller_session(Config {
        users_per_company: 1_000_000,
        page_cap: 1000,
        ..Config::default()
    })
    .await;
    let ds = sb.dataset();
    let initech = ds.find_by_name("Initech")[0];
    let t = std::time::Instant::now();
    let mut first = None;
    for page in [1, 2, 3, 500, 700] {
        let (s, v) = post(
            &c,
            &sb,
            "/api/target-users/search",
            &tok,
            Some(&initech.resource_id),
            json!({"pageNumber": page, "pageSize": 1000, "orderBy": "CreateTime", "ascending": true,
                   "filter": client_filter()}),
        )
        .await;
        assert_eq!(s, 200);
        let d = &v["data"];
        assert_eq!(
            d["totalNumberOfRecords"],
            initech.active_user_count + initech.inactive_user_count
        );
        let results = d["results"].as_array().unwrap();
        assert_eq!(results.len(), 1000);
        assert!(results.iter().all(|u| u["isDeleted"] == false));
        if page == 1 {
            first = Some(t.elapsed());
        }
    }
    let all = t.elapsed();
    eprintln!("1M tenant, client filter: first page {first:?}, five pages {all:?}");
    assert!(
        all < Duration::from_secs(30),
        "{all:?} (first page {first:?})"
    );
    sb.shutdown().await;
}

/// Between two runs, the sandbox adds, removes and edits users of one company, the same ones
/// for the same seed, and the API serves exactly that: new users last in creation order,
/// removed ones soft-deleted (left out of the current users' filter), edited ones with a new
/// department, phone number and updateTime; companies/search counts follow.
#[tokio::test]
async fn users_change_between_runs_deterministically() {
    let config = || Config {
        users_per_company: 40,
        page_cap: 100,
        ..Config::default()
    };
    let (sb, c, tok) = reseller_session(config()).await;
    let ds = sb.dataset();
    let acme = ds.find_by_name("Acme Holdings")[0].resource_id.clone();
    let current = |users: &[Value]| -> Vec<Value> {
        users
            .iter()
            .filter(|u| u["isDeleted"] == false)
            .cloned()
            .collect()
    };
    let all_pages = |filter: Value| {
        let (c, sb, tok, acme) = (&c, &sb, &tok, &acme);
        async move {
            let body = json!({"pageNumber": 1, "pageSize": 100, "orderBy": "CreateTime",
                              "ascending": true, "filter": filter});
            let (s, v) = post(c, sb, "/api/target-users/search", tok, Some(acme), body).await;
            assert_eq!(s, 200, "{v}");
            v["data"]["results"].as_array().unwrap().clone()
        }
    };
    let before = all_pages(client_filter()).await;
    let before_all = sb.current_users_json(&acme);
    assert!(sb
        .change_users("nope", keepnet_sandbox::UserChanges::default())
        .is_none());
    let changes = keepnet_sandbox::UserChanges {
        add: 7,
        remove: 5,
        modify: 3,
    };
    let changed = sb.change_users(&acme, changes).unwrap();
    assert_eq!(
        (
            changed.added.len(),
            changed.removed.len(),
            changed.modified.len()
        ),
        (7, 5, 3)
    );
    let after = all_pages(client_filter()).await;
    let before_ids: HashSet<String> = ids(&before).into_iter().collect();
    let after_ids: HashSet<String> = ids(&after).into_iter().collect();
    let joined: HashSet<String> = after_ids.difference(&before_ids).cloned().collect();
    let left: HashSet<String> = before_ids.difference(&after_ids).cloned().collect();
    assert_eq!(joined, changed.added.iter().cloned().collect());
    assert_eq!(left, changed.removed.iter().cloned().collect());
    // New users come last in creation order, after every earlier one.
    let tail: Vec<String> = ids(&after)[after.len() - 7..].to_vec();
    assert_eq!(tail, changed.added);
    let was: std::collections::HashMap<String, &Value> = before
        .iter()
        .map(|u| (u["resourceId"].as_str().unwrap().to_owned(), u))
        .collect();
    let mut edited = Vec::new();
    for user in &after {
        let id = user["resourceId"].as_str().unwrap();
        let Some(old) = was.get(id) else { continue };
        if *old != user {
            edited.push(id.to_owned());
            assert_ne!(old["department"], user["department"], "{id}");
            assert_ne!(old["phoneNumber"], user["phoneNumber"], "{id}");
            assert_ne!(old["updateTime"], user["updateTime"], "{id}");
            assert_eq!(old["email"], user["email"], "{id}: the person is the same");
        }
    }
    edited.sort();
    let mut modified = changed.modified.clone();
    modified.sort();
    assert_eq!(edited, modified, "exactly the modified users differ");
    // Removed users are still listed, soft-deleted.
    let listed = sb.current_users_json(&acme);
    assert_eq!(listed.len(), before_all.len() + 7);
    assert_eq!(current(&listed).len(), current(&before_all).len() + 7 - 5);
    // companies/search counts follow: active + inactive are the current users, and the
    // deleted count grew by the 5 removed.
    let counts = || {
        let (c, sb, tok, acme) = (&c, &sb, &tok, &acme);
        async move {
            let (_, v) = post(
                c,
                sb,
                "/api/companies/search",
                tok,
                None,
                company_body(1, 100),
            )
            .await;
            let mut flat = Vec::new();
            let mut stack: Vec<Value> = v["data"]["results"].as_array().unwrap().clone();
            while let Some(entry) = stack.pop() {
                if let Some(children) = entry["children"].as_array() {
                    stack.extend(children.iter().cloned());
                }
                flat.push(entry);
            }
            let entry = flat
                .into_iter()
                .find(|e| e["companyResourceId"] == acme.as_str())
                .expect("Acme is listed");
            let n = |k: &str| {
                entry[k]
                    .as_u64()
                    .unwrap_or_else(|| panic!("{k} in {entry}"))
            };
            (
                n("targetUserCount") + n("inactiveTargetUserCount"),
                n("deletedTargetUserCount"),
            )
        }
    };
    let (current_now, deleted_now) = counts().await;
    assert_eq!(current_now as usize, current(&listed).len());
    let deleted_before = before_all.len() - current(&before_all).len();
    assert_eq!(deleted_now as usize, deleted_before + 5);
    // The same seed changes the same users.
    let twin = Sandbox::start(config()).await.unwrap();
    assert_eq!(twin.change_users(&acme, changes).unwrap(), changed);
}

// ---------------------------------------------------------------- page size and in-flight

/// A target-users search of one company, as a spawned task's future can own it.
async fn search_page(
    c: Client,
    url: String,
    tok: String,
    company: String,
    size: u32,
) -> (StatusCode, Value) {
    let r = c
        .post(format!("{url}/api/target-users/search"))
        .bearer_auth(&tok)
        .header("X-KEEPNET-Company-Id", &company)
        .json(&user_body(1, size))
        .send()
        .await
        .unwrap();
    let status = r.status();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn oversize_pages_are_capped_by_default() {
    let (sb, c, tok) = reseller_session(small()).await;
    let (s, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(1, 26),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["status"], "SUCCESS");
    assert_eq!(v["data"]["pageSize"], 25);
    assert_eq!(v["data"]["results"].as_array().unwrap().len(), 25);
    assert_eq!(sb.stats().oversize_refusals, 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn refuse_answers_400_input_error_naming_the_page_size() {
    let (sb, c, tok) = reseller_session(Config {
        oversize_pages: keepnet_sandbox::OversizePages::Refuse,
        ..small()
    })
    .await;
    let globex = sb.dataset().find_by_name("Globex Corporation")[0]
        .resource_id
        .clone();
    for company in [None, Some(globex.as_str())] {
        let (s, v) = post(
            &c,
            &sb,
            "/api/target-users/search",
            &tok,
            company,
            user_body(1, 26),
        )
        .await;
        assert_eq!(s, 400, "{v}");
        assert_eq!(
            v,
            json!({"data": null, "status": "INPUT_ERROR",
                   "message": "One or more validation errors occurred.",
                   "validationMessages": ["pageSize: PageSize must be between 1 and 25."]})
        );
    }
    for size in [1, 24, 25] {
        let (s, v) = post(
            &c,
            &sb,
            "/api/target-users/search",
            &tok,
            Some(&globex),
            user_body(1, size),
        )
        .await;
        assert_eq!(s, 200, "pageSize {size}: {v}");
        assert_eq!(v["data"]["pageSize"], size);
    }
    // Only the search refuses: the export and companies/search still cap.
    let (s, v) = post(
        &c,
        &sb,
        "/api/companies/search",
        &tok,
        None,
        company_body(1, 1000),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["pageSize"], 25);
    let r = c
        .post(format!("{}/api/target-users/search/export", sb.base_url()))
        .bearer_auth(&tok)
        .header("X-KEEPNET-Company-Id", &globex)
        .json(
            &json!({"pageNumber": 1, "pageSize": 1000, "orderBy": "CreateTime",
                      "ascending": true, "exportType": "CSV", "filter": minimal()}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let st = sb.stats();
    assert_eq!(st.oversize_refusals, 2);
    assert_eq!(st.user_search_requests, 5);
    sb.shutdown().await;

    // The quickstart envelope carries the same texts in `messages`.
    let (sb, c, tok) = reseller_session(Config {
        oversize_pages: keepnet_sandbox::OversizePages::Refuse,
        envelope: EnvelopeStyle::Quickstart,
        ..small()
    })
    .await;
    let (s, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(2, 1000),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(
        v,
        json!({"isSuccess": false, "data": null, "messages": [
            "One or more validation errors occurred.",
            "pageSize: PageSize must be between 1 and 25."]})
    );
    assert_eq!(sb.stats().oversize_refusals, 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn refuse_inside_200_reports_input_error_in_the_envelope() {
    let (sb, c, tok) = reseller_session(Config {
        oversize_pages: keepnet_sandbox::OversizePages::RefuseInside200,
        envelope: EnvelopeStyle::Pascal,
        ..small()
    })
    .await;
    let (s, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(1, 100),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(
        v,
        json!({"Data": null, "Status": "INPUT_ERROR",
               "Message": "One or more validation errors occurred.",
               "ValidationMessages": ["pageSize: PageSize must be between 1 and 25."]})
    );
    let (s, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(1, 25),
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(v["Status"], "SUCCESS");
    assert_eq!(v["Data"]["results"].as_array().unwrap().len(), 25);
    assert_eq!(sb.stats().oversize_refusals, 1);
    sb.shutdown().await;
}

#[tokio::test]
async fn refused_pages_do_not_churn() {
    let (sb, c, tok) = reseller_session(Config {
        oversize_pages: keepnet_sandbox::OversizePages::Refuse,
        faults: Faults {
            churn: Some(keepnet_sandbox::Churn {
                inserts_per_search: 1,
                removes_per_search: 1,
                searches: None,
            }),
            ..Faults::default()
        },
        ..small()
    })
    .await;
    let globex = sb.dataset().find_by_name("Globex Corporation")[0]
        .resource_id
        .clone();
    let (s, _) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        Some(&globex),
        user_body(1, 26),
    )
    .await;
    assert_eq!(s, 400);
    let st = sb.stats();
    assert_eq!((st.users_inserted, st.users_removed), (0, 0));
    assert_eq!(
        sb.current_users_json(&globex),
        sb.dataset().users_json(&globex)
    );
    sb.shutdown().await;
}

#[tokio::test]
async fn peak_user_searches_in_flight() {
    let (sb, c, tok) = reseller_session(Config {
        latency: Duration::from_millis(100),
        extra_companies: keepnet_sandbox::numbered_companies(5),
        ..small()
    })
    .await;
    let start = sb.stats();
    assert_eq!(start.peak_user_searches_in_flight, 0);
    assert_eq!(
        start.peak_requests_in_flight, 0,
        "the token call is not /api/*"
    );
    let ids: Vec<String> = sb
        .dataset()
        .companies()
        .iter()
        .filter(|co| co.name.starts_with("Customer "))
        .map(|co| co.resource_id.clone())
        .collect();
    assert_eq!(ids.len(), 5);
    let tasks: Vec<_> = ids
        .iter()
        .map(|id| {
            tokio::spawn(search_page(
                c.clone(),
                sb.base_url(),
                tok.clone(),
                id.clone(),
                10,
            ))
        })
        .collect();
    for t in tasks {
        let (s, v) = t.await.unwrap();
        assert_eq!(s, 200, "{v}");
    }
    let st = sb.stats();
    assert_eq!(st.peak_user_searches_in_flight, 5);
    assert_eq!(st.peak_requests_in_flight, 5);
    assert_eq!(st.user_searches_in_flight, 0);
    assert_eq!(st.requests_in_flight, 0);

    // One at a time, searches, refusals, 401s and other endpoints leave the peaks alone.
    for id in &ids {
        let (s, _) = search_page(c.clone(), sb.base_url(), tok.clone(), id.clone(), 10).await;
        assert_eq!(s, 200);
    }
    let (s, _) = search_page(c.clone(), sb.base_url(), "nope".into(), ids[0].clone(), 10).await;
    assert_eq!(s, 401);
    let (s, _) = post(
        &c,
        &sb,
        "/api/companies/search",
        &tok,
        None,
        company_body(1, 10),
    )
    .await;
    assert_eq!(s, 200);
    let st = sb.stats();
    assert_eq!(st.peak_user_searches_in_flight, 5);
    assert_eq!(st.peak_requests_in_flight, 5);
    assert_eq!(st.user_searches_in_flight, 0);
    assert_eq!(st.requests_in_flight, 0);

    // Other endpoints count in `requests_in_flight` only.
    let tasks: Vec<_> = (0..3)
        .map(|_| {
            let (c, url, tok) = (c.clone(), sb.base_url(), tok.clone());
            tokio::spawn(async move {
                let mut rb = c.post(format!("{url}/api/companies/search"));
                rb = rb.bearer_auth(&tok).json(&company_body(1, 10));
                rb.send().await.unwrap().status()
            })
        })
        .chain(ids.iter().take(4).map(|id| {
            let fut = search_page(c.clone(), sb.base_url(), tok.clone(), id.clone(), 10);
            tokio::spawn(async move { fut.await.0 })
        }))
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap(), 200);
    }
    let st = sb.stats();
    assert_eq!(st.peak_user_searches_in_flight, 5);
    assert_eq!(st.peak_requests_in_flight, 7);
    assert_eq!((st.user_searches_in_flight, st.requests_in_flight), (0, 0));
    sb.shutdown().await;
}

#[tokio::test]
async fn a_client_giving_up_leaves_nothing_in_flight() {
    let (sb, _, tok) = reseller_session(Config {
        latency: Duration::from_millis(400),
        ..small()
    })
    .await;
    let c = Client::builder()
        .timeout(Duration::from_millis(100))
        .build()
        .unwrap();
    let r = c
        .post(format!("{}/api/target-users/search", sb.base_url()))
        .bearer_auth(&tok)
        .json(&user_body(1, 10))
        .send()
        .await;
    assert!(r.unwrap_err().is_timeout());
    // The server drops the request when it notices the closed connection, or answers it
    // into the void: either way the count goes back to 0.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while sb.stats().user_searches_in_flight != 0 {
        assert!(std::time::Instant::now() < deadline, "{:?}", sb.stats());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let st = sb.stats();
    assert_eq!(st.peak_user_searches_in_flight, 1);
    assert_eq!(st.requests_in_flight, 0);
    sb.shutdown().await;
}

#[tokio::test]
async fn many_numbered_companies_are_top_level_and_managed() {
    let names = keepnet_sandbox::numbered_companies(200);
    assert_eq!(names[0], "Customer 001");
    assert_eq!(names[199], "Customer 200");
    assert_eq!(keepnet_sandbox::numbered_companies(9)[8], "Customer 9");
    assert!(keepnet_sandbox::numbered_companies(0).is_empty());
    let (sb, c, tok) = reseller_session(Config {
        users_per_company: 7,
        page_cap: 100,
        extra_companies: names.clone(),
        ..Config::default()
    })
    .await;
    let ds = sb.dataset();
    let customers: Vec<_> = ds
        .companies()
        .iter()
        .filter(|co| co.name.starts_with("Customer "))
        .collect();
    let listed: Vec<&str> = customers.iter().map(|co| co.name.as_str()).collect();
    assert_eq!(listed, names);
    // Created in order, before any user (June 2025) and before the sandbox's "now".
    let mut last = String::new();
    for co in &customers {
        assert!(co.parent.is_none() && co.children.is_empty());
        assert_eq!(co.user_count, 7);
        assert!(co.create_time > last, "{} {}", co.name, co.create_time);
        assert!(co.create_time.as_str() < "2025-05-02", "{}", co.create_time);
        last = co.create_time.clone();
    }
    let mut seen = 0;
    for page in 1..=3 {
        let (s, v) = post(
            &c,
            &sb,
            "/api/companies/search",
            &tok,
            None,
            company_body(page, 100),
        )
        .await;
        assert_eq!(s, 200);
        assert_eq!(v["data"]["totalNumberOfRecords"], 206);
        seen += v["data"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|co| co["companyName"].as_str().unwrap().starts_with("Customer "))
            .count();
    }
    assert_eq!(seen, 200);
    let last = customers.last().unwrap().resource_id.clone();
    let (s, v) = search_page(c.clone(), sb.base_url(), tok.clone(), last, 100).await;
    assert_eq!(s, 200);
    assert_eq!(v["data"]["totalNumberOfRecords"], 7);
    sb.shutdown().await;
}

// ---------------------------------------------------------------- knobs for unknown behaviours

/// Every company a reseller manages, its own included, by resource id.
fn managed_ids(ds: &Dataset) -> Vec<String> {
    std::iter::once(ds.reseller_company())
        .chain(ds.all_companies())
        .map(|c| c.resource_id.clone())
        .collect()
}

/// The company-id header for `id`, or none for an unscoped call ("").
fn scope_header(id: &str) -> Vec<(&'static str, &str)> {
    if id.is_empty() {
        Vec::new()
    } else {
        vec![("X-KEEPNET-Company-Id", id)]
    }
}

/// Every company of companies/search, children after their parent.
async fn listed_companies(c: &Client, sb: &Sandbox, tok: &str, body: Value) -> (Value, Vec<Value>) {
    let (s, v) = post(c, sb, "/api/companies/search", tok, None, body).await;
    assert_eq!(s, 200, "{v}");
    fn walk(items: &Value, out: &mut Vec<Value>) {
        for i in items.as_array().unwrap() {
            out.push(i.clone());
            walk(&i["children"], out);
        }
    }
    let mut out = Vec::new();
    walk(&v["data"]["results"], &mut out);
    (v, out)
}

/// The export's file bytes for `body`'s `exportType`, ordered and filtered as `body` says.
async fn export_bytes(c: &Client, sb: &Sandbox, tok: &str, id: &str, body: Value) -> Vec<u8> {
    let mut rb = c
        .post(format!("{}/api/target-users/search/export", sb.base_url()))
        .bearer_auth(tok)
        .json(&body);
    for (k, v) in scope_header(id) {
        rb = rb.header(k, v);
    }
    let r = rb.send().await.unwrap();
    assert_eq!(r.status(), 200);
    r.bytes().await.unwrap().to_vec()
}

fn export_body(kind: &str, order: &str, ascending: bool, filter: Value) -> Value {
    json!({"pageNumber": 1, "pageSize": 10, "orderBy": order, "ascending": ascending,
           "reportAllPages": true, "exportType": kind, "filter": filter})
}

/// The workbook the export writes for these rows (header and body rows of its CSV twin),
/// created at `stamp_ms`: one sheet of text cells, empty cells left out.
fn workbook_of(rows: &[csv::StringRecord], stamp_ms: i64) -> Vec<u8> {
    use rust_xlsxwriter::{DocProperties, ExcelDateTime, Workbook};
    let (y, mo, d) = keepnet_sink::civil_from_days(stamp_ms.div_euclid(86_400_000));
    let rem = stamp_ms.rem_euclid(86_400_000);
    let when = ExcelDateTime::from_ymd(y as u16, mo, d)
        .unwrap()
        .and_hms(
            (rem / 3_600_000) as u16,
            (rem / 60_000 % 60) as u8,
            (rem / 1000 % 60) as f64,
        )
        .unwrap();
    let mut wb = Workbook::new();
    wb.set_properties(&DocProperties::new().set_creation_datetime(&when));
    let sheet = wb.add_worksheet();
    sheet.set_name("Target Users").unwrap();
    for (r, row) in rows.iter().enumerate() {
        for (col, v) in row.iter().enumerate() {
            if r == 0 || !v.is_empty() {
                sheet.write_string(r as u32, col as u16, v).unwrap();
            }
        }
    }
    wb.save_to_buffer().unwrap()
}

fn csv_rows(bytes: &[u8]) -> Vec<csv::StringRecord> {
    csv::ReaderBuilder::new()
        .has_headers(false)
        .from_reader(bytes)
        .records()
        .map(Result::unwrap)
        .collect()
}

fn id_set(rows: &[Value]) -> HashSet<String> {
    ids(rows).into_iter().collect()
}

fn ids_saying_deleted(rows: &[Value]) -> HashSet<String> {
    let deleted: Vec<Value> = rows
        .iter()
        .filter(|u| u["status"] == "Deleted")
        .cloned()
        .collect();
    id_set(&deleted)
}

fn is_deleted_true() -> Value {
    ui_filter(json!([{"FieldName": "IsDeleted", "Operator": "Contains", "Value": true}]))
}

#[tokio::test]
async fn status_only_rows_have_no_deleted_flag_and_say_deleted() {
    let status_only = || Config {
        deleted_rows: DeletedRows::StatusOnly,
        ..small()
    };
    let (flagged, c, ftok) = reseller_session(small()).await;
    let (sb, _, tok) = reseller_session(status_only()).await;
    let ds = sb.dataset();
    // A Flagged row as StatusOnly serves it: no isDeleted key, "Deleted" when deleted.
    let expect = |row: &Value| -> Value {
        let mut row = row.clone();
        let fields = row.as_object_mut().unwrap();
        if fields.remove("isDeleted").unwrap() == true {
            fields.insert("status".into(), json!("Deleted"));
        }
        row
    };
    let mut scopes = managed_ids(&ds);
    scopes.push(String::new());
    let mut flag_said_other = 0;
    for id in &scopes {
        let h = scope_header(id);
        let was = search_all(&c, &flagged, &ftok, &h, minimal()).await;
        let now = search_all(&c, &sb, &tok, &h, minimal()).await;
        assert_eq!(now, was.iter().map(expect).collect::<Vec<_>>(), "{id}");
        assert!(now
            .iter()
            .all(|u| !u.as_object().unwrap().contains_key("isDeleted")));
        flag_said_other += was
            .iter()
            .filter(|u| u["isDeleted"] == true && u["status"] != "Deleted")
            .count();
        // Filters select on the truth: the client's filter and IsDeleted true pick the
        // same users as on a Flagged server; Status matches the text served.
        for f in [client_filter(), is_deleted_true()] {
            let a = search_all(&c, &flagged, &ftok, &h, f.clone()).await;
            let b = search_all(&c, &sb, &tok, &h, f).await;
            assert_eq!(ids(&a), ids(&b), "{id}");
        }
        let deleted = search_all(&c, &sb, &tok, &h, is_deleted_true()).await;
        assert_eq!(id_set(&deleted), ids_saying_deleted(&now), "{id}");
        let status_only_filter =
            ui_filter(json!([{"FieldName": "Status", "Operator": "Include", "Value": "1,0"}]));
        let alive = search_all(&c, &sb, &tok, &h, status_only_filter).await;
        assert_eq!(alive.len(), now.len() - deleted.len(), "{id}");
        // The export's Status column says the same, in CSV and in XLSX.
        let csv = export_bytes(
            &c,
            &sb,
            &tok,
            id,
            export_body("CSV", "CreateTime", true, minimal()),
        )
        .await;
        let rows = csv_rows(&csv);
        assert_eq!(rows.len(), now.len() + 1);
        for (row, u) in rows[1..].iter().zip(&now) {
            assert_eq!(
                (&row[2], &row[6]),
                (u["email"].as_str().unwrap(), u["status"].as_str().unwrap())
            );
        }
        if let Some(company) = ds.find_company(id).filter(|c| c.user_count > 0) {
            let stamp = ds.users(id).last().unwrap().create_ms;
            let xlsx = export_bytes(
                &c,
                &sb,
                &tok,
                id,
                export_body("Excel", "CreateTime", true, minimal()),
            )
            .await;
            assert_eq!(xlsx, workbook_of(&rows, stamp), "{}", company.name);
            // What a user is served is what the crate says it serves.
            assert_eq!(ds.users_json(id), now);
            assert_eq!(sb.current_users_json(id), now);
        }
        // The counts do not change.
        let (_, a) = get(&c, &flagged, "/api/target-users/count-summary", &ftok, &h).await;
        let (_, b) = get(&c, &sb, "/api/target-users/count-summary", &tok, &h).await;
        assert_eq!(a, b);
    }
    assert!(
        flag_said_other > 0,
        "some deleted rows said Active or Inactive on Flagged"
    );
    let (a, _) = listed_companies(&c, &flagged, &ftok, company_body(1, 25)).await;
    let (b, _) = listed_companies(&c, &sb, &tok, company_body(1, 25)).await;
    assert_eq!(a, b);

    // A user removed between runs turns "Deleted"; added users are alive.
    let acme = ds.find_by_name("Acme Holdings")[0].resource_id.clone();
    let h = scope_header(&acme);
    let changes = UserChanges {
        add: 7,
        remove: 5,
        modify: 3,
    };
    let changed = sb.change_users(&acme, changes).unwrap();
    assert_eq!(flagged.change_users(&acme, changes).unwrap(), changed);
    let served = search_all(&c, &sb, &tok, &h, minimal()).await;
    assert_eq!(sb.current_users_json(&acme), served);
    assert!(served
        .iter()
        .all(|u| !u.as_object().unwrap().contains_key("isDeleted")));
    let said = ids_saying_deleted(&served);
    assert!(changed.removed.iter().all(|id| said.contains(id)));
    assert!(changed.added.iter().all(|id| !said.contains(id)));
    let deleted = search_all(&c, &sb, &tok, &h, is_deleted_true()).await;
    assert_eq!(id_set(&deleted), said);
    let was = search_all(&c, &flagged, &ftok, &h, is_deleted_true()).await;
    assert_eq!(
        id_set(&was),
        said,
        "the same users are deleted on both servers"
    );

    // So does one removed by churn: the same searches on both servers change the same
    // users, and the rows flagged deleted on one are the rows saying "Deleted" on the other.
    let globex = ds.find_by_name("Globex Corporation")[0].resource_id.clone();
    let h = scope_header(&globex);
    let churn = Faults {
        churn: Some(Churn {
            inserts_per_search: 3,
            removes_per_search: 4,
            searches: Some(3),
        }),
        ..Faults::default()
    };
    flagged.set_faults(churn.clone());
    sb.set_faults(churn);
    for _ in 0..3 {
        search_all(&c, &flagged, &ftok, &h, client_filter()).await;
        search_all(&c, &sb, &tok, &h, client_filter()).await;
    }
    assert_eq!(sb.stats().users_removed, 12);
    let was = flagged.current_users_json(&globex);
    let served = sb.current_users_json(&globex);
    assert_eq!(served, was.iter().map(expect).collect::<Vec<_>>());
    let said = ids_saying_deleted(&served);
    let deleted = search_all(&c, &sb, &tok, &h, is_deleted_true()).await;
    assert_eq!(id_set(&deleted), said);
    let (_, listed) = listed_companies(&c, &sb, &tok, company_body(1, 25)).await;
    let item = listed
        .iter()
        .find(|i| i["companyResourceId"] == globex.as_str())
        .unwrap();
    assert_eq!(item["deletedTargetUserCount"], said.len());
    assert_eq!(
        item["targetUserCount"].as_u64().unwrap()
            + item["inactiveTargetUserCount"].as_u64().unwrap(),
        (served.len() - said.len()) as u64
    );
    flagged.shutdown().await;
    sb.shutdown().await;
}

#[tokio::test]
async fn date_style_forces_one_style_on_every_company() {
    let own = Dataset::from_config(&small());
    for style in [DateStyle::Iso, DateStyle::CompanyFormat] {
        let (sb, c, tok) = reseller_session(Config {
            date_style: Some(style),
            ..small()
        })
        .await;
        let ds = sb.dataset();
        assert!(own.all_companies().iter().any(|c| c.dates != style));
        for company in ds.all_companies() {
            assert_eq!(company.dates, style, "{}", company.name);
            let id = company.resource_id.as_str();
            let (df, tf) = (company.date_format.as_str(), company.time_format.as_str());
            let served = search_all(&c, &sb, &tok, &scope_header(id), minimal()).await;
            let truth = own.users(id);
            assert_eq!(served.len(), truth.len());
            for (u, t) in served.iter().zip(truth) {
                assert_eq!(u["resourceId"].as_str(), Some(t.resource_id.as_str()));
                let created = u["createTime"].as_str().unwrap();
                let update = u["updateTime"].as_str();
                assert_eq!(update.is_some(), t.update_ms.is_some());
                match style {
                    DateStyle::Iso => {
                        assert_eq!(iso_ms(created), t.create_ms, "{}", company.name);
                        if let (Some(text), Some(ms)) = (update, t.update_ms) {
                            if text.contains('T') {
                                assert_eq!(iso_ms(text), ms);
                            } else {
                                assert_eq!(company_seconds(text, df), ms.div_euclid(1000));
                            }
                        }
                    }
                    DateStyle::CompanyFormat => {
                        assert_eq!(
                            company_minutes(created, df, tf),
                            t.create_ms.div_euclid(60_000),
                            "{} {created}",
                            company.name
                        );
                        if let (Some(text), Some(ms)) = (update, t.update_ms) {
                            assert_eq!(company_minutes(text, df, tf), ms.div_euclid(60_000));
                        }
                    }
                }
            }
            // The company still answers its own formats.
            let (s, v) = get(&c, &sb, &format!("/api/companies/{id}"), &tok, &[]).await;
            assert_eq!(s, 200);
            let mine = own.find_company(id).unwrap();
            assert_eq!(
                (
                    v["data"]["dateFormat"].as_str(),
                    v["data"]["timeFormat"].as_str()
                ),
                (
                    Some(mine.date_format.as_str()),
                    Some(mine.time_format.as_str())
                )
            );
            // count-summary dates its months in the same style.
            let (_, v) = get(
                &c,
                &sb,
                "/api/target-users/count-summary",
                &tok,
                &scope_header(id),
            )
            .await;
            let start = v["data"]["monthlyActiveUsers"][0]["periodStart"]
                .as_str()
                .unwrap();
            match style {
                DateStyle::Iso => assert_eq!(start, "2025-12-01T00:00:00"),
                DateStyle::CompanyFormat => assert_eq!(
                    company_minutes(start, df, tf),
                    days_from_civil(2025, 12, 1) * 1440
                ),
            }
        }
        sb.shutdown().await;
    }
}

#[tokio::test]
async fn flat_count_summary_carries_the_same_counts() {
    let (ui, c, utok) = reseller_session(small()).await;
    let (sb, _, tok) = reseller_session(Config {
        count_summary: CountSummaryShape::Flat,
        ..small()
    })
    .await;
    let mut scopes = managed_ids(&sb.dataset());
    scopes.push(String::new());
    for id in &scopes {
        let h = scope_header(id);
        let (_, want) = get(&c, &ui, "/api/target-users/count-summary", &utok, &h).await;
        let (s, v) = get(&c, &sb, "/api/target-users/count-summary", &tok, &h).await;
        assert_eq!((s, &v["status"]), (StatusCode::OK, &json!("SUCCESS")));
        let w = &want["data"];
        assert_eq!(
            v["data"],
            json!({
                "activeUserCount": w["totalNumberOfActiveUsers"],
                "inactiveUserCount": w["totalNumberOfInActiveUsers"],
                "deletedUserCount": w["totalNumberOfDeletedUsers"],
                "monthlyActiveUserCount": w["monthlyActiveUsers"][11]["count"],
            }),
            "{id}"
        );
        let keys: Vec<&String> = v["data"].as_object().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "activeUserCount",
                "inactiveUserCount",
                "deletedUserCount",
                "monthlyActiveUserCount"
            ]
        );
    }
    ui.shutdown().await;
    sb.shutdown().await;
}

#[tokio::test]
async fn omit_retry_after_sends_429_without_the_header() {
    let faults = |omit| Faults {
        rate: 1.0,
        statuses: vec![429],
        retry_after: Some(Duration::from_secs(3)),
        omit_retry_after: omit,
        ..Faults::default()
    };
    let (sb, c, tok) = reseller_session(Config {
        faults: faults(true),
        ..small()
    })
    .await;
    let search = || {
        c.post(format!("{}/api/target-users/search", sb.base_url()))
            .bearer_auth(&tok)
            .json(&user_body(1, 10))
            .send()
    };
    let r = search().await.unwrap();
    assert_eq!(r.status(), 429);
    assert!(
        r.headers().get("retry-after").is_none(),
        "{:?}",
        r.headers()
    );
    let r = c
        .get(format!("{}/api/target-users/count-summary", sb.base_url()))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());
    sb.set_faults(faults(false));
    let r = search().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    assert_eq!(sb.stats().faults_injected, 3);
    sb.shutdown().await;
}

#[tokio::test]
async fn language_field_renames_the_language_key_in_place() {
    let (plain, c, ptok) = reseller_session(small()).await;
    let g = plain.dataset().find_by_name("Globex Corporation")[0]
        .resource_id
        .clone();
    for field in [
        LanguageField::PreferredLanguage,
        LanguageField::PreferredLanguageName,
        LanguageField::LanguageTypeName,
    ] {
        let (sb, _, tok) = reseller_session(Config {
            language_field: field,
            ..small()
        })
        .await;
        for id in [g.as_str(), ""] {
            let h = scope_header(id);
            let was = search_all(&c, &plain, &ptok, &h, minimal()).await;
            let now = search_all(&c, &sb, &tok, &h, minimal()).await;
            assert_eq!(was.len(), now.len());
            assert!(now.iter().any(|u| u[field.key()].is_string()));
            for (w, n) in was.iter().zip(&now) {
                let want: Vec<(String, &Value)> = w
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| match k.as_str() {
                        "preferredLanguage" => (field.key().to_owned(), v),
                        _ => (k.clone(), v),
                    })
                    .collect();
                let got: Vec<(String, &Value)> = n
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v))
                    .collect();
                assert_eq!(got, want);
                assert_eq!(got[15].0, field.key());
            }
            if !id.is_empty() {
                assert_eq!(sb.dataset().users_json(id), now);
                assert_eq!(sb.current_users_json(id), now);
            }
        }
        sb.shutdown().await;
    }
    plain.shutdown().await;
}

#[tokio::test]
async fn ignore_order_answers_in_creation_order() {
    let (sb, c, tok) = reseller_session(Config {
        ignore_order: true,
        ..small()
    })
    .await;
    let ds = sb.dataset();
    let g = ds.find_by_name("Globex Corporation")[0].resource_id.clone();
    let truth = ds.users(&g);
    let in_creation: Vec<&str> = truth.iter().map(|u| u.resource_id.as_str()).collect();
    let mut by_email: Vec<&keepnet_sandbox::User> = truth.iter().collect();
    by_email.sort_by_key(|u| u.email.clone().map(|e| e.to_lowercase()));
    assert_ne!(
        by_email
            .iter()
            .map(|u| u.resource_id.as_str())
            .collect::<Vec<_>>(),
        in_creation,
        "ordering by Email would differ"
    );
    let page = |page: u32, order: &str, ascending: bool, filter: Value, id: &str| {
        let body = json!({"pageNumber": page, "pageSize": 7, "orderBy": order,
                          "ascending": ascending, "filter": filter});
        let (c, sb, tok) = (&c, &sb, &tok);
        let id = id.to_owned();
        async move {
            let company = (!id.is_empty()).then_some(id.as_str());
            post(c, sb, "/api/target-users/search", tok, company, body).await
        }
    };
    for (order, ascending) in [
        ("Email", true),
        ("Email", false),
        ("CreateTime", false),
        ("Department", true),
        ("UpdateTime", false),
        ("", false),
    ] {
        let mut got = Vec::new();
        for n in 1..=6 {
            let (s, v) = page(n, order, ascending, minimal(), &g).await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["data"]["totalNumberOfRecords"], truth.len());
            got.extend(ids(v["data"]["results"].as_array().unwrap()));
        }
        assert_eq!(got, in_creation, "{order} {ascending}");
    }
    // Unscoped and filtered: the default order too.
    let want = ids(&search_all(&c, &sb, &tok, &[], client_filter()).await);
    let mut got = Vec::new();
    for n in 1.. {
        let (_, v) = page(n, "LastName", false, client_filter(), "").await;
        let rows = v["data"]["results"].as_array().unwrap();
        if rows.is_empty() {
            break;
        }
        got.extend(ids(rows));
    }
    assert_eq!(got, want);
    // The export too.
    let csv = export_bytes(
        &c,
        &sb,
        &tok,
        &g,
        export_body("CSV", "Email", false, minimal()),
    )
    .await;
    let emails: Vec<String> = csv_rows(&csv)[1..]
        .iter()
        .map(|r| r[2].to_owned())
        .collect();
    let want: Vec<String> = truth.iter().map(|u| u.email.clone().unwrap()).collect();
    assert_eq!(emails, want);
    // Both are still validated.
    let (s, v) = page(1, "Bogus", true, minimal(), &g).await;
    assert_eq!(
        (s, &v["status"]),
        (StatusCode::BAD_REQUEST, &json!("INPUT_ERROR"))
    );
    let body = json!({"pageNumber": 1, "pageSize": 7, "orderBy": "Email", "ascending": "yes",
                      "filter": minimal()});
    let (s, _) = post(&c, &sb, "/api/target-users/search", &tok, Some(&g), body).await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    sb.shutdown().await;
}

#[tokio::test]
async fn target_user_count_counts_what_the_knob_says() {
    let by_count = |order: &str| {
        json!({"pageNumber": 1, "pageSize": 25, "orderBy": order, "ascending": false,
               "filter": {"Condition": "AND", "SearchInputTextValue": ""}})
    };
    for knob in [
        TargetUserCount::Active,
        TargetUserCount::Current,
        TargetUserCount::Every,
    ] {
        let (sb, c, tok) = reseller_session(Config {
            target_user_count: knob,
            ..small()
        })
        .await;
        let ds = sb.dataset();
        let want = |c: &keepnet_sandbox::Company| match knob {
            TargetUserCount::Active => c.active_user_count,
            TargetUserCount::Current => c.active_user_count + c.inactive_user_count,
            TargetUserCount::Every => c.user_count,
        };
        let (v, listed) = listed_companies(&c, &sb, &tok, company_body(1, 25)).await;
        assert_eq!(listed.len(), 11);
        for item in &listed {
            let company = ds
                .find_company(item["companyResourceId"].as_str().unwrap())
                .unwrap();
            assert_eq!(
                item["targetUserCount"],
                want(company),
                "{knob:?} {}",
                company.name
            );
            assert_eq!(item["inactiveTargetUserCount"], company.inactive_user_count);
            assert_eq!(item["deletedTargetUserCount"], company.deleted_user_count);
            assert_eq!(
                item["monthlyActiveUserCount"],
                company.monthly_active_user_count
            );
            let id = company.resource_id.as_str();
            let (_, d) = get(&c, &sb, &format!("/api/companies/{id}"), &tok, &[]).await;
            assert_eq!(d["data"]["targetUserCount"], want(company));
            let (_, s) = get(
                &c,
                &sb,
                "/api/target-users/count-summary",
                &tok,
                &scope_header(id),
            )
            .await;
            assert_eq!(
                s["data"]["totalNumberOfActiveUsers"],
                company.active_user_count
            );
        }
        // The licence still counts Active users only: Acme Türkiye alone is over.
        assert_eq!(v["data"]["limitExceededCompanyCount"], 1);
        let mut over = company_body(1, 25);
        over["isTargetUserCountExceededLimit"] = json!(true);
        let (_, over) = listed_companies(&c, &sb, &tok, over).await;
        let names: Vec<&str> = over
            .iter()
            .map(|i| i["companyName"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["Acme Türkiye"]);
        // Ordering by TargetUserCount follows the served figure.
        let (v, _) = listed_companies(&c, &sb, &tok, by_count("TargetUserCount")).await;
        let served: Vec<u64> = v["data"]["results"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["targetUserCount"].as_u64().unwrap())
            .collect();
        assert!(
            served.windows(2).all(|w| w[0] >= w[1]),
            "{knob:?} {served:?}"
        );
        sb.shutdown().await;
    }
}
