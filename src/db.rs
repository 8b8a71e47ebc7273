//! The connection pool and the schema migrations embedded in the binary.

use std::time::Duration;

use diesel::PgConnection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub type DbPool = Pool<ConnectionManager<PgConnection>>;
pub type DbConn = PooledConnection<ConnectionManager<PgConnection>>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Arbitrary constant naming the advisory lock that serialises migrations across processes.
const MIGRATION_LOCK: i64 = 0x1a9_c4ed_1750;

/// Builds the pool and checks that the database answers.
pub fn connect(database_url: &str) -> Result<DbPool, diesel::r2d2::PoolError> {
    pool_builder().build(ConnectionManager::new(database_url))
}

/// Builds the pool without connecting (connections are made on first use).
pub fn connect_lazily(database_url: &str) -> DbPool {
    pool_builder().build_unchecked(ConnectionManager::new(database_url))
}

fn pool_builder() -> diesel::r2d2::Builder<ConnectionManager<PgConnection>> {
    Pool::builder()
        .max_size(16)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(false)
}

/// Takes every idle connection of `pool` once and pings it: a dead one (its server restarted)
/// fails, which marks it broken, and the pool drops it when it is handed back. Returns how many
/// were dead.
pub fn drop_dead_idle_connections(pool: &DbPool) -> usize {
    use diesel::RunQueryDsl;
    let mut taken = Vec::new();
    let mut dead = 0;
    while let Some(mut conn) = pool.try_get() {
        if diesel::sql_query("SELECT 1").execute(&mut conn).is_err() {
            dead += 1;
        }
        taken.push(conn);
    }
    dead
}

/// Applies the pending migrations; several processes may call this at once.
pub fn run_migrations(conn: &mut PgConnection) -> Result<Vec<String>, MigrationError> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|e| MigrationError::Migration(e.to_string()));
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
    applied
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// `text` matched literally inside a LIKE pattern (its `%`, `_` and `\` escaped).
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
