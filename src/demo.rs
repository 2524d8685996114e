//! `tokenwarden demo`: a running instance on SQLite in a temporary folder,
//! with the sandbox network, two seeded organizations, and a printed guide
//! whose every line works as printed.
//!
//! Seeding goes through the API and the sandbox over real HTTP, as a front
//! end would: accounts are connected with the OAuth flow, a grant is revoked
//! at the network and found dead by a real renewal attempt. Only "time
//! passing" is simulated, by moving stored expiries into the past.

use crate::domain::ids::{AccountId, OrganizationId};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::{Value, json};

use crate::auth::TokenMinter;
use crate::db::{self, Pool};
use crate::domain::{now, to_db_time};
use crate::sandbox::{SandboxIdentity, SandboxState};

pub mod frontend;

pub const DEMO_SCOPES: &str =
    "accounts:read accounts:write accounts:import tokens:renew tokens:read org:admin";

/// What the guide refers to.
pub struct SeededAccount {
    pub brand_id: String,
    pub brand_name: String,
    pub account_id: String,
    pub handle: String,
    pub subject: String,
}

pub struct Seeded {
    pub advanced_org: String,
    pub starter_org: String,
    /// Advanced: an expired profile in two brands, each on its own grant.
    pub silent: SeededAccount,
    pub silent_other_brand: String,
    /// Advanced: a grant revoked at the network.
    pub reauth: SeededAccount,
    /// Starter: an expired profile in two brands.
    pub starter_silent: SeededAccount,
    pub starter_other_brand: String,
}

struct Client<'a> {
    http: reqwest::Client,
    base: &'a str,
    minter: &'a TokenMinter,
}

impl Client<'_> {
    fn token(&self, org: &str) -> String {
        self.minter.mint(
            org,
            "demo-user",
            DEMO_SCOPES,
            Duration::from_secs(24 * 3600),
        )
    }

    async fn send(&self, request: reqwest::RequestBuilder, what: &str) -> anyhow::Result<Value> {
        let response = request.send().await.with_context(|| what.to_string())?;
        let status = response.status();
        let body: Value = response.json().await.with_context(|| what.to_string())?;
        if !status.is_success() {
            bail!("{what}: {status} {body}");
        }
        Ok(body)
    }

    async fn create_org(&self, name: &str, plan: &str) -> anyhow::Result<String> {
        let admin = self.minter.mint(
            "platform",
            "demo-billing",
            "platform:admin",
            Duration::from_secs(600),
        );
        let body = self
            .send(
                self.http
                    .post(format!("{}/v1/organizations", self.base))
                    .bearer_auth(admin)
                    .json(&json!({ "name": name, "plan": plan })),
                "creating an organization",
            )
            .await?;
        Ok(body["id"].as_str().unwrap_or_default().to_string())
    }

    async fn set_plan(&self, org: &str, plan: &str) -> anyhow::Result<()> {
        let admin = self.minter.mint(
            "platform",
            "demo-billing",
            "platform:admin",
            Duration::from_secs(600),
        );
        self.send(
            self.http
                .patch(format!("{}/v1/organizations/{org}", self.base))
                .bearer_auth(admin)
                .json(&json!({ "plan": plan })),
            "changing a plan",
        )
        .await?;
        Ok(())
    }

    async fn brand(&self, org: &str, name: &str) -> anyhow::Result<String> {
        let body = self
            .send(
                self.http
                    .post(format!("{}/v1/brands", self.base))
                    .bearer_auth(self.token(org))
                    .json(&json!({ "name": name })),
                "creating a brand",
            )
            .await?;
        Ok(body["id"].as_str().unwrap_or_default().to_string())
    }

    /// The whole OAuth round trip against the sandbox, as a browser would do it.
    async fn connect(&self, org: &str, brand: &str, subject: &str) -> anyhow::Result<String> {
        let start = self
            .send(
                self.http
                    .post(format!("{}/v1/brands/{brand}/accounts/connect", self.base))
                    .bearer_auth(self.token(org))
                    .json(&json!({ "network": "sandbox" })),
                "starting a connection",
            )
            .await?;
        let url = start["authorization_url"].as_str().unwrap_or_default();
        let approved = self
            .http
            .get(format!("{url}&auto_approve={subject}"))
            .send()
            .await
            .context("approving at the sandbox")?;
        let callback = approved
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .context("the sandbox did not redirect")?
            .to_string();
        let done = self
            .send(self.http.get(callback), "finishing the connection")
            .await?;
        Ok(done["account"]["id"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    async fn renew(&self, org: &str, brand: &str, account: &str) -> anyhow::Result<Value> {
        self.send(
            self.http
                .post(format!(
                    "{}/v1/brands/{brand}/accounts/{account}/renew",
                    self.base
                ))
                .bearer_auth(self.token(org)),
            "renewing",
        )
        .await
    }
}

/// Moves an account's stored expiry into the past, as if time had passed.
async fn expire(
    pool: &Pool,
    org: &str,
    account: &str,
    ago: chrono::Duration,
) -> anyhow::Result<()> {
    // The ids come from the API's answers, as text.
    let org = OrganizationId::named(org);
    let account: AccountId = account.parse()?;
    let at = to_db_time(now() - ago);
    let found = db::run(pool, move |conn| {
        let Some((_, _, credential)) = db::accounts::find_account_by_id(conn, &org, account)?
        else {
            return Ok(false);
        };
        db::credentials::update_credential_expiry(
            conn,
            credential.id,
            at,
            at - chrono::Duration::days(60),
        )?;
        Ok(true)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    found.then_some(()).context("an account to expire")
}

/// Seeds both organizations through the running server at `base`.
pub async fn seed(
    base: &str,
    pool: &Pool,
    sandbox: &SandboxState,
    minter: &TokenMinter,
) -> anyhow::Result<Seeded> {
    let client = Client {
        http: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .build()?,
        base,
        minter,
    };
    for (subject, handle, name) in [
        ("sandbox-northwind", "northwindcoffee", "Northwind Coffee"),
        ("sandbox-harbor", "blueharbor", "Blue Harbor Hotels"),
        ("sandbox-copperleaf", "copperleafbooks", "Copperleaf Books"),
        ("sandbox-oldpage", "oldpage", "Old Page (password changed)"),
        ("sandbox-pinestreet", "pinestreet", "Pine Street Studio"),
    ] {
        sandbox.add_identity(SandboxIdentity::new(subject, handle, name));
    }
    let day = Duration::from_secs(24 * 3600);

    // Connected while both are on Starter, so shared profiles get their own
    // grant per brand; the Advanced one is upgraded afterwards.
    let advanced = client.create_org("Acme Agency", "starter").await?;
    let starter = client.create_org("Pine Street Studio", "starter").await?;
    let northwind = client.brand(&advanced, "Northwind Coffee").await?;
    let harbor = client.brand(&advanced, "Blue Harbor Hotels").await?;
    let copperleaf = client.brand(&advanced, "Copperleaf Books").await?;
    let bakery = client.brand(&starter, "Pine Street Bakery").await?;
    let florist = client.brand(&starter, "Pine Street Florist").await?;

    sandbox.set_access_token_lifetime(day * 30);
    client.connect(&advanced, &harbor, "sandbox-harbor").await?; // active
    sandbox.set_access_token_lifetime(day * 2);
    client
        .connect(&advanced, &copperleaf, "sandbox-copperleaf")
        .await?; // expiring
    client
        .connect(&advanced, &northwind, "sandbox-copperleaf")
        .await?; // expiring, second brand
    sandbox.set_access_token_lifetime(day * 30);
    let nw_a = client
        .connect(&advanced, &northwind, "sandbox-northwind")
        .await?;
    let nw_b = client
        .connect(&advanced, &harbor, "sandbox-northwind")
        .await?;
    let old = client
        .connect(&advanced, &copperleaf, "sandbox-oldpage")
        .await?;
    let ps_a = client
        .connect(&starter, &bakery, "sandbox-pinestreet")
        .await?;
    client
        .connect(&starter, &florist, "sandbox-pinestreet")
        .await?;
    // Renewals during the demo get 30-day tokens: `active` once renewed.
    client.set_plan(&advanced, "advanced").await?;

    // Time passes: two profiles' tokens expire (the refresh grants still work).
    let accounts = [&nw_a, &nw_b];
    for (i, account) in accounts.iter().enumerate() {
        expire(
            pool,
            &advanced,
            account,
            chrono::Duration::hours(3 + i64::try_from(i).unwrap_or(0)),
        )
        .await?;
    }
    let (o, sa) = (
        OrganizationId::named(starter.as_str()),
        ps_a.parse::<AccountId>()?,
    );
    let starter_rows = db::run(pool, move |conn| {
        let Some((_, profile, _)) = db::accounts::find_account_by_id(conn, &o, sa)? else {
            return Ok(None);
        };
        db::accounts::list_accounts_of_profile(conn, &o, profile.id).map(Some)
    })
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?
    .context("starter account")?;
    for row in &starter_rows {
        expire(pool, &starter, row.id.as_str(), chrono::Duration::hours(1)).await?;
    }
    // The owner of @oldpage changed their password: the network refuses the
    // grant, and a renewal attempt finds out.
    sandbox.revoke_grants("sandbox-oldpage");
    let outcome = client.renew(&advanced, &copperleaf, &old).await?;
    if outcome["outcome"] != "authorization_required" {
        bail!("seeding: expected the revoked grant to need reauthorization, got {outcome}");
    }
    sandbox.reset_calls();

    Ok(Seeded {
        advanced_org: advanced,
        starter_org: starter,
        silent: SeededAccount {
            brand_id: northwind.clone(),
            brand_name: "Northwind Coffee".into(),
            account_id: nw_a,
            handle: "northwindcoffee".into(),
            subject: "sandbox-northwind".into(),
        },
        silent_other_brand: harbor,
        reauth: SeededAccount {
            brand_id: copperleaf,
            brand_name: "Copperleaf Books".into(),
            account_id: old,
            handle: "oldpage".into(),
            subject: "sandbox-oldpage".into(),
        },
        starter_silent: SeededAccount {
            brand_id: bakery,
            brand_name: "Pine Street Bakery".into(),
            account_id: ps_a,
            handle: "pinestreet".into(),
            subject: "sandbox-pinestreet".into(),
        },
        starter_other_brand: florist,
    })
}

/// The front end's address for the Advanced organization. The API's URL
/// and the token ride in the fragment: browsers never send it to a server,
/// so the token stays out of access logs and `Referer` headers.
fn frontend_url(frontend_origin: &str, base: &str, token: &str) -> String {
    let fragment = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("api", base)
        .append_pair("token", token)
        .finish();
    format!("{frontend_origin}/#{fragment}")
}

/// The guide printed after seeding.
pub fn guide(
    base: &str,
    frontend_origin: &str,
    seeded: &Seeded,
    minter: &TokenMinter,
    dir: &Path,
) -> String {
    let day = Duration::from_secs(24 * 3600);
    let adv = minter.mint(&seeded.advanced_org, "demo-user", DEMO_SCOPES, day);
    let frontend = frontend_url(frontend_origin, base, &adv);
    let start = minter.mint(&seeded.starter_org, "demo-user", DEMO_SCOPES, day);
    let s = &seeded.silent;
    let r = &seeded.reauth;
    let p = &seeded.starter_silent;
    let auth = |var: &str| format!("-H \"Authorization: Bearer ${var}\"");
    let a = auth("ADV");
    let st = auth("START");
    format!(
        r#"tokenwarden demo — serving {base}
Data: {dir} (SQLite; deleted when you stop the demo with Ctrl-C)
API document: {base}/docs (Swagger UI) and {base}/openapi.json
Front end: {frontend}
  (Acme Agency's Expired Tokens badge and dropdown, Renew, Manage Accounts; served from another
  origin, {frontend_origin}, so your browser calls the API cross-origin through CORS)

Two organizations were seeded over the real OAuth flow against the built-in sandbox network:
  Acme Agency (Advanced): Northwind Coffee, Blue Harbor Hotels, Copperleaf Books
    @{sh} is in Northwind Coffee and Blue Harbor Hotels: expired in both (separate grants)
    @copperleafbooks is in Copperleaf Books and Northwind Coffee: expiring
    @blueharbor is active; @{rh} was revoked at the network: reauthorization required
  Pine Street Studio (Starter): Pine Street Bakery, Pine Street Florist
    @{ph} is in both brands: expired in both

Paste these into a shell (tokens valid 24 hours):

export ADV='{adv}'
export START='{start}'

# 1. The "Expired Tokens" dropdown and its badge (add ?include=expiring for tokens about to expire):
curl -s {base}/v1/expired-tokens {a}
curl -s {base}/v1/expired-tokens/summary {a}
curl -s '{base}/v1/expired-tokens?include=expiring' {a}

# 2. Renew @{sh} in {sb}: renewed at once with the refresh grant, and on the Advanced
#    plan the fresh grant reaches Blue Harbor Hotels too (see "propagation"):
curl -s -X POST {base}/v1/brands/{sbid}/accounts/{said}/renew {a}
curl -s {base}/v1/expired-tokens/summary {a}

# 3. Renew @{rh} in {rb}: the grant is dead, so the answer carries an authorization URL.
AUTH=$(curl -s -X POST {base}/v1/brands/{rbid}/accounts/{raid}/renew {a} | sed -E 's/.*"authorization_url":"([^"]+)".*/\1/')
echo "$AUTH"   # open it in a browser and approve as "{rh}", or approve with curl:
CALLBACK=$(curl -s -o /dev/null -w '%{{redirect_url}}' "$AUTH&auto_approve={rs}")
curl -s "$CALLBACK"

# 4. The same as 2 on the Starter plan: only the one brand is renewed; Pine Street Florist is
#    named under "propagation.left" with reason "plan".
curl -s -X POST {base}/v1/brands/{pbid}/accounts/{paid}/renew {st}
curl -s {base}/v1/expired-tokens {st}

# 5. Manage Accounts, profiles, the audit trail, the organization and its plan:
curl -s {base}/v1/brands/{sbid}/accounts {a}
curl -s {base}/v1/profiles {a}
curl -s {base}/v1/brands/{sbid}/accounts/{said}/events {a}
curl -s {base}/v1/organization {st}
"#,
        dir = dir.display(),
        sh = s.handle,
        rh = r.handle,
        rs = r.subject,
        ph = p.handle,
        sb = s.brand_name,
        sbid = s.brand_id,
        said = s.account_id,
        rb = r.brand_name,
        rbid = r.brand_id,
        raid = r.account_id,
        pbid = p.brand_id,
        paid = p.account_id,
    )
}
