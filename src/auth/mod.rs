//! Bearer JWT authentication and scopes.
//!
//! Tokens are HS256 with a shared secret, or RS256/EdDSA with public keys
//! chosen by `kid`. `iss`, `aud`, `exp`, `sub`, `org` and `scope` are required;
//! the leeway is at most 30 seconds. The algorithm is never taken from the
//! token alone: a `kid` names a key and that key fixes the algorithm, and a
//! token without `kid` can only be HS256 against the shared secret. An
//! optional `brands` claim (a list of brand ids) restricts the token to those
//! brands of its organization.

use crate::domain::ids::{BrandId, OrganizationId};
use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};

use crate::config::{JwtKeyAlgorithm, MAX_JWT_LEEWAY_SECS, Settings};
use crate::domain::audience::Audience;
use crate::error::Error;
use crate::lru::Lru;

/// The scopes a token may carry in its space-separated `scope` claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    AccountsRead,
    AccountsWrite,
    AccountsImport,
    TokensRenew,
    TokensRead,
    OrgAdmin,
    PlatformAdmin,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::AccountsRead,
        Scope::AccountsWrite,
        Scope::AccountsImport,
        Scope::TokensRenew,
        Scope::TokensRead,
        Scope::OrgAdmin,
        Scope::PlatformAdmin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::AccountsRead => "accounts:read",
            Scope::AccountsWrite => "accounts:write",
            Scope::AccountsImport => "accounts:import",
            Scope::TokensRenew => "tokens:renew",
            Scope::TokensRead => "tokens:read",
            Scope::OrgAdmin => "org:admin",
            Scope::PlatformAdmin => "platform:admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|x| x.as_str() == s)
    }
}

/// The claims tokenwarden reads. Unknown claims are ignored. `aud` may be one
/// audience or a list, and the dates any NumericDate (RFC 7519 §2 allows
/// fractions): jsonwebtoken checks both, and this shape must not refuse what
/// it accepts.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub iss: String,
    pub aud: AudienceClaim,
    pub sub: String,
    pub org: String,
    pub scope: String,
    #[serde(deserialize_with = "numeric_date::required")]
    pub exp: i64,
    #[serde(
        default,
        deserialize_with = "numeric_date::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub nbf: Option<i64>,
    #[serde(
        default,
        deserialize_with = "numeric_date::optional",
        skip_serializing_if = "Option::is_none"
    )]
    pub iat: Option<i64>,
    /// The brand ids the token is restricted to; absent: every brand.
    /// Present, it must be a list (`null` is refused, not read as absent).
    #[serde(
        default,
        deserialize_with = "brands_claim",
        skip_serializing_if = "Option::is_none"
    )]
    pub brands: Option<Vec<String>>,
}

/// The most brand ids a `brands` claim may list.
pub const MAX_CLAIMED_BRANDS: usize = 500;

/// Reads a present `brands` claim: a list of strings, never `null`.
fn brands_claim<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    Vec::<String>::deserialize(d).map(Some)
}

/// The brands a `brands` claim names, as stored ids: a non-empty list of at
/// most [`MAX_CLAIMED_BRANDS`] UUIDs (an empty list would reach nothing and
/// reads too easily as "no restriction", so it is refused).
fn claimed_brands(brands: Vec<String>) -> Result<Vec<BrandId>, &'static str> {
    if brands.is_empty() || brands.len() > MAX_CLAIMED_BRANDS {
        return Err("brands must list 1 to 500 brand ids");
    }
    brands
        .iter()
        .map(|b| BrandId::parse(b).map_err(|_| "brands must be a list of brand ids"))
        .collect()
}

/// A JWT's `aud`: one audience, or several (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AudienceClaim {
    One(String),
    Several(Vec<String>),
}

/// NumericDates as whole seconds: a fraction is dropped, which moves `exp`
/// earlier and `nbf` by less than a second (jsonwebtoken judges the token
/// itself, rounding).
mod numeric_date {
    use serde::{Deserialize, Deserializer, de::Error};

    fn seconds<E: Error>(value: f64) -> Result<i64, E> {
        // Within ±2^53, where every f64 integer is exact and the cast cannot saturate.
        const EXACT: f64 = 9_007_199_254_740_992.0;
        if value.is_finite() && value.abs() <= EXACT {
            Ok(value.floor() as i64)
        } else {
            Err(E::custom("a NumericDate out of range"))
        }
    }

    pub fn required<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        seconds(f64::deserialize(d)?)
    }

    pub fn optional<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Option::<f64>::deserialize(d)?.map(seconds).transpose()
    }
}

/// Who is calling: the token's subject, audience (organization and brands)
/// and scopes.
#[derive(Debug, Clone)]
pub struct Principal {
    pub subject: String,
    audience: Audience,
    scopes: BTreeSet<Scope>,
}

impl Principal {
    /// The caller's organization. `platform:admin` never widens it: tenant
    /// routes always act inside the token's own `org`.
    pub fn organization_id(&self) -> &OrganizationId {
        self.audience.organization_id()
    }

    /// The organization and the brands the token reaches in it: what every
    /// brand-, account- and profile-level use case is given.
    pub fn audience(&self) -> &Audience {
        &self.audience
    }

    /// Fails with 403 `organization-wide-token-required` when the token is
    /// restricted to some brands: creating and deleting brands, the
    /// organization's settings and webhooks act on the whole organization.
    pub fn require_whole_organization(&self) -> Result<(), Error> {
        if self.audience.is_whole_organization() {
            Ok(())
        } else {
            Err(Error::BrandRestricted)
        }
    }

    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&scope)
    }

    /// Fails with 403 `insufficient-scope` unless the token carries `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), Error> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(Error::InsufficientScope(scope.as_str()))
        }
    }

    pub fn scopes(&self) -> impl Iterator<Item = Scope> + '_ {
        self.scopes.iter().copied()
    }
}

struct KeyEntry {
    algorithm: Algorithm,
    key: DecodingKey,
}

/// Verifies bearer tokens against the configured keys.
pub struct JwtVerifier {
    issuer: String,
    audience: String,
    leeway: u64,
    hs256: Option<DecodingKey>,
    keys: HashMap<String, KeyEntry>,
    /// Tokens this process verified, with what they name and their time
    /// bounds: a front end polls with one token, and its signature, header
    /// and claims are checked once, not at every poll. Keys come from the
    /// configuration, so a kept verdict holds until the token's own `exp`.
    verified: Mutex<Lru<String, Verified>>,
}

/// A token's verdict, kept.
struct Verified {
    principal: Principal,
    exp: i64,
    nbf: Option<i64>,
}

/// Bytes of verdicts kept (a few thousand front ends' tokens), the least
/// recently used let go first: thousands of organizations polling at once
/// must not each verify again because the others filled the store.
const VERIFIED_BUDGET: usize = 4 * 1024 * 1024;
/// Longer tokens are verified every time.
const VERIFIED_MAX_TOKEN_LEN: usize = 2048;
/// What a verdict holds besides its token, roughly.
const VERDICT_BYTES: usize = 256;

#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error(
        "no JWT verification key configured: set TOKENWARDEN_JWT__HS256_SECRET (or _FILE), configure [[jwt.keys]], or run with --dev"
    )]
    NoKeys,
    #[error("the HS256 secret must be at least 32 bytes")]
    WeakSecret,
    #[error("JWT key {kid}: {reason}")]
    BadKey { kid: String, reason: String },
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
}

impl JwtVerifier {
    pub fn from_settings(settings: &Settings) -> Result<Self, AuthSetupError> {
        let jwt = &settings.jwt;
        let hs256 = match settings.jwt_hs256_secret()? {
            Some(secret) => {
                if secret.expose_secret().len() < 32 {
                    return Err(AuthSetupError::WeakSecret);
                }
                Some(DecodingKey::from_secret(secret.expose_secret().as_bytes()))
            }
            None => None,
        };
        let mut keys = HashMap::new();
        for key in &jwt.keys {
            let pem = match (&key.public_key_pem, &key.public_key_file) {
                (Some(pem), _) => pem.clone(),
                (None, Some(path)) => {
                    std::fs::read_to_string(path).map_err(|e| AuthSetupError::BadKey {
                        kid: key.kid.clone(),
                        reason: format!("{}: {e}", path.display()),
                    })?
                }
                (None, None) => {
                    return Err(AuthSetupError::BadKey {
                        kid: key.kid.clone(),
                        reason: "needs public_key_pem or public_key_file".into(),
                    });
                }
            };
            let (algorithm, decoding) = match key.algorithm {
                JwtKeyAlgorithm::RS256 => {
                    (Algorithm::RS256, DecodingKey::from_rsa_pem(pem.as_bytes()))
                }
                JwtKeyAlgorithm::EdDSA => {
                    (Algorithm::EdDSA, DecodingKey::from_ed_pem(pem.as_bytes()))
                }
            };
            let decoding = decoding.map_err(|e| AuthSetupError::BadKey {
                kid: key.kid.clone(),
                reason: e.to_string(),
            })?;
            keys.insert(
                key.kid.clone(),
                KeyEntry {
                    algorithm,
                    key: decoding,
                },
            );
        }
        if hs256.is_none() && keys.is_empty() {
            return Err(AuthSetupError::NoKeys);
        }
        Ok(Self {
            issuer: jwt.issuer.clone(),
            audience: jwt.audience.clone(),
            leeway: jwt.leeway_secs.min(MAX_JWT_LEEWAY_SECS),
            hs256,
            keys,
            verified: Mutex::new(Lru::new(VERIFIED_BUDGET)),
        })
    }

    /// Verifies a compact JWS and returns the principal it names.
    pub fn verify(&self, token: &str) -> Result<Principal, Error> {
        let now = i64::try_from(jsonwebtoken::get_current_timestamp()).unwrap_or(i64::MAX);
        let leeway = i64::try_from(self.leeway).unwrap_or(0);
        {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            // The same bounds as a full check: `exp` and `nbf` with the leeway.
            let kept = verified.get(token, |kept| {
                (kept.exp >= now - leeway && kept.nbf.is_none_or(|nbf| nbf <= now + leeway))
                    .then(|| kept.principal.clone())
            });
            if let Some(principal) = kept {
                return Ok(principal);
            }
        }
        let (principal, exp, nbf) = self.verify_fully(token)?;
        if token.len() <= VERIFIED_MAX_TOKEN_LEN {
            let mut verified = self.verified.lock().unwrap_or_else(|e| e.into_inner());
            verified.put(
                token.to_string(),
                Verified {
                    principal: principal.clone(),
                    exp,
                    nbf,
                },
                token.len() + VERDICT_BYTES,
            );
        }
        Ok(principal)
    }

    /// The whole check: header, key, signature, claims. Also gives `exp`
    /// and `nbf`.
    fn verify_fully(&self, token: &str) -> Result<(Principal, i64, Option<i64>), Error> {
        let invalid = |why: &str| Error::Unauthorized(format!("invalid bearer token: {why}"));
        // An unsupported `alg` (including "none") fails to parse here.
        let header = jsonwebtoken::decode_header(token).map_err(|_| invalid("malformed header"))?;
        let (algorithm, key) = match &header.kid {
            Some(kid) => {
                let entry = self
                    .keys
                    .get(kid)
                    .ok_or_else(|| invalid("unknown key id"))?;
                (entry.algorithm, &entry.key)
            }
            None => (
                Algorithm::HS256,
                self.hs256
                    .as_ref()
                    .ok_or_else(|| invalid("a key id (kid) is required"))?,
            ),
        };
        if header.alg != algorithm {
            return Err(invalid("algorithm does not match the key"));
        }
        let mut validation = Validation::new(algorithm);
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = self.leeway;
        validation.validate_nbf = true;
        let data = jsonwebtoken::decode::<Claims>(token, key, &validation).map_err(|e| {
            use jsonwebtoken::errors::ErrorKind;
            match e.kind() {
                ErrorKind::ExpiredSignature => invalid("expired"),
                ErrorKind::ImmatureSignature => invalid("not yet valid"),
                ErrorKind::InvalidAudience => invalid("wrong audience"),
                ErrorKind::InvalidIssuer => invalid("wrong issuer"),
                ErrorKind::InvalidSignature => invalid("bad signature"),
                ErrorKind::MissingRequiredClaim(_) | ErrorKind::Json(_) => {
                    invalid("missing or malformed claims")
                }
                _ => invalid("rejected"),
            }
        })?;
        let claims = data.claims;
        if claims.sub.trim().is_empty() || claims.org.trim().is_empty() {
            return Err(invalid("empty sub or org"));
        }
        // PostgreSQL stores no U+0000 in text: such a subject could never
        // write its audit events, nor such an organization be read.
        if claims.sub.contains('\0') || claims.org.contains('\0') {
            return Err(invalid("sub or org holds U+0000"));
        }
        // Bounds the API documents for what it echoes (audit `actor`).
        if claims.sub.len() > 1024 || claims.org.len() > 255 {
            return Err(invalid("sub or org too long"));
        }
        let scopes = claims
            .scope
            .split_whitespace()
            .filter_map(Scope::parse)
            .collect();
        let audience = match claims.brands {
            None => Audience::organization(OrganizationId::named(claims.org)),
            Some(brands) => Audience::brands(
                OrganizationId::named(claims.org),
                claimed_brands(brands).map_err(invalid)?,
            ),
        };
        Ok((
            Principal {
                subject: claims.sub,
                audience,
                scopes,
            },
            claims.exp,
            claims.nbf,
        ))
    }
}

/// Signs HS256 tokens with the configured secret (`tokenwarden token mint`).
pub struct TokenMinter {
    issuer: String,
    audience: String,
    key: EncodingKey,
}

impl TokenMinter {
    pub fn from_settings(settings: &Settings) -> Result<Self, AuthSetupError> {
        let secret = settings.jwt_hs256_secret()?.ok_or(AuthSetupError::NoKeys)?;
        Ok(Self::new(
            &settings.jwt.issuer,
            &settings.jwt.audience,
            &secret,
        ))
    }

    pub fn new(issuer: &str, audience: &str, secret: &SecretString) -> Self {
        Self {
            issuer: issuer.into(),
            audience: audience.into(),
            key: EncodingKey::from_secret(secret.expose_secret().as_bytes()),
        }
    }

    pub fn mint(&self, org: &str, sub: &str, scopes: &str, ttl: std::time::Duration) -> String {
        self.mint_for_brands(org, sub, scopes, None, ttl)
    }

    /// A token restricted to `brands` (its `brands` claim), or to none when `None`.
    pub fn mint_for_brands(
        &self,
        org: &str,
        sub: &str,
        scopes: &str,
        brands: Option<&[String]>,
        ttl: std::time::Duration,
    ) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: AudienceClaim::One(self.audience.clone()),
            sub: sub.into(),
            org: org.into(),
            scope: scopes.into(),
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            nbf: None,
            iat: Some(now),
            brands: brands.map(<[String]>::to_vec),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .expect("HS256 signing cannot fail")
    }
}
