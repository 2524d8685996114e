//! The refreshes under way in this process: one per credential, which
//! this process's other callers join instead of starting their own
//! (docs/rules.md#single-flight-refresh), and the outcome they share.

use crate::domain::ids::CredentialId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::future::{BoxFuture, Shared};

use crate::db::accounts::AccountRow;
use crate::db::models::Organization;
use crate::error::{Error, UpstreamKind};

/// The profile's accounts as the write-back left them, with their
/// organization: what an answer about any of them needs.
#[derive(Debug)]
pub struct Snapshot {
    pub organization: Organization,
    pub accounts: Vec<AccountRow>,
}

/// What happened to a refresh attempt. Cloneable: concurrent callers share it.
#[derive(Debug, Clone)]
pub enum RefreshOutcome {
    /// The credential holds a fresh grant (by this call or one that just finished).
    Renewed {
        expires_at: DateTime<Utc>,
        by_us: bool,
        /// The profile's accounts after the write-back, when the request asked.
        snapshot: Option<Arc<Snapshot>>,
    },
    /// Still valid, and the network's extension grant is not available yet.
    NotDue { earliest: DateTime<Utc> },
    /// The grant cannot be renewed without the user (`reason` as the network said).
    ReauthRequired { reason: String },
    /// The network failed transiently; the credential keeps its status.
    Transient {
        kind: UpstreamKind,
        retry_after: Duration,
        detail: String,
    },
    /// Another instance holds the lease and did not finish in time.
    Busy { retry_after: Duration },
    /// The credential was replaced while this refresh ran (a fresh grant,
    /// a disconnect or another refresh's propagation took its accounts); the
    /// credential went with the refreshed grant, which was judged like every
    /// orphan. The account's state says what it holds now.
    Replaced,
}

/// A refresh under way, as its joiners await it.
pub type SharedRefresh = Shared<BoxFuture<'static, Result<RefreshOutcome, Arc<Error>>>>;

/// Per-process single flight and what it counts.
#[derive(Default)]
pub struct RefreshCoordinator {
    inflight: Mutex<HashMap<CredentialId, SharedRefresh>>,
    writeback_retries: AtomicU64,
}

impl RefreshCoordinator {
    fn inflight(&self) -> MutexGuard<'_, HashMap<CredentialId, SharedRefresh>> {
        self.inflight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The refresh of `credential_id` under way in this process, to join.
    pub fn running(&self, credential_id: CredentialId) -> Option<SharedRefresh> {
        self.inflight().get(&credential_id).cloned()
    }

    /// `refresh` is now the one of `credential_id` that callers join.
    pub fn started(&self, credential_id: CredentialId, refresh: SharedRefresh) {
        self.inflight().insert(credential_id, refresh);
    }

    /// The refresh of `credential_id` ended: later callers start their own.
    pub fn ended(&self, credential_id: CredentialId) {
        self.inflight().remove(&credential_id);
    }

    /// Storing a refreshed grant failed and is retried from memory.
    pub fn writeback_retried(&self) {
        self.writeback_retries.fetch_add(1, Ordering::Relaxed);
    }

    /// How many times storing a refreshed grant failed and was retried from
    /// memory since the process started.
    pub fn writeback_retries(&self) -> u64 {
        self.writeback_retries.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for RefreshCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RefreshCoordinator").finish_non_exhaustive()
    }
}
