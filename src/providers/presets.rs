//! What each preset knows of its network: endpoints, grant flavour, lifetimes, quirks.

use super::settings::{ClientAuth, NetworkKind};
use super::{AssetTokens, RevocationScope};

const DAY: u64 = 86_400;

/// How the refresh of a preset works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshStyle {
    /// `grant_type=refresh_token` at the token endpoint.
    RefreshToken { rotating: bool },
    /// LinkedIn: refresh tokens only for partner apps.
    LinkedIn,
    /// Facebook `fb_exchange_token` (GET on the token endpoint).
    FbExchange,
    /// Instagram `ig_refresh_token` / Threads `th_refresh_token` (GET on `refresh_url`).
    MetaRefresh { grant: &'static str },
}

/// How the short-lived token of a Meta code exchange is upgraded to a long-lived one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Upgrade {
    None,
    /// Facebook: `fb_exchange_token` on the token endpoint.
    FbExchange,
    /// Instagram `ig_exchange_token`, Threads `th_exchange_token` on `exchange_url`.
    Meta {
        grant: &'static str,
    },
}

/// How a preset revokes, and what its revocation ends (docs/rules.md#networks):
/// a revocation that ends more than the token sent must not be used while
/// another stored credential relies on what it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Revocation {
    None,
    /// RFC 7009 form POST `token=…` with client authentication, ending what
    /// the network documents.
    Rfc7009(RevocationScope),
    /// Facebook: `DELETE /me/permissions?access_token=…` removes every
    /// permission the person gave the app (Graph API, "User permissions"):
    /// the app is de-authorized for them and every token of theirs dies,
    /// whoever holds it. Tested against a local stub that behaves so.
    MetaPermissions,
}

impl Revocation {
    pub(crate) fn scope(self) -> Option<RevocationScope> {
        match self {
            Revocation::None => None,
            Revocation::Rfc7009(scope) => Some(scope),
            Revocation::MetaPermissions => Some(RevocationScope::App),
        }
    }
}

/// How a preset asks its network about a token ([`crate::providers::Provider::introspect`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IntrospectionStyle {
    None,
    /// Graph's `debug_token?input_token=…` with the app token `app_id|app_secret`.
    MetaDebugToken,
    /// RFC 7662: POST `token=…&token_type_hint=access_token` with client authentication.
    Rfc7662,
    /// Google's `tokeninfo?access_token=…`: 200 with `scope` and `exp`, or 400 `invalid_token`.
    GoogleTokenInfo,
}

/// How the access token is presented to the identity endpoint.
/// How a preset lists the assets a person manages (SPEC 4a), read by `oauth/assets.rs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AssetStyle {
    /// The profiles are the people themselves.
    None,
    /// Graph's `/me/accounts`: Pages, each with its own Page token, paginated by `paging.next`.
    GraphAccounts,
    /// LinkedIn `organizationAcls?q=roleAssignee`, names from the organization lookup.
    LinkedInOrganizations,
    /// YouTube `channels?part=snippet&mine=true`, paginated by `nextPageToken`.
    YouTubeChannels,
    /// Google Business Profile: the person's accounts, then each account's locations.
    GoogleLocations,
}

impl AssetStyle {
    pub(crate) fn tokens(self) -> Option<AssetTokens> {
        match self {
            AssetStyle::None => None,
            AssetStyle::GraphAccounts => Some(AssetTokens::Derived),
            AssetStyle::LinkedInOrganizations
            | AssetStyle::YouTubeChannels
            | AssetStyle::GoogleLocations => Some(AssetTokens::Shared),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TokenPresentation {
    Bearer,
    /// Meta's Graph API: `?access_token=…`.
    Query,
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Preset {
    pub authorize_url: &'static str,
    pub token_url: &'static str,
    pub revoke_url: Option<&'static str>,
    pub identity_url: &'static str,
    pub exchange_url: Option<&'static str>,
    pub refresh_url: Option<&'static str>,
    pub subject: &'static str,
    pub handle: &'static str,
    pub display_name: Option<&'static str>,
    pub avatar: Option<&'static str>,
    pub scopes: &'static [&'static str],
    pub scope_separator: &'static str,
    pub client_auth: ClientAuth,
    /// `client_id`, or TikTok's `client_key`.
    pub client_id_param: &'static str,
    pub access_lifetime_secs: u64,
    /// Refresh-token lifetime when the answer does not say (None: unknown / unlimited).
    pub refresh_lifetime_secs: Option<u64>,
    pub lead_secs: u64,
    pub refresh: RefreshStyle,
    pub upgrade: Upgrade,
    pub revocation: Revocation,
    pub identity_token: TokenPresentation,
    pub authorize_extra: &'static [(&'static str, &'static str)],
    pub assets: AssetStyle,
    /// Where the assets are listed; `None` on a preset with assets: only when configured.
    pub assets_url: Option<&'static str>,
    pub asset_details_url: Option<&'static str>,
    pub introspection: IntrospectionStyle,
    /// The introspection endpoint when the network has a well-known one (the sandbox's is
    /// derived from the public URL).
    pub introspection_url: Option<&'static str>,
}

const GENERIC: Preset = Preset {
    authorize_url: "",
    token_url: "",
    revoke_url: None,
    identity_url: "",
    exchange_url: None,
    refresh_url: None,
    subject: "/sub",
    handle: "/preferred_username",
    display_name: None,
    avatar: None,
    scopes: &[],
    scope_separator: " ",
    client_auth: ClientAuth::Basic,
    client_id_param: "client_id",
    access_lifetime_secs: 3600,
    refresh_lifetime_secs: None,
    lead_secs: 300,
    refresh: RefreshStyle::RefreshToken { rotating: false },
    upgrade: Upgrade::None,
    // RFC 7009 §2.1: revoking a refresh token ends the grant's tokens, and
    // revoking an access token may end its refresh token too. Only the
    // sandbox's behaviour is tested; an operator's own server is taken at the
    // RFC's word.
    revocation: Revocation::Rfc7009(RevocationScope::Grant),
    identity_token: TokenPresentation::Bearer,
    authorize_extra: &[],
    assets: AssetStyle::None,
    assets_url: None,
    asset_details_url: None,
    // LinkedIn, X, TikTok and Pinterest document no introspection tokenwarden could use
    // (LinkedIn's `introspectToken` is not RFC 7662 to the letter and was not tried).
    introspection: IntrospectionStyle::None,
    introspection_url: None,
};

/// The preset of a kind. For `oauth2` and `sandbox` the URLs are empty (configured / derived).
#[expect(
    clippy::too_many_lines,
    reason = "the table of networks: one preset per kind, each with its documented facts beside it"
)]
pub(crate) fn preset(kind: NetworkKind) -> Preset {
    match kind {
        // RFC 7662 once the operator names an `introspection_url`.
        NetworkKind::OAuth2 => Preset {
            introspection: IntrospectionStyle::Rfc7662,
            ..GENERIC
        },
        NetworkKind::Sandbox => Preset {
            subject: "/sub",
            handle: "/preferred_username",
            display_name: Some("/name"),
            avatar: Some("/picture"),
            scopes: &["profile", "publish"],
            lead_secs: 60,
            refresh: RefreshStyle::RefreshToken { rotating: true },
            // Its revocation ends the grant of a refresh token, an access token
            // alone (src/sandbox/server.rs); tested.
            revocation: Revocation::Rfc7009(RevocationScope::Grant),
            // Pages shaped as Graph's, once a sandbox network names its `assets_url`: the
            // sandbox's plain network stays a network of people.
            assets: AssetStyle::GraphAccounts,
            // RFC 7662 at `{public_url}/sandbox/introspect` (src/sandbox/server.rs); tested.
            introspection: IntrospectionStyle::Rfc7662,
            ..GENERIC
        },
        NetworkKind::Facebook => Preset {
            authorize_url: "https://www.facebook.com/v21.0/dialog/oauth",
            token_url: "https://graph.facebook.com/v21.0/oauth/access_token",
            revoke_url: Some("https://graph.facebook.com/v21.0/me/permissions"),
            identity_url: "https://graph.facebook.com/v21.0/me?fields=id,name,picture",
            subject: "/id",
            handle: "/name",
            display_name: Some("/name"),
            avatar: Some("/picture/data/url"),
            scopes: &[
                "public_profile",
                "pages_show_list",
                "pages_read_engagement",
                "pages_manage_posts",
            ],
            scope_separator: ",",
            client_auth: ClientAuth::Post,
            access_lifetime_secs: 60 * DAY,
            lead_secs: 7 * DAY,
            refresh: RefreshStyle::FbExchange,
            upgrade: Upgrade::FbExchange,
            revocation: Revocation::MetaPermissions,
            identity_token: TokenPresentation::Query,
            // Graph API "Page Access Tokens" and "/user/accounts": a Page token per Page the
            // person has a task on, made from their long-lived user token.
            assets: AssetStyle::GraphAccounts,
            // Listed only when the network's `assets_url` is configured (README, networks):
            // https://graph.facebook.com/v21.0/me/accounts?fields=id,name,access_token,tasks,picture
            assets_url: None,
            // Graph API "Debug Token" (developers.facebook.com/docs/graph-api/reference/
            // debug_token): `is_valid`, `expires_at` (0: never), `data_access_expires_at`,
            // `scopes`, `granular_scopes`, `error.code/subcode`; asked with the app token.
            introspection: IntrospectionStyle::MetaDebugToken,
            introspection_url: Some("https://graph.facebook.com/v21.0/debug_token"),
            ..GENERIC
        },
        NetworkKind::Instagram => Preset {
            authorize_url: "https://www.instagram.com/oauth/authorize",
            token_url: "https://api.instagram.com/oauth/access_token",
            revoke_url: None,
            identity_url: "https://graph.instagram.com/v21.0/me?fields=user_id,username,name,profile_picture_url",
            exchange_url: Some("https://graph.instagram.com/access_token"),
            refresh_url: Some("https://graph.instagram.com/refresh_access_token"),
            subject: "/user_id",
            handle: "/username",
            display_name: Some("/name"),
            avatar: Some("/profile_picture_url"),
            scopes: &[
                "instagram_business_basic",
                "instagram_business_content_publish",
            ],
            scope_separator: ",",
            client_auth: ClientAuth::Post,
            access_lifetime_secs: 60 * DAY,
            lead_secs: 7 * DAY,
            refresh: RefreshStyle::MetaRefresh {
                grant: "ig_refresh_token",
            },
            upgrade: Upgrade::Meta {
                grant: "ig_exchange_token",
            },
            // No revocation call: Meta's way is de-authorizing the app for the
            // person (as on Facebook), never right for one credential.
            revocation: Revocation::None,
            identity_token: TokenPresentation::Query,
            // Meta documents `debug_token` on Graph for Facebook Login tokens; whether it reads
            // Instagram Login tokens is unverified, so only a configured URL is asked.
            introspection: IntrospectionStyle::MetaDebugToken,
            ..GENERIC
        },
        NetworkKind::Threads => Preset {
            authorize_url: "https://threads.net/oauth/authorize",
            token_url: "https://graph.threads.net/oauth/access_token",
            revoke_url: None,
            identity_url: "https://graph.threads.net/v1.0/me?fields=id,username,name,threads_profile_picture_url",
            exchange_url: Some("https://graph.threads.net/access_token"),
            refresh_url: Some("https://graph.threads.net/refresh_access_token"),
            subject: "/id",
            handle: "/username",
            display_name: Some("/name"),
            avatar: Some("/threads_profile_picture_url"),
            scopes: &["threads_basic", "threads_content_publish"],
            scope_separator: ",",
            client_auth: ClientAuth::Post,
            access_lifetime_secs: 60 * DAY,
            lead_secs: 7 * DAY,
            refresh: RefreshStyle::MetaRefresh {
                grant: "th_refresh_token",
            },
            upgrade: Upgrade::Meta {
                grant: "th_exchange_token",
            },
            // As Instagram: none.
            revocation: Revocation::None,
            identity_token: TokenPresentation::Query,
            // As Instagram: `debug_token` only at a configured URL (unverified for Threads).
            introspection: IntrospectionStyle::MetaDebugToken,
            ..GENERIC
        },
        NetworkKind::LinkedIn => Preset {
            authorize_url: "https://www.linkedin.com/oauth/v2/authorization",
            token_url: "https://www.linkedin.com/oauth/v2/accessToken",
            revoke_url: Some("https://www.linkedin.com/oauth/v2/revoke"),
            identity_url: "https://api.linkedin.com/v2/userinfo",
            subject: "/sub",
            handle: "/name",
            display_name: Some("/name"),
            avatar: Some("/picture"),
            scopes: &["openid", "profile", "w_member_social"],
            client_auth: ClientAuth::Post,
            access_lifetime_secs: 60 * DAY,
            refresh_lifetime_secs: Some(365 * DAY),
            lead_secs: 7 * DAY,
            refresh: RefreshStyle::LinkedIn,
            // LinkedIn documents `/oauth/v2/revoke` without saying whether it
            // ends the member's other tokens for the app. Untested, so it is
            // taken to end the app's whole authorization for the member.
            revocation: Revocation::Rfc7009(RevocationScope::App),
            // Community Management API, "Organization Access Control by Role" and
            // "Organization Lookup API" (the batch get of administered organizations).
            assets: AssetStyle::LinkedInOrganizations,
            // Listed only when the network's `assets_url` is configured (README, networks):
            // https://api.linkedin.com/rest/organizationAcls?q=roleAssignee&role=ADMINISTRATOR&state=APPROVED
            assets_url: None,
            asset_details_url: Some("https://api.linkedin.com/rest/organizations"),
            ..GENERIC
        },
        NetworkKind::X => Preset {
            authorize_url: "https://x.com/i/oauth2/authorize",
            token_url: "https://api.x.com/2/oauth2/token",
            revoke_url: Some("https://api.x.com/2/oauth2/revoke"),
            identity_url: "https://api.x.com/2/users/me?user.fields=profile_image_url",
            subject: "/data/id",
            handle: "/data/username",
            display_name: Some("/data/name"),
            avatar: Some("/data/profile_image_url"),
            scopes: &["tweet.read", "tweet.write", "users.read", "offline.access"],
            client_auth: ClientAuth::Basic,
            access_lifetime_secs: 7200,
            lead_secs: 600,
            refresh: RefreshStyle::RefreshToken { rotating: true },
            // X documents `/2/oauth2/revoke` as OAuth 2.0 token revocation of
            // one access or refresh token: RFC 7009, the grant. From its
            // documentation; untested.
            revocation: Revocation::Rfc7009(RevocationScope::Grant),
            ..GENERIC
        },
        NetworkKind::TikTok => Preset {
            authorize_url: "https://www.tiktok.com/v2/auth/authorize/",
            token_url: "https://open.tiktokapis.com/v2/oauth/token/",
            revoke_url: Some("https://open.tiktokapis.com/v2/oauth/revoke/"),
            identity_url: "https://open.tiktokapis.com/v2/user/info/?fields=open_id,union_id,avatar_url,display_name,username",
            subject: "/data/user/open_id",
            handle: "/data/user/username",
            display_name: Some("/data/user/display_name"),
            avatar: Some("/data/user/avatar_url"),
            scopes: &["user.info.basic", "user.info.profile", "video.publish"],
            scope_separator: ",",
            client_auth: ClientAuth::Post,
            client_id_param: "client_key",
            access_lifetime_secs: DAY,
            refresh_lifetime_secs: Some(365 * DAY),
            lead_secs: 3600,
            refresh: RefreshStyle::RefreshToken { rotating: true },
            // TikTok documents `/v2/oauth/revoke/` as disconnecting the app
            // from the user's account: the whole authorization. From its
            // documentation; untested.
            revocation: Revocation::Rfc7009(RevocationScope::App),
            ..GENERIC
        },
        NetworkKind::YouTube => Preset {
            authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
            token_url: "https://oauth2.googleapis.com/token",
            revoke_url: Some("https://oauth2.googleapis.com/revoke"),
            identity_url: "https://www.googleapis.com/youtube/v3/channels?part=snippet&mine=true",
            subject: "/items/0/id",
            handle: "/items/0/snippet/customUrl",
            display_name: Some("/items/0/snippet/title"),
            avatar: Some("/items/0/snippet/thumbnails/default/url"),
            scopes: &[
                "https://www.googleapis.com/auth/youtube.readonly",
                "https://www.googleapis.com/auth/youtube.upload",
            ],
            client_auth: ClientAuth::Post,
            access_lifetime_secs: 3600,
            lead_secs: 300,
            authorize_extra: &[
                ("access_type", "offline"),
                ("prompt", "consent"),
                ("include_granted_scopes", "true"),
            ],
            // Google's revocation of any token of a user and client removes
            // the app's access for that Google account, every grant of it.
            // From its documentation; untested.
            revocation: Revocation::Rfc7009(RevocationScope::App),
            // YouTube Data API v3, "Channels: list" with `mine=true`.
            assets: AssetStyle::YouTubeChannels,
            // Listed only when the network's `assets_url` is configured (README, networks):
            // https://www.googleapis.com/youtube/v3/channels?part=snippet&mine=true&maxResults=50
            assets_url: None,
            // "OAuth 2.0 for Web Server Applications", token validation: `tokeninfo` answers a
            // live token's `scope`/`exp` and 400 `invalid_token` for a dead one. From its
            // documentation; not tried against Google.
            introspection: IntrospectionStyle::GoogleTokenInfo,
            introspection_url: Some("https://oauth2.googleapis.com/tokeninfo"),
            ..GENERIC
        },
        NetworkKind::GoogleBusiness => Preset {
            authorize_url: "https://accounts.google.com/o/oauth2/v2/auth",
            token_url: "https://oauth2.googleapis.com/token",
            revoke_url: Some("https://oauth2.googleapis.com/revoke"),
            identity_url: "https://openidconnect.googleapis.com/v1/userinfo",
            subject: "/sub",
            handle: "/email",
            display_name: Some("/name"),
            avatar: Some("/picture"),
            scopes: &[
                "openid",
                "email",
                "profile",
                "https://www.googleapis.com/auth/business.manage",
            ],
            client_auth: ClientAuth::Post,
            access_lifetime_secs: 3600,
            lead_secs: 300,
            authorize_extra: &[
                ("access_type", "offline"),
                ("prompt", "consent"),
                ("include_granted_scopes", "true"),
            ],
            // As YouTube: Google's revocation ends the app's access for the account.
            revocation: Revocation::Rfc7009(RevocationScope::App),
            // Business Profile APIs: Account Management `accounts.list`, then Business
            // Information `accounts.locations.list` per account.
            assets: AssetStyle::GoogleLocations,
            // Listed only when the network's `assets_url` is configured (README, networks):
            // https://mybusinessaccountmanagement.googleapis.com/v1/accounts
            assets_url: None,
            asset_details_url: Some("https://mybusinessbusinessinformation.googleapis.com/v1/"),
            // "OAuth 2.0 for Web Server Applications", token validation: `tokeninfo` answers a
            // live token's `scope`/`exp` and 400 `invalid_token` for a dead one. From its
            // documentation; not tried against Google.
            introspection: IntrospectionStyle::GoogleTokenInfo,
            introspection_url: Some("https://oauth2.googleapis.com/tokeninfo"),
            ..GENERIC
        },
        NetworkKind::Pinterest => Preset {
            authorize_url: "https://www.pinterest.com/oauth/",
            token_url: "https://api.pinterest.com/v5/oauth/token",
            revoke_url: None,
            identity_url: "https://api.pinterest.com/v5/user_account",
            subject: "/id",
            handle: "/username",
            display_name: Some("/business_name"),
            avatar: Some("/profile_image"),
            scopes: &[
                "user_accounts:read",
                "boards:read",
                "pins:read",
                "pins:write",
            ],
            scope_separator: ",",
            client_auth: ClientAuth::Basic,
            access_lifetime_secs: 30 * DAY,
            refresh_lifetime_secs: Some(365 * DAY),
            lead_secs: DAY,
            revocation: Revocation::None,
            ..GENERIC
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of docs/rules.md#networks and README, column "revocation ends".
    #[test]
    fn each_preset_knows_what_its_revocation_ends() {
        use RevocationScope::{App, Grant};
        for kind in NetworkKind::ALL {
            let expected = match kind {
                NetworkKind::Facebook
                | NetworkKind::LinkedIn
                | NetworkKind::TikTok
                | NetworkKind::YouTube
                | NetworkKind::GoogleBusiness => Some(App),
                NetworkKind::X | NetworkKind::OAuth2 | NetworkKind::Sandbox => Some(Grant),
                NetworkKind::Instagram | NetworkKind::Threads | NetworkKind::Pinterest => None,
            };
            assert_eq!(preset(kind).revocation.scope(), expected, "{kind:?}");
        }
    }
}
