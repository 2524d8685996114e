//! Storage: one connection type over SQLite and PostgreSQL, the pool, the
//! embedded migrations of both backends, and the one helper through which
//! handlers run blocking database work.

pub mod accounts;
pub mod audit;
pub mod brands;
pub mod connections;
pub mod credentials;
pub mod idempotency;
pub mod ids;
pub mod models;
pub mod oauth_states;
pub mod organizations;
pub mod profiles;
pub mod reconnect_links;
pub mod rotation;
pub mod schedule;
pub mod schema;
pub mod versions;
pub mod webhook_outbox;
pub mod webhooks;

use std::time::Duration;

use diesel::SqliteConnection;
use diesel::connection::SimpleConnection;
use diesel::connection::{AnsiTransactionManager, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection, R2D2Connection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::error::Error;

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// A connection to whichever backend the database URL names.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgresql(diesel::PgConnection),
    Sqlite(diesel::SqliteConnection),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A database URL whose backend was read off its scheme.
#[derive(Clone)]
pub struct DatabaseTarget {
    pub backend: Backend,
    /// What the driver is given: the URL for PostgreSQL, the file path for SQLite.
    target: String,
}

impl std::fmt::Debug for DatabaseTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}({})", self.backend, self.redacted())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "database URL must start with postgres://, postgresql:// or sqlite:// (got {0:?}); the backend is never guessed"
    )]
    UnsupportedScheme(String),
    #[error("cannot connect to {backend:?} database at {target}: {cause}")]
    Connect {
        backend: Backend,
        target: String,
        cause: String,
    },
    #[error("migrating the database failed: {0}")]
    Migrate(String),
}

impl DatabaseTarget {
    /// Chooses the backend from the URL scheme. A `postgres://` URL is only
    /// ever given to PostgreSQL: diesel's derived `establish` would try every
    /// backend in turn and let SQLite create a file named after the URL.
    pub fn parse(url: &str) -> Result<Self, SetupError> {
        let lower = url.to_ascii_lowercase();
        if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
            return Ok(Self {
                backend: Backend::Postgres,
                target: url.to_string(),
            });
        }
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
            && !rest.is_empty()
        {
            return Ok(Self {
                backend: Backend::Sqlite,
                target: rest.to_string(),
            });
        }
        let shown = url.split('@').next_back().unwrap_or_default();
        Err(SetupError::UnsupportedScheme(shown.to_string()))
    }

    /// The URL without its password, for logs and error messages.
    pub fn redacted(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite://{}", self.target),
            Backend::Postgres => match url::Url::parse(&self.target) {
                Ok(mut u) => {
                    if u.password().is_some() {
                        let _ = u.set_password(Some("***"));
                    }
                    u.to_string()
                }
                Err(_) => "postgres://<unparsable>".into(),
            },
        }
    }

    pub fn sqlite_path(&self) -> Option<&str> {
        (self.backend == Backend::Sqlite).then_some(self.target.as_str())
    }
}

/// The page cache of each pooled SQLite connection, in KiB. SQLite's default
/// (2,000 KiB) fills on every connection of the pool as reads wander over a
/// database of many organizations: with 2,000 organizations polling, the
/// SQLite process peaked at 69 MiB against PostgreSQL's 46, and at 53 MiB
/// with this cache. Pages the kernel's file cache keeps anyway need no second
/// copy per connection: polls read no database while kept answers hold, and
/// a page missed here is one `pread` of a cached file.
const SQLITE_CACHE_KIB: u32 = 512;

/// r2d2 manager that opens the backend named by the URL scheme and sets the
/// SQLite pragmas on every new connection.
#[derive(Debug, Clone)]
pub struct Manager {
    target: DatabaseTarget,
    busy_timeout_ms: u64,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = r2d2::Error;

    fn connect(&self) -> Result<DbConnection, r2d2::Error> {
        match self.target.backend {
            Backend::Postgres => diesel::PgConnection::establish(&self.target.target)
                .map(DbConnection::Postgresql)
                .map_err(r2d2::Error::ConnectionError),
            Backend::Sqlite => {
                let mut conn = diesel::SqliteConnection::establish(&self.target.target)
                    .map_err(r2d2::Error::ConnectionError)?;
                // busy_timeout first: switching to WAL needs the lock.
                conn.batch_execute(&format!(
                    "PRAGMA busy_timeout = {}; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; \
                     PRAGMA cache_size = -{SQLITE_CACHE_KIB};",
                    self.busy_timeout_ms
                ))
                .map_err(r2d2::Error::QueryError)?;
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), r2d2::Error> {
        conn.ping().map_err(r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

pub type Pool = r2d2::Pool<Manager>;

#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub max_size: u32,
    pub connect_timeout: Duration,
    pub sqlite_busy_timeout_ms: u64,
}

impl Default for PoolOptions {
    fn default() -> Self {
        Self {
            max_size: 10,
            connect_timeout: Duration::from_secs(5),
            sqlite_busy_timeout_ms: 5_000,
        }
    }
}

/// Opens the pool (failing fast when the database cannot be reached) and
/// runs the pending migrations of its backend.
pub fn connect(url: &str, options: &PoolOptions) -> Result<Pool, SetupError> {
    let target = DatabaseTarget::parse(url)?;
    if let Some(path) = target.sqlite_path()
        && let Some(dir) = std::path::Path::new(path).parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir).map_err(|e| SetupError::Connect {
            backend: Backend::Sqlite,
            target: target.redacted(),
            cause: e.to_string(),
        })?;
    }
    let manager = Manager {
        target: target.clone(),
        busy_timeout_ms: options.sqlite_busy_timeout_ms,
    };
    // Connect once directly so that an unreachable server reports its own
    // error instead of r2d2's generic timeout.
    let mut first = manager.connect().map_err(|e| SetupError::Connect {
        backend: target.backend,
        target: target.redacted(),
        cause: e.to_string(),
    })?;
    run_migrations(&mut first)?;
    drop(first);
    let pool = r2d2::Pool::builder()
        .max_size(options.max_size)
        .min_idle(Some(1))
        .connection_timeout(options.connect_timeout)
        .test_on_check_out(false)
        .build(manager)
        .map_err(|e| SetupError::Connect {
            backend: target.backend,
            target: target.redacted(),
            cause: e.to_string(),
        })?;
    tracing::info!(database = %target.redacted(), "database ready");
    Ok(pool)
}

pub fn run_migrations(conn: &mut DbConnection) -> Result<(), SetupError> {
    let applied = match conn {
        DbConnection::Sqlite(c) => c.run_pending_migrations(SQLITE_MIGRATIONS).map(|v| v.len()),
        DbConnection::Postgresql(c) => c
            .run_pending_migrations(POSTGRES_MIGRATIONS)
            .map(|v| v.len()),
    }
    .map_err(|e| SetupError::Migrate(e.to_string()))?;
    if applied > 0 {
        tracing::info!(applied, "migrations applied");
    }
    Ok(())
}

pub fn backend_of(conn: &DbConnection) -> Backend {
    match conn {
        DbConnection::Sqlite(_) => Backend::Sqlite,
        DbConnection::Postgresql(_) => Backend::Postgres,
    }
}

/// Runs blocking database work on the blocking thread pool. The closure gets
/// a pooled connection for its duration only; never call a network from it.
pub async fn run<T, F>(pool: &Pool, f: F) -> Result<T, Error>
where
    F: FnOnce(&mut DbConnection) -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    // The request id lives in a task-local; carry it onto the blocking thread
    // so audit rows written there record it.
    let request_id = crate::telemetry::current_request_id();
    tokio::task::spawn_blocking(move || match request_id {
        Some(id) => crate::telemetry::REQUEST_ID.sync_scope(id, || run_blocking(&pool, f)),
        None => run_blocking(&pool, f),
    })
    .await
    .map_err(|e| Error::internal(format!("blocking task failed: {e}")))?
}

/// The one door to the pool: runs `f` on a pooled connection, on the calling
/// thread. Only for code that is already off the async runtime (start-up
/// before it serves, the CLI's `spawn_blocking` work); async code calls
/// [`run`], which comes through here on a blocking thread, because taking a
/// connection may wait and must never stall a runtime worker.
pub fn run_blocking<T, F>(pool: &Pool, f: F) -> Result<T, Error>
where
    F: FnOnce(&mut DbConnection) -> Result<T, Error>,
{
    let mut conn = pool.get()?;
    f(&mut conn)
}

/// [`run`] with the closure in one [`write_transaction`]: the shape of a
/// change that reads, writes and audits together.
pub async fn run_write<T, F>(pool: &Pool, f: F) -> Result<T, Error>
where
    F: FnOnce(&mut DbConnection) -> Result<T, Error> + Send + 'static,
    T: Send + 'static,
{
    run(pool, move |conn| write_transaction(conn, f)).await
}

/// A write transaction. On SQLite it begins with `BEGIN IMMEDIATE`, taking
/// the writer's lock before anything is read, so that writers queue on
/// `busy_timeout` instead of one failing with `SQLITE_BUSY` when it would
/// upgrade a stale read; a `BEGIN IMMEDIATE` still refused after that wait
/// (nothing has been done yet) is tried again, for up to
/// [`SQLITE_WRITER_PATIENCE`], so concurrent writers never see "database is
/// locked". Inside another transaction it is a savepoint.
pub fn write_transaction<T, F>(conn: &mut DbConnection, f: F) -> Result<T, Error>
where
    F: FnOnce(&mut DbConnection) -> Result<T, Error>,
{
    let DbConnection::Sqlite(sqlite) = conn else {
        return conn.transaction(f);
    };
    if sqlite_transaction_depth(sqlite)? > 0 {
        return conn.transaction(f);
    }
    begin_immediate(sqlite)?;
    // Committed or rolled back through the connection's own manager, which
    // holds the depth `BEGIN IMMEDIATE` opened. A panic in `f` leaves the
    // transaction open, and the pool discards such a connection
    // (`has_broken`).
    type Transactions = <DbConnection as Connection>::TransactionManager;
    match f(conn) {
        Ok(value) => {
            Transactions::commit_transaction(conn)?;
            Ok(value)
        }
        Err(error) => {
            Transactions::rollback_transaction(conn)?;
            Err(error)
        }
    }
}

/// How long a SQLite writer keeps asking for the lock in all.
pub const SQLITE_WRITER_PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

fn sqlite_transaction_depth(conn: &mut SqliteConnection) -> Result<u32, Error> {
    Ok(
        <AnsiTransactionManager as TransactionManager<SqliteConnection>>::transaction_manager_status_mut(conn)
            .transaction_depth()?
            .map_or(0, u32::from),
    )
}

fn begin_immediate(conn: &mut SqliteConnection) -> Result<(), Error> {
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        match AnsiTransactionManager::begin_transaction_sql(conn, "BEGIN IMMEDIATE") {
            Ok(()) => return Ok(()),
            Err(diesel::result::Error::DatabaseError(_, info))
                if crate::error::is_sqlite_busy(info.message())
                    && started.elapsed() < SQLITE_WRITER_PATIENCE =>
            {
                std::thread::sleep(pause);
                pause = (pause * 2).min(std::time::Duration::from_millis(50));
            }
            Err(error) => return Err(error.into()),
        }
    }
}

/// Whether the database answers (for `/readyz`).
pub fn ping(conn: &mut DbConnection) -> Result<(), Error> {
    diesel::sql_query("SELECT 1").execute(conn)?;
    Ok(())
}

/// The most rows one INSERT carries: well under both backends' limits on
/// bound parameters (SQLite 32,766, PostgreSQL 65,535) for our tables.
const ROWS_PER_INSERT: usize = 1000;

/// Inserts `rows` with one multi-row INSERT per thousand, so that a change
/// fanned out to many brands makes a number of statements that does not
/// grow with them. `MultiConnection` has no multi-row INSERT, so each
/// backend's own connection makes it.
pub fn insert_all<T, Tab>(conn: &mut DbConnection, table: Tab, rows: &[T]) -> Result<(), Error>
where
    Tab: diesel::Table + Copy,
    for<'a> &'a [T]: diesel::Insertable<Tab>,
    for<'a> diesel::query_builder::InsertStatement<Tab, <&'a [T] as diesel::Insertable<Tab>>::Values>:
        diesel::query_dsl::methods::ExecuteDsl<diesel::PgConnection>
            + diesel::query_dsl::methods::ExecuteDsl<diesel::SqliteConnection>,
{
    use diesel::RunQueryDsl;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let insert = diesel::insert_into(table).values(chunk);
        match conn {
            DbConnection::Postgresql(c) => insert.execute(c)?,
            DbConnection::Sqlite(c) => insert.execute(c)?,
        };
    }
    Ok(())
}
