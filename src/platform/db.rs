//! The connection pool and the schema migrations embedded in the binary.

use std::time::Duration;

use diesel::PgConnection;
use diesel::connection::SimpleConnection;
use diesel::r2d2::{ConnectionManager, Pool, PooledConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub type DbPool = Pool<Manager>;
pub type DbConn = PooledConnection<Manager>;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

/// Arbitrary constant naming the advisory lock that serialises migrations across processes.
const MIGRATION_LOCK: i64 = 0x1a9_c4ed_1750;

/// Connections a pool keeps at most unless told otherwise (`IAP_DB_POOL_SIZE`): enough for
/// the 2-core benchmark's 32 clients (the charges take one per batch worker) with requests'
/// reads, background jobs and a spare; PostgreSQL's own limit is 100.
pub const DEFAULT_POOL_SIZE: u32 = 16;

/// Builds the pool and checks that the database answers.
pub fn connect(database_url: &str) -> Result<DbPool, diesel::r2d2::PoolError> {
    connect_sized(database_url, DEFAULT_POOL_SIZE)
}

/// The same with `size` connections at most.
pub fn connect_sized(database_url: &str, size: u32) -> Result<DbPool, diesel::r2d2::PoolError> {
    pool_builder(size).build(Manager::new(database_url))
}

/// Builds the pool without connecting (connections are made on first use).
pub fn connect_lazily(database_url: &str) -> DbPool {
    pool_builder(DEFAULT_POOL_SIZE).build_unchecked(Manager::new(database_url))
}

/// The pool's connection manager: diesel's, but a connection that saw its server go away (a
/// failover, a restart) is dropped when handed back instead of being lent again. Diesel alone
/// drops only a connection left inside a transaction; one whose autocommit query met a closed
/// socket would go back to the pool and fail the next request too.
#[derive(Debug)]
pub struct Manager(ConnectionManager<PgConnection>);

impl Manager {
    pub fn new(database_url: &str) -> Self {
        Manager(ConnectionManager::new(database_url))
    }
}

impl diesel::r2d2::ManageConnection for Manager {
    type Connection = PgConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<PgConnection, Self::Error> {
        use diesel::Connection;
        let mut conn = self.0.connect()?;
        conn.set_instrumentation(LinkWatch::default());
        Ok(conn)
    }

    fn is_valid(&self, conn: &mut PgConnection) -> Result<(), Self::Error> {
        self.0.is_valid(conn)
    }

    fn has_broken(&self, conn: &mut PgConnection) -> bool {
        use diesel::Connection;
        self.0.has_broken(conn)
            || conn
                .instrumentation()
                .downcast_ref::<LinkWatch>()
                .is_some_and(|watch| watch.lost)
    }
}

/// Remembers whether a statement of its connection failed because the server went away.
#[derive(Debug, Default)]
struct LinkWatch {
    lost: bool,
}

/// How many connections have met an outage since the process started: when it grows, the other
/// idle connections of the pools are likely dead too (`drop_dead_idle_connections`).
static OUTAGES_SEEN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

pub fn outages_seen() -> u64 {
    OUTAGES_SEEN.load(std::sync::atomic::Ordering::Relaxed)
}

impl diesel::connection::Instrumentation for LinkWatch {
    fn on_connection_event(&mut self, event: diesel::connection::InstrumentationEvent<'_>) {
        if let diesel::connection::InstrumentationEvent::FinishQuery {
            error: Some(error), ..
        } = event
            && !self.lost
            && crate::platform::outage::outage(error).is_some()
        {
            self.lost = true;
            OUTAGES_SEEN.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

fn pool_builder(size: u32) -> diesel::r2d2::Builder<Manager> {
    Pool::builder()
        .max_size(size)
        .min_idle(Some(1))
        .connection_timeout(Duration::from_secs(5))
        .test_on_check_out(false)
        .event_handler(Box::new(crate::platform::metrics::PoolWaits))
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
    migrate_and_grant(conn, None)
}

/// Applies the pending migrations as the schema's owner, then gives `app_role` (the role that
/// serves requests) exactly the privileges of `APP_PRIVILEGES`. Several processes may call this
/// at once: an advisory lock takes them in turn.
pub fn migrate_and_grant(
    conn: &mut PgConnection,
    app_role: Option<&str>,
) -> Result<Vec<String>, MigrationError> {
    conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))?;
    let applied = conn
        .run_pending_migrations(MIGRATIONS)
        .map(|versions| versions.iter().map(ToString::to_string).collect())
        .map_err(|e| MigrationError::Migration(e.to_string()));
    let granted = match (&applied, app_role) {
        (Ok(_), Some(role)) => grant_app_privileges(conn, role),
        _ => Ok(()),
    };
    conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))?;
    granted?;
    applied
}

/// Background work that one instance at a time does, whatever the number of instances on
/// the database: the others skip their turn (their next tick tries again).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SoloJob {
    /// Releasing expired holds, forgetting old keys, expiring orders, asking the carrier and
    /// the post what became of what they were handed.
    Maintenance = 1,
    /// Asking the payment provider what became of payments and refunds left half-way.
    PaymentReconciler = 2,
}

/// The first key of the advisory locks of `SoloJob` (their second key is the job).
const SOLO_JOB_LOCKS: i32 = 0x1a9c;

/// Runs `f` unless another process (or connection) is running `job` right now: `None` then.
/// The lock is a session advisory lock, not a transaction, since `f` may ask providers over
/// the network; it is released when `f` returns or panics, and by PostgreSQL itself when the
/// process holding it dies (its connection closes).
pub fn run_alone<T>(
    conn: &mut PgConnection,
    job: SoloJob,
    f: impl FnOnce(&mut PgConnection) -> T,
) -> diesel::QueryResult<Option<T>> {
    use diesel::RunQueryDsl;
    use diesel::sql_types::{Bool, Integer};
    #[derive(diesel::QueryableByName)]
    struct Taken {
        #[diesel(sql_type = Bool)]
        taken: bool,
    }
    let taken = diesel::sql_query("SELECT pg_try_advisory_lock($1, $2) AS taken")
        .bind::<Integer, _>(SOLO_JOB_LOCKS)
        .bind::<Integer, _>(job as i32)
        .get_result::<Taken>(conn)?
        .taken;
    if !taken {
        return Ok(None);
    }
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(conn)));
    let released = diesel::sql_query("SELECT pg_advisory_unlock($1, $2)")
        .bind::<Integer, _>(SOLO_JOB_LOCKS)
        .bind::<Integer, _>(job as i32)
        .execute(conn);
    match ran {
        Ok(value) => released.map(|_| Some(value)),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

/// The role a connection acts as.
pub fn current_role(conn: &mut PgConnection) -> diesel::QueryResult<String> {
    use diesel::RunQueryDsl;
    diesel::select(diesel::dsl::sql::<diesel::sql_types::Text>(
        "current_user::text",
    ))
    .get_result(conn)
}

/// Whether a write was refused by a unique key: a second of something that exists once (the
/// same form posted twice, a double click).
pub fn is_unique_violation(e: &diesel::result::Error) -> bool {
    matches!(
        e,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// The role the embedded cluster serves requests as.
pub const APP_ROLE: &str = "iap_app";

/// What the role serving requests may do, table by table; anything else (DDL, TRUNCATE, any
/// other UPDATE or DELETE) is refused by PostgreSQL itself. The ledger and the audit log take
/// new rows only; an order or a refund may only move through its states, never change its
/// amounts.
pub const APP_PRIVILEGES: &[(&str, &str)] = &[
    ("app_events", "SELECT, INSERT"),
    ("auto_topups", "SELECT, INSERT, UPDATE"),
    ("billing_details", "SELECT, INSERT, UPDATE"),
    ("audit_log", "SELECT, INSERT"),
    ("contact_events", "SELECT, INSERT"),
    ("contacts", "SELECT, INSERT, UPDATE, DELETE"),
    ("company_lookups", "SELECT, INSERT"),
    ("databases", "SELECT, INSERT"),
    (
        "digitizations",
        "SELECT, INSERT, UPDATE (status, read_attempts, reading_until, error)",
    ),
    ("directory_companies", "SELECT"),
    ("directory_people", "SELECT"),
    (
        "documents",
        "SELECT, INSERT, UPDATE (pdf_facts, text_layer)",
    ),
    ("email_outbox", "SELECT, INSERT, UPDATE"),
    ("enrichments", "SELECT, INSERT, UPDATE (status)"),
    ("holds", "SELECT, INSERT, UPDATE"),
    ("iap_accounts", "SELECT, INSERT, UPDATE"),
    ("idempotency_keys", "SELECT, INSERT, UPDATE, DELETE"),
    ("invoice_counters", "SELECT, INSERT, UPDATE"),
    ("invoice_settings", "SELECT, UPDATE"),
    ("invoices", "SELECT, INSERT"),
    ("lead_contacts", "SELECT, INSERT"),
    ("lead_events", "SELECT, INSERT"),
    (
        "lead_requests",
        "SELECT, INSERT, UPDATE (status, companies_found, contacts_found)",
    ),
    ("leads", "SELECT, INSERT"),
    ("ledger_daily", "SELECT, INSERT, UPDATE"),
    ("ledger_entries", "SELECT, INSERT"),
    (
        "letters",
        "SELECT, INSERT, UPDATE (status, provider_reference, error, sent_at, finished_at)",
    ),
    (
        "orders",
        "SELECT, INSERT, UPDATE (status, paid_at, payment_reference, card_last4, next_attempt_at)",
    ),
    ("iap_transactions", "SELECT, INSERT"),
    (
        "identifications",
        "SELECT, INSERT, UPDATE (provider_session, status, finished_at)",
    ),
    ("packs", "SELECT, INSERT, UPDATE"),
    ("payment_attempts", "SELECT, INSERT, UPDATE"),
    ("payment_methods", "SELECT, INSERT, DELETE"),
    ("postage_countries", "SELECT, INSERT, DELETE"),
    ("postage_zones", "SELECT, UPDATE"),
    (
        "provider_keys",
        "SELECT, INSERT, UPDATE (last_used_at, revoked_at)",
    ),
    (
        "refunds",
        "SELECT, INSERT, UPDATE (status, provider_reference, failure, reversal_entry_id, finished_at)",
    ),
    ("sales_daily", "SELECT, INSERT, UPDATE"),
    ("service_jobs", "SELECT, INSERT, UPDATE"),
    ("services", "SELECT, INSERT, UPDATE"),
    ("sign_in_throttle", "SELECT, INSERT, UPDATE, DELETE"),
    (
        "sign_requests",
        "SELECT, INSERT, UPDATE (status, signed_pdf, completed_at)",
    ),
    (
        "signers",
        "SELECT, INSERT, UPDATE (identified_name, identified_birth_date, identified_national_number, identified_at, signed_at, signed_from, signed_sha256)",
    ),
    ("simulated_provider_records", "SELECT, INSERT, UPDATE"),
    ("sms_messages", "SELECT, INSERT, UPDATE"),
    ("sms_prices", "SELECT, INSERT, UPDATE"),
    ("usage_prices", "SELECT, INSERT, UPDATE (credits)"),
    ("user_sessions", "SELECT, INSERT, UPDATE, DELETE"),
    ("users", "SELECT, INSERT"),
    ("vendor_bills", "SELECT, INSERT, UPDATE"),
];

/// Gives `role` the privileges of `APP_PRIVILEGES` and no others (what an older version granted
/// and this one no longer needs is taken back), in one transaction.
pub fn grant_app_privileges(conn: &mut PgConnection, role: &str) -> diesel::QueryResult<()> {
    use diesel::Connection;
    let role = quote_ident(role);
    let mut sql = format!(
        "REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role};\n\
         REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role};\n\
         GRANT USAGE ON SCHEMA public TO {role};\n\
         GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};\n"
    );
    for (table, privileges) in APP_PRIVILEGES {
        sql += &format!("GRANT {privileges} ON {table} TO {role};\n");
    }
    conn.transaction(|conn| conn.batch_execute(&sql))
}

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration failed: {0}")]
    Migration(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// Quotes an SQL identifier (database and role names cannot be bound as parameters).
pub fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `text` matched literally inside a LIKE pattern (its `%`, `_` and `\` escaped).
pub fn escape_like(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}
