//! A refresh that loses its credential while it is at the network (a disconnect, a reconnect, a
//! propagation of another refresh over it, journal replay after the credential went) never
//! de-authorizes the person: its fresh grant is judged like every other orphan, by what stays
//! stored in every organization. Against the stub of Meta's Graph API, where revoking one token
//! (`DELETE /me/permissions`) ends every token of the person.

use std::collections::BTreeSet;

use diesel::{QueryDsl, RunQueryDsl};
use secrecy::ExposeSecret;
use tokenwarden::db::models::Credential;
use tokenwarden::db::schema::{accounts, credentials};

use super::facebook::Meta;
use super::{assert_every_grant_is_held, brand_in, disconnect, later, renew};
use crate::helpers::{ALL_SCOPES, fail_writebacks};
use crate::on_both_backends;
use crate::renewal::refresh_engine::{Instance, journal_entries};
use crate::renewal::set_plan;

/// A renew sent now and answered later; its status.
fn renew_in_background(
    meta: &Meta,
    token: &str,
    brand: &str,
    account: &str,
) -> tokio::task::JoinHandle<u16> {
    let (client, url, token) = (
        meta.app.client.clone(),
        meta.app
            .url(&format!("/v1/brands/{brand}/accounts/{account}/renew")),
        token.to_string(),
    );
    tokio::spawn(async move {
        client
            .post(url)
            .bearer(token)
            .send()
            .await
            .status()
            .as_u16()
    })
}

/// Whether every stored credential's token still works at Meta.
async fn every_stored_token_works(meta: &Meta) -> bool {
    let rows: Vec<Credential> = tokenwarden::db::run(meta.app.pool(), |conn| {
        Ok(credentials::table
            .select(<Credential as diesel::SelectableHelper<_>>::as_select())
            .load(conn)?)
    })
    .await
    .unwrap();
    rows.iter().all(|row| {
        let (access, _) =
            tokenwarden::db::credentials::open_tokens(&meta.app.parts.state.keys, row).unwrap();
        meta.graph.live(access.expose_secret())
    })
}

/// After the revocations the application started: nobody was de-authorized at Meta, and every
/// stored credential's token still works there.
async fn assert_everyone_still_authorized(meta: &Meta) {
    meta.app.revocations_settled().await;
    assert!(
        meta.graph.deauthorizations().is_empty(),
        "de-authorized: {:?}",
        meta.graph.deauthorizations()
    );
    assert!(every_stored_token_works(meta).await);
}

/// One person connected in two organizations: `mine` in the test's (brand `north`), `theirs`
/// in another (brand `elsewhere`, reached with `other`).
struct TwoOrganizations {
    token: String,
    other: String,
    north: String,
    elsewhere: String,
    mine: String,
    theirs: String,
}

async fn in_two_organizations(meta: &Meta, person: &str) -> TwoOrganizations {
    let app = &meta.app;
    let token = app.admin_token();
    let other_org = app.create_org("Other Agency", "starter").await;
    let other = app.token(&other_org, ALL_SCOPES);
    let north = app.new_brand("North").await;
    let elsewhere = brand_in(app, &other, "Elsewhere").await;
    let mine = meta.connect(&token, &north, person).await;
    let theirs = meta.connect(&other, &elsewhere, person).await;
    TwoOrganizations {
        token,
        other,
        north,
        elsewhere,
        mine,
        theirs,
    }
}

/// The distinct credentials the deployment's accounts use.
async fn account_credentials(app: &crate::helpers::TestApp) -> BTreeSet<Option<String>> {
    tokenwarden::db::run(app.pool(), |conn| {
        Ok(accounts::table
            .select(accounts::credential_id)
            .load::<Option<String>>(conn)?
            .into_iter()
            .collect())
    })
    .await
    .unwrap()
}

on_both_backends!(
    spawn = super::Meta::spawn;
    a_lost_refresh_never_revokes_a_person_still_stored_elsewhere,
    a_reconnect_during_a_refresh_keeps_the_person_authorized,
    the_worker_never_deauthorizes_a_person_it_refreshes_twice_in_one_tick,
    two_brands_renewing_one_person_at_once_never_deauthorize_them,
    a_journaled_grant_whose_credential_went_never_deauthorizes_the_person,
    a_refresh_that_fails_after_its_account_went_leaves_no_credential_behind,
);

async fn a_lost_refresh_never_revokes_a_person_still_stored_elsewhere(meta: Meta) {
    // Arrange: the person connected in two organizations; the first one's renewal is at Meta.
    let app = &meta.app;
    let TwoOrganizations {
        token,
        other,
        north,
        elsewhere,
        mine,
        theirs,
    } = in_two_organizations(&meta, "fb-5").await;
    meta.graph.hold_refreshes(1);
    let renewing = renew_in_background(&meta, &token, &north, &mine);
    meta.graph.until_held(1).await;

    // Act: the account is disconnected while its refresh is at Meta; then Meta answers.
    assert_eq!(disconnect(app, &token, &north, &mine).await, 204);
    assert_eq!(
        app.counts().await,
        (2, 1, 2),
        "the credential whose refresh is at Meta is kept for it"
    );
    meta.graph.release_refreshes(1);
    let renewed = renewing.await.unwrap();

    // Assert: the person stays authorized; the other organization's grant works and renews.
    assert_eq!(renewed, 404, "the account is gone");
    assert_everyone_still_authorized(&meta).await;
    // A profile in each organization; only the other organization's account and grant remain.
    assert_eq!(app.counts().await, (2, 1, 1));
    later(app);
    assert_eq!(renew(app, &other, &elsewhere, &theirs).await, "renewed");
    assert_every_grant_is_held(app).await;
}

async fn a_reconnect_during_a_refresh_keeps_the_person_authorized(meta: Meta) {
    // Arrange: the person's account in one brand; its renewal is at Meta.
    let app = &meta.app;
    let token = app.admin_token();
    let north = app.new_brand("North").await;
    let account = meta.connect(&token, &north, "fb-6").await;
    meta.graph.hold_refreshes(1);
    let renewing = renew_in_background(&meta, &token, &north, &account);
    meta.graph.until_held(1).await;

    // Act: the person re-authorizes the account meanwhile (a fresh grant replaces the one being
    // refreshed); then Meta answers the refresh.
    assert_eq!(meta.connect(&token, &north, "fb-6").await, account);
    meta.graph.release_refreshes(1);
    let renewed = renewing.await.unwrap();

    // Assert: the reconnected grant works, and renews.
    assert_eq!(renewed, 200);
    assert_everyone_still_authorized(&meta).await;
    assert_eq!(app.counts().await, (1, 1, 1));
    later(app);
    assert_eq!(renew(app, &token, &north, &account).await, "renewed");
    assert_every_grant_is_held(app).await;
}

/// An organization that connected the person in two brands on Starter (two grants of one person),
/// then upgraded to Advanced: `first` in brand `one`, `second` in brand `two`.
struct TwoGrants {
    token: String,
    one: String,
    two: String,
    first: String,
    second: String,
}

async fn two_grants_then_upgraded(meta: &Meta, person: &str) -> TwoGrants {
    let app = &meta.app;
    let org = app.create_org("Pine Street", "starter").await;
    let token = app.token(&org, ALL_SCOPES);
    let (one, two) = (
        brand_in(app, &token, "One").await,
        brand_in(app, &token, "Two").await,
    );
    let first = meta.connect(&token, &one, person).await;
    let second = meta.connect(&token, &two, person).await;
    assert_eq!(app.counts().await, (1, 2, 2));
    set_plan(app, &org, "advanced").await;
    TwoGrants {
        token,
        one,
        two,
        first,
        second,
    }
}

/// With two refreshes held at Meta, answers one, waits until its write-back moved the other
/// account onto its grant (the credential whose refresh is still at Meta is kept for it), then
/// answers the other.
async fn answer_one_refresh_then_the_other(meta: &Meta) {
    meta.graph.until_held(2).await;
    meta.graph.release_refreshes(1);
    while account_credentials(&meta.app).await.len() != 1 {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(
        meta.app.counts().await.2,
        2,
        "the credential whose refresh is at Meta is kept for it"
    );
    meta.graph.release_refreshes(1);
}

async fn the_worker_never_deauthorizes_a_person_it_refreshes_twice_in_one_tick(meta: Meta) {
    // Arrange: both grants are due (Meta's long-lived tokens live 60 days, the worker renews 7
    // days ahead).
    let app = &meta.app;
    let TwoGrants {
        token,
        one,
        two,
        first,
        second,
    } = two_grants_then_upgraded(&meta, "fb-2").await;
    app.advance(chrono::Duration::days(54));

    // Act: one tick claims both; both refreshes are at Meta at once, and Meta answers one, whose
    // write-back moves the other account onto its grant, before the other.
    meta.graph.hold_refreshes(2);
    let (state, now) = (app.parts.state.get_ref().clone(), app.now());
    let tick = tokio::spawn(async move { tokenwarden::worker::tick(&state, now).await });
    answer_one_refresh_then_the_other(&meta).await;
    let report = tick.await.unwrap().expect("tick");

    // Assert: nobody was de-authorized; both accounts share one working grant, which renews.
    assert_eq!(report.claimed, 2, "{report:?}");
    assert_everyone_still_authorized(&meta).await;
    assert_eq!(assert_every_grant_is_held(app).await, 1);
    later(app);
    assert_eq!(renew(app, &token, &one, &first).await, "renewed");
    later(app);
    assert_eq!(renew(app, &token, &two, &second).await, "renewed");
}

async fn two_brands_renewing_one_person_at_once_never_deauthorize_them(meta: Meta) {
    // Arrange
    let app = &meta.app;
    let TwoGrants {
        token,
        one,
        two,
        first,
        second,
    } = two_grants_then_upgraded(&meta, "fb-3").await;

    // Act: both brands renew at once; Meta answers one, whose propagation moves the other
    // account onto its grant, before the other.
    meta.graph.hold_refreshes(2);
    let renewing_first = renew_in_background(&meta, &token, &one, &first);
    let renewing_second = renew_in_background(&meta, &token, &two, &second);
    answer_one_refresh_then_the_other(&meta).await;
    let answers = (
        renewing_first.await.unwrap(),
        renewing_second.await.unwrap(),
    );

    // Assert: both renewed; nobody was de-authorized; both accounts share one working grant.
    assert_eq!(answers, (200, 200));
    assert_everyone_still_authorized(&meta).await;
    assert_eq!(assert_every_grant_is_held(app).await, 1);
    later(app);
    assert_eq!(renew(app, &token, &two, &second).await, "renewed");
}

async fn a_journaled_grant_whose_credential_went_never_deauthorizes_the_person(meta: Meta) {
    // Arrange: the person in two organizations. The first one's refresh was answered by Meta but
    // could not be stored (the database refused every write), so the fresh token waits in the
    // grant journal; then that account was disconnected.
    let app = &meta.app;
    let TwoOrganizations {
        token,
        other,
        north,
        elsewhere,
        mine,
        theirs,
    } = in_two_organizations(&meta, "fb-8").await;
    fail_writebacks(app, true).await;
    let response = app
        .post(format!("/v1/brands/{north}/accounts/{mine}/renew"))
        .bearer(&token)
        .send()
        .await;
    assert_eq!(response.status(), 503);
    assert_eq!(journal_entries(app.dir.path()), 1);
    fail_writebacks(app, false).await;
    assert_eq!(disconnect(app, &token, &north, &mine).await, 204);
    assert_everyone_still_authorized(&meta).await;

    // Act: the process restarts and replays its journal.
    let restarted = Instance::start(app, |_| {}).await;
    restarted.parts.state.revocations.settled().await;

    // Assert: the journal is settled and the person stays authorized elsewhere.
    assert_eq!(journal_entries(app.dir.path()), 0);
    assert_everyone_still_authorized(&meta).await;
    later(app);
    assert_eq!(renew(app, &other, &elsewhere, &theirs).await, "renewed");
    assert_every_grant_is_held(app).await;
}

async fn a_refresh_that_fails_after_its_account_went_leaves_no_credential_behind(meta: Meta) {
    // Arrange: the person's only account; its renewal is at Meta, which will fail it.
    let app = &meta.app;
    let token = app.admin_token();
    let north = app.new_brand("North").await;
    let account = meta.connect(&token, &north, "fb-4").await;
    meta.graph.hold_refreshes(1);
    meta.graph.fail_held_refreshes();
    let renewing = renew_in_background(&meta, &token, &north, &account);
    meta.graph.until_held(1).await;

    // Act: disconnected meanwhile (the credential is kept for its refresh); then Meta fails it.
    assert_eq!(disconnect(app, &token, &north, &account).await, 204);
    assert_eq!(app.counts().await, (1, 0, 1));
    meta.graph.release_refreshes(1);
    let renewed = renewing.await.unwrap();

    // Assert: the end of the refresh removed the credential; nothing holds the person any more,
    // so the app lets go of them at Meta, as a disconnect of the last grant does.
    assert_eq!(renewed, 502, "Meta's transient error");
    assert_eq!(app.counts().await, (1, 0, 0));
    app.revocations_settled().await;
    assert_eq!(meta.graph.deauthorizations(), ["fb-4"]);
}
