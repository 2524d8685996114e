//! Which networks refuse this deployment's client right now (docs/rules.md,
//! "Failure classification"). A wrong client secret is the operator's to
//! fix, so it is reported to operators (`/readyz`, `/metrics`) instead of
//! being stored on any credential: nothing needs undoing once the
//! configuration is right, and the first call the network accepts clears it.

use std::collections::BTreeMap;
use std::sync::Mutex;

use chrono::{DateTime, Utc};

use crate::providers::ProviderError;

/// A network refusing this deployment's client, as last seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub network: String,
    /// The network's code (`invalid_client`, `unauthorized_client`, `meta_101`, …).
    pub code: String,
    /// The network's words, scrubbed of tokens.
    pub detail: String,
    /// The first refusal since the network last accepted a call.
    pub since: DateTime<Utc>,
    pub last_seen: DateTime<Utc>,
}

/// Per process: each instance reports what it saw with its own configuration.
#[derive(Debug, Default)]
pub struct NetworkHealth {
    state: Mutex<HealthState>,
}

#[derive(Debug, Default)]
struct HealthState {
    refusals: BTreeMap<String, Refusal>,
    /// Refusals of the client since the process started, per network.
    counted: BTreeMap<String, u64>,
}

impl NetworkHealth {
    fn lock(&self) -> std::sync::MutexGuard<'_, HealthState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes what a call to `network`'s token endpoint said about the
    /// client: a refusal is remembered and counted; a success, or a verdict
    /// on the grant (which the network gives only to a client it accepted),
    /// clears it.
    pub fn observe<T>(&self, network: &str, result: &Result<T, ProviderError>, at: DateTime<Utc>) {
        match result {
            Err(ProviderError::Misconfigured { code, detail }) => {
                let mut state = self.lock();
                *state.counted.entry(network.to_string()).or_default() += 1;
                let refusal = state
                    .refusals
                    .entry(network.to_string())
                    .or_insert_with(|| Refusal {
                        network: network.to_string(),
                        code: code.clone(),
                        detail: detail.clone(),
                        since: at,
                        last_seen: at,
                    });
                refusal.code.clone_from(code);
                refusal.detail.clone_from(detail);
                refusal.last_seen = at;
            }
            Ok(_) | Err(ProviderError::ReauthRequired { .. }) => {
                self.lock().refusals.remove(network);
            }
            // A timeout, a 5xx or a refused request says nothing about the
            // client's credentials.
            Err(ProviderError::Transient { .. } | ProviderError::Rejected { .. }) => {}
        }
    }

    /// The networks refusing the client now, by name.
    pub fn refusals(&self) -> Vec<Refusal> {
        self.lock().refusals.values().cloned().collect()
    }

    /// How many calls `network` refused the client since the process started.
    pub fn refused_calls(&self, network: &str) -> u64 {
        self.lock().counted.get(network).copied().unwrap_or(0)
    }
}
