//! Which scopes each preset's network requires for each capability (SPEC 4b), from the
//! network's own documentation, cited per preset. None of these was tried against the real
//! network here; rows marked "unverified" are read from documentation that does not say it in so
//! many words. `None` means the preset declares nothing: the network offers no API for it to this
//! kind of app (the README's networks table says which), or it is a generic `oauth2` network.

use crate::domain::health::{Capability, CapabilityHealth, Requirement, evaluate};

use super::settings::NetworkKind;

/// The scopes `kind` requires for `capability`; see [`Requirement`].
pub fn required_scopes(kind: NetworkKind, capability: Capability) -> Requirement {
    use Capability::{Analytics, Inbox, Publishing};
    match (kind, capability) {
        // Graph API "Permissions Reference" (developers.facebook.com/docs/permissions) and
        // Pages API "Posts" / "Insights" / Messenger Platform "Conversations".
        (NetworkKind::Facebook, Publishing) => Some(&[
            &["pages_show_list"],
            &["pages_read_engagement"],
            &["pages_manage_posts"],
        ]),
        (NetworkKind::Facebook, Inbox) => Some(&[
            &["pages_show_list"],
            &["pages_messaging"],
            &["pages_read_user_content"],
        ]),
        (NetworkKind::Facebook, Analytics) => Some(&[
            &["pages_show_list"],
            &["pages_read_engagement"],
            &["read_insights"],
        ]),
        // Instagram API with Instagram Login, "Overview" (developers.facebook.com/docs/
        // instagram-platform/instagram-api-with-instagram-login): the business_* scopes.
        (NetworkKind::Instagram, Publishing) => Some(&[
            &["instagram_business_basic"],
            &["instagram_business_content_publish"],
        ]),
        (NetworkKind::Instagram, Inbox) => Some(&[
            &["instagram_business_basic"],
            &["instagram_business_manage_messages"],
            &["instagram_business_manage_comments"],
        ]),
        (NetworkKind::Instagram, Analytics) => Some(&[
            &["instagram_business_basic"],
            &["instagram_business_manage_insights"],
        ]),
        // Threads API "Permissions" (developers.facebook.com/docs/threads/get-started).
        (NetworkKind::Threads, Publishing) => {
            Some(&[&["threads_basic"], &["threads_content_publish"]])
        }
        (NetworkKind::Threads, Inbox) => Some(&[
            &["threads_basic"],
            &["threads_read_replies"],
            &["threads_manage_replies"],
        ]),
        (NetworkKind::Threads, Analytics) => {
            Some(&[&["threads_basic"], &["threads_manage_insights"]])
        }
        // "Share on LinkedIn" (learn.microsoft.com/linkedin/consumer/integrations/self-serve/
        // share-on-linkedin): w_member_social. A member app has no inbox API; member analytics
        // need partner scopes (unverified), so neither is declared.
        (NetworkKind::LinkedIn, Publishing) => Some(&[&["w_member_social"]]),
        (NetworkKind::LinkedIn, Inbox | Analytics) => None,
        // X API v2 "OAuth 2.0 Authorization Code Flow with PKCE", scopes table
        // (docs.x.com/resources/fundamentals/authentication/oauth-2-0/authorization-code).
        (NetworkKind::X, Publishing) => Some(&[&["tweet.read"], &["tweet.write"], &["users.read"]]),
        (NetworkKind::X, Inbox) => Some(&[&["dm.read"], &["dm.write"], &["users.read"]]),
        (NetworkKind::X, Analytics) => Some(&[&["tweet.read"], &["users.read"]]),
        // TikTok "Scopes overview" (developers.tiktok.com/doc/tiktok-api-scopes) and the
        // Content Posting API (direct post: video.publish). No inbox API.
        (NetworkKind::TikTok, Publishing) => Some(&[&["video.publish"]]),
        (NetworkKind::TikTok, Inbox) => None,
        (NetworkKind::TikTok, Analytics) => Some(&[&["user.info.stats"], &["video.list"]]),
        // YouTube Data API "Obtaining authorization credentials" scopes
        // (developers.google.com/youtube/v3/guides/auth/server-side-web-apps) and YouTube
        // Analytics API (developers.google.com/youtube/analytics). The full `youtube` scope
        // manages the account; comments (the inbox) need `youtube.force-ssl`.
        (NetworkKind::YouTube, Publishing) => Some(&[&[
            "https://www.googleapis.com/auth/youtube.upload",
            "https://www.googleapis.com/auth/youtube",
            "https://www.googleapis.com/auth/youtube.force-ssl",
        ]]),
        (NetworkKind::YouTube, Inbox) => {
            Some(&[&["https://www.googleapis.com/auth/youtube.force-ssl"]])
        }
        (NetworkKind::YouTube, Analytics) => Some(&[&[
            "https://www.googleapis.com/auth/yt-analytics.readonly",
            "https://www.googleapis.com/auth/yt-analytics-monetary.readonly",
        ]]),
        // Google Business Profile APIs "Basic setup" (developers.google.com/my-business/content/
        // basic-setup): every API of it (local posts, reviews, performance) takes the one
        // `business.manage` scope.
        (NetworkKind::GoogleBusiness, Publishing | Inbox | Analytics) => {
            Some(&[&["https://www.googleapis.com/auth/business.manage"]])
        }
        // Pinterest API v5 "Scopes" (developers.pinterest.com/docs/getting-started/scopes):
        // pins:write to create Pins on boards the person can read; user_accounts:read for
        // account analytics. No inbox API.
        (NetworkKind::Pinterest, Publishing) => Some(&[&["boards:read"], &["pins:write"]]),
        (NetworkKind::Pinterest, Inbox) => None,
        (NetworkKind::Pinterest, Analytics) => Some(&[&["user_accounts:read"], &["pins:read"]]),
        // The sandbox's own scopes: it publishes, and has no inbox or analytics.
        (NetworkKind::Sandbox, Publishing) => Some(&[&["publish"]]),
        (NetworkKind::Sandbox, Inbox | Analytics) => None,
        // An operator's own network: its scopes are not tokenwarden's to know.
        (NetworkKind::OAuth2, _) => None,
    }
}

/// A grant's health per capability, in [`Capability::ALL`] order, from what the network
/// granted (`TokenSet::granted_scopes`, `Introspection::Valid::scopes`).
pub fn capability_health(
    kind: NetworkKind,
    granted: &[String],
) -> Vec<(Capability, CapabilityHealth)> {
    Capability::ALL
        .into_iter()
        .map(|c| (c, evaluate(required_scopes(kind, c), granted)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::providers::presets::preset;

    fn strings(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    fn health_of(kind: NetworkKind, granted: &[&str]) -> Vec<CapabilityHealth> {
        capability_health(kind, &strings(granted))
            .into_iter()
            .map(|(_, h)| h)
            .collect()
    }

    /// What each preset asks for by default is enough to publish: a connect through the
    /// preset's own authorization URL never starts degraded for publishing.
    #[test]
    fn each_presets_default_scopes_publish() {
        for kind in NetworkKind::ALL {
            let asked: Vec<String> = strings(preset(kind).scopes);
            let publishing = evaluate(required_scopes(kind, Capability::Publishing), &asked);
            let expected = if kind == NetworkKind::OAuth2 {
                CapabilityHealth::NotDeclared
            } else {
                CapabilityHealth::Ok
            };
            assert_eq!(publishing, expected, "{kind:?}");
        }
    }

    #[test]
    fn a_facebook_grant_without_pages_manage_posts_cannot_publish() {
        let h = health_of(
            NetworkKind::Facebook,
            &[
                "public_profile",
                "pages_show_list",
                "pages_read_engagement",
                "read_insights",
            ],
        );
        assert_eq!(
            h,
            [
                CapabilityHealth::MissingScopes(vec!["pages_manage_posts".into()]),
                CapabilityHealth::MissingScopes(vec![
                    "pages_messaging".into(),
                    "pages_read_user_content".into()
                ]),
                CapabilityHealth::Ok,
            ]
        );
    }

    #[test]
    fn each_network_without_an_api_for_a_capability_declares_nothing() {
        use CapabilityHealth::NotDeclared;
        assert_eq!(
            health_of(NetworkKind::LinkedIn, &["w_member_social"]),
            [CapabilityHealth::Ok, NotDeclared, NotDeclared]
        );
        assert_eq!(
            health_of(NetworkKind::TikTok, &["video.publish"])[1],
            NotDeclared
        );
        assert_eq!(health_of(NetworkKind::Pinterest, &[])[1], NotDeclared);
        assert_eq!(
            health_of(NetworkKind::OAuth2, &["anything"]),
            [NotDeclared, NotDeclared, NotDeclared]
        );
    }

    #[test]
    fn youtube_s_full_scope_publishes_and_analytics_needs_its_own() {
        let h = health_of(
            NetworkKind::YouTube,
            &["https://www.googleapis.com/auth/youtube"],
        );
        assert_eq!(h[0], CapabilityHealth::Ok);
        assert_eq!(
            h[2],
            CapabilityHealth::MissingScopes(vec![
                "https://www.googleapis.com/auth/yt-analytics.readonly".into()
            ])
        );
    }

    #[test]
    fn x_tiktok_instagram_threads_pinterest_and_the_sandbox_read_their_own_scopes() {
        assert_eq!(
            health_of(
                NetworkKind::X,
                &["tweet.read", "tweet.write", "users.read", "offline.access"]
            ),
            [
                CapabilityHealth::Ok,
                CapabilityHealth::MissingScopes(vec!["dm.read".into(), "dm.write".into()]),
                CapabilityHealth::Ok,
            ]
        );
        assert_eq!(
            health_of(NetworkKind::TikTok, &["user.info.basic", "video.publish"])[2],
            CapabilityHealth::MissingScopes(vec!["user.info.stats".into(), "video.list".into()])
        );
        assert_eq!(
            health_of(NetworkKind::Instagram, &["instagram_business_basic"])[0],
            CapabilityHealth::MissingScopes(vec!["instagram_business_content_publish".into()])
        );
        assert_eq!(
            health_of(
                NetworkKind::Threads,
                &["threads_basic", "threads_manage_insights"]
            )[2],
            CapabilityHealth::Ok
        );
        assert_eq!(
            health_of(NetworkKind::Pinterest, &["boards:read"])[0],
            CapabilityHealth::MissingScopes(vec!["pins:write".into()])
        );
        assert_eq!(
            health_of(NetworkKind::Sandbox, &["profile"])[0],
            CapabilityHealth::MissingScopes(vec!["publish".into()])
        );
    }
}
