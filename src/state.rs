//! The application state: what every layer below the HTTP server shares —
//! the pool, the key ring, the networks, the settings, the refresh
//! coordinator. It knows nothing of HTTP; the server and the worker both
//! open it the same way.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Settings;
use crate::crypto::KeyRing;
use crate::db::{self, Pool, PoolOptions};
use crate::domain::clock::{Clock, SystemClock};
use crate::providers::ProviderRegistry;
use crate::registry::{NetworkHealth, RefreshCoordinator, Revocations, WorkerHealth};

/// What the services share: the pool, the key ring, the networks, the settings,
/// and the per-process refresh coordinator. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub pool: Pool,
    pub keys: Arc<KeyRing>,
    pub providers: Arc<ProviderRegistry>,
    pub settings: Arc<Settings>,
    pub refresh: Arc<RefreshCoordinator>,
    /// Which networks refuse this deployment's client, as this process saw.
    pub network_health: Arc<NetworkHealth>,
    /// How this process's lifecycle worker is doing, for `/readyz` and `/metrics`.
    pub worker_health: Arc<WorkerHealth>,
    /// Revocations running in the background after a change's commit.
    pub revocations: Arc<Revocations>,
    /// Names this process in refresh leases.
    pub instance_id: String,
    /// Where every rule reads the time.
    pub clock: Arc<dyn Clock>,
}

impl AppState {
    /// The current time by the state's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The same state reading time from `clock`.
    pub fn with_clock(self, clock: Arc<dyn Clock>) -> Self {
        Self { clock, ..self }
    }

    /// Opens the database (migrating it) and builds the configured networks,
    /// on the system's clock. Blocking: call from a blocking context. `role`
    /// names the process in refresh leases (e.g. `worker`). Whoever starts
    /// the API or the worker on it replays the grant journal first
    /// (`services::refresh::replay_journal`).
    pub fn open(settings: Arc<Settings>, keys: KeyRing, role: &str) -> anyhow::Result<Self> {
        Self::open_with_clock(settings, keys, role, Arc::new(SystemClock))
    }

    /// [`AppState::open`] reading time from `clock`.
    pub fn open_with_clock(
        settings: Arc<Settings>,
        keys: KeyRing,
        role: &str,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<Self> {
        Ok(Self::connect(settings, keys, role)?.with_clock(clock))
    }

    fn connect(settings: Arc<Settings>, keys: KeyRing, role: &str) -> anyhow::Result<Self> {
        let public_url = settings.public_url();
        let outbound = settings.outbound_calls();
        let mut providers =
            ProviderRegistry::from_settings(&settings.networks, &public_url, &outbound)?;
        if settings.sandbox {
            providers.add_sandbox(&public_url, &outbound)?;
        }
        let pool = db::connect(
            &settings.database_url(),
            &PoolOptions {
                max_size: settings.database.pool_size,
                connect_timeout: Duration::from_secs(settings.database.connect_timeout_secs),
                sqlite_busy_timeout_ms: settings.database.sqlite_busy_timeout_ms,
            },
        )?;
        Ok(Self {
            pool,
            keys: Arc::new(keys),
            providers: Arc::new(providers),
            settings,
            refresh: Arc::new(RefreshCoordinator::default()),
            network_health: Arc::new(NetworkHealth::default()),
            worker_health: Arc::new(WorkerHealth::default()),
            revocations: Arc::default(),
            instance_id: format!(
                "{}-{}-{role}",
                std::process::id(),
                &uuid::Uuid::new_v4().simple().to_string()[..8]
            ),
            clock: Arc::new(SystemClock),
        })
    }
}
