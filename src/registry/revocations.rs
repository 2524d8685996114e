//! The revocations a process runs in the background after a change's
//! commit, counted so that a shutdown can wait for them.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Revocations running in the background: they follow a change's commit
/// without holding its answer (a propagation may leave many grants unused).
/// Counted, so that a shutdown, or a test, can wait for them.
#[derive(Debug, Default)]
pub struct Revocations {
    running: AtomicUsize,
    idle: tokio::sync::Notify,
    /// Where they run. A handler's own runtime is an HTTP worker's, which
    /// ends with the server; a process that waits for its revocations at
    /// shutdown sets its main runtime here first.
    runtime: std::sync::OnceLock<tokio::runtime::Handle>,
}

impl Revocations {
    /// Runs every later revocation on `runtime` (the process's main runtime),
    /// so that stopping the HTTP server does not drop one under way.
    pub fn run_on(&self, runtime: tokio::runtime::Handle) {
        let _ = self.runtime.set(runtime);
    }

    /// Waits until no revocation runs, for at most `limit`; whether none does.
    pub async fn settled_within(&self, limit: std::time::Duration) -> bool {
        let waiting = self.running.load(Ordering::Acquire);
        if waiting == 0 {
            return true;
        }
        tracing::info!(
            revocations = waiting,
            "waiting for revocations under way at their networks"
        );
        let settled = tokio::time::timeout(limit, self.settled()).await.is_ok();
        if !settled {
            tracing::warn!(
                revocations = self.running.load(Ordering::Acquire),
                "revocations still under way are dropped (best effort)"
            );
        }
        settled
    }

    /// Waits until no revocation runs.
    pub async fn settled(&self) {
        loop {
            let idle = self.idle.notified();
            if self.running.load(Ordering::Acquire) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Runs `revocation` in the background, counted until it ends: on the
    /// runtime set by [`Revocations::run_on`], else on the caller's. `false`:
    /// there is no runtime to run it on, and it was dropped.
    pub fn spawn(self: &Arc<Self>, revocation: impl Future<Output = ()> + Send + 'static) -> bool {
        let Some(runtime) = self
            .runtime
            .get()
            .cloned()
            .or_else(|| tokio::runtime::Handle::try_current().ok())
        else {
            return false;
        };
        let revocations = self.clone();
        revocations.running.fetch_add(1, Ordering::AcqRel);
        runtime.spawn(async move {
            revocation.await;
            if revocations.running.fetch_sub(1, Ordering::AcqRel) == 1 {
                revocations.idle.notify_waiters();
            }
        });
        true
    }
}
