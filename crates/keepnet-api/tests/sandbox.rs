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
