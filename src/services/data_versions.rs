//! Which data version each organization is at, as a poll of a ready answer
//! needs it (docs/rules.md#ready-answers), without reading it per poll.
//!
//! A thread of this instance holds a dedicated connection that learns of
//! every version moved (`db::versions`: `LISTEN`/`NOTIFY` on PostgreSQL,
//! `PRAGMA data_version` on SQLite). A poll does not trust what was learned
//! until the thread has caught up with everything committed before the poll
//! arrived: it waits for the next catch-up (one round trip on that
//! connection, no table read on PostgreSQL, a pragma on SQLite), which
//! serves every poll that was waiting when it began, of every organization.
//! A notification still in flight therefore never makes an answer stale.
//!
//! When the connection is lost, everything learned through it is forgotten
//! and polls read the version from the database each time (shared by the
//! polls of one organization that arrive together), until a new connection
//! has caught up; what it learns starts from nothing, since what happened
//! while none listened was announced to no one.

use crate::domain::ids::OrganizationId;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::db::DatabaseTarget;
use crate::db::versions::VersionWatch;
use crate::error::Result;
use crate::state::AppState;

/// How long a poll waits for a catch-up before reading the version itself,
/// and how long a catch-up may run before polls stop waiting for it.
const PATIENCE: Duration = Duration::from_secs(1);

/// How often the thread catches up with no poll asking (draining what was
/// announced) or tries to connect again after losing its connection.
const IDLE: Duration = Duration::from_secs(1);

/// What a caught-up watch has learned, and the polls waiting for the next
/// catch-up.
#[derive(Default)]
struct Channel {
    /// The connection whose announcements are trusted, numbered so that what
    /// a lost one taught is never mixed with its successor's; `None` while
    /// there is none.
    generation: Option<u64>,
    opened: u64,
    learned: HashMap<String, i64>,
    waiting: Vec<oneshot::Sender<Option<u64>>>,
    catching_up_since: Option<Instant>,
}

impl Channel {
    fn learn(&mut self, org: String, version: i64) {
        // Versions only move up; announcements and reads may arrive in any order.
        let known = self.learned.entry(org).or_insert(version);
        *known = (*known).max(version);
    }
}

/// Polls of one organization waiting for a read of its data version.
#[derive(Default)]
struct Waiting {
    /// A read is under way or about to start for those queued before it.
    reading: bool,
    queued: Vec<oneshot::Sender<Option<i64>>>,
}

/// Counts for `/metrics`.
#[derive(Default)]
pub struct VersionStats {
    /// Reads of one organization's version from the database (each serving
    /// the polls queued before it).
    pub reads: AtomicU64,
    /// Watch connections that caught up for the first time (a reconnect adds one).
    pub watches_opened: AtomicU64,
    /// Whether a watch is caught up and trusted now.
    pub watching: AtomicBool,
}

struct Shared {
    channel: Mutex<Channel>,
    reads: Mutex<HashMap<String, Waiting>>,
    stats: VersionStats,
}

impl Shared {
    fn channel(&self) -> MutexGuard<'_, Channel> {
        self.channel.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The data versions this instance knows, and the polls asking for them.
pub struct DataVersions {
    shared: Arc<Shared>,
    /// What the watch connects to; `None` when the URL does not parse (then
    /// the pool could not have opened either).
    target: Option<DatabaseTarget>,
    connect_timeout_secs: u64,
    /// Wakes the watch thread; started at the first poll, so that a process
    /// that serves no polls holds no connection for them.
    wake: OnceLock<Option<SyncSender<()>>>,
}

impl DataVersions {
    pub fn new(database_url: &str, connect_timeout_secs: u64) -> Self {
        Self {
            shared: Arc::new(Shared {
                channel: Mutex::default(),
                reads: Mutex::default(),
                stats: VersionStats::default(),
            }),
            target: DatabaseTarget::parse(database_url).ok(),
            connect_timeout_secs,
            wake: OnceLock::new(),
        }
    }

    pub fn stats(&self) -> &VersionStats {
        &self.shared.stats
    }

    /// The organization's data version as committed when this call began,
    /// or later.
    pub async fn current(&self, state: &AppState, org: &OrganizationId) -> Result<i64> {
        let Some(generation) = self.caught_up().await else {
            return self.read(state, org).await;
        };
        if let Some(version) = self.known(generation, org) {
            return Ok(version);
        }
        // Not announced since the watch began: read once, and from then on
        // the announcements keep it.
        let version = self.read(state, org).await?;
        let mut channel = self.shared.channel();
        if channel.generation == Some(generation) {
            channel.learn(org.to_string(), version);
        }
        Ok(version)
    }

    fn known(&self, generation: u64, org: &OrganizationId) -> Option<i64> {
        let channel = self.shared.channel();
        (channel.generation == Some(generation))
            .then(|| channel.learned.get(org.as_str()).copied())
            .flatten()
    }

    /// Waits for the watch to catch up with everything committed before this
    /// call: the generation whose learned versions are then current, or
    /// `None` when there is no watch to wait for.
    async fn caught_up(&self) -> Option<u64> {
        let wake = self.wake.get_or_init(|| self.start()).as_ref()?;
        let (sender, answer) = oneshot::channel();
        {
            let mut channel = self.shared.channel();
            channel.generation?;
            if channel
                .catching_up_since
                .is_some_and(|since| since.elapsed() > PATIENCE)
            {
                return None;
            }
            channel.waiting.push(sender);
        }
        match wake.try_send(()) {
            // Full: a wake is pending, and the catch-up it starts takes this poll too.
            Ok(()) | Err(TrySendError::Full(())) => {}
            Err(TrySendError::Disconnected(())) => return None,
        }
        tokio::time::timeout(PATIENCE, answer).await.ok()?.ok()?
    }

    fn start(&self) -> Option<SyncSender<()>> {
        let target = self.target.clone()?;
        let (wake, woken) = std::sync::mpsc::sync_channel(1);
        let (shared, timeout) = (self.shared.clone(), self.connect_timeout_secs);
        std::thread::Builder::new()
            .name("data-versions".into())
            .spawn(move || watch(&shared, &woken, &target, timeout))
            .map_err(|error| tracing::warn!(%error, "cannot start watching data versions"))
            .ok()?;
        Some(wake)
    }

    /// The version read from the database. Polls of one organization that
    /// arrive together share one read: a read serves exactly the polls
    /// queued before it started, so each still sees every write committed
    /// before it arrived; polls that arrive during a read wait for the next.
    async fn read(&self, state: &AppState, org: &OrganizationId) -> Result<i64> {
        let (sender, answer) = oneshot::channel();
        let start_reader = {
            let mut reads = self.shared.reads.lock().unwrap_or_else(|e| e.into_inner());
            let waiting = reads.entry(org.to_string()).or_default();
            waiting.queued.push(sender);
            !std::mem::replace(&mut waiting.reading, true)
        };
        if start_reader {
            // Its own task, so that no poll's cancellation strands the others.
            let (shared, state, org) = (self.shared.clone(), state.clone(), org.clone());
            tokio::spawn(async move { read_for_queued(&shared, &state, &org).await });
        }
        match answer.await {
            Ok(Some(version)) => Ok(version),
            // The shared read failed: this poll reads on its own, so that it
            // answers that read's own error.
            _ => super::ready::data_version(state, org).await,
        }
    }
}

/// Reads the version for each batch of queued polls until none is left.
async fn read_for_queued(shared: &Shared, state: &AppState, org: &OrganizationId) {
    loop {
        let batch = {
            let mut reads = shared.reads.lock().unwrap_or_else(|e| e.into_inner());
            let Some(waiting) = reads.get_mut(org.as_str()) else {
                return;
            };
            if waiting.queued.is_empty() {
                reads.remove(org.as_str());
                return;
            }
            std::mem::take(&mut waiting.queued)
        };
        shared.stats.reads.fetch_add(1, Ordering::Relaxed);
        let version = super::ready::data_version(state, org).await.ok();
        for poll in batch {
            let _ = poll.send(version);
        }
    }
}

/// The watch thread: keeps a watch connection, catches up when a poll asks
/// (or every [`IDLE`]), and answers the polls that were waiting when each
/// catch-up began. Ends when the instance's `DataVersions` is dropped.
fn watch(shared: &Shared, woken: &Receiver<()>, target: &DatabaseTarget, timeout_secs: u64) {
    let mut watch: Option<VersionWatch> = None;
    let mut trusted = false;
    // Said once per outage, not at every attempt to connect again.
    let mut failing = false;
    loop {
        if watch.is_none() {
            match VersionWatch::open(target, timeout_secs) {
                Ok(opened) => watch = Some(opened),
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "cannot watch data versions; polls read them");
                }
                Err(error) => tracing::debug!(%error, "cannot watch data versions yet"),
            }
        }
        if let Some(connection) = watch.as_mut() {
            let batch = {
                let mut channel = shared.channel();
                channel.catching_up_since = Some(Instant::now());
                std::mem::take(&mut channel.waiting)
            };
            let caught_up = connection.catch_up();
            let mut channel = shared.channel();
            channel.catching_up_since = None;
            let generation = match caught_up {
                Ok(moved) => {
                    if !trusted {
                        // A new connection: what the last one taught may
                        // have missed what was announced while none listened.
                        trusted = true;
                        if std::mem::take(&mut failing) {
                            tracing::info!("watching data versions again");
                        }
                        channel.opened += 1;
                        channel.generation = Some(channel.opened);
                        channel.learned.clear();
                        shared.stats.watches_opened.fetch_add(1, Ordering::Relaxed);
                        shared.stats.watching.store(true, Ordering::Relaxed);
                    }
                    for (org, version) in moved {
                        channel.learn(org, version);
                    }
                    channel.generation
                }
                Err(error) => {
                    if !std::mem::replace(&mut failing, true) {
                        tracing::warn!(%error, "lost the watch of data versions; polls read them");
                    }
                    watch = None;
                    trusted = false;
                    channel.generation = None;
                    channel.learned.clear();
                    shared.stats.watching.store(false, Ordering::Relaxed);
                    None
                }
            };
            let late = if generation.is_none() {
                std::mem::take(&mut channel.waiting)
            } else {
                Vec::new()
            };
            drop(channel);
            for poll in batch.into_iter().chain(late) {
                let _ = poll.send(generation);
            }
        }
        match woken.recv_timeout(IDLE) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
    }
}
