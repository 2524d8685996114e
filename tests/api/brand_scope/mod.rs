//! Tokens restricted to some brands (the JWT's `brands` claim): another
//! brand's ids answer exactly as another organization's do, lists and counts
//! show only the token's brands, a renewal's answer counts the other brands
//! it reached without naming them, and kept answers and their tags are never
//! shared between audiences. `sweep.rs` runs every operation of the OpenAPI
//! document with such a token.

mod sweep;

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{ALL_SCOPES, TestApp, assert_problem};
use crate::on_both_backends;

const A_NAME: &str = "Harbor Coffee Co";
const B_NAME: &str = "Blue Harbor Hotels";

/// An agency with two clients: brand A and brand B share the profile of
/// `sandbox-alice`; `sandbox-bob` is connected in B only.
pub struct Agency {
    pub a: String,
    pub b: String,
    pub a_alice: String,
    pub b_alice: String,
    pub b_bob: String,
    pub bob_profile: String,
}

impl Agency {
    pub async fn arrange(app: &TestApp) -> Self {
        let a = app.new_brand(A_NAME).await;
        let b = app.new_brand(B_NAME).await;
        let a_alice = app.connect_sandbox(&a, "sandbox-alice").await;
        let b_alice = app.connect_sandbox(&b, "sandbox-alice").await;
        let b_bob = app.connect_sandbox(&b, "sandbox-bob").await;
        let id =
            |v: &Value, pointer: &str| v.pointer(pointer).unwrap().as_str().unwrap().to_string();
        Self {
            a_alice: id(&a_alice, "/account/id"),
            b_alice: id(&b_alice, "/account/id"),
            b_bob: id(&b_bob, "/account/id"),
            bob_profile: id(&b_bob, "/account/profile/id"),
            a,
            b,
        }
    }

    /// Everything that names brand B or what only B holds.
    pub fn of_b(&self) -> Vec<&str> {
        vec![
            &self.b,
            &self.b_alice,
            &self.b_bob,
            &self.bob_profile,
            B_NAME,
            "Bob Sandbox",
        ]
    }
}

/// A token of the test organization with every scope, restricted to `brands`.
pub fn restricted(app: &TestApp, brands: &[&str]) -> String {
    let brands: Vec<String> = brands.iter().map(|b| b.to_string()).collect();
    app.minter.mint_for_brands(
        &app.org_id,
        "client-a",
        &format!("{ALL_SCOPES} platform:admin"),
        Some(&brands),
        Duration::from_secs(3600),
    )
}

/// Fails naming the first of `secrets` that `text` contains.
pub fn assert_names_none(text: &str, secrets: &[&str], what: &str) {
    for secret in secrets {
        assert!(!text.contains(secret), "{what} names {secret:?}: {text}");
    }
}

async fn json_of(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The dropdown, the badge, profiles, a renewal, a bulk renewal and an
/// authorization's callback answer a token of brand A with nothing of B,
/// while the renewal still propagates to B by the plan.
/// The body of `GET path` as `token`, as text.
async fn text_as(app: &TestApp, path: impl AsRef<str>, token: &str) -> String {
    app.get(path)
        .bearer(token)
        .send()
        .await
        .text()
        .await
        .unwrap()
}

async fn restricted_answers_name_nothing_of_other_brands(app: TestApp) {
    // Arrange: every token of the organization expired; a token of A.
    let agency = Agency::arrange(&app).await;
    app.advance(chrono::Duration::days(120));
    let mine = restricted(&app, &[&agency.a]);
    let secrets = agency.of_b();

    // Act: the dropdown (also asked for B), the badge, profiles.
    let dropdown = text_as(&app, "/v1/expired-tokens", &mine).await;
    let asked_for_b = app
        .get(format!("/v1/expired-tokens?brand_id={}", agency.b))
        .bearer(&mine)
        .send()
        .await;
    let badge = text_as(&app, "/v1/expired-tokens/summary", &mine).await;
    let profiles = text_as(&app, "/v1/profiles", &mine).await;

    // Assert: A's expired account only, counted once.
    assert_names_none(&dropdown, &secrets, "the dropdown");
    let dropdown: Value = serde_json::from_str(&dropdown).unwrap();
    assert_eq!(dropdown["data"].as_array().unwrap().len(), 1, "{dropdown}");
    assert_eq!(dropdown["data"][0]["account_id"], agency.a_alice.as_str());
    let (status, asked_for_b) = json_of(asked_for_b).await;
    assert_eq!((status, &asked_for_b["data"]), (200, &json!([])));
    assert_names_none(&badge, &secrets, "the badge");
    let badge: Value = serde_json::from_str(&badge).unwrap();
    assert_eq!(badge["total"], 1, "{badge}");
    assert_eq!(badge["by_brand"][0]["brand_name"], A_NAME);
    assert_names_none(&profiles, &secrets, "profiles");
    let profiles: Value = serde_json::from_str(&profiles).unwrap();
    assert_eq!(profiles["data"].as_array().unwrap().len(), 1, "{profiles}");
    assert_eq!(profiles["data"][0]["brands"].as_array().unwrap().len(), 1);

    // Act: renew A's account (a refresh; on Advanced it reaches B's account).
    let renewed = app
        .post(format!(
            "/v1/brands/{}/accounts/{}/renew",
            agency.a, agency.a_alice
        ))
        .bearer(&mine)
        .send()
        .await
        .text()
        .await
        .unwrap();

    // Assert: B counted, not named; B's account renewed all the same, its
    // audit event naming A as before.
    assert_names_none(&renewed, &secrets, "the renewal");
    let renewed: Value = serde_json::from_str(&renewed).unwrap();
    assert_eq!(renewed["outcome"], "renewed", "{renewed}");
    assert_eq!(renewed["propagation"]["renewed"], json!([]));
    assert_eq!(renewed["propagation"]["renewed_elsewhere"], 1);
    assert_eq!(renewed["propagation"]["left_elsewhere"], 0);
    let admin = app.admin_token();
    let b_alice = format!("/v1/brands/{}/accounts/{}", agency.b, agency.b_alice);
    let (_, b_alice_now) = json_of(app.get(&b_alice).bearer(&admin).send().await).await;
    assert_eq!(b_alice_now["expires_at"], renewed["account"]["expires_at"]);
    assert_ne!(b_alice_now["token_status"], "expired", "{b_alice_now}");
    let (_, events) = json_of(
        app.get(format!("{b_alice}/events"))
            .bearer(&admin)
            .send()
            .await,
    )
    .await;
    assert_eq!(events["data"][0]["action"], "account.renewed", "{events}");

    // Act: bulk renewal of B's accounts with A's token.
    let response = app
        .post("/v1/expired-tokens/renew")
        .bearer(&mine)
        .json(&json!({ "account_ids": [agency.b_bob, agency.b_alice] }))
        .send()
        .await;
    let (status, bulk) = json_of(response).await;

    // Assert: each not found, nothing renewed, B's brand not named.
    assert_eq!((status, &bulk["renewed"]), (200, &json!(0)), "{bulk}");
    for result in bulk["results"].as_array().unwrap() {
        assert_eq!(result["brand_id"], Value::Null, "{result}");
        assert_eq!(result["error"]["status"], 404, "{result}");
    }
    let (_, b_bob_now) = json_of(
        app.get(format!("/v1/brands/{}/accounts/{}", agency.b, agency.b_bob))
            .bearer(&admin)
            .send()
            .await,
    )
    .await;
    assert_eq!(
        b_bob_now["token_status"], "expired",
        "B's account untouched"
    );

    // Act: A's token reconnects alice in A; the callback answers its browser.
    let url = app.start_connect(&mine, &agency.a, "sandbox", None).await;
    let callback = app.approve_at_sandbox(&url, "sandbox-alice").await;
    let response = app.get(callback).send().await;
    let text = response.text().await.unwrap();

    // Assert: the answer counts B and names nothing of it.
    assert_names_none(&text, &secrets, "the callback");
    let done: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(done["status"], "reconnected", "{done}");
    assert_eq!(done["propagation"]["renewed_elsewhere"], 1, "{done}");

    // Act: B's audit trail, read by the whole organization and by B alone.
    let events = format!("{b_alice}/events");
    let (_, as_stored) = json_of(app.get(&events).bearer(&admin).send().await).await;
    let (_, for_b) = json_of(
        app.get(&events)
            .bearer(restricted(&app, &[&agency.b]))
            .send()
            .await,
    )
    .await;

    // Assert: the event propagated from A names A as stored; B's own token
    // learns only that it came from elsewhere.
    let propagated = |page: &Value| page["data"][0]["detail"].clone();
    assert_eq!(
        propagated(&as_stored)["propagated_from_brand"],
        agency.a.as_str()
    );
    assert_eq!(
        propagated(&as_stored)["propagated_from_account"],
        agency.a_alice.as_str()
    );
    assert_eq!(
        propagated(&for_b)["propagated_from_elsewhere"],
        true,
        "{for_b}"
    );
    assert_names_none(
        &for_b.to_string(),
        &[&agency.a, &agency.a_alice, A_NAME],
        "B's audit trail",
    );
}

/// Two tokens with different `brands` never share a kept answer or an
/// `ETag`, even when their answers' bytes are equal; a kept answer of the
/// whole organization is never given to a restricted token.
async fn audiences_never_share_a_kept_answer_or_a_tag(app: TestApp) {
    // Arrange: A and C have nothing expired, B does.
    let agency = Agency::arrange(&app).await;
    let c = app.new_brand("Cedar Dental").await;
    app.advance(chrono::Duration::days(120));
    let renewed = app
        .post(format!(
            "/v1/brands/{}/accounts/{}/renew",
            agency.a, agency.a_alice
        ))
        .bearer(app.admin_token())
        .send()
        .await;
    assert_eq!(renewed.status(), 200);
    let (whole, only_a, only_c, a_and_c) = (
        app.admin_token(),
        restricted(&app, &[&agency.a]),
        restricted(&app, &[&c]),
        restricted(&app, &[&agency.a, &c]),
    );

    for path in ["/v1/expired-tokens", "/v1/expired-tokens/summary"] {
        // Act: the whole organization first, so its answer is kept.
        let mut tags = Vec::new();
        let mut bodies = Vec::new();
        for token in [&whole, &only_a, &only_c, &a_and_c] {
            let response = app.get(path).bearer(token).send().await;
            assert_eq!(response.status(), 200, "{path}");
            tags.push(response.headers()["etag"].to_str().unwrap().to_string());
            bodies.push(response.text().await.unwrap());
        }
        // And each restricted token presents the tag of another audience.
        let mut revalidated = Vec::new();
        for (token, foreign) in [
            (&only_a, &tags[0]),
            (&only_c, &tags[1]),
            (&a_and_c, &tags[2]),
        ] {
            let response = app
                .get(path)
                .bearer(token)
                .header("if-none-match", foreign)
                .send()
                .await;
            revalidated.push(response.status().as_u16());
        }

        // Assert: B is in the whole organization's answer only; the three
        // restricted answers are byte for byte equal, yet no two tags are.
        assert!(bodies[0].contains(&agency.b), "{path}: {}", bodies[0]);
        for body in &bodies[1..] {
            assert_names_none(body, &agency.of_b(), path);
            assert_eq!(body, &bodies[1], "{path}");
        }
        let distinct: std::collections::HashSet<&String> = tags.iter().collect();
        assert_eq!(distinct.len(), 4, "{path}: {tags:?}");
        assert_eq!(revalidated, [200, 200, 200], "{path}");
        // Its own tag still answers 304.
        let response = app
            .get(path)
            .bearer(&only_a)
            .header("if-none-match", &tags[1])
            .send()
            .await;
        assert_eq!(response.status(), 304, "{path}");
    }
}

/// Answers made for one audience reach no other: the callback of a
/// reconnect link (opened by someone without a login) names no brand but the
/// link's own, and an `Idempotency-Key` used by the whole organization is not
/// replayed to a token of one brand.
async fn links_and_replays_answer_only_their_audience(app: TestApp) {
    // Arrange: a reconnect link for A's account, made by the whole organization.
    let agency = Agency::arrange(&app).await;
    let admin = app.admin_token();
    let account = format!("/v1/brands/{}/accounts/{}", agency.a, agency.a_alice);
    let response = app
        .post(format!("{account}/reconnect-link"))
        .bearer(&admin)
        .send()
        .await;
    assert_eq!(response.status(), 201);
    let link: Value = response.json().await.unwrap();

    // Act: the profile's owner opens it and re-authorizes.
    let opened = app.post(link["url"].as_str().unwrap()).send().await;
    assert_eq!(opened.status(), 303);
    let authorize = opened.headers()["location"].to_str().unwrap().to_string();
    let callback = app.approve_at_sandbox(&authorize, "sandbox-alice").await;
    let text = app.get(callback).send().await.text().await.unwrap();

    // Assert: B reached by propagation, counted, not named.
    assert_names_none(&text, &agency.of_b(), "the reconnect link's callback");
    let done: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(done["status"], "renewed", "{done}");
    assert_eq!(done["propagation"]["renewed_elsewhere"], 1, "{done}");

    // Act: a renewal by the whole organization, then its key from A's token.
    let renew = |token: String| {
        app.post(format!("{account}/renew"))
            .bearer(token)
            .header("Idempotency-Key", "renew-alice-1")
            .send()
    };
    let (status, whole) = json_of(renew(admin.clone()).await).await;
    // The same user (Idempotency-Key records are each user's own), now
    // holding a token restricted to A.
    let same_user_restricted = app.minter.mint_for_brands(
        &app.org_id,
        "user-1",
        ALL_SCOPES,
        Some(std::slice::from_ref(&agency.a)),
        Duration::from_secs(3600),
    );
    let reused = renew(same_user_restricted).await;
    let replayed = renew(admin).await;

    // Assert: the stored answer names B; it goes back to its audience only.
    assert_eq!(status, 200, "{whole}");
    assert_eq!(
        whole["propagation"]["renewed"][0]["brand_id"],
        agency.b.as_str()
    );
    let problem = assert_problem(reused, 422, "idempotency-key-reused").await;
    assert_names_none(&problem.to_string(), &agency.of_b(), "the refusal");
    assert_eq!(replayed.headers()["idempotent-replayed"], "true");
}

/// A `brands` claim that is not a list of brand ids is refused as a bad
/// token; ids that name no brand of the organization reach nothing.
async fn a_malformed_brands_claim_is_401_and_unknown_ids_reach_nothing(app: TestApp) {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let agency = Agency::arrange(&app).await;
    let now = chrono::Utc::now().timestamp();
    let token = |brands: Value| {
        let claims = json!({
            "iss": app.settings.jwt.issuer, "aud": app.settings.jwt.audience,
            "sub": "client-a", "org": app.org_id, "scope": ALL_SCOPES,
            "exp": now + 600, "brands": brands,
        });
        encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(crate::helpers::HS256_SECRET.as_bytes()),
        )
        .unwrap()
    };
    let too_many: Vec<String> = (0..501).map(|_| uuid::Uuid::new_v4().to_string()).collect();

    for (case, brands) in [
        ("a string", json!(agency.a)),
        ("null", Value::Null),
        ("an empty list", json!([])),
        ("numbers", json!([1, 2])),
        ("not ids", json!(["brand-a"])),
        ("an object", json!({ "id": agency.a })),
        ("a list with null", json!([agency.a, null])),
        ("too many", json!(too_many)),
    ] {
        crate::auth::assert_unauthorized(&app, &token(brands), case).await;
    }

    // An id of no brand (deleted, or another organization's) reaches nothing;
    // an upper-case id is the same brand.
    let other_org = app.create_org("Elsewhere", "advanced").await;
    let theirs = app
        .post("/v1/brands")
        .bearer(app.token(&other_org, ALL_SCOPES))
        .json(&json!({ "name": "Theirs" }))
        .send()
        .await;
    let theirs: Value = theirs.json().await.unwrap();
    let foreign = token(json!([theirs["id"], uuid::Uuid::new_v4().to_string()]));
    for path in ["/v1/brands", "/v1/profiles", "/v1/expired-tokens"] {
        let (status, page) = json_of(app.get(path).bearer(&foreign).send().await).await;
        assert_eq!((status, &page["data"]), (200, &json!([])), "{path}");
    }
    let upper = token(json!([agency.a.to_uppercase()]));
    let (_, brands) = json_of(app.get("/v1/brands").bearer(&upper).send().await).await;
    assert_eq!(brands["data"][0]["id"], agency.a.as_str(), "{brands}");
    assert_eq!(brands["data"].as_array().unwrap().len(), 1);
}

/// `token mint --brands` signs a token the server reads as restricted.
#[test]
fn token_mint_takes_brands() {
    use tokenwarden::auth::JwtVerifier;
    use tokenwarden::config::{Overrides, Settings};
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    let mint = |brands: &str| {
        crate::cli::tokenwarden(dir.path())
            .args([
                "--dev",
                "--data-dir",
                ".",
                "token",
                "mint",
                "--org",
                "org-1",
            ])
            .args([
                "--sub",
                "client",
                "--scope",
                "accounts:read",
                "--brands",
                brands,
            ])
            .output()
            .unwrap()
    };

    let output = mint(&format!("{a},{b}"));
    let refused = mint("not-a-brand-id");

    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!refused.status.success());
    let settings = Settings::load(
        None,
        &Overrides {
            data_dir: Some(dir.path().to_path_buf()),
            dev: true,
            ..Default::default()
        },
    )
    .unwrap();
    let token = String::from_utf8(output.stdout).unwrap();
    let principal = JwtVerifier::from_settings(&settings)
        .unwrap()
        .verify(token.trim())
        .unwrap();
    let audience = principal.audience();
    let brands: Vec<String> = audience
        .brand_ids()
        .unwrap()
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut expected = vec![&a, &b];
    expected.sort();
    assert_eq!(brands.iter().collect::<Vec<_>>(), expected);
}

on_both_backends!(
    restricted_answers_name_nothing_of_other_brands,
    audiences_never_share_a_kept_answer_or_a_tag,
    links_and_replays_answer_only_their_audience,
    a_malformed_brands_claim_is_401_and_unknown_ids_reach_nothing,
);
