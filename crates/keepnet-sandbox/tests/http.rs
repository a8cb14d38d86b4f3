//! End-to-end tests of the sandbox over real HTTP.

use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use keepnet_sandbox::{
    CompanyKeys, Config, Credentials, EnvelopeStyle, ExportStyle, Faults, Sandbox,
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
    let sb = Sandbox::start(Config {
        token_lifetime: Duration::from_millis(900),
        ..small()
    })
    .await
    .unwrap();
    let c = Client::new();
    let tok = token(&c, &sb, &sb.reseller()).await;
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
    let sb = Sandbox::start(Config {
        page_cap: 4,
        ..small()
    })
    .await
    .unwrap();
    let c = Client::new();
    let tok = token(&c, &sb, &sb.reseller()).await;
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
    let sb = Sandbox::start(Config {
        users_per_company: 137,
        page_cap: 20,
        ..Config::default()
    })
    .await
    .unwrap();
    let c = Client::new();
    let tok = token(&c, &sb, &sb.reseller()).await;
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
    assert_eq!(v["data"]["results"][0].as_object().unwrap().len(), 16);
    // Without the header a reseller sees its own 3 users.
    let (_, v) = post(
        &c,
        &sb,
        "/api/target-users/search",
        &tok,
        None,
        user_body(1, 50),
    )
    .await;
    assert_eq!(v["data"]["totalNumberOfRecords"], 3);
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
    let sb = Sandbox::start(small()).await.unwrap();
    let c = Client::new();
    let tok = token(&c, &sb, &sb.reseller()).await;
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

#[tokio::test]
async fn count_summary_matches_data() {
    let sb = Sandbox::start(small()).await.unwrap();
    let c = Client::new();
    let tok = token(&c, &sb, &sb.reseller()).await;
    let ds = sb.dataset();
    for company in ds.all_companies() {
        let r = c
            .get(format!("{}/api/target-users/count-summary", sb.base_url()))
            .bearer_auth(&tok)
            .header("X-KEEPNET-Company-Id", &company.resource_id)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let v: Value = r.json().await.unwrap();
        let d = &v["data"];
        let users = ds.users(&company.resource_id);
        let active = users
            .iter()
            .filter(|u| u.status.as_deref() == Some("Active"))
            .count();
        assert_eq!(d["activeTargetUserCount"], active);
        assert_eq!(d["inactiveTargetUserCount"], users.len() - active);
        assert!(d["deletedTargetUserCount"].is_u64());
        assert!(d["monthlyActiveUserCount"].as_u64().unwrap() <= active as u64);
    }
    sb.shutdown().await;
}

#[tokio::test]
async fn exports_csv_xlsx_and_service_result() {
    let sb = Sandbox::start(small()).await.unwrap();
    let c = Client::new();
    let tok = token(&c, &sb, &sb.reseller()).await;
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
    assert_eq!(v["Data"]["totalNumberOfRecords"], 3);
    sb.shutdown().await;
}

#[tokio::test]
async fn same_seed_same_bytes() {
    let c = Client::new();
    let a = Sandbox::start(small()).await.unwrap();
    let b = Sandbox::start(small()).await.unwrap();
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
    let sb = Sandbox::start(Config {
        faults: Faults {
            rate: 1.0,
            statuses: vec![429],
            retry_after: Some(Duration::from_secs(3)),
            ..Faults::default()
        },
        ..small()
    })
    .await
    .unwrap();
    let c = Client::new();
    let tok = token(&c, &sb, &sb.reseller()).await;
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
    let sb = Sandbox::start(Config {
        users_per_company: 60,
        page_cap: size as u32,
        faults: Faults {
            churn: Some(keepnet_sandbox::Churn {
                inserts_per_search: 3,
                removes_per_search: 2,
            }),
            ..Faults::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let c = Client::new();
    let tok = token(&c, &sb, &sb.reseller()).await;
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
        // ...and the data has changed once it arrives.
        let after = sb.current_users_json(&globex);
        assert_eq!(after.len(), before.len() + 1);
        let before_ids: HashSet<String> = ids(&before).into_iter().collect();
        let after_ids = ids(&after);
        let inserted: Vec<(usize, &String)> = after_ids
            .iter()
            .enumerate()
            .filter(|(_, id)| !before_ids.contains(*id))
            .collect();
        let after_set: HashSet<&String> = after_ids.iter().collect();
        let removed: Vec<&String> = before_ids
            .iter()
            .filter(|id| !after_set.contains(id))
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
        removed_all.extend(removed.into_iter().cloned());
        // Default order holds, emails stay unique.
        for w in after.windows(2) {
            let key = |u: &Value| {
                (
                    u["createTime"].as_str().unwrap().to_string(),
                    u["resourceId"].as_str().unwrap().to_string(),
                )
            };
            assert!(key(&w[0]) < key(&w[1]));
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
    let final_ids: HashSet<String> = ids(&sb.current_users_json(&globex)).into_iter().collect();
    assert!(removed_all.iter().all(|id| !final_ids.contains(id)));
    // Offset paging over changing data both repeats and skips users.
    let unique: HashSet<&String> = paged.iter().collect();
    assert!(unique.len() < paged.len(), "some user was served twice");
    assert!(
        final_ids.iter().any(|id| !unique.contains(id)),
        "some user was never served"
    );
    let st = sb.stats();
    assert_eq!(st.users_inserted, 3 * page as u64);
    assert_eq!(st.users_removed, 2 * page as u64);

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
    let active = current.iter().filter(|u| u["status"] == "Active").count();
    assert_eq!(v["data"]["activeTargetUserCount"], active);
    assert_eq!(v["data"]["inactiveTargetUserCount"], current.len() - active);
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
    assert_eq!(g["targetUserCount"], current.len());
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
    assert_eq!(sb.stats().users_inserted, 3 * page as u64);
    sb.shutdown().await;
}

#[tokio::test]
async fn churn_is_consistent_under_concurrent_searches() {
    let sb = Sandbox::start(Config {
        users_per_company: 80,
        page_cap: 20,
        faults: Faults {
            churn: Some(keepnet_sandbox::Churn {
                inserts_per_search: 2,
                removes_per_search: 1,
            }),
            ..Faults::default()
        },
        ..Config::default()
    })
    .await
    .unwrap();
    let c = Client::new();
    let tok = token(&c, &sb, &sb.reseller()).await;
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
    // Each search saw one state: 80 + k for k searches before it.
    totals.sort_unstable();
    assert_eq!(totals, (80..96).collect::<Vec<u64>>());
    let current = sb.current_users_json(&globex);
    assert_eq!(current.len(), 96);
    let unique: HashSet<&str> = current
        .iter()
        .map(|u| u["resourceId"].as_str().unwrap())
        .collect();
    assert_eq!(unique.len(), 96);
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
    let sb = Sandbox::start(small()).await.unwrap();
    let c = Client::new();
    let tok = token(&c, &sb, &sb.reseller()).await;
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
