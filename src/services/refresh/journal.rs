//! The grant journal: rotated grants a network returned that are not stored
//! yet (docs/rules.md#never-lose-a-grant). The network spends the old
//! refresh token when it answers, so from then on the grant exists only in
//! this process's memory; the journal puts it on disk, sealed, before the
//! first attempt to store it, and the entry goes once the database holds
//! the grant (or it lost to a newer one). What is still there at start is
//! replayed.
//!
//! One file per pending grant in `{data_dir}/grant-journal/`, named
//! `{credential_id}.{id}.grant`: a small JSON envelope around the grant,
//! sealed with the key ring (AES-256-GCM bound to the credential and to this
//! use), written to a temporary file, fsync'd, renamed into place and the
//! directory fsync'd.

use crate::domain::ids::{CredentialId, OrganizationId, ProfileId};
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::crypto::{Binding, KeyRing};
use crate::domain::new_id;
use crate::error::Error;

/// The journal's folder inside the data dir.
pub const JOURNAL_DIR: &str = "grant-journal";
/// The associated data's field name: a journal entry opens only as one.
const FIELD: &str = "grant_journal";
const SUFFIX: &str = ".grant";
const FORMAT: u8 = 1;

/// A refreshed grant waiting to be stored.
pub struct PendingGrant {
    pub credential_id: CredentialId,
    pub organization_id: OrganizationId,
    pub profile_id: ProfileId,
    pub network: String,
    /// Who asked for the refresh, for the audit events of the write.
    pub actor: String,
    /// The credential's `version` the grant was refreshed from: it is stored
    /// only while the row still has it.
    pub from_version: i64,
    pub access_token: SecretString,
    /// The refresh token the grant lives on: the rotated one, or the one
    /// spent when the network sent none.
    pub refresh_token: Option<SecretString>,
    /// Whether the network sent a refresh token (write it) or not (the
    /// stored one stays).
    pub rotated: bool,
    pub expires_at: DateTime<Utc>,
    pub refresh_expires_at: Option<DateTime<Utc>>,
    pub scopes: Vec<String>,
}

impl PendingGrant {
    /// The token that ends this grant when revoked: its refresh token, else
    /// its access token.
    pub fn grant_token(&self) -> &SecretString {
        self.refresh_token.as_ref().unwrap_or(&self.access_token)
    }
}

impl std::fmt::Debug for PendingGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingGrant")
            .field("credential_id", &self.credential_id)
            .field("from_version", &self.from_version)
            .finish_non_exhaustive()
    }
}

/// What is on disk: only the credential id and the key id in the clear.
#[derive(Serialize, Deserialize)]
struct Envelope {
    format: u8,
    credential_id: CredentialId,
    key_id: String,
    sealed: String,
}

/// What is sealed.
#[derive(Serialize, Deserialize)]
struct Body {
    organization_id: OrganizationId,
    profile_id: ProfileId,
    network: String,
    actor: String,
    from_version: i64,
    access_token: String,
    refresh_token: Option<String>,
    rotated: bool,
    expires_at: DateTime<Utc>,
    refresh_expires_at: Option<DateTime<Utc>>,
    scopes: Vec<String>,
}

/// The journal of one data dir.
#[derive(Debug, Clone)]
pub struct Journal {
    dir: PathBuf,
}

fn io_error(what: &str, path: &Path, error: std::io::Error) -> Error {
    Error::internal(format!("grant journal: {what} {}: {error}", path.display()))
}

impl Journal {
    pub fn in_data_dir(data_dir: &Path) -> Self {
        Self {
            dir: data_dir.join(JOURNAL_DIR),
        }
    }

    /// Writes `grant` durably; answers the entry's path. Blocking.
    pub fn record(&self, keys: &KeyRing, grant: &PendingGrant) -> Result<PathBuf, Error> {
        let body = Zeroizing::new(
            serde_json::to_vec(&Body {
                organization_id: grant.organization_id.clone(),
                profile_id: grant.profile_id,
                network: grant.network.clone(),
                actor: grant.actor.clone(),
                from_version: grant.from_version,
                access_token: grant.access_token.expose_secret().to_string(),
                refresh_token: grant
                    .refresh_token
                    .as_ref()
                    .map(|t| t.expose_secret().to_string()),
                rotated: grant.rotated,
                expires_at: grant.expires_at,
                refresh_expires_at: grant.refresh_expires_at,
                scopes: grant.scopes.clone(),
            })
            .map_err(|e| Error::internal(format!("grant journal: {e}")))?,
        );
        let sealed = keys.encrypt(&body, binding(&grant.credential_id));
        let envelope = serde_json::to_vec(&Envelope {
            format: FORMAT,
            credential_id: grant.credential_id,
            key_id: sealed.key_id,
            sealed: STANDARD.encode(&sealed.bytes),
        })
        .map_err(|e| Error::internal(format!("grant journal: {e}")))?;

        create_private_dir(&self.dir)?;
        // The id is a UUID's text, so it is safe in a file name.
        let name = format!("{}.{}{SUFFIX}", grant.credential_id, new_id());
        let (temporary, path) = (self.dir.join(format!(".{name}.tmp")), self.dir.join(&name));
        let mut file = private_file(&temporary)?;
        file.write_all(&envelope)
            .and_then(|()| file.sync_all())
            .map_err(|e| io_error("writing", &temporary, e))?;
        drop(file);
        fs::rename(&temporary, &path).map_err(|e| io_error("renaming", &temporary, e))?;
        sync_dir(&self.dir)?;
        Ok(path)
    }

    /// Whether an entry could be written now: a probe file is created,
    /// fsync'd and removed, as [`Journal::record`] would. An instance that
    /// cannot journal would hold renewed grants in memory only, so readiness
    /// asks this (docs/rules.md#never-lose-a-grant). Blocking.
    pub fn probe(&self) -> std::io::Result<()> {
        let mut builder = fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
        builder.create(&self.dir)?;
        let path = self.dir.join(format!(".probe.{}.tmp", new_id()));
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .and_then(|mut file| file.write_all(b"probe").and_then(|()| file.sync_all()));
        let removed = fs::remove_file(&path);
        written.and(removed.or_else(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Ok(()),
            _ => Err(e),
        }))
    }

    /// Every pending entry, oldest name first. Blocking.
    pub fn pending(&self) -> Vec<PathBuf> {
        self.entries(|_| true)
    }

    /// The pending entries of one credential. Blocking.
    pub fn pending_for(&self, credential_id: CredentialId) -> Vec<PathBuf> {
        let prefix = format!("{credential_id}.");
        self.entries(|name| name.starts_with(&prefix))
    }

    fn entries(&self, keep: impl Fn(&str) -> bool) -> Vec<PathBuf> {
        let Ok(dir) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut paths: Vec<PathBuf> = dir
            .filter_map(|entry| entry.ok())
            .filter(|entry| {
                entry.file_name().to_str().is_some_and(|name| {
                    !name.starts_with('.') && name.ends_with(SUFFIX) && keep(name)
                })
            })
            .map(|entry| entry.path())
            .collect();
        paths.sort();
        paths
    }

    /// Reads and opens an entry. Blocking.
    pub fn open(&self, keys: &KeyRing, path: &Path) -> Result<PendingGrant, Error> {
        let raw = fs::read(path).map_err(|e| io_error("reading", path, e))?;
        let envelope: Envelope = serde_json::from_slice(&raw)
            .map_err(|e| Error::internal(format!("grant journal {}: {e}", path.display())))?;
        if envelope.format != FORMAT {
            return Err(Error::internal(format!(
                "grant journal {}: unknown format {}",
                path.display(),
                envelope.format
            )));
        }
        let sealed = STANDARD
            .decode(&envelope.sealed)
            .map_err(|e| Error::internal(format!("grant journal {}: {e}", path.display())))?;
        let plain = keys
            .decrypt(&envelope.key_id, &sealed, binding(&envelope.credential_id))
            .map_err(|e| Error::internal(format!("grant journal {}: {e}", path.display())))?;
        let body: Body = serde_json::from_slice(&plain)
            .map_err(|e| Error::internal(format!("grant journal {}: {e}", path.display())))?;
        Ok(PendingGrant {
            credential_id: envelope.credential_id,
            organization_id: body.organization_id,
            profile_id: body.profile_id,
            network: body.network,
            actor: body.actor,
            from_version: body.from_version,
            access_token: SecretString::from(body.access_token),
            refresh_token: body.refresh_token.map(SecretString::from),
            rotated: body.rotated,
            expires_at: body.expires_at,
            refresh_expires_at: body.refresh_expires_at,
            scopes: body.scopes,
        })
    }

    /// Removes a settled entry. Blocking; a failure is logged, and the entry
    /// is settled again (and found settled) at the next look.
    pub fn remove(&self, path: &Path) {
        let removed = fs::remove_file(path).and_then(|()| {
            fs::File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .or(Ok(()))
        });
        if let Err(error) = removed {
            tracing::warn!(entry = %path.display(), %error, "grant journal: could not remove a settled entry");
        }
    }
}

fn binding(credential_id: &CredentialId) -> Binding<'_> {
    Binding {
        record_id: credential_id.as_str(),
        field: FIELD,
    }
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .map_err(|e| io_error("creating", dir, e))
}

fn private_file(path: &Path) -> Result<fs::File, Error> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .map_err(|e| io_error("creating", path, e))
}

/// Makes a rename in `dir` durable.
fn sync_dir(dir: &Path) -> Result<(), Error> {
    #[cfg(unix)]
    fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| io_error("syncing", dir, e))?;
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREDENTIAL: &str = "0193a0c4-7a4e-7d3c-9b9e-3f1f0f3a2b10";

    fn grant() -> PendingGrant {
        PendingGrant {
            credential_id: CREDENTIAL.parse().unwrap(),
            organization_id: OrganizationId::named("org"),
            profile_id: ProfileId::new(),
            network: "sandbox".into(),
            actor: "user-1".into(),
            from_version: 3,
            access_token: SecretString::from("at-plain-0123456789"),
            refresh_token: Some(SecretString::from("rt-plain-0123456789")),
            rotated: true,
            expires_at: Utc::now(),
            refresh_expires_at: None,
            scopes: vec!["publish".into()],
        }
    }

    #[test]
    fn an_entry_is_sealed_and_opens_only_as_itself() {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeyRing::parse(&KeyRing::generate_entry()).unwrap();
        let journal = Journal::in_data_dir(dir.path());
        let path = journal.record(&keys, &grant()).unwrap();

        let raw = String::from_utf8(fs::read(&path).unwrap()).unwrap();
        assert!(!raw.contains("plain"), "{raw}");
        assert_eq!(journal.pending(), vec![path.clone()]);
        assert_eq!(
            journal.pending_for(CREDENTIAL.parse().unwrap()),
            vec![path.clone()]
        );
        assert!(journal.pending_for(CredentialId::new()).is_empty());
        let opened = journal.open(&keys, &path).unwrap();
        assert_eq!(opened.from_version, 3);
        assert_eq!(opened.grant_token().expose_secret(), "rt-plain-0123456789");

        // Moved to another credential's name, it does not open.
        let forged = raw.replace("2b10", "2b11");
        fs::write(&path, forged).unwrap();
        assert!(journal.open(&keys, &path).is_err());
        journal.remove(&path);
        assert!(journal.pending().is_empty());
    }
}
