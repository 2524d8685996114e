//! Health beyond the clock (SPEC 4b): what a grant can do with the scopes the network actually
//! granted, and by when its owner is needed again whatever its access token's clock says.
//!
//! The scopes each capability needs are a network's fact and live with its preset
//! (`providers::required_scopes`); the rules that judge a grant by them live here.

use chrono::{DateTime, Utc};

/// The three things the help article says a renewal restores: "your scheduled posts will publish
/// properly, and you'll be able to access inbox items and generate reporting analytics".
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Capability {
    Publishing,
    Inbox,
    Analytics,
}

impl Capability {
    pub const ALL: [Capability; 3] = [
        Capability::Publishing,
        Capability::Inbox,
        Capability::Analytics,
    ];

    /// The name in answers and configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Publishing => "publishing",
            Capability::Inbox => "inbox",
            Capability::Analytics => "analytics",
        }
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a network requires for one capability: each item is one scope the grant must hold,
/// written as the alternatives that satisfy it (Google's full `youtube` scope also uploads).
/// `None`: the preset declares nothing for it — the network offers no API for it to this kind
/// of app, or the network is a generic `oauth2` one whose scopes tokenwarden cannot know.
pub type Requirement = Option<&'static [&'static [&'static str]]>;

/// A grant's health for one capability.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CapabilityHealth {
    /// Every scope the capability needs was granted.
    Ok,
    /// These scopes were not granted (each the first spelling of its requirement): the
    /// capability fails until the owner re-authorizes and grants them.
    MissingScopes(Vec<String>),
    /// The network's needs for this capability are not declared; nothing can be said.
    NotDeclared,
}

impl CapabilityHealth {
    /// The capability cannot work with this grant.
    pub fn is_blocked(&self) -> bool {
        matches!(self, CapabilityHealth::MissingScopes(_))
    }
}

/// Judge one capability: `granted` is what the network said it granted (the token answer's
/// `scope`, Meta's `scopes` and `granular_scopes`). Scopes compare exactly, as networks do.
pub fn evaluate(requirement: Requirement, granted: &[String]) -> CapabilityHealth {
    let Some(items) = requirement else {
        return CapabilityHealth::NotDeclared;
    };
    let missing: Vec<String> = items
        .iter()
        .filter(|alternatives| !alternatives.iter().any(|s| granted.iter().any(|g| g == s)))
        .filter_map(|alternatives| alternatives.first().map(|s| (*s).to_owned()))
        .collect();
    if missing.is_empty() {
        CapabilityHealth::Ok
    } else {
        CapabilityHealth::MissingScopes(missing)
    }
}

/// Every scope missing for any of `capabilities`, once each, in order: what a re-authorization
/// asks for.
pub fn missing_scopes<'a>(health: impl IntoIterator<Item = &'a CapabilityHealth>) -> Vec<String> {
    let mut all: Vec<String> = Vec::new();
    for h in health {
        if let CapabilityHealth::MissingScopes(missing) = h {
            for s in missing {
                if !all.contains(s) {
                    all.push(s.clone());
                }
            }
        }
    }
    all
}

/// By when the grant's owner must re-authorize, whatever the access token's clock says: the
/// earlier of the refresh token's own expiry (`refresh_expires_in`: LinkedIn, TikTok,
/// Pinterest) and Meta's `data_access_expires_at` (90 days after the person last used the
/// app). `None` when the network names neither.
pub fn reauthorize_by(
    refresh_expires_at: Option<DateTime<Utc>>,
    data_access_expires_at: Option<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match (refresh_expires_at, data_access_expires_at) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn granted(s: &[&str]) -> Vec<String> {
        s.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn a_capability_is_ok_only_when_every_requirement_is_granted() {
        let needs: Requirement = Some(&[&["pages_manage_posts"], &["pages_show_list"]]);
        assert_eq!(
            evaluate(needs, &granted(&["pages_show_list", "pages_manage_posts"])),
            CapabilityHealth::Ok
        );
        let unticked = evaluate(needs, &granted(&["pages_show_list", "public_profile"]));
        assert_eq!(
            unticked,
            CapabilityHealth::MissingScopes(vec!["pages_manage_posts".into()])
        );
        assert!(unticked.is_blocked());
        assert_eq!(evaluate(None, &[]), CapabilityHealth::NotDeclared);
        assert!(!CapabilityHealth::NotDeclared.is_blocked());
    }

    #[test]
    fn any_alternative_satisfies_a_requirement_and_the_first_is_asked_for() {
        let needs: Requirement = Some(&[&["youtube.upload", "youtube"]]);
        assert_eq!(
            evaluate(needs, &granted(&["youtube"])),
            CapabilityHealth::Ok
        );
        assert_eq!(
            evaluate(needs, &granted(&["youtube.readonly"])),
            CapabilityHealth::MissingScopes(vec!["youtube.upload".into()])
        );
    }

    #[test]
    fn the_missing_scopes_of_several_capabilities_are_asked_for_once() {
        let health = [
            CapabilityHealth::MissingScopes(vec!["a".into(), "b".into()]),
            CapabilityHealth::Ok,
            CapabilityHealth::MissingScopes(vec!["b".into(), "c".into()]),
        ];
        assert_eq!(missing_scopes(&health), ["a", "b", "c"]);
    }

    #[test]
    fn reauthorize_by_is_the_earlier_of_the_two_expiries() {
        let t = |d: i64| DateTime::from_timestamp(1_800_000_000 + d * 86_400, 0).unwrap();
        assert_eq!(reauthorize_by(None, None), None);
        assert_eq!(reauthorize_by(Some(t(365)), None), Some(t(365)));
        assert_eq!(reauthorize_by(None, Some(t(90))), Some(t(90)));
        assert_eq!(reauthorize_by(Some(t(365)), Some(t(90))), Some(t(90)));
        assert_eq!(reauthorize_by(Some(t(30)), Some(t(90))), Some(t(30)));
    }
}
