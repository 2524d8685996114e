//! Secrets at rest: AES-256-GCM under a key ring.
//!
//! Every ciphertext is stored beside the id of the key that sealed it, and is
//! bound by associated data to the record it belongs to and the field it fills,
//! so a ciphertext copied into another row or column does not decrypt. The
//! first key of the ring is the active one (new ciphertexts); the others only
//! decrypt, which lets keys rotate without downtime.
//!
//! The ring also fingerprints tokens (HMAC-SHA256), so that a grant already
//! stored can be recognized without comparing plaintexts: each key derives its
//! own fingerprint key, and a fingerprint names the key it was made with.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;

/// What a ring key is stretched with to give its fingerprint key: a key used
/// for one purpose only, so a fingerprint never reveals anything about the
/// encryption key and vice versa.
const FINGERPRINT_KEY_LABEL: &[u8] = b"tokenwarden/v1/token-fingerprint-key";

#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("key ring entry {0} is not of the form `id:base64key`")]
    MalformedEntry(usize),
    #[error("key id `{0}` must be 1–64 characters of A–Z, a–z, 0–9, `.`, `_`, `-`")]
    BadKeyId(String),
    #[error("key `{0}` is not 32 bytes of base64")]
    BadKeyMaterial(String),
    #[error("key id `{0}` appears twice in the key ring")]
    DuplicateKeyId(String),
    #[error("the key ring is empty")]
    Empty,
    #[error("no key `{0}` in the key ring")]
    UnknownKey(String),
    #[error("ciphertext does not authenticate (wrong key, record or field)")]
    Authentication,
    #[error("decrypted secret is not UTF-8")]
    NotUtf8,
}

impl CryptoError {
    /// The ciphertext is not this record's: its key is in the ring, but it
    /// does not authenticate under this record and field (moved from another
    /// row, or altered). A key missing from the ring is the configuration's
    /// fault instead, and says nothing about the record.
    pub fn is_not_this_records(&self) -> bool {
        matches!(self, CryptoError::Authentication | CryptoError::NotUtf8)
    }
}

/// Which record and field a ciphertext belongs to (the associated data).
#[derive(Debug, Clone, Copy)]
pub struct Binding<'a> {
    pub record_id: &'a str,
    pub field: &'a str,
}

impl Binding<'_> {
    fn aad(&self) -> Vec<u8> {
        format!("tokenwarden/v1/{}/{}", self.field, self.record_id).into_bytes()
    }
}

/// A sealed secret: the key id and `nonce || ciphertext || tag`.
#[derive(Clone, PartialEq, Eq)]
pub struct Sealed {
    pub key_id: String,
    pub bytes: Vec<u8>,
}

impl std::fmt::Debug for Sealed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealed")
            .field("key_id", &self.key_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

struct RingKey {
    id: String,
    cipher: Aes256Gcm,
    /// HMAC-SHA256 keyed with HMAC-SHA256(key material, label).
    fingerprint: Hmac<Sha256>,
}

pub struct KeyRing {
    keys: Vec<RingKey>,
}

impl std::fmt::Debug for KeyRing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRing")
            .field("key_ids", &self.key_ids())
            .finish()
    }
}

impl KeyRing {
    /// Parses `id:base64key` entries separated by commas, whitespace or newlines;
    /// the first entry is the active key.
    pub fn parse(spec: &SecretString) -> Result<Self, CryptoError> {
        let mut keys: Vec<RingKey> = Vec::new();
        for (index, entry) in spec
            .expose_secret()
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|e| !e.is_empty())
            .enumerate()
        {
            let (id, material) = entry
                .split_once(':')
                .ok_or(CryptoError::MalformedEntry(index + 1))?;
            if !valid_key_id(id) {
                return Err(CryptoError::BadKeyId(id.to_string()));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(CryptoError::DuplicateKeyId(id.to_string()));
            }
            let raw = Zeroizing::new(
                STANDARD
                    .decode(material.trim())
                    .map_err(|_| CryptoError::BadKeyMaterial(id.to_string()))?,
            );
            if raw.len() != 32 {
                return Err(CryptoError::BadKeyMaterial(id.to_string()));
            }
            let cipher = Aes256Gcm::new_from_slice(&raw)
                .map_err(|_| CryptoError::BadKeyMaterial(id.to_string()))?;
            keys.push(RingKey {
                id: id.to_string(),
                cipher,
                fingerprint: fingerprint_key(&raw),
            });
        }
        if keys.is_empty() {
            return Err(CryptoError::Empty);
        }
        Ok(Self { keys })
    }

    /// A fresh key ring entry (`id:base64key`) from the operating system's RNG.
    /// The id is the time it was made (so ids sort by age) and 64 random bits,
    /// so keys made in the same second still have ids of their own: a ring
    /// refuses to load with one id twice.
    pub fn generate_entry() -> SecretString {
        let mut raw = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(raw.as_mut());
        let id = format!(
            "k{}-{:016x}",
            crate::domain::now().format("%Y%m%d%H%M%S"),
            rand::rng().next_u64()
        );
        SecretString::from(format!("{id}:{}", STANDARD.encode(raw.as_ref())))
    }

    pub fn active_key_id(&self) -> &str {
        &self.keys[0].id
    }

    pub fn key_ids(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.id.as_str()).collect()
    }

    /// The keyed fingerprint of a token under the active key:
    /// `{key id}:{hex HMAC-SHA256}`. Equal tokens give equal fingerprints
    /// while the active key stays; the plaintext cannot be read back from it,
    /// nor guessed without the key. Rotating the active key changes every
    /// fingerprint, which is why it names its key (see
    /// [`KeyRing::fingerprint_is_current`]).
    pub fn fingerprint(&self, secret: &SecretString) -> String {
        let key = &self.keys[0];
        let mut mac = key.fingerprint.clone();
        mac.update(secret.expose_secret().as_bytes());
        let digest = mac.finalize().into_bytes();
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        format!("{}:{hex}", key.id)
    }

    /// Whether a stored fingerprint was made with the active key, so that it
    /// can be compared with [`KeyRing::fingerprint`]'s.
    pub fn fingerprint_is_current(&self, fingerprint: &str) -> bool {
        fingerprint
            .strip_prefix(self.active_key_id())
            .is_some_and(|rest| rest.starts_with(':'))
    }

    pub fn encrypt(&self, plaintext: &[u8], binding: Binding<'_>) -> Sealed {
        let RingKey {
            id: key_id, cipher, ..
        } = &self.keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let aad = binding.aad();
        let ciphertext = cipher
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            // AES-GCM encryption fails only for plaintexts beyond 64 GiB.
            .expect("AES-GCM encryption of a bounded plaintext");
        let mut bytes = Vec::with_capacity(NONCE_LEN + ciphertext.len());
        bytes.extend_from_slice(&nonce);
        bytes.extend_from_slice(&ciphertext);
        Sealed {
            key_id: key_id.clone(),
            bytes,
        }
    }

    pub fn encrypt_secret(&self, secret: &SecretString, binding: Binding<'_>) -> Sealed {
        self.encrypt(secret.expose_secret().as_bytes(), binding)
    }

    pub fn decrypt(
        &self,
        key_id: &str,
        bytes: &[u8],
        binding: Binding<'_>,
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let cipher = self
            .keys
            .iter()
            .find(|k| k.id == key_id)
            .map(|k| &k.cipher)
            .ok_or_else(|| CryptoError::UnknownKey(key_id.to_string()))?;
        if bytes.len() < NONCE_LEN {
            return Err(CryptoError::Authentication);
        }
        let (nonce, ciphertext) = bytes.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CryptoError::Authentication)?;
        let aad = binding.aad();
        cipher
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: ciphertext,
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| CryptoError::Authentication)
    }

    pub fn decrypt_secret(
        &self,
        key_id: &str,
        bytes: &[u8],
        binding: Binding<'_>,
    ) -> Result<SecretString, CryptoError> {
        let plain = self.decrypt(key_id, bytes, binding)?;
        let text = std::str::from_utf8(&plain).map_err(|_| CryptoError::NotUtf8)?;
        Ok(SecretString::from(text.to_string()))
    }

    /// Re-seals a ciphertext under the active key; `None` when it already is.
    pub fn reseal(
        &self,
        key_id: &str,
        bytes: &[u8],
        binding: Binding<'_>,
    ) -> Result<Option<Sealed>, CryptoError> {
        if key_id == self.active_key_id() {
            return Ok(None);
        }
        let plain = self.decrypt(key_id, bytes, binding)?;
        Ok(Some(self.encrypt(&plain, binding)))
    }
}

/// The fingerprint key of a ring key: HMAC-SHA256 of a fixed label under the
/// key material (one extract step of HKDF), so it is as secret as the key and
/// used for nothing else.
fn fingerprint_key(material: &[u8]) -> Hmac<Sha256> {
    let mut derive =
        <Hmac<Sha256> as Mac>::new_from_slice(material).expect("HMAC takes a key of any length");
    derive.update(FINGERPRINT_KEY_LABEL);
    let key = Zeroizing::new(derive.finalize().into_bytes());
    <Hmac<Sha256> as Mac>::new_from_slice(&key).expect("HMAC takes a key of any length")
}

fn valid_key_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(spec: &str) -> KeyRing {
        KeyRing::parse(&SecretString::from(spec.to_string())).unwrap()
    }

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2:HwAeAR0CHAMbBBoFGQYYBxcIFgkVChQLEwwSDRENEA8=";
    const ACCESS_C1: Binding<'static> = Binding {
        record_id: "c1",
        field: "access_token",
    };

    #[test]
    fn seals_and_opens_with_binding() {
        let ring = ring(K1);
        let b = ACCESS_C1;
        let sealed = ring.encrypt(b"secret-token", b);
        assert_eq!(sealed.key_id, "k1");
        assert!(!sealed.bytes.windows(12).any(|w| w == b"secret-token"));
        assert_eq!(
            &*ring.decrypt("k1", &sealed.bytes, b).unwrap(),
            b"secret-token"
        );
        let other_field = Binding {
            record_id: "c1",
            field: "refresh_token",
        };
        assert!(matches!(
            ring.decrypt("k1", &sealed.bytes, other_field),
            Err(CryptoError::Authentication)
        ));
        let other_record = Binding {
            record_id: "c2",
            field: "access_token",
        };
        assert!(ring.decrypt("k1", &sealed.bytes, other_record).is_err());
    }

    #[test]
    fn rotation_reseals_under_the_active_key() {
        let old = ring(K1);
        let b = ACCESS_C1;
        let sealed = old.encrypt(b"tok", b);
        let new = ring(&format!("{K2},{K1}"));
        let resealed = new
            .reseal(&sealed.key_id, &sealed.bytes, b)
            .unwrap()
            .unwrap();
        assert_eq!(resealed.key_id, "k2");
        let only_new = ring(K2);
        assert_eq!(
            &*only_new.decrypt("k2", &resealed.bytes, b).unwrap(),
            b"tok"
        );
        assert!(new.reseal("k2", &resealed.bytes, b).unwrap().is_none());
    }

    #[test]
    fn fingerprints_are_keyed_and_name_their_key() {
        let token = SecretString::from("refresh-token-value".to_string());
        let one = ring(K1);
        let fp = one.fingerprint(&token);
        assert!(fp.starts_with("k1:") && fp.len() == 3 + 64, "{fp}");
        assert!(!fp.contains("refresh-token-value"));
        assert_eq!(fp, ring(K1).fingerprint(&token), "stable under one key");
        assert_ne!(
            fp,
            one.fingerprint(&SecretString::from("other".to_string()))
        );
        // Unkeyed SHA-256 of the token would let anyone holding a guess confirm it.
        let plain: String = <Sha256 as sha2::Digest>::digest(b"refresh-token-value")
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert!(!fp.ends_with(&plain));
        // A new active key fingerprints differently and knows the old ones are stale.
        let rotated = ring(&format!("{K2},{K1}"));
        assert!(rotated.fingerprint(&token).starts_with("k2:"));
        assert_ne!(rotated.fingerprint(&token)[3..], fp[3..]);
        assert!(!rotated.fingerprint_is_current(&fp));
        assert!(one.fingerprint_is_current(&fp));
        assert!(
            !ring("k:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=").fingerprint_is_current(&fp)
        );
    }

    #[test]
    fn rejects_bad_rings() {
        for bad in [
            "",
            "nocolon",
            "k1:short",
            "bad id:AAAA",
            &format!("{K1},{K1}"),
        ] {
            assert!(
                KeyRing::parse(&SecretString::from(bad.to_string())).is_err(),
                "{bad}"
            );
        }
        let generated = KeyRing::generate_entry();
        assert!(KeyRing::parse(&generated).is_ok());
    }
}
