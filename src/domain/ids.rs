//! One id type per entity, so that a brand's id cannot be passed where an
//! account's is expected. Ids are parsed once where they enter (a path, a
//! body, a token's claim, a stored row) and travel typed from there.
//!
//! Storage keeps them as today: the lower-case hyphenated text of a UUID
//! (UUIDv7 for the ones we generate). Each id holds that text, so it is
//! `Copy` and lends the exact stored bytes to SQL without formatting them
//! again (the diesel side is in `db::ids`).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, Schema, SchemaFormat, Type};

/// The text form of a UUID: 36 ASCII bytes, lower-case, hyphenated.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UuidText([u8; uuid::fmt::Hyphenated::LENGTH]);

impl UuidText {
    fn from_uuid(id: uuid::Uuid) -> Self {
        let mut text = [0; uuid::fmt::Hyphenated::LENGTH];
        id.hyphenated().encode_lower(&mut text);
        Self(text)
    }

    fn as_str(&self) -> &str {
        // Written only by `encode_lower`, which writes ASCII.
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

/// The OpenAPI schema of every id: a string in UUID format.
fn uuid_schema() -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
        .into()
}

macro_rules! uuid_ids {
    ($($(#[$doc:meta])* $name:ident;)+) => {$(
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(UuidText);

        impl $name {
            /// A new time-ordered id (UUIDv7).
            #[expect(clippy::new_without_default, reason = "a default id would be a random one nobody asked for")]
            pub fn new() -> Self {
                Self(UuidText::from_uuid(uuid::Uuid::now_v7()))
            }

            /// Reads a UUID in any form `uuid` accepts; keeps its canonical text.
            pub fn parse(text: &str) -> Result<Self, uuid::Error> {
                uuid::Uuid::parse_str(text).map(Self::from)
            }

            /// The canonical text, as stored.
            pub fn as_str(&self) -> &str {
                self.0.as_str()
            }

            pub fn uuid(&self) -> uuid::Uuid {
                // The text was written from a UUID, so it reads back as one.
                uuid::Uuid::parse_str(self.as_str()).unwrap_or_default()
            }
        }

        impl From<uuid::Uuid> for $name {
            fn from(id: uuid::Uuid) -> Self {
                Self(UuidText::from_uuid(id))
            }
        }

        impl From<$name> for uuid::Uuid {
            fn from(id: $name) -> Self {
                id.uuid()
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Self::parse(text)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                self.as_str()
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // As the text it is, so logs and messages read as they did when ids were strings.
        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(self.as_str(), f)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                uuid::Uuid::deserialize(d).map(Self::from)
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                uuid_schema()
            }
        }

        impl utoipa::ToSchema for $name {}
    )+};
}

uuid_ids! {
    /// A brand (workspace) of an organization.
    BrandId;
    /// A profile: one social identity in an organization.
    ProfileId;
    /// An account: a profile as connected in one brand.
    AccountId;
    /// A credential: one stored OAuth grant.
    CredentialId;
    /// An audit event.
    AuditEventId;
    /// A single-use OAuth `state` of an authorization under way.
    OAuthStateId;
    /// A reconnect link sent to a profile's owner.
    ReconnectLinkId;
    /// A webhook subscription.
    WebhookId;
    /// A connection: a person's grant waiting for the assets to connect to be chosen.
    ConnectionId;
    /// A queued webhook message (one event for one subscription).
    WebhookMessageId;
    /// One delivery attempt of a webhook message.
    WebhookAttemptId;
}

/// An organization, the tenant. Not a UUID by construction: a token's `org`
/// claim names it, and a claim is any text the issuer chose (one that names
/// no stored organization reaches nothing). Organizations created through
/// the API have UUIDs.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OrganizationId(String);

impl OrganizationId {
    /// A new time-ordered id (UUIDv7).
    #[expect(
        clippy::new_without_default,
        reason = "a default id would be a random one nobody asked for"
    )]
    pub fn new() -> Self {
        Self(uuid::Uuid::now_v7().to_string())
    }

    /// The organization a token's `org` claim or a stored row names, as is.
    pub fn named(text: impl Into<String>) -> Self {
        Self(text.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<uuid::Uuid> for OrganizationId {
    fn from(id: uuid::Uuid) -> Self {
        Self(id.to_string())
    }
}

impl AsRef<str> for OrganizationId {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl PartialEq<str> for OrganizationId {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl fmt::Display for OrganizationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for OrganizationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl Serialize for OrganizationId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OrganizationId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Self)
    }
}

impl utoipa::PartialSchema for OrganizationId {
    fn schema() -> RefOr<Schema> {
        uuid_schema()
    }
}

impl utoipa::ToSchema for OrganizationId {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_keep_the_canonical_text_of_the_uuid() {
        let upper = "0193A0C4-7A4E-7D3C-9B9E-3F1F0F3A2B10";
        let id = BrandId::parse(upper).unwrap();
        assert_eq!(id.as_str(), upper.to_lowercase());
        assert_eq!(id.to_string(), id.uuid().to_string());
        assert_eq!(format!("{id:?}"), format!("{:?}", upper.to_lowercase()));
        assert!(AccountId::parse("not-a-uuid").is_err());
        let fresh = AccountId::new();
        assert_eq!(fresh.uuid().get_version_num(), 7);
        assert_eq!(AccountId::parse(fresh.as_str()).unwrap(), fresh);
    }

    #[test]
    fn ids_travel_as_json_strings() {
        let id = CredentialId::new();
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, format!("\"{id}\""));
        assert_eq!(serde_json::from_str::<CredentialId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<CredentialId>("\"nope\"").is_err());
    }
}
