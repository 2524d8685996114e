//! The "Expired Tokens" dropdown and its badge: the accounts across the
//! brands the caller reaches that need renewal, newest expiry first, and their
//! counts by brand and network. Statuses are worked out against the clock in
//! the query itself (`db::accounts::status_is`), so the listing stays an
//! index scan.

use crate::domain::ids::BrandId;
use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, NaiveDateTime, Utc};

use super::accounts::{AccountView, StatusContext};
use super::ready::{Fresh, read_fresh};
use crate::db::accounts::AccountFilter;
use crate::db::{self};
use crate::domain::audience::Audience;
use crate::domain::token_status::TokenStatus;
use crate::domain::{from_db_time, to_db_time};
use crate::error::Result;
use crate::state::AppState;

/// Which accounts the dropdown shows.
#[derive(Debug, Clone, Default)]
pub struct ExpiredFilter {
    pub brand_id: Option<BrandId>,
    pub network: Option<String>,
    /// Also list `expiring` tokens.
    pub include_expiring: bool,
}

impl ExpiredFilter {
    fn at(
        &self,
        audience: &Audience,
        at: DateTime<Utc>,
        window: chrono::Duration,
    ) -> AccountFilter {
        let mut statuses = vec![TokenStatus::Expired, TokenStatus::ReauthRequired];
        if self.include_expiring {
            statuses.push(TokenStatus::Expiring);
        }
        AccountFilter {
            brand_id: self.brand_id,
            brands: audience
                .brand_ids()
                .map(|brands| brands.iter().cloned().collect()),
            network: self.network.clone(),
            statuses,
            now: Some(to_db_time(at)),
            window_end: Some(to_db_time(at + window)),
        }
    }
}

/// One line of the dropdown.
#[derive(Debug)]
pub struct ExpiredItem {
    pub account: AccountView,
    pub brand_name: String,
    /// Since when it needs renewal.
    pub since: DateTime<Utc>,
}

/// A position in the dropdown: the expiry and account id of the last item.
pub type ExpiryCursor = (NaiveDateTime, String);

/// A page of the dropdown and the position after it.
pub async fn list(
    state: &AppState,
    audience: &Audience,
    filter: ExpiredFilter,
    limit: u32,
    after: Option<ExpiryCursor>,
) -> Result<Fresh<(Vec<ExpiredItem>, Option<ExpiryCursor>)>> {
    let (audience, providers, at) = (audience.clone(), state.providers.clone(), state.now());
    let o = audience.organization_id().clone();
    db::run(&state.pool, move |conn| {
        read_fresh(conn, &o, at, |conn, organization| {
            let ctx = StatusContext::for_organization(organization, &providers, at);
            let filter = filter.at(&audience, at, ctx.window);
            let mut rows =
                db::accounts::list_by_expiry(conn, &o, &filter, after, i64::from(limit) + 1)?;
            let next = if rows.len() > limit as usize {
                rows.truncate(limit as usize);
                rows.last()
                    .and_then(|(a, _, c)| c.expires_at.map(|e| (e, a.id.to_string())))
            } else {
                None
            };
            let brands: Vec<BrandId> = rows.iter().map(|(a, _, _)| a.brand_id).collect();
            let names = db::brands::brand_names(conn, &o, &brands)?;
            let items = rows
                .into_iter()
                .map(|row| {
                    let view = ctx.view(row)?;
                    let changed = from_db_time(view.credential.status_changed_at);
                    let since = match view.status {
                        TokenStatus::ReauthRequired => changed,
                        _ => view
                            .credential
                            .expires_at
                            .map(from_db_time)
                            .unwrap_or(changed),
                    };
                    Ok(ExpiredItem {
                        brand_name: names
                            .get(&view.account.brand_id)
                            .cloned()
                            .unwrap_or_default(),
                        since,
                        account: view,
                    })
                })
                .collect::<Result<_>>()?;
            Ok((items, next))
        })
    })
    .await
}

/// The badge: how many accounts need renewal, by brand and by network.
#[derive(Debug)]
pub struct Summary {
    pub total: usize,
    /// `(brand id, brand name, count)`, most first.
    pub by_brand: Vec<(BrandId, String, u32)>,
    /// `(network, count)`, most first.
    pub by_network: Vec<(String, u32)>,
}

pub async fn summary(
    state: &AppState,
    audience: &Audience,
    filter: ExpiredFilter,
) -> Result<Fresh<Summary>> {
    let (audience, at) = (audience.clone(), state.now());
    let o = audience.organization_id().clone();
    let fresh = db::run(&state.pool, move |conn| {
        read_fresh(conn, &o, at, |conn, organization| {
            let window = super::accounts::window_of(organization);
            let pairs = db::accounts::list_brand_network_pairs(
                conn,
                &o,
                &filter.at(&audience, at, window),
            )?;
            let mut brands: Vec<BrandId> = pairs.iter().map(|(b, _)| *b).collect();
            brands.sort();
            brands.dedup();
            let names: HashMap<BrandId, String> = db::brands::brand_names(conn, &o, &brands)?;
            Ok((pairs, names))
        })
    })
    .await?;
    let (pairs, names) = fresh.value;
    let mut by_brand: BTreeMap<BrandId, u32> = BTreeMap::new();
    let mut by_network: BTreeMap<String, u32> = BTreeMap::new();
    for (brand, network) in &pairs {
        *by_brand.entry(*brand).or_default() += 1;
        *by_network.entry(network.clone()).or_default() += 1;
    }
    let mut brands: Vec<(BrandId, String, u32)> = by_brand
        .into_iter()
        .map(|(id, count)| {
            let name = names.get(&id).cloned().unwrap_or_default();
            (id, name, count)
        })
        .collect();
    brands.sort_by(|a, b| b.2.cmp(&a.2).then(a.1.cmp(&b.1)));
    let mut networks: Vec<(String, u32)> = by_network.into_iter().collect();
    networks.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    Ok(Fresh {
        value: Summary {
            total: pairs.len(),
            by_brand: brands,
            by_network: networks,
        },
        version: fresh.version,
        valid_until: fresh.valid_until,
    })
}
