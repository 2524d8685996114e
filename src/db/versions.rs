//! The connection through which an instance learns that organizations' data
//! versions moved, without reading them per poll
//! (docs/rules.md#ready-answers). It is dedicated: not from the pool, held
//! by one thread of its own for as long as it works, and never used for
//! anything else.
//!
//! - PostgreSQL: `LISTEN tokenwarden_data_version`. The transaction that moves
//!   a version announces it (the `data_version_notify` migration). A round
//!   trip on this connection returns only after every announcement committed
//!   before it began, since the server sends pending notifications ahead of
//!   the query's answer and libpq keeps them in order.
//! - SQLite: `PRAGMA data_version` moves whenever another connection (of this
//!   process or another) commits to the file; when it has, every
//!   organization's version is read again in one statement.

use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Text};

use super::{Backend, DatabaseTarget};
use crate::error::{Error, Result};

/// The notification channel the migrations announce on.
pub const CHANNEL: &str = "tokenwarden_data_version";

/// What the listening connection calls itself in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "tokenwarden-data-versions";

/// Data versions learned in one catch-up: `(organization id, version)`.
pub type Moved = Vec<(String, i64)>;

/// A dedicated connection watching data versions.
pub enum VersionWatch {
    Postgres(diesel::PgConnection),
    Sqlite {
        conn: diesel::SqliteConnection,
        /// `PRAGMA data_version` at the last catch-up (`None` before the first).
        seen: Option<i64>,
    },
}

#[derive(QueryableByName)]
struct PragmaDataVersion {
    #[diesel(sql_type = BigInt)]
    data_version: i64,
}

#[derive(QueryableByName)]
struct OrganizationVersion {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = BigInt)]
    data_version: i64,
}

impl VersionWatch {
    /// Connects and starts watching. Nothing committed before this returns
    /// is announced on it: whoever relied on a watch before must read again.
    pub fn open(target: &DatabaseTarget, connect_timeout_secs: u64) -> Result<Self> {
        match target.backend {
            Backend::Postgres => {
                let url = with_client_timeouts(&target.target, connect_timeout_secs);
                let mut conn = diesel::PgConnection::establish(&url)
                    .map_err(|e| Error::internal(format!("connecting to watch versions: {e}")))?;
                conn.batch_execute(&format!(
                    "SET application_name = '{APPLICATION_NAME}'; LISTEN {CHANNEL};"
                ))?;
                Ok(Self::Postgres(conn))
            }
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&target.target)
                    .map_err(|e| Error::internal(format!("opening to watch versions: {e}")))?;
                conn.batch_execute("PRAGMA busy_timeout = 5000;")?;
                Ok(Self::Sqlite { conn, seen: None })
            }
        }
    }

    /// The versions that moved since the last catch-up, as committed before
    /// this call began (on SQLite, after a commit anywhere, all of them; at
    /// the first call, all of them too). An error means the watch is lost:
    /// drop it, and trust nothing learned through it.
    pub fn catch_up(&mut self) -> Result<Moved> {
        match self {
            Self::Postgres(conn) => {
                // The round trip that brings every earlier announcement along.
                conn.batch_execute("SELECT 1")?;
                let mut moved = Vec::new();
                for notification in conn.notifications_iter() {
                    let notification = notification?;
                    moved.push(parse_announcement(&notification.payload)?);
                }
                Ok(moved)
            }
            Self::Sqlite { conn, seen } => {
                let now = diesel::sql_query("PRAGMA data_version")
                    .get_result::<PragmaDataVersion>(conn)?
                    .data_version;
                if *seen == Some(now) {
                    return Ok(Vec::new());
                }
                // Read after the pragma: whatever moved it is in this read.
                let all = diesel::sql_query("SELECT id, data_version FROM organizations")
                    .load::<OrganizationVersion>(conn)?;
                *seen = Some(now);
                Ok(all.into_iter().map(|o| (o.id, o.data_version)).collect())
            }
        }
    }
}

fn parse_announcement(payload: &str) -> Result<(String, i64)> {
    payload
        .rsplit_once(' ')
        .and_then(|(org, version)| Some((org.to_string(), version.parse().ok()?)))
        .ok_or_else(|| Error::internal(format!("unreadable data version announcement {payload:?}")))
}

/// The URL with libpq's client-side limits, so that a server that vanished
/// without closing the connection is noticed in seconds rather than at the
/// kernel's TCP timeout (polls do not wait on the watch meanwhile, but
/// learn nothing from it either). Parameters the URL already names win.
fn with_client_timeouts(url: &str, connect_timeout_secs: u64) -> String {
    let Ok(mut parsed) = url::Url::parse(url) else {
        return url.to_string();
    };
    let named: Vec<String> = parsed.query_pairs().map(|(k, _)| k.into_owned()).collect();
    let wanted = [
        ("connect_timeout", connect_timeout_secs.max(1).to_string()),
        ("keepalives", "1".into()),
        ("keepalives_idle", "10".into()),
        ("keepalives_interval", "5".into()),
        ("keepalives_count", "3".into()),
        ("tcp_user_timeout", "30000".into()),
    ];
    {
        let mut query = parsed.query_pairs_mut();
        for (key, value) in wanted {
            if !named.iter().any(|n| n == key) {
                query.append_pair(key, &value);
            }
        }
    }
    parsed.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_announcement_is_an_organization_and_its_version() {
        assert_eq!(
            parse_announcement("org-1 42").unwrap(),
            ("org-1".to_string(), 42)
        );
        assert!(parse_announcement("org-1").is_err());
        assert!(parse_announcement("org-1 x").is_err());
    }

    #[test]
    fn client_timeouts_keep_what_the_url_names() {
        let url = with_client_timeouts("postgres://u@h:5432/db?connect_timeout=9", 5);
        assert!(url.contains("connect_timeout=9"), "{url}");
        assert!(!url.contains("connect_timeout=5"), "{url}");
        assert!(url.contains("tcp_user_timeout=30000"), "{url}");
    }
}
