//! Secrets read from files, and the ones `--dev` generates into the data dir
//! (mode 0600) so that a development server keeps them across restarts.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};

use super::ConfigError;

pub(super) fn random_jwt_secret() -> SecretString {
    use base64::Engine;
    use rand::RngCore;
    let mut raw = [0u8; 48];
    rand::rng().fill_bytes(&mut raw);
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw))
}

pub(super) fn read_secret_file(path: &Path) -> Result<SecretString, ConfigError> {
    std::fs::read_to_string(path)
        .map(|s| SecretString::from(s.trim().to_string()))
        .map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })
}

/// Reads a development secret, generating it (mode 0600) on first use.
pub(super) fn dev_secret_file(
    path: &Path,
    generate: fn() -> SecretString,
    what: &str,
) -> Result<SecretString, ConfigError> {
    if path.exists() {
        return read_secret_file(path);
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(|source| ConfigError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    let secret = generate();
    write_private_file(path, secret.expose_secret()).map_err(|source| ConfigError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    tracing::warn!(
        path = %path.display(),
        "development mode: generated a new {what}; do not use --dev in production"
    );
    Ok(secret)
}

fn write_private_file(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()
}
