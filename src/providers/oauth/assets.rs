//! What a person manages at the network (SPEC 4a): Facebook Pages with their Page tokens,
//! LinkedIn organizations, YouTube channels, Google Business Profile locations. Resource calls,
//! outside OAuth proper: they go straight through `Outbound`, like the identity read.
//!
//! Every listing follows the network's pagination to its end, or fails whole: a caller never
//! sees half of what a person manages as if it were all of it.
//!
//! * Graph `/me/accounts` (Graph API "/user/accounts", "Page Access Tokens", "Pagination"):
//!   `data[]` of Pages, each with its `access_token`, and `paging.next` (an absolute URL, absent
//!   on the last page) followed only to the origin of the configured `assets_url`.
//! * LinkedIn `organizationAcls?q=roleAssignee` (Community Management API, "Organization Access
//!   Control by Role"): `elements[].organization` URNs paginated by `start`/`count` against
//!   `paging.total`; names from the batch organization lookup `organizations?ids=List(…)`
//!   ("Organization Lookup API").
//! * YouTube `channels?mine=true` and Google's `accounts` / `{account}/locations`: `items[]`,
//!   `accounts[]`, `locations[]` with `nextPageToken` sent back as `pageToken`.

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;
use url::Url;

use super::OAuthProvider;
use crate::providers::error::{CallSite, ProviderError, body_error, classify_answer};
use crate::providers::presets::{AssetStyle, TokenPresentation};
use crate::providers::{AssetKind, ManagedAsset, without_nul};

/// A listing longer than this many pages is taken as a network gone round in circles.
const MAX_PAGES: usize = 200;
/// The LinkedIn API version the calls are written against (`LinkedIn-Version`, YYYYMM).
const LINKEDIN_VERSION: &str = "202511";
/// LinkedIn's page size for `organizationAcls`, and the ids of one organization lookup.
const LINKEDIN_PAGE: usize = 50;

/// Text of a JSON member: a string (trimmed, without U+0000) or a number.
fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(without_nul(s).trim().to_owned()).filter(|s| !s.is_empty()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `url` with `key` set to `value` (any earlier value of it dropped).
fn with_param(url: &Url, key: &str, value: &str) -> Url {
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != key)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    let mut u = url.clone();
    u.query_pairs_mut()
        .clear()
        .extend_pairs(kept)
        .append_pair(key, value);
    u
}

static NO_ITEMS: Vec<Value> = Vec::new();

fn malformed(what: &str) -> ProviderError {
    ProviderError::malformed(format!("assets answer: {what}"))
}

/// The items of a page under `key`; a page without that array is no answer.
fn items<'v>(page: &'v Value, key: &str) -> Result<&'v Vec<Value>, ProviderError> {
    match page.get(key) {
        Some(Value::Array(a)) => Ok(a),
        // Google leaves an empty list out of its answer.
        None if key != "data" && key != "elements" => Ok(&NO_ITEMS),
        _ => Err(malformed(&format!("no `{key}` array"))),
    }
}

impl OAuthProvider {
    pub(super) async fn do_list_assets(
        &self,
        token: &SecretString,
    ) -> Result<Vec<ManagedAsset>, ProviderError> {
        let Some(url) = &self.assets_url else {
            return Ok(Vec::new());
        };
        let t = token.expose_secret();
        match self.preset.assets {
            AssetStyle::None => Ok(Vec::new()),
            AssetStyle::GraphAccounts => self.graph_pages(url, t).await,
            AssetStyle::LinkedInOrganizations => self.linkedin_organizations(url, t).await,
            AssetStyle::YouTubeChannels => {
                let pages = self.token_pages("list_assets", url, t).await?;
                youtube_channels(&pages)
            }
            AssetStyle::GoogleLocations => self.google_locations(url, t).await,
        }
    }

    /// One GET of a JSON answer with the token presented the preset's way. A refusal is
    /// classified as any resource call's (Graph's 190 is a dead grant, its 4/17/32/613 a
    /// rate limit, a 5xx or a broken body transient).
    async fn read_json(
        &self,
        op: &'static str,
        url: &Url,
        token: &str,
        linkedin: bool,
    ) -> Result<Value, ProviderError> {
        let mut req = match self.preset.identity_token {
            TokenPresentation::Bearer => self.outbound.client().get(url.clone()).bearer_auth(token),
            TokenPresentation::Query => {
                self.outbound
                    .client()
                    .get(with_param(url, "access_token", token))
            }
        }
        .header(reqwest::header::ACCEPT, "application/json");
        if linkedin {
            req = req
                .header("LinkedIn-Version", LINKEDIN_VERSION)
                .header("X-Restli-Protocol-Version", "2.0.0");
        }
        let a = self.outbound.send(op, req, &[token]).await?;
        let refused = || {
            classify_answer(
                CallSite::Resource,
                self.meta(),
                a.status,
                &a.headers,
                &a.body,
                &[token],
            )
        };
        if !a.status.is_success() {
            return Err(refused());
        }
        let json: Value =
            serde_json::from_slice(&a.body).map_err(|_| malformed("not JSON (truncated?)"))?;
        if body_error(&json).is_some() {
            return Err(refused());
        }
        Ok(json)
    }

    /// Graph's `/me/accounts`, every page: Pages with their tokens.
    async fn graph_pages(
        &self,
        first: &Url,
        token: &str,
    ) -> Result<Vec<ManagedAsset>, ProviderError> {
        let mut assets = Vec::new();
        let mut next = Some(first.clone());
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(malformed(&format!("more than {MAX_PAGES} pages")));
            }
            let page = self.read_json("list_assets", &url, token, false).await?;
            for item in items(&page, "data")? {
                assets.push(graph_page(item)?);
            }
            next = match page.pointer("/paging/next") {
                None | Some(Value::Null) => None,
                Some(Value::String(raw)) => Some(self.next_page(first, &url, raw)?),
                Some(_) => return Err(malformed("`paging.next` is not a URL")),
            };
        }
        Ok(assets)
    }

    /// The URL of Graph's next page, if it stays where the configured `assets_url` is: a
    /// `paging.next` is the network's text, and the person's token goes wherever it points.
    fn next_page(&self, first: &Url, current: &Url, raw: &str) -> Result<Url, ProviderError> {
        let next = Url::parse(raw).map_err(|_| malformed("`paging.next` is not a URL"))?;
        if next.origin() != first.origin() {
            return Err(ProviderError::Rejected {
                status: None,
                code: "unconfigured_url".into(),
                detail: format!(
                    "the network's next page is at {}, not at the configured assets_url's origin; \
                     not followed",
                    next.host_str().unwrap_or("?")
                ),
            });
        }
        // Graph's `next` carries the token it was asked with; the one sent is always ours.
        let strip = |u: &Url| with_param(u, "access_token", "");
        if strip(&next) == strip(current) {
            return Err(malformed("`paging.next` points at the same page"));
        }
        Ok(next)
    }

    /// Every page of a Google listing: `nextPageToken` sent back as `pageToken`.
    async fn token_pages(
        &self,
        op: &'static str,
        first: &Url,
        token: &str,
    ) -> Result<Vec<Value>, ProviderError> {
        let mut pages = Vec::new();
        let mut url = first.clone();
        loop {
            if pages.len() >= MAX_PAGES {
                return Err(malformed(&format!("more than {MAX_PAGES} pages")));
            }
            let page = self.read_json(op, &url, token, false).await?;
            let next = text(page.get("nextPageToken"));
            pages.push(page);
            match next {
                Some(t) => url = with_param(first, "pageToken", &t),
                None => return Ok(pages),
            }
        }
    }

    /// LinkedIn: the organizations the member administers, then their names.
    async fn linkedin_organizations(
        &self,
        first: &Url,
        token: &str,
    ) -> Result<Vec<ManagedAsset>, ProviderError> {
        let mut ids: Vec<String> = Vec::new();
        let mut start = 0usize;
        for _ in 0..MAX_PAGES {
            let url = with_param(
                &with_param(first, "start", &start.to_string()),
                "count",
                &LINKEDIN_PAGE.to_string(),
            );
            let page = self.read_json("list_assets", &url, token, true).await?;
            let elements = items(&page, "elements")?;
            for e in elements {
                let urn = text(
                    e.get("organization")
                        .or_else(|| e.get("organizationTarget")),
                )
                .ok_or_else(|| malformed("an element without `organization`"))?;
                let id = urn
                    .strip_prefix("urn:li:organization:")
                    .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| malformed("an organization that is not an organization URN"))?;
                if !ids.iter().any(|known| known == id) {
                    ids.push(id.to_owned());
                }
            }
            start += elements.len();
            let more = match page.pointer("/paging/total").and_then(Value::as_u64) {
                Some(total) => (start as u64) < total,
                None => elements.len() >= LINKEDIN_PAGE,
            };
            if elements.is_empty() || !more {
                return self.linkedin_names(ids, token).await;
            }
        }
        Err(malformed(&format!("more than {MAX_PAGES} pages")))
    }

    /// The organization lookup's batch get: `ids=List(1,2)` in Rest.li 2.0 syntax, which a
    /// percent-encoded `(` would turn into a string.
    async fn linkedin_names(
        &self,
        ids: Vec<String>,
        token: &str,
    ) -> Result<Vec<ManagedAsset>, ProviderError> {
        let Some(details) = &self.asset_details_url else {
            return Err(malformed("no asset_details_url"));
        };
        let mut assets = Vec::new();
        for chunk in ids.chunks(LINKEDIN_PAGE) {
            let mut url = details.clone();
            let list = format!("ids=List({})", chunk.join(","));
            let query = match details.query() {
                Some(q) if !q.is_empty() => format!("{q}&{list}"),
                _ => list,
            };
            url.set_query(Some(&query));
            let answer = self.read_json("asset_details", &url, token, true).await?;
            for id in chunk {
                let org = answer.pointer(&format!("/results/{id}"));
                let name = org
                    .and_then(|o| text(o.get("localizedName")))
                    .unwrap_or_else(|| id.clone());
                assets.push(ManagedAsset {
                    external_id: id.clone(),
                    kind: AssetKind::Organization,
                    name,
                    handle: org.and_then(|o| text(o.get("vanityName"))),
                    picture_url: None,
                    token: None,
                });
            }
        }
        Ok(assets)
    }

    /// Google Business Profile: every account of the person, then every location of each.
    async fn google_locations(
        &self,
        first: &Url,
        token: &str,
    ) -> Result<Vec<ManagedAsset>, ProviderError> {
        let Some(details) = &self.asset_details_url else {
            return Err(malformed("no asset_details_url"));
        };
        let mut base = details.clone();
        if !base.path().ends_with('/') {
            base.set_path(&format!("{}/", base.path()));
        }
        let mut accounts = Vec::new();
        for page in self.token_pages("list_assets", first, token).await? {
            for a in items(&page, "accounts")? {
                let name =
                    text(a.get("name")).ok_or_else(|| malformed("an account without name"))?;
                // The account's name becomes a path: only Google's own shape of it is used.
                let id = name
                    .strip_prefix("accounts/")
                    .filter(|id| {
                        !id.is_empty()
                            && id
                                .bytes()
                                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                    })
                    .ok_or_else(|| malformed("an account name not of the form accounts/{id}"))?;
                accounts.push(id.to_owned());
            }
        }
        let mut assets = Vec::new();
        for account in accounts {
            let mut url = base
                .join(&format!("accounts/{account}/locations"))
                .map_err(|_| malformed("an account name that makes no URL"))?;
            url.query_pairs_mut()
                .append_pair("readMask", "name,title")
                .append_pair("pageSize", "100");
            for page in self.token_pages("asset_details", &url, token).await? {
                for l in items(&page, "locations")? {
                    let name =
                        text(l.get("name")).ok_or_else(|| malformed("a location without name"))?;
                    let location = name
                        .strip_prefix("locations/")
                        .filter(|id| !id.is_empty() && !id.contains('/'))
                        .ok_or_else(|| {
                            malformed("a location name not of the form locations/{id}")
                        })?;
                    assets.push(ManagedAsset {
                        // What a suite posts to (`accounts/{a}/locations/{l}/localPosts`).
                        external_id: format!("accounts/{account}/locations/{location}"),
                        kind: AssetKind::Location,
                        name: text(l.get("title")).unwrap_or_else(|| name.clone()),
                        handle: None,
                        picture_url: None,
                        token: None,
                    });
                }
            }
        }
        Ok(assets)
    }
}

/// One Page of Graph's `/me/accounts`. A Page without its `access_token` fails the listing:
/// Graph leaves it out when the person has no task on the Page that allows one, or the app
/// lacks the permission for it (Graph API "Page Access Tokens") — asking again answers the
/// same, and nothing about the person's grant is wrong, so it is `Rejected`, never transient
/// and never a dead grant.
fn graph_page(item: &Value) -> Result<ManagedAsset, ProviderError> {
    let id = text(item.get("id")).ok_or_else(|| malformed("a Page without id"))?;
    let Some(token) = text(item.get("access_token")) else {
        return Err(ProviderError::Rejected {
            status: Some(200),
            code: "asset_token_missing".into(),
            detail: format!(
                "Page {id} was listed without its access_token: the person needs a task on it \
                 that allows one, and the app the pages permissions"
            ),
        });
    };
    Ok(ManagedAsset {
        name: text(item.get("name")).unwrap_or_else(|| id.clone()),
        external_id: id,
        kind: AssetKind::Page,
        handle: text(item.get("username")),
        picture_url: text(item.pointer("/picture/data/url")),
        token: Some(SecretString::from(token)),
    })
}

fn youtube_channels(pages: &[Value]) -> Result<Vec<ManagedAsset>, ProviderError> {
    let mut assets = Vec::new();
    for page in pages {
        for c in items(page, "items")? {
            let id = text(c.get("id")).ok_or_else(|| malformed("a channel without id"))?;
            assets.push(ManagedAsset {
                name: text(c.pointer("/snippet/title")).unwrap_or_else(|| id.clone()),
                handle: text(c.pointer("/snippet/customUrl")),
                picture_url: text(c.pointer("/snippet/thumbnails/default/url")),
                external_id: id,
                kind: AssetKind::Channel,
                token: None,
            });
        }
    }
    Ok(assets)
}
