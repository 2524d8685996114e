//! What one process keeps in memory while it runs, shared by the API and
//! the worker through the state: the refreshes under way and the outcome
//! each shares with the callers that join it, which networks refuse the
//! configured client, how the lifecycle worker is doing, and the
//! revocations running in the background after a commit.
//!
//! Registries, not use cases: they hold and count, and do no I/O of their
//! own. They sit below the services so that the state can hold them without
//! importing a use case; the services fill them and read them.

pub mod network_health;
pub mod refreshes;
pub mod revocations;
pub mod worker_health;

pub use network_health::{NetworkHealth, Refusal};
pub use refreshes::{RefreshCoordinator, RefreshOutcome, Snapshot};
pub use revocations::Revocations;
pub use worker_health::{WorkerHealth, WorkerSnapshot};
