//! The client against the sandbox over real HTTP: auth lifecycle and company-scoped errors.

use std::time::Duration;

use futures::TryStreamExt;
use keepnet_api::{Client, CompanyId, Credentials, Error, RetryPolicy, UserQuery};
use keepnet_sandbox::{Config, Faults, Sandbox};

async fn sandbox(config: Config) -> (Sandbox, Client) {
    let sandbox = Sandbox::start(config).await.unwrap();
    let creds = sandbox.reseller();
    let client = Client::builder(sandbox.base_url())
        .credentials(Credentials::new(creds.client_id, creds.client_secret))
        .build()
        .unwrap();
    (sandbox, client)
}

fn small() -> Config {
    Config {
        users_per_company: 6,
        page_cap: 4,
        ..Config::default()
    }
}

#[tokio::test]
async fn token_is_cached_then_renewed_before_expiry() {
    let (sandbox, client) = sandbox(Config {
        token_lifetime: Duration::from_secs(1),
        ..small()
    })
    .await;
    client.companies(&Default::default()).await.unwrap();
    client.companies(&Default::default()).await.unwrap();
    assert_eq!(client.tokens_issued(), 1, "cached within its lifetime");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    client.companies(&Default::default()).await.unwrap();
    assert_eq!(client.tokens_issued(), 2, "renewed once expired");
    assert_eq!(
        sandbox.stats().unauthorized,
        0,
        "renewed before the server had to refuse it"
    );
}

#[tokio::test]
async fn a_401_renews_the_token_once_and_the_call_succeeds() {
    let (sandbox, client) = sandbox(small()).await;
    client.companies(&Default::default()).await.unwrap();
    sandbox.revoke_tokens();
    let companies = client.companies(&Default::default()).await.unwrap();
    assert!(!companies.is_empty());
    assert_eq!(client.tokens_issued(), 2);
    assert_eq!(sandbox.stats().unauthorized, 1);
}

#[tokio::test]
async fn concurrent_calls_share_one_token_request() {
    let (sandbox, client) = sandbox(small()).await;
    let calls = (0..8).map(|_| {
        let client = client.clone();
        tokio::spawn(async move { client.companies(&Default::default()).await })
    });
    for call in calls {
        call.await.unwrap().unwrap();
    }
    assert_eq!(sandbox.stats().token_requests, 1);
}

#[tokio::test]
async fn scoped_calls_map_403_and_404_to_company_errors() {
    let (sandbox, client) = sandbox(small()).await;
    let unmanaged = CompanyId::parse(sandbox.dataset().unmanaged_company_id()).unwrap();
    let err = client.count_summary(&unmanaged).await.unwrap_err();
    assert!(
        matches!(
            err,
            Error::Forbidden {
                company: Some(_),
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("not one it manages"));

    let unknown = CompanyId::parse("ZZZZZZZZZZZZ").unwrap();
    let err = client
        .users(&unknown, UserQuery::default())
        .try_collect::<Vec<_>>()
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::CompanyNotFound { status: 404, .. }),
        "{err:?}"
    );
    assert_eq!(err.kind(), keepnet_api::ErrorKind::Company);
}

#[tokio::test]
async fn the_scoping_header_is_what_selects_the_company() {
    let (sandbox, client) = sandbox(small()).await;
    let data = sandbox.dataset();
    for company in data.all_companies() {
        let id = CompanyId::parse(&company.resource_id).unwrap();
        let users: Vec<_> = client
            .users(&id, UserQuery::default())
            .try_collect()
            .await
            .unwrap();
        // The default selection: the company's current users, deleted ones left out.
        let want: Vec<String> = data
            .users(&company.resource_id)
            .iter()
            .filter(|u| !u.is_deleted && u.status.as_deref() != Some("Deleted"))
            .map(|u| u.resource_id.clone())
            .collect();
        let got: Vec<String> = users
            .into_iter()
            .map(|u| u.resource_id.unwrap().into())
            .collect();
        assert_eq!(got, want, "{}", company.name);
    }
}

#[tokio::test]
async fn a_bad_request_carries_the_server_messages() {
    let (_sandbox, client) = sandbox(small()).await;
    let id = CompanyId::parse(&_sandbox.dataset().find_by_name("Initech")[0].resource_id).unwrap();
    let query = UserQuery {
        order_by: "NoSuchField".into(),
        ..UserQuery::default()
    };
    let err = client.users_page(&id, &query, 1).await.unwrap_err();
    assert!(matches!(err, Error::BadRequest { .. }), "{err:?}");
    assert!(
        err.to_string().to_lowercase().contains("nosuchfield"),
        "{err}"
    );
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (sandbox, _) = sandbox(small()).await;
    let creds = sandbox.reseller();
    // Retries would come every millisecond if the server's Retry-After were ignored.
    let client = Client::builder(sandbox.base_url())
        .credentials(Credentials::new(creds.client_id, creds.client_secret))
        .retry(RetryPolicy {
            max_retries: 5,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_secs(5),
            max_elapsed: Duration::from_secs(10),
        })
        .build()
        .unwrap();
    client.companies(&Default::default()).await.unwrap();
    sandbox.set_faults(Faults {
        rate: 1.0,
        statuses: vec![429],
        retry_after: Some(Duration::from_secs(1)),
        ..Faults::default()
    });
    let started = std::time::Instant::now();
    let call = tokio::spawn({
        let client = client.clone();
        async move { client.companies(&Default::default()).await }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sandbox.set_faults(Faults::default());
    call.await.unwrap().unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
    assert_eq!(
        sandbox.stats().faults_injected,
        1,
        "one 429, then one successful retry"
    );
    assert_eq!(client.stats().retries, 1);
    assert_eq!(client.stats().throttled, 1);
}

#[tokio::test]
async fn many_requests_hitting_401_at_once_cause_exactly_one_refresh() {
    let (sandbox, client) = sandbox(small()).await;
    client.companies(&Default::default()).await.unwrap();
    let before = sandbox.stats().token_requests;
    sandbox.revoke_tokens();
    let id = CompanyId::parse(&sandbox.dataset().find_by_name("Initech")[0].resource_id).unwrap();
    let calls: Vec<_> = (0..16)
        .map(|_| {
            let (client, id) = (client.clone(), id.clone());
            tokio::spawn(async move { client.users_page(&id, &UserQuery::default(), 1).await })
        })
        .collect();
    for call in calls {
        assert_eq!(
            call.await.unwrap().unwrap().results.len(),
            4,
            "no request lost"
        );
    }
    assert_eq!(sandbox.stats().token_requests - before, 1, "single flight");
    assert_eq!(client.stats().tokens, 2);
}

/// Every user the pager hands out, and its report.
async fn read_all(
    pager: &mut keepnet_api::UserPager,
) -> Result<Vec<keepnet_api::TargetUser>, Error> {
    let mut users = Vec::new();
    while let Some(page) = pager.next_page().await? {
        users.extend(page.results);
    }
    Ok(users)
}

fn ignoring(users: usize) -> Config {
    Config {
        users_per_company: users,
        page_cap: 100,
        faults: Faults {
            ignore_filter_items: true,
            ..Faults::default()
        },
        ..Config::default()
    }
}

#[tokio::test]
async fn a_total_above_the_selection_is_settled_by_asking_for_the_other_users() {
    use keepnet_api::{StatusFilter, StatusSet};
    // Pages of 2: page 1 shows no deleted user, so only asking for the deleted ones tells
    // whether the total counts every state.
    let (sandbox, client) = sandbox(ignoring(400)).await;
    let data = sandbox.dataset();
    let company = data
        .all_companies()
        .into_iter()
        .find(|c| {
            let users = data.users(&c.resource_id);
            users.len() == 400 && users[..2].iter().all(|u| !u.is_deleted)
        })
        .expect("a company whose two oldest users are current")
        .clone();
    let resolved = client.resolve_company(&company.resource_id).await.unwrap();
    let limit = keepnet_api::ScopeLimit::for_company(&resolved, StatusSet::CURRENT, 5).unwrap();
    assert!(
        limit.exceeds_selection(400),
        "the server's total (every state) is above the selection's count"
    );
    let query = UserQuery {
        page_size: 2,
        ..UserQuery::default()
    };
    let before = sandbox.stats().user_search_requests;
    let mut pager = client
        .pager(resolved.id(), query.clone())
        .with_guard(Some(limit));
    let first = pager.next_page().await.unwrap().unwrap();
    assert_eq!(first.results.len(), 2);
    assert_eq!(pager.report().status_filter, StatusFilter::Ignored);
    assert_eq!(
        sandbox.stats().user_search_requests - before,
        2,
        "page 1, then one probe for the users outside the selection"
    );
    let mut users = first.results;
    users.extend(read_all(&mut pager).await.unwrap());
    let current = data
        .users(&company.resource_id)
        .iter()
        .filter(|u| !u.is_deleted)
        .count();
    assert_eq!(users.len(), current);
    assert!(users.iter().all(|u| StatusSet::CURRENT.contains(u.state())));
    let report = pager.report();
    assert_eq!((report.served, report.users), (400, current as u64));
    assert_eq!(report.dropped.deleted, 400 - current as u64);
    assert!(report.inconsistencies().is_empty(), "{report:?}");
}

#[tokio::test]
async fn a_filtered_total_above_the_selection_is_another_customers_not_the_filter() {
    use keepnet_api::{ScopeCause, StatusFilter, StatusSet};
    // A server that applies the filter, held against counts that make its total of current
    // users too many for the selection but few enough for every state (as a small leak would):
    // asked for the deleted users, it answers only those, so the filter is not the cause.
    let (sandbox, client) = sandbox(Config {
        users_per_company: 60,
        page_cap: 100,
        ..Config::default()
    })
    .await;
    let mut company = client.resolve_company("Initech").await.unwrap();
    let current = company.target_user_count.unwrap() + company.inactive_target_user_count.unwrap();
    company.target_user_count = Some(current.saturating_sub(30));
    company.inactive_target_user_count = Some(0);
    company.deleted_target_user_count = Some(200);
    let limit = keepnet_api::ScopeLimit::for_company(&company, StatusSet::CURRENT, 5).unwrap();
    let mut pager = client
        .pager(company.id(), UserQuery::default())
        .with_guard(Some(limit));
    let error = read_all(&mut pager).await.unwrap_err();
    match &error {
        Error::OutOfScope(breach) => assert_eq!(breach.cause, ScopeCause::FilteredTotal),
        other => panic!("{other}"),
    }
    assert!(
        error.to_string().contains("applied the status filter"),
        "{error}"
    );
    assert_eq!(pager.report().status_filter, StatusFilter::Honoured);
    let _ = sandbox;
}

#[tokio::test]
async fn the_status_filter_test_answers_each_way() {
    use keepnet_api::StatusFilter;
    for (config, want) in [
        (small(), StatusFilter::Honoured),
        (ignoring(40), StatusFilter::Ignored),
    ] {
        let (sandbox, client) = sandbox(config).await;
        let id =
            CompanyId::parse(&sandbox.dataset().find_by_name("Initech")[0].resource_id).unwrap();
        assert_eq!(client.test_status_filter(&id).await.unwrap().verdict, want);
        let empty =
            CompanyId::parse(&sandbox.dataset().find_by_name("Umbrella Empty")[0].resource_id)
                .unwrap();
        assert_eq!(
            client.test_status_filter(&empty).await.unwrap().verdict,
            StatusFilter::Untested,
            "a company without users shows nothing"
        );
    }
}
