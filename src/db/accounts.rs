//! Accounts (a profile as connected in one brand), joined with their profile
//! and the non-secret state of their credential.

use crate::domain::ids::{AccountId, BrandId, CredentialId, OrganizationId, ProfileId};
use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::models::{Account, CredentialState, Profile};
use super::schema::accounts::dsl as a;
use super::schema::credentials::dsl as c;
use super::schema::profiles::dsl as p;
use super::{DbConnection, MultiBackend};
use crate::domain::token_status::CredentialStatus as Stored;
use crate::domain::token_status::TokenStatus;
use crate::error::Result;

pub type AccountRow = (Account, Profile, CredentialState);

type Joined = diesel::dsl::InnerJoinQuerySource<
    diesel::dsl::InnerJoinQuerySource<a::accounts, p::profiles>,
    c::credentials,
>;
type Predicate =
    Box<dyn BoxableExpression<Joined, MultiBackend, SqlType = diesel::sql_types::Bool>>;

/// The SQL form of [`crate::domain::token_status::compute`], so listings
/// filter by status in the database (and stay index scans).
fn status_is(status: TokenStatus, now: NaiveDateTime, window_end: NaiveDateTime) -> Predicate {
    let clock_driven = || {
        c::status.ne_all([
            Stored::ReauthRequired.as_str(),
            Stored::RefreshFailing.as_str(),
        ])
    };
    match status {
        TokenStatus::Disabled => Box::new(a::enabled.eq(false)),
        TokenStatus::ReauthRequired => Box::new(
            a::enabled
                .eq(true)
                .and(c::status.eq(Stored::ReauthRequired.as_str())),
        ),
        TokenStatus::Expired => Box::new(
            a::enabled
                .eq(true)
                .and(c::status.ne(Stored::ReauthRequired.as_str()))
                .and(c::expires_at.is_not_null())
                .and(c::expires_at.assume_not_null().le(now)),
        ),
        TokenStatus::RefreshFailing => Box::new(
            a::enabled
                .eq(true)
                .and(c::status.eq(Stored::RefreshFailing.as_str()))
                .and(
                    c::expires_at
                        .is_null()
                        .or(c::expires_at.assume_not_null().gt(now)),
                ),
        ),
        TokenStatus::Expiring => Box::new(
            a::enabled
                .eq(true)
                .and(clock_driven())
                .and(c::expires_at.is_not_null())
                .and(c::expires_at.assume_not_null().gt(now))
                .and(c::expires_at.assume_not_null().le(window_end)),
        ),
        TokenStatus::Active => Box::new(
            a::enabled.eq(true).and(clock_driven()).and(
                c::expires_at
                    .is_null()
                    .or(c::expires_at.assume_not_null().gt(window_end)),
            ),
        ),
    }
}

fn any_status(
    statuses: &[TokenStatus],
    now: NaiveDateTime,
    window_end: NaiveDateTime,
) -> Option<Predicate> {
    statuses
        .iter()
        .map(|s| status_is(*s, now, window_end))
        .reduce(|acc, next| Box::new(acc.or(next)))
}

/// Which accounts a listing wants.
#[derive(Debug, Clone, Default)]
pub struct AccountFilter {
    pub brand_id: Option<BrandId>,
    /// Only these brands (a token's `brands` claim); `None`: every brand.
    pub brands: Option<Vec<BrandId>>,
    pub network: Option<String>,
    /// Any of these statuses (empty: all).
    pub statuses: Vec<TokenStatus>,
    /// The clock and the organization's warning window's end, for `statuses`.
    pub now: Option<NaiveDateTime>,
    pub window_end: Option<NaiveDateTime>,
}

/// The columns of an [`AccountRow`].
type AccountColumns = (
    diesel::dsl::AsSelect<Account, MultiBackend>,
    diesel::dsl::AsSelect<Profile, MultiBackend>,
    diesel::dsl::AsSelect<CredentialState, MultiBackend>,
);

/// accounts ⋈ profiles ⋈ credentials, selecting an [`AccountRow`].
#[diesel::dsl::auto_type(no_type_alias)]
fn account_rows() -> _ {
    let columns: AccountColumns = (
        Account::as_select(),
        Profile::as_select(),
        CredentialState::as_select(),
    );
    a::accounts
        .inner_join(p::profiles)
        .inner_join(c::credentials)
        .select(columns)
}

/// The conditions of an [`AccountFilter`], to narrow a query over
/// accounts ⋈ profiles ⋈ credentials.
fn predicates(filter: &AccountFilter) -> Vec<Predicate> {
    let mut predicates: Vec<Predicate> = Vec::new();
    if let Some(brand) = &filter.brand_id {
        predicates.push(Box::new(a::brand_id.eq(*brand)));
    }
    if let Some(brands) = &filter.brands {
        predicates.push(Box::new(a::brand_id.eq_any(brands.clone())));
    }
    if let Some(network) = &filter.network {
        predicates.push(Box::new(p::network.eq(network.clone())));
    }
    if let (Some(now), Some(window_end)) = (filter.now, filter.window_end)
        && let Some(predicate) = any_status(&filter.statuses, now, window_end)
    {
        predicates.push(predicate);
    }
    predicates
}

/// Accounts of the organization matching `filter`, in id order after `after`.
pub fn list_accounts(
    conn: &mut DbConnection,
    org: &OrganizationId,
    filter: &AccountFilter,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<AccountRow>> {
    let mut query = account_rows()
        .filter(a::organization_id.eq(org.to_string()))
        .order(a::id.asc())
        .limit(limit)
        .into_boxed();
    for predicate in predicates(filter) {
        query = query.filter(predicate);
    }
    if let Some(after) = after {
        query = query.filter(a::id.gt(after.to_string()));
    }
    Ok(query.load(conn)?)
}

pub fn find_account(
    conn: &mut DbConnection,
    org: &OrganizationId,
    brand: BrandId,
    id: AccountId,
) -> Result<Option<AccountRow>> {
    Ok(account_rows()
        .filter(a::organization_id.eq(org))
        .filter(a::brand_id.eq(brand))
        .filter(a::id.eq(id))
        .first(conn)
        .optional()?)
}

/// Which of a brand's accounts [`find_account_in_brand`] finds.
#[derive(Debug, Clone, Copy)]
pub enum InBrand<'a> {
    /// The account with this id, in the organization.
    Id {
        org: &'a OrganizationId,
        id: AccountId,
    },
    /// The brand's account of this profile.
    OfProfile(ProfileId),
}

/// An account of the brand as stored, also one whose credential is gone.
pub fn find_account_in_brand(
    conn: &mut DbConnection,
    brand: BrandId,
    which: InBrand<'_>,
) -> Result<Option<Account>> {
    let in_brand = a::accounts
        .filter(a::brand_id.eq(brand))
        .select(Account::as_select())
        .into_boxed();
    let query = match which {
        InBrand::Id { org, id } => in_brand
            .filter(a::organization_id.eq(org))
            .filter(a::id.eq(id)),
        InBrand::OfProfile(profile) => in_brand.filter(a::profile_id.eq(profile)),
    };
    Ok(query.first(conn).optional()?)
}

/// Every account of a profile in the organization.
pub fn list_accounts_of_profile(
    conn: &mut DbConnection,
    org: &OrganizationId,
    profile: ProfileId,
) -> Result<Vec<Account>> {
    Ok(a::accounts
        .filter(a::organization_id.eq(org))
        .filter(a::profile_id.eq(profile))
        .select(Account::as_select())
        .order(a::id.asc())
        .load(conn)?)
}

pub fn insert_account(conn: &mut DbConnection, account: &Account) -> Result<()> {
    diesel::insert_into(a::accounts)
        .values(account)
        .execute(conn)?;
    Ok(())
}

/// Points an account at a (fresh) credential.
pub fn set_account_credential(
    conn: &mut DbConnection,
    id: AccountId,
    credential: CredentialId,
    now: NaiveDateTime,
    reconnected: bool,
) -> Result<()> {
    diesel::update(a::accounts.filter(a::id.eq(id)))
        .set((
            a::credential_id.eq(Some(credential)),
            a::last_renewed_at.eq(Some(now)),
            // Only a reconnection restarts `connected_at`; `None` leaves it out.
            reconnected.then(|| a::connected_at.eq(now)),
            a::updated_at.eq(now),
        ))
        .execute(conn)?;
    Ok(())
}

/// Points accounts at a credential they now share, one UPDATE per
/// thousand accounts (a propagation's statements do not grow with the
/// number of brands).
pub fn move_accounts_to_credential(
    conn: &mut DbConnection,
    ids: &[AccountId],
    credential: CredentialId,
    now: NaiveDateTime,
) -> Result<()> {
    for chunk in ids.chunks(1000) {
        diesel::update(a::accounts.filter(a::id.eq_any(chunk)))
            .set((
                a::credential_id.eq(Some(credential)),
                a::last_renewed_at.eq(Some(now)),
                a::updated_at.eq(now),
            ))
            .execute(conn)?;
    }
    Ok(())
}

/// Marks accounts renewed (their shared credential was refreshed in place).
pub fn touch_renewed(
    conn: &mut DbConnection,
    credential: CredentialId,
    now: NaiveDateTime,
) -> Result<()> {
    diesel::update(a::accounts.filter(a::credential_id.eq(credential)))
        .set((a::last_renewed_at.eq(Some(now)), a::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn set_account_enabled(
    conn: &mut DbConnection,
    id: AccountId,
    enabled: bool,
    now: NaiveDateTime,
) -> Result<()> {
    diesel::update(a::accounts.filter(a::id.eq(id)))
        .set((a::enabled.eq(enabled), a::updated_at.eq(now)))
        .execute(conn)?;
    Ok(())
}

pub fn delete_account(conn: &mut DbConnection, id: AccountId) -> Result<()> {
    diesel::delete(a::accounts.filter(a::id.eq(id))).execute(conn)?;
    Ok(())
}

pub fn count_accounts_using_credential(
    conn: &mut DbConnection,
    credential: CredentialId,
) -> Result<i64> {
    Ok(a::accounts
        .filter(a::credential_id.eq(credential))
        .count()
        .get_result(conn)?)
}

/// `(account_id, brand_id)` of the accounts on a credential, in id order:
/// the query the two listings below narrow.
#[diesel::dsl::auto_type(no_type_alias)]
fn accounts_using(credential: CredentialId) -> _ {
    a::accounts
        .filter(a::credential_id.eq(credential))
        .select((a::id, a::brand_id))
        .order(a::id.asc())
}

/// `(account_id, brand_id)` of the accounts on a credential.
pub fn list_accounts_using_credential(
    conn: &mut DbConnection,
    credential: CredentialId,
) -> Result<Vec<(AccountId, BrandId)>> {
    Ok(accounts_using(credential).load(conn)?)
}

/// One account of the organization by id, whatever its brand.
pub fn find_account_by_id(
    conn: &mut DbConnection,
    org: &OrganizationId,
    id: AccountId,
) -> Result<Option<AccountRow>> {
    Ok(account_rows()
        .filter(a::organization_id.eq(org))
        .filter(a::id.eq(id))
        .first(conn)
        .optional()?)
}

/// Accounts matching `filter`, newest expiry first, after the keyset
/// `(expires_at, id)` of the previous page.
pub fn list_by_expiry(
    conn: &mut DbConnection,
    org: &OrganizationId,
    filter: &AccountFilter,
    after: Option<(NaiveDateTime, String)>,
    limit: i64,
) -> Result<Vec<AccountRow>> {
    let mut query = account_rows()
        .filter(a::organization_id.eq(org.to_string()))
        .order((c::expires_at.desc(), a::id.desc()))
        .limit(limit)
        .into_boxed();
    for predicate in predicates(filter) {
        query = query.filter(predicate);
    }
    if let Some((expires, id)) = after {
        query = query.filter(
            c::expires_at.assume_not_null().lt(expires).or(c::expires_at
                .assume_not_null()
                .eq(expires)
                .and(a::id.lt(id))),
        );
    }
    Ok(query.load(conn)?)
}

/// `(brand_id, network)` of every account matching `filter` (for the badge counts).
pub fn list_brand_network_pairs(
    conn: &mut DbConnection,
    org: &OrganizationId,
    filter: &AccountFilter,
) -> Result<Vec<(BrandId, String)>> {
    let mut query = a::accounts
        .inner_join(p::profiles)
        .inner_join(c::credentials)
        .filter(a::organization_id.eq(org.to_string()))
        .select((a::brand_id, p::network))
        .into_boxed();
    for predicate in predicates(filter) {
        query = query.filter(predicate);
    }
    Ok(query.load(conn)?)
}

/// `(account_id, brand_id)` of the enabled accounts on a credential: those a
/// status transition of the credential is announced to.
pub fn list_enabled_accounts_using_credential(
    conn: &mut DbConnection,
    credential: CredentialId,
) -> Result<Vec<(AccountId, BrandId)>> {
    Ok(accounts_using(credential)
        .filter(a::enabled.eq(true))
        .load(conn)?)
}

/// Every account of a profile in the organization, with profile and credential state.
pub fn list_account_rows_of_profile(
    conn: &mut DbConnection,
    org: &OrganizationId,
    profile: ProfileId,
) -> Result<Vec<AccountRow>> {
    Ok(account_rows()
        .filter(a::organization_id.eq(org))
        .filter(a::profile_id.eq(profile))
        .order(a::id.asc())
        .load(conn)?)
}
