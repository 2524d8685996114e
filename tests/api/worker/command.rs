//! The command line: `worker --once`, `worker` until SIGTERM, and the worker
//! inside `serve`.

use std::time::Duration;

fn tokenwarden(dir: &std::path::Path) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_tokenwarden"));
    cmd.current_dir(dir)
        .env_remove("DATABASE_URL")
        .env("TOKENWARDEN_LOG__FORMAT", "text")
        .env("TOKENWARDEN_LOG__LEVEL", "info")
        .env("NO_COLOR", "1")
        .args(["--dev", "--data-dir", "."]);
    cmd
}

#[test]
fn worker_once_runs_one_tick_and_exits() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokenwarden(dir.path())
        .args(["worker", "--once"])
        .output()
        .unwrap();
    let logs = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{logs}");
    assert_eq!(logs.matches("worker tick").count(), 1, "{logs}");
    assert!(dir.path().join("tokenwarden.db").exists());
}

/// Starts `args`, waits until its log shows `wanted`, sends SIGTERM, and
/// returns the whole log after a clean exit.
#[cfg(unix)]
fn run_until_logged_then_terminate(args: &[&str], env: &[(&str, &str)], wanted: &str) -> String {
    terminate_after(args, env, wanted, Duration::from_millis(500))
}

/// [`run_until_logged_then_terminate`], sending SIGTERM `pause` after `wanted`.
#[cfg(unix)]
fn terminate_after(args: &[&str], env: &[(&str, &str)], wanted: &str, pause: Duration) -> String {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = tokenwarden(dir.path());
    cmd.args(args).stderr(std::process::Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.spawn().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = stderr.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            let _ = tx.send(String::from_utf8_lossy(&all).into_owned());
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let remaining = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(remaining) {
            Ok(log) if log.contains(wanted) => {
                std::thread::sleep(pause);
                break;
            }
            Ok(_) => {}
            Err(_) => {
                let _ = child.kill();
                panic!("{wanted:?} never logged");
            }
        }
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let log = reader.join().unwrap();
    assert!(exit.success(), "exit {exit:?}: {log}");
    log
}

#[cfg(unix)]
#[test]
fn worker_ticks_until_sigterm() {
    let log = run_until_logged_then_terminate(
        &["worker"],
        &[("TOKENWARDEN_WORKER__TICK_SECS", "1")],
        "worker tick",
    );
    assert!(log.contains("lifecycle worker started"), "{log}");
    assert!(log.contains("lifecycle worker stopped"), "{log}");
}

/// A SIGTERM while `serve` is still starting (its database just opened, the
/// listener not yet serving) stops it cleanly; it used to kill the process
/// by the signal's default action until actix installed its handlers.
#[cfg(unix)]
#[test]
fn serve_stops_cleanly_on_a_sigterm_while_starting() {
    let log = terminate_after(
        &["serve", "--bind", "127.0.0.1:0"],
        &[],
        "database ready",
        Duration::ZERO,
    );
    assert!(log.contains("stopped"), "{log}");
}

#[cfg(unix)]
#[test]
fn serve_runs_the_worker_unless_told_not_to() {
    let log =
        run_until_logged_then_terminate(&["serve", "--bind", "127.0.0.1:0"], &[], "worker tick");
    assert!(log.contains("lifecycle worker stopped"), "{log}");

    let log = run_until_logged_then_terminate(
        &["serve", "--bind", "127.0.0.1:0", "--no-worker"],
        &[],
        "listening",
    );
    assert!(log.contains("lifecycle worker disabled"), "{log}");
    assert!(!log.contains("worker tick"), "{log}");

    let log = run_until_logged_then_terminate(
        &["serve", "--bind", "127.0.0.1:0"],
        &[("TOKENWARDEN_WORKER__ENABLED", "false")],
        "listening",
    );
    assert!(!log.contains("worker tick"), "{log}");
}
