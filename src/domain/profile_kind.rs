//! What a profile is at its network: the person who signs in, or something that person manages
//! (SPEC 4a). A person is their own manager; every other kind has a manager, the person whose grant
//! reaches it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::UnknownValue;

/// What a profile is at its network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProfileKind {
    /// The person who signed in (a Facebook user, a LinkedIn member).
    Person,
    /// A Facebook Page or an Instagram professional account linked to one.
    Page,
    /// A LinkedIn organization page.
    Organization,
    /// A YouTube channel.
    Channel,
    /// A Google Business Profile location.
    Location,
}

impl ProfileKind {
    pub const ALL: [Self; 5] = [
        Self::Person,
        Self::Page,
        Self::Organization,
        Self::Channel,
        Self::Location,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Person => "person",
            Self::Page => "page",
            Self::Organization => "organization",
            Self::Channel => "channel",
            Self::Location => "location",
        }
    }

    /// Whether a profile of this kind is reached through a manager's grant.
    pub fn is_asset(self) -> bool {
        self != Self::Person
    }
}

impl fmt::Display for ProfileKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ProfileKind {
    type Err = UnknownValue;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == s)
            .ok_or_else(|| UnknownValue::new("profile kind", s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_reads_back_from_its_stored_text() {
        for kind in ProfileKind::ALL {
            assert_eq!(kind.as_str().parse::<ProfileKind>(), Ok(kind));
        }
        assert!("pages".parse::<ProfileKind>().is_err());
    }
}
