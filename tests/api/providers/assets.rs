//! What a person manages (SPEC 4a), at the provider seam over real HTTP: Facebook Pages from a
//! local Graph that follows Meta's documentation, LinkedIn organizations from a local
//! Community Management API, YouTube channels and Google Business Profile locations from
//! scripted fakes, and the sandbox's Pages.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use tokenwarden::providers::{
    AssetKind, AssetTokens, HttpSettings, ManagedAsset, NetworkKind, NetworkSettings, Provider,
    ProviderError, ProviderRegistry, SANDBOX_PAGES_NETWORK, TransientKind, new_pkce_verifier,
};
use url::Url;

use super::{
    Fake, Sandbox, assert_reauth, assert_transient, no_redirect_client, preset_at, secret,
};
use crate::fakes::linkedin_orgs::{Acl, LinkedInOrgs};
use crate::fakes::meta_graph::{AccountsFault, MetaGraph};
use tokenwarden::sandbox::{
    self, Endpoint, FailureMode, SandboxOptions, SandboxPage, SandboxState,
};

const PAGES: [(&str, &str); 5] = [
    ("1001", "Bakery"),
    ("1002", "Books"),
    ("1003", "Bikes"),
    ("1004", "Boats"),
    ("1005", "Bees"),
];

/// The `facebook` preset against a local Graph whose `/me/accounts` answers two Pages a page.
fn facebook_at(graph: &Url, http: &HttpSettings) -> Arc<dyn Provider> {
    preset_at(NetworkKind::Facebook, graph, http, |s| {
        s.assets_url = Some(
            graph
                .join("/me/accounts?fields=id,name,access_token,tasks,picture&limit=2")
                .unwrap()
                .to_string(),
        );
        s.introspection_url = Some(graph.join("/debug_token").unwrap().to_string());
    })
}

/// A person who manages the five Pages, connected: their long-lived user token.
async fn person_with_pages(graph: &MetaGraph, fb: &dyn Provider, person: &str) -> SecretString {
    graph.manage(person, &PAGES);
    fb.exchange_code(
        &MetaGraph::code_for(person),
        &new_pkce_verifier(),
        Utc::now(),
    )
    .await
    .expect("code exchange")
    .access_token
}

fn names(assets: &[ManagedAsset]) -> Vec<&str> {
    assets.iter().map(|a| a.name.as_str()).collect()
}

fn rejected_code(e: &ProviderError) -> &str {
    match e {
        ProviderError::Rejected { code, .. } => code,
        other => panic!("expected Rejected, got {other:?}"),
    }
}

#[actix_web::test]
async fn facebook_pages_are_listed_to_the_last_page_each_with_its_own_token() {
    let graph = MetaGraph::default();
    let base = graph.start();
    let fb = facebook_at(&base, &HttpSettings::default());
    let person = person_with_pages(&graph, fb.as_ref(), "p1").await;

    let pages = fb.list_assets(&person).await.expect("listing");

    assert_eq!(fb.assets(), Some(AssetTokens::Derived));
    assert_eq!(graph.accounts_calls(), 3, "five Pages, two a page");
    assert_eq!(names(&pages), ["Bakery", "Books", "Bikes", "Boats", "Bees"]);
    let ids: Vec<&str> = pages.iter().map(|p| p.external_id.as_str()).collect();
    assert_eq!(ids, ["1001", "1002", "1003", "1004", "1005"]);
    for page in &pages {
        assert_eq!(page.kind, AssetKind::Page);
        let token = page
            .token
            .as_ref()
            .expect("a derived token")
            .expose_secret();
        assert!(graph.page_token_live(token), "{page:?}");
        assert_ne!(token, person.expose_secret());
        assert_eq!(
            page.picture_url.as_deref(),
            Some(format!("https://scontent.example/{}.jpg", page.external_id).as_str())
        );
        assert!(!format!("{page:?}").contains(token), "Debug shows no token");
    }

    // Page tokens made from a long-lived user token never expire; debug_token says so.
    graph.app_token("cid|csecret-value");
    let debug = reqwest::get(
        Url::parse_with_params(
            base.join("/debug_token").unwrap().as_str(),
            &[
                (
                    "input_token",
                    pages[0].token.as_ref().unwrap().expose_secret(),
                ),
                ("access_token", "cid|csecret-value"),
            ],
        )
        .unwrap(),
    )
    .await
    .unwrap()
    .json::<Value>()
    .await
    .unwrap();
    assert_eq!(debug["data"]["is_valid"], true, "{debug}");
    assert_eq!(debug["data"]["type"], "PAGE");
    assert_eq!(debug["data"]["expires_at"], 0);
    assert_eq!(debug["data"]["profile_id"], "1001");
    assert!(debug["data"]["data_access_expires_at"].as_i64().unwrap() > Utc::now().timestamp());
    assert!(
        debug["data"]["scopes"]
            .as_array()
            .unwrap()
            .contains(&json!("pages_show_list"))
    );
}

#[actix_web::test]
async fn a_page_of_results_missing_one_token_fails_the_whole_listing() {
    let graph = MetaGraph::default();
    let fb = facebook_at(&graph.start(), &HttpSettings::default());
    let person = person_with_pages(&graph, fb.as_ref(), "p1").await;
    graph.drop_page_token("1004");

    let e = fb.list_assets(&person).await.unwrap_err();

    assert_eq!(rejected_code(&e), "asset_token_missing", "{e:?}");
    assert!(!e.is_reauth() && !e.is_transient(), "{e:?}");
    assert_eq!(graph.accounts_calls(), 2, "the Page is on the second page");
}

#[actix_web::test]
async fn a_dead_person_token_is_a_dead_grant_whatever_its_subcode() {
    let graph = MetaGraph::default();
    let fb = facebook_at(&graph.start(), &HttpSettings::default());
    for subcode in [458, 460, 463, 467, 492] {
        let person = format!("p{subcode}");
        let token = person_with_pages(&graph, fb.as_ref(), &person).await;
        let pages = fb.list_assets(&token).await.expect("listing");
        graph.end_session(&person, subcode);

        let e = fb.list_assets(&token).await.unwrap_err();

        assert_reauth(&e, "meta_190");
        assert!(!format!("{e:?}").contains(token.expose_secret()), "{e:?}");
        let old = pages[0].token.as_ref().unwrap().expose_secret();
        assert!(
            !graph.page_token_live(old),
            "Page tokens die with the session"
        );
    }
}

#[actix_web::test]
async fn a_failing_graph_is_transient_never_a_dead_grant() {
    let graph = MetaGraph::default();
    let base = graph.start();
    let http = HttpSettings {
        request_timeout: Duration::from_millis(400),
        ..HttpSettings::default()
    };
    let fb = facebook_at(&base, &http);
    let person = person_with_pages(&graph, fb.as_ref(), "p1").await;
    for (fault, kind) in [
        (AccountsFault::ServerError, TransientKind::Unavailable(500)),
        (AccountsFault::Truncated, TransientKind::Malformed),
    ] {
        graph.accounts_fault(fault);

        let e = fb.list_assets(&person).await.unwrap_err();

        assert_transient(&e, kind);
    }
    // A failure on a later page fails the listing too.
    let before = graph.accounts_calls();
    graph.accounts_fault(AccountsFault::NextElsewhere(
        base.as_str().trim_end_matches('/').into(),
    ));
    graph.accounts_fault(AccountsFault::ServerError);
    assert_transient(
        &fb.list_assets(&person).await.unwrap_err(),
        TransientKind::Unavailable(500),
    );
    assert_eq!(graph.accounts_calls(), before + 2);
    // A Graph that stalls past the request timeout.
    graph.accounts_fault(AccountsFault::Stall(Duration::from_secs(2)));
    assert_transient(
        &fb.list_assets(&person).await.unwrap_err(),
        TransientKind::Timeout,
    );
    fb.list_assets(&person).await.expect("the Graph is back");
}

#[actix_web::test]
async fn graph_rate_limits_are_transient() {
    let fake = Fake::default();
    let base = fake.start();
    let fb = preset_at(
        NetworkKind::Facebook,
        &base,
        &HttpSettings::default(),
        |s| {
            s.assets_url = Some(base.join("/me/accounts").unwrap().to_string());
        },
    );
    for code in [4, 17, 32, 613] {
        fake.on(
            "/me/accounts",
            400,
            json!({"error": {"message": "(#4) Application request limit reached", "type": "OAuthException", "code": code}}),
        );

        let e = fb.list_assets(&secret("EAA-user")).await.unwrap_err();

        assert_transient(&e, TransientKind::RateLimited);
    }
}

#[actix_web::test]
async fn a_next_page_on_another_host_is_never_followed() {
    let graph = MetaGraph::default();
    let fb = facebook_at(&graph.start(), &HttpSettings::default());
    let person = person_with_pages(&graph, fb.as_ref(), "p1").await;
    let elsewhere = Fake::default();
    let elsewhere_url = elsewhere.start();
    graph.accounts_fault(AccountsFault::NextElsewhere(
        elsewhere_url.as_str().trim_end_matches('/').into(),
    ));

    let e = fb.list_assets(&person).await.unwrap_err();

    assert_eq!(rejected_code(&e), "unconfigured_url", "{e:?}");
    assert!(
        elsewhere.seen_on("/me/accounts").is_empty(),
        "the token went elsewhere"
    );
}

#[actix_web::test]
async fn linkedin_organizations_the_member_administers_across_pages_with_their_names() {
    let li = LinkedInOrgs::new(2);
    let base = li.start();
    let acl = |organization, name, vanity, role, state| Acl {
        organization,
        name,
        vanity,
        role,
        state,
    };
    li.member(
        "li-token",
        "m1",
        vec![
            acl(11, "Acme", "acme", "ADMINISTRATOR", "APPROVED"),
            acl(12, "Globex", "globex", "ADMINISTRATOR", "APPROVED"),
            acl(13, "Initech", "initech", "ANALYST", "APPROVED"),
            acl(14, "Umbrella", "umbrella", "ADMINISTRATOR", "APPROVED"),
            acl(15, "Hooli", "hooli", "ADMINISTRATOR", "REQUESTED"),
            acl(16, "Stark", "stark", "ADMINISTRATOR", "APPROVED"),
            acl(17, "Wayne", "wayne", "ADMINISTRATOR", "APPROVED"),
        ],
    );
    let provider = preset_at(
        NetworkKind::LinkedIn,
        &base,
        &HttpSettings::default(),
        |s| {
            s.assets_url = Some(
                base.join(
                    "/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED",
                )
                .unwrap()
                .to_string(),
            );
            s.asset_details_url = Some(base.join("/rest/organizations").unwrap().to_string());
        },
    );

    let orgs = provider
        .list_assets(&secret("li-token"))
        .await
        .expect("listing");

    assert_eq!(provider.assets(), Some(AssetTokens::Shared));
    assert_eq!(
        names(&orgs),
        ["Acme", "Globex", "Umbrella", "Stark", "Wayne"]
    );
    assert_eq!(orgs[0].external_id, "11");
    assert_eq!(orgs[0].handle.as_deref(), Some("acme"));
    assert!(
        orgs.iter()
            .all(|o| o.kind == AssetKind::Organization && o.token.is_none())
    );
    let seen = li.seen();
    let acl_calls = seen
        .iter()
        .filter(|s| s.0 == "/rest/organizationAcls")
        .count();
    assert_eq!(acl_calls, 3, "five ACLs, two a page: {seen:?}");
    assert!(seen.iter().all(|s| s.2), "every call versioned: {seen:?}");
    assert!(
        seen.iter()
            .any(|s| s.0 == "/rest/organizations" && s.1 == "ids=List(11,12,14,16,17)"),
        "{seen:?}"
    );

    assert_reauth(
        &provider
            .list_assets(&secret("not-a-token"))
            .await
            .unwrap_err(),
        "invalid_token",
    );
}

#[actix_web::test]
async fn youtube_channels_follow_next_page_tokens() {
    let fake = Fake::default();
    let base = fake.start();
    let yt = preset_at(NetworkKind::YouTube, &base, &HttpSettings::default(), |s| {
        s.assets_url = Some(
            base.join("/youtube/v3/channels?part=snippet&mine=true")
                .unwrap()
                .to_string(),
        );
    });
    let channel = |id: &str, title: &str| {
        json!({"kind": "youtube#channel", "id": id, "snippet": {"title": title, "customUrl": format!("@{title}"),
            "thumbnails": {"default": {"url": format!("https://yt.example/{id}.jpg")}}}})
    };
    fake.on(
        "/youtube/v3/channels",
        200,
        json!({"items": [channel("UC1", "one")], "nextPageToken": "P2"}),
    )
    .on(
        "/youtube/v3/channels",
        200,
        json!({"items": [channel("UC2", "two")], "nextPageToken": "P3"}),
    )
    .on(
        "/youtube/v3/channels",
        200,
        json!({"items": [channel("UC3", "three")]}),
    );

    let channels = yt
        .list_assets(&secret("ya29.token"))
        .await
        .expect("listing");

    assert_eq!(yt.assets(), Some(AssetTokens::Shared));
    assert_eq!(names(&channels), ["one", "two", "three"]);
    assert_eq!(channels[1].external_id, "UC2");
    assert_eq!(channels[1].handle.as_deref(), Some("@two"));
    assert_eq!(channels[1].kind, AssetKind::Channel);
    let seen = fake.seen_on("/youtube/v3/channels");
    let tokens: Vec<Option<&str>> = seen
        .iter()
        .map(|s| s.query.get("pageToken").map(String::as_str))
        .collect();
    assert_eq!(tokens, [None, Some("P2"), Some("P3")]);
    assert!(seen.iter().all(|s| s.query["mine"] == "true"));
    assert!(
        seen.iter()
            .all(|s| s.authorization.as_deref() == Some("Bearer ya29.token"))
    );
}

#[actix_web::test]
async fn google_business_locations_of_every_account_every_page() {
    let fake = Fake::default();
    let base = fake.start();
    let gbp = preset_at(
        NetworkKind::GoogleBusiness,
        &base,
        &HttpSettings::default(),
        |s| {
            s.identity_url = Some(base.join("/v1/userinfo").unwrap().to_string());
            s.assets_url = Some(base.join("/v1/accounts").unwrap().to_string());
            s.asset_details_url = Some(base.join("/info/v1/").unwrap().to_string());
        },
    );
    fake.on("/v1/accounts", 200, json!({"accounts": [{"name": "accounts/A1", "accountName": "Ana", "type": "PERSONAL"}], "nextPageToken": "n2"}))
        .on("/v1/accounts", 200, json!({"accounts": [{"name": "accounts/A2", "accountName": "Shops", "type": "LOCATION_GROUP"}]}))
        .on("/info/v1/accounts/A1/locations", 200, json!({"locations": [{"name": "locations/L1", "title": "Main St"}], "nextPageToken": "m2"}))
        .on("/info/v1/accounts/A1/locations", 200, json!({"locations": [{"name": "locations/L2", "title": "High St"}]}))
        .on("/info/v1/accounts/A2/locations", 200, json!({}));

    let locations = gbp.list_assets(&secret("ya29.gbp")).await.expect("listing");

    assert_eq!(gbp.assets(), Some(AssetTokens::Shared));
    assert_eq!(names(&locations), ["Main St", "High St"]);
    assert_eq!(locations[1].external_id, "accounts/A1/locations/L2");
    assert_eq!(locations[1].kind, AssetKind::Location);
    let seen = fake.seen_on("/info/v1/accounts/A1/locations");
    assert_eq!(seen[0].query["readMask"], "name,title");
    assert_eq!(seen[1].query["pageToken"], "m2");
    assert_eq!(fake.seen_on("/v1/accounts")[1].query["pageToken"], "n2");
    assert_eq!(fake.seen_on("/info/v1/accounts/A2/locations").len(), 1);

    // An account name that would make another path is not followed.
    fake.on(
        "/v1/accounts",
        200,
        json!({"accounts": [{"name": "accounts/../../admin"}]}),
    );
    assert_transient(
        &gbp.list_assets(&secret("ya29.gbp")).await.unwrap_err(),
        TransientKind::Malformed,
    );
}

#[test]
fn which_presets_have_assets_and_where_settings_apply() {
    let public = Url::parse("https://tokens.example.com").unwrap();
    let build = |kind: NetworkKind, tweak: &dyn Fn(&mut NetworkSettings)| {
        let mut s = NetworkSettings::new(kind);
        s.client_id = Some("cid".into());
        s.client_secret = Some(secret("csecret"));
        tweak(&mut s);
        ProviderRegistry::from_settings(
            &BTreeMap::from([("n".to_owned(), s)]),
            &public,
            &HttpSettings::default(),
        )
        .map(|r| r.get("n").unwrap())
    };
    let expected = [
        (NetworkKind::Facebook, Some(AssetTokens::Derived)),
        (NetworkKind::LinkedIn, Some(AssetTokens::Shared)),
        (NetworkKind::YouTube, Some(AssetTokens::Shared)),
        (NetworkKind::GoogleBusiness, Some(AssetTokens::Shared)),
        (NetworkKind::Instagram, None),
        (NetworkKind::Threads, None),
        (NetworkKind::X, None),
        (NetworkKind::TikTok, None),
        (NetworkKind::Pinterest, None),
        (NetworkKind::Sandbox, None),
    ];
    for (kind, assets) in expected {
        // A preset's profiles stay people until the operator names where assets are listed:
        // a connect on such a network asks the person to choose (docs/rules.md#assets).
        let p = build(kind, &|_| {}).expect("a preset needs only its client");
        assert_eq!(p.assets(), None, "{kind:?} without assets_url");
        if assets.is_some() {
            let p = build(kind, &|s| {
                s.assets_url = Some("https://assets.example.com/list".to_owned());
                s.asset_details_url = Some("https://assets.example.com/details/".to_owned());
            })
            .expect("an asset preset takes assets_url");
            assert_eq!(p.assets(), assets, "{kind:?}");
        }
    }
    let gbp = build(NetworkKind::GoogleBusiness, &|_| {}).unwrap();
    let scope = super::query(&gbp.authorization_url("s", "c"))["scope"].clone();
    assert!(
        scope.contains("https://www.googleapis.com/auth/business.manage"),
        "{scope}"
    );

    let e = build(NetworkKind::X, &|s| {
        s.assets_url = Some("https://api.x.com/2/pages".into());
    })
    .unwrap_err();
    assert!(e.message.contains("do not apply"), "{e}");
    let e = build(NetworkKind::Facebook, &|s| {
        s.introspection_url = Some("http://graph.example.com/debug_token".into());
    })
    .unwrap_err();
    assert!(
        e.message.contains("introspection_url must use https"),
        "{e}"
    );
    let sandbox_pages = build(NetworkKind::Sandbox, &|s| {
        s.assets_url = Some("https://tokens.example.com/sandbox/me/accounts".into());
    })
    .unwrap();
    assert_eq!(sandbox_pages.assets(), Some(AssetTokens::Derived));
}

/// The sandbox as a network of Pages: `assets_url` names its Graph-shaped `/me/accounts`.
fn sandbox_pages() -> Sandbox {
    let state = actix_web::web::Data::new(SandboxState::new(SandboxOptions::default()));
    let s = state.clone();
    let base = super::start(move |cfg| {
        cfg.service(sandbox::scope(s.clone()));
    });
    // The callbacks the sandbox registers for its public URL include `sandbox_pages`'s.
    for uri in SandboxOptions::for_public_url(&base).redirect_uris {
        state.register_redirect_uri(&uri);
    }
    let mut reg = ProviderRegistry::default();
    reg.add_sandbox(&base, &HttpSettings::default()).unwrap();
    reg.add_sandbox_pages(&base, &HttpSettings::default())
        .expect("sandbox with Pages");
    assert!(
        reg.add_sandbox_pages(&base, &HttpSettings::default())
            .is_err()
    );
    assert_eq!(reg.get("sandbox").unwrap().assets(), None);
    let browser = crate::client::Client::new(
        no_redirect_client(),
        base.as_str().trim_end_matches('/').to_string(),
    );
    Sandbox {
        base,
        state,
        provider: reg.get(SANDBOX_PAGES_NETWORK).expect("provider"),
        browser,
    }
}

fn page_tokens(pages: &[ManagedAsset]) -> Vec<String> {
    pages
        .iter()
        .map(|p| {
            p.token
                .as_ref()
                .expect("a Page token")
                .expose_secret()
                .to_owned()
        })
        .collect()
}

#[actix_web::test]
async fn the_sandbox_lists_the_pages_a_person_manages_with_tokens_per_grant() {
    let sbx = sandbox_pages();
    let p = sbx.provider.as_ref();
    let grant = sbx.connect("sandbox-alice").await;

    let pages = p.list_assets(&grant.access_token).await.expect("listing");

    assert_eq!(p.assets(), Some(AssetTokens::Derived));
    assert_eq!(
        names(&pages),
        ["Alice's Bakery", "Alice's Books", "Alice's Bikes"]
    );
    assert_eq!(sbx.state.calls().accounts, 1);
    let first = page_tokens(&pages);
    assert!(first.iter().all(|t| sbx.state.page_token_live(t)));

    // Shaped as Graph's: `limit`, cursors, `paging.next` absent on the last page.
    let mut next = Some("/sandbox/me/accounts?limit=1".to_owned());
    let mut seen = Vec::new();
    while let Some(url) = next.take() {
        let page: Value = sbx
            .browser
            .get(&url)
            .bearer(grant.access_token.expose_secret())
            .send()
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(page["data"].as_array().unwrap().len(), 1, "{page}");
        assert!(page["paging"]["cursors"]["after"].is_string(), "{page}");
        seen.push(page["data"][0]["access_token"].as_str().unwrap().to_owned());
        next = page["paging"]["next"].as_str().map(str::to_owned);
    }
    assert_eq!(seen, first, "the same Page tokens, one a page");

    // A refresh keeps the grant, and so its Page tokens.
    let refreshed = p
        .refresh(
            &grant.access_token,
            grant.refresh_token.as_ref(),
            Utc::now(),
        )
        .await
        .expect("refresh");
    let again = p.list_assets(&refreshed.access_token).await.unwrap();
    assert_eq!(page_tokens(&again), first);

    // A re-authorization is a new grant: new Page tokens.
    let second = sbx.connect("sandbox-alice").await;
    let reissued = page_tokens(&p.list_assets(&second.access_token).await.unwrap());
    assert!(reissued.iter().all(|t| !first.contains(t)), "{reissued:?}");

    // A Page the person no longer manages is no longer listed, and its token is dead.
    sbx.state.set_pages(
        "sandbox-alice",
        vec![
            SandboxPage::new("sandbox-page-bakery", "Alice's Bakery"),
            SandboxPage::new("sandbox-page-bikes", "Alice's Bikes"),
        ],
    );
    let now = p.list_assets(&second.access_token).await.unwrap();
    assert_eq!(names(&now), ["Alice's Bakery", "Alice's Bikes"]);
    assert!(!sbx.state.page_token_live(&reissued[1]));

    // The network failing is transient; the grant revoked is a dead grant.
    sbx.state
        .queue_failure(Endpoint::Accounts, FailureMode::Status { status: 503 }, 1);
    assert_transient(
        &p.list_assets(&second.access_token).await.unwrap_err(),
        TransientKind::Unavailable(503),
    );
    sbx.state.revoke_grants("sandbox-alice");
    assert_reauth(
        &p.list_assets(&second.access_token).await.unwrap_err(),
        "meta_190",
    );
    assert!(!sbx.state.page_token_live(&reissued[0]));

    // Bob manages no Page.
    let bob = sbx.connect("sandbox-bob").await;
    assert!(p.list_assets(&bob.access_token).await.unwrap().is_empty());
}

#[actix_web::test]
async fn a_next_page_gets_the_persons_token_and_a_redirect_is_never_followed() {
    let fake = Fake::default();
    let base = fake.start();
    let fb = preset_at(
        NetworkKind::Facebook,
        &base,
        &HttpSettings::default(),
        |s| {
            s.assets_url = Some(
                base.join("/me/accounts?fields=id,name,access_token")
                    .unwrap()
                    .to_string(),
            );
        },
    );
    let next = base
        .join("/me/accounts?fields=id,name,access_token&after=c1&access_token=EAA-someone-else")
        .unwrap();
    fake.on(
        "/me/accounts",
        200,
        json!({"data": [{"id": "1", "name": "One", "access_token": "EAAP1"}],
               "paging": {"cursors": {"before": "c0", "after": "c1"}, "next": next.as_str()}}),
    )
    .on(
        "/me/accounts",
        200,
        json!({"data": [{"id": 2, "name": "Two", "access_token": "EAAP2"}],
               "paging": {"cursors": {"before": "c1", "after": "c2"}}}),
    );

    let pages = fb
        .list_assets(&secret("EAA-person"))
        .await
        .expect("listing");

    assert_eq!(names(&pages), ["One", "Two"]);
    assert_eq!(pages[1].external_id, "2", "a numeric id is read as text");
    let seen = fake.seen_on("/me/accounts");
    assert_eq!(seen[1].query["after"], "c1");
    assert!(
        seen.iter().all(|s| s.query["access_token"] == "EAA-person"),
        "{seen:?}"
    );

    let target = Fake::default();
    let target_url = target.start();
    let to = target_url.join("/me/accounts").unwrap().to_string();
    fake.on_raw("/me/accounts", 302, &[("location", to.as_str())], "");
    let e = fb.list_assets(&secret("EAA-person")).await.unwrap_err();
    assert_eq!(rejected_code(&e), "redirect", "{e:?}");
    assert!(target.seen().is_empty(), "the redirect target was called");
}
