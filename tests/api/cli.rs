//! The command line works as docs/rules.md ("Storage and running") names it.

use std::process::Command;

use tokenwarden::auth::JwtVerifier;
use tokenwarden::config::{Overrides, Settings};

/// The binary, run in `dir`, without the caller's database URL.
pub(crate) fn tokenwarden(dir: &std::path::Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tokenwarden"));
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("TOKENWARDEN_LOG__FORMAT", "text");
    cmd
}

#[test]
fn dev_mode_mints_tokens_the_server_accepts_and_generates_private_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokenwarden(dir.path())
        .args([
            "--dev",
            "--data-dir",
            ".",
            "token",
            "mint",
            "--org",
            "org-1",
            "--sub",
            "ops",
            "--scope",
            "accounts:read org:admin",
            "--ttl",
            "10m",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap().trim().to_string();

    // The server's verifier, from the same data dir, accepts it.
    let settings = Settings::load(
        None,
        &Overrides {
            data_dir: Some(dir.path().to_path_buf()),
            dev: true,
            ..Default::default()
        },
    )
    .unwrap();
    let principal = JwtVerifier::from_settings(&settings)
        .unwrap()
        .verify(&token)
        .unwrap();
    assert_eq!(principal.organization_id(), "org-1");
    assert!(principal.has(tokenwarden::auth::Scope::OrgAdmin));

    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("jwt-secret"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let output = tokenwarden(dir.path())
        .args([
            "--dev",
            "token",
            "mint",
            "--org",
            "o",
            "--sub",
            "s",
            "--scope",
            "tokens:everything",
        ])
        .output()
        .unwrap();
    assert!(!output.status.success());
}

#[test]
fn serve_without_a_key_refuses_to_start_outside_dev_mode() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokenwarden(dir.path())
        .args(["--data-dir", ".", "serve", "--bind", "127.0.0.1:0"])
        .env_remove("TOKENWARDEN_ENCRYPTION_KEYS")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no encryption key configured"), "{stderr}");
    assert!(!dir.path().join("tokenwarden.db").exists());
}

#[test]
fn migrate_creates_the_default_sqlite_database_and_keys_generate_prints_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokenwarden(dir.path())
        .args(["--dev", "migrate"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("tokenwarden.db").exists());

    let output = tokenwarden(dir.path())
        .args(["keys", "generate"])
        .output()
        .unwrap();
    let entry = String::from_utf8(output.stdout).unwrap();
    let ring =
        tokenwarden::crypto::KeyRing::parse(&secrecy::SecretString::from(entry.trim().to_string()))
            .unwrap();
    assert_eq!(ring.key_ids().len(), 1);

    let output = tokenwarden(dir.path()).arg("openapi").output().unwrap();
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        tokenwarden::api::openapi_json()
    );
}

#[test]
fn keys_made_in_one_second_have_distinct_ids() {
    // Arrange + Act: more keys than one second's worth of names.
    let entries: Vec<String> = (0..20)
        .map(|_| {
            use secrecy::ExposeSecret;
            tokenwarden::crypto::KeyRing::generate_entry()
                .expose_secret()
                .to_string()
        })
        .collect();

    // Assert: a ring holding all of them loads, with twenty ids.
    let ring = tokenwarden::crypto::KeyRing::parse(&secrecy::SecretString::from(entries.join(",")))
        .expect("a ring of generated keys loads");
    assert_eq!(ring.key_ids().len(), 20);
}

#[test]
fn keys_rotate_reencrypts_through_the_cli() {
    use secrecy::ExposeSecret;
    let dir = tempfile::tempdir().unwrap();
    let old = tokenwarden::crypto::KeyRing::generate_entry();
    let new = format!("knew:{}", {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode([9u8; 32])
    });
    let output = tokenwarden(dir.path())
        .args(["--data-dir", ".", "migrate"])
        .env("TOKENWARDEN_ENCRYPTION_KEYS", old.expose_secret())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let output = tokenwarden(dir.path())
        .args(["--data-dir", ".", "keys", "rotate"])
        .env(
            "TOKENWARDEN_ENCRYPTION_KEYS",
            format!("{new},{}", old.expose_secret()),
        )
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert!(stdout.contains("under key knew"), "{stdout}");
    assert!(stdout.contains("0 remain under other keys"), "{stdout}");
}

#[test]
fn every_line_the_demo_prints_works_as_printed() {
    use std::io::{BufRead, BufReader};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tokenwarden"))
        .current_dir(dir.path())
        .args(["demo", "--bind", &format!("127.0.0.1:{port}")])
        // Any free port: the default (the API's + 1) may be taken on a busy machine.
        .args(["--frontend-bind", "127.0.0.1:0"])
        .env_remove("DATABASE_URL")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let mut guide = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let last = line.contains("/v1/organization -H");
        guide.push(line);
        if last {
            break;
        }
    }
    // Keep draining what the demo writes after the guide.
    std::thread::spawn(move || for _ in lines {});
    // The part a user pastes: from the exports to the end.
    let start = guide
        .iter()
        .position(|l| l.starts_with("export ADV="))
        .expect("exports printed");
    let script: String = guide[start..]
        .iter()
        .map(|l| format!("{l}\necho\n"))
        .collect();
    let output = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let out = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{out}");
    assert!(
        !out.contains("tokenwarden.dev/problems/"),
        "a printed line answered a problem:\n{out}"
    );
    assert_eq!(out.matches(r#""outcome":"renewed""#).count(), 2, "{out}");
    assert!(
        out.contains(r#""status":"renewed""#),
        "the authorization URL completed:\n{out}"
    );
    assert!(
        out.contains(r#""reason":"plan""#),
        "the Starter plan left the other brand:\n{out}"
    );
    assert!(
        out.contains(r#""status":"reauth_required""#),
        "the dropdown listed the dead grant:\n{out}"
    );
    assert!(
        out.contains(r#""total":1"#),
        "propagation emptied two of three entries:\n{out}"
    );
}
