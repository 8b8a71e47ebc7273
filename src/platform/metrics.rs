//! What the app is doing, for Prometheus (`GET /metrics`, OpenMetrics text): requests by route
//! and status with their latency, charges and holds as they happen, the group commit's batch
//! sizes, the outboxes' depth and age, the connection pool, and whether PostgreSQL is up.
//!
//! Counters and histograms are process-wide (one set per instance, as Prometheus scrapes each
//! instance); what lives in the database (outboxes) or in the pool is read when scraped, by the
//! caller (`web::metrics`), and handed to `render`. A leaf: it imports nothing of the app's, so
//! that anything may count here.

use std::sync::LazyLock;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// The content type of `render`'s text.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    method: String,
    route: String,
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    method: String,
    route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HoldLabels {
    event: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutboxLabels {
    outbox: String,
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PoolLabels {
    pool: &'static str,
}

/// What happened to a charge.
#[derive(Debug, Clone, Copy)]
pub enum ChargeOutcome {
    Charged,
    /// Too few credits.
    Refused,
}

/// What happened to a hold.
#[derive(Debug, Clone, Copy)]
pub enum HoldEvent {
    Opened,
    Captured,
    Cancelled,
    Expired,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: HistogramFamily<RouteLabels>,
    charges: Family<OutcomeLabels, Counter>,
    holds: Family<HoldLabels, Counter>,
    batch_size: Histogram,
    outbox_depth: Family<OutboxLabels, Gauge>,
    outbox_age: Family<OutboxLabels, Gauge<f64, AtomicU64>>,
    pool_in_use: Family<PoolLabels, Gauge>,
    pool_idle: Family<PoolLabels, Gauge>,
    pool_max: Family<PoolLabels, Gauge>,
    pool_wait: Histogram,
    pool_timeouts: Counter,
    database_up: Gauge,
    embedded_up: Gauge,
    embedded_restarts: Gauge,
}

fn latency_histogram() -> Histogram {
    // 0.5 ms to about 8 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 15))
}

impl Metrics {
    fn new() -> Self {
        let mut registry = Registry::with_prefix("iap");
        let requests = Family::<RequestLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by method, route pattern and status",
            requests.clone(),
        );
        let latency: HistogramFamily<RouteLabels> = Family::new_with_constructor(latency_histogram);
        registry.register(
            "http_request_duration_seconds",
            "Time to answer a request, by method and route pattern",
            latency.clone(),
        );
        let charges = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "charges",
            "Charges made (charged) or refused for too few credits (refused)",
            charges.clone(),
        );
        let holds = Family::<HoldLabels, Counter>::default();
        registry.register(
            "holds",
            "Holds opened, captured, cancelled and expired",
            holds.clone(),
        );
        let batch_size = Histogram::new(exponential_buckets(1.0, 2.0, 9));
        registry.register(
            "charge_batch_size",
            "Charges applied per group-commit transaction",
            batch_size.clone(),
        );
        let outbox_depth = Family::<OutboxLabels, Gauge>::default();
        registry.register(
            "outbox_depth",
            "Messages and jobs waiting to be sent or run, by outbox and kind",
            outbox_depth.clone(),
        );
        let outbox_age = Family::<OutboxLabels, Gauge<f64, AtomicU64>>::default();
        registry.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest waiting message or job, by outbox and kind",
            outbox_age.clone(),
        );
        let pool_in_use = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections_in_use",
            "Database connections handed out now",
            pool_in_use.clone(),
        );
        let pool_idle = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections_idle",
            "Database connections open and idle",
            pool_idle.clone(),
        );
        let pool_max = Family::<PoolLabels, Gauge>::default();
        registry.register(
            "db_pool_connections_max",
            "Database connections the pool may open",
            pool_max.clone(),
        );
        let pool_wait = Histogram::new(exponential_buckets(0.0001, 4.0, 10));
        registry.register(
            "db_pool_wait_seconds",
            "Time waited for a database connection",
            pool_wait.clone(),
        );
        let pool_timeouts = Counter::default();
        registry.register(
            "db_pool_timeouts",
            "Waits for a database connection that gave up",
            pool_timeouts.clone(),
        );
        let database_up = Gauge::default();
        registry.register(
            "database_up",
            "1 when the database answered this scrape",
            database_up.clone(),
        );
        let embedded_up = Gauge::default();
        registry.register(
            "embedded_postgres_up",
            "1 when the embedded PostgreSQL runs (0 with an external database: see database_up)",
            embedded_up.clone(),
        );
        let embedded_restarts = Gauge::default();
        registry.register(
            "embedded_postgres_restarts",
            "Times the embedded PostgreSQL was restarted after it stopped",
            embedded_restarts.clone(),
        );
        // Every outcome and event from the start, so that rates begin at 0, not at the first.
        for outcome in ["charged", "refused"] {
            charges.get_or_create(&OutcomeLabels { outcome }).inc_by(0);
        }
        for event in ["opened", "captured", "cancelled", "expired"] {
            holds.get_or_create(&HoldLabels { event }).inc_by(0);
        }
        Metrics {
            registry,
            requests,
            latency,
            charges,
            holds,
            batch_size,
            outbox_depth,
            outbox_age,
            pool_in_use,
            pool_idle,
            pool_max,
            pool_wait,
            pool_timeouts,
            database_up,
            embedded_up,
            embedded_restarts,
        }
    }
}

static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

/// A request answered: `route` is its pattern (bounded), never its path.
pub fn request(method: &str, route: &str, status: u16, took: Duration) {
    METRICS
        .requests
        .get_or_create(&RequestLabels {
            method: method.to_string(),
            route: route.to_string(),
            status,
        })
        .inc();
    METRICS
        .latency
        .get_or_create(&RouteLabels {
            method: method.to_string(),
            route: route.to_string(),
        })
        .observe(took.as_secs_f64());
}

pub fn charges(outcome: ChargeOutcome, count: u64) {
    let outcome = match outcome {
        ChargeOutcome::Charged => "charged",
        ChargeOutcome::Refused => "refused",
    };
    METRICS
        .charges
        .get_or_create(&OutcomeLabels { outcome })
        .inc_by(count);
}

pub fn holds(event: HoldEvent, count: u64) {
    let event = match event {
        HoldEvent::Opened => "opened",
        HoldEvent::Captured => "captured",
        HoldEvent::Cancelled => "cancelled",
        HoldEvent::Expired => "expired",
    };
    METRICS
        .holds
        .get_or_create(&HoldLabels { event })
        .inc_by(count);
}

pub fn charge_batch(size: usize) {
    METRICS.batch_size.observe(size as f64);
}

/// Watches a pool's waits for a connection (an r2d2 event handler).
#[derive(Debug)]
pub struct PoolWaits;

impl diesel::r2d2::HandleEvent for PoolWaits {
    fn handle_checkout(&self, event: diesel::r2d2::event::CheckoutEvent) {
        METRICS.pool_wait.observe(event.duration().as_secs_f64());
    }

    fn handle_timeout(&self, _event: diesel::r2d2::event::TimeoutEvent) {
        METRICS.pool_timeouts.inc();
    }
}

/// A connection pool as it is now.
pub struct PoolFigures {
    /// `app`, or `read` for the replica's.
    pub name: &'static str,
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

/// What waits in one outbox for one kind (`read_models::outboxes`).
#[derive(Debug, diesel::QueryableByName)]
pub struct Waiting {
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub outbox: String,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub kind: String,
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    pub depth: i64,
    #[diesel(sql_type = diesel::sql_types::Double)]
    pub oldest_seconds: f64,
}

/// What is read when scraped.
pub struct Scrape {
    pub pools: Vec<PoolFigures>,
    /// The embedded PostgreSQL: (up, restarts); `None` with an external database.
    pub embedded: Option<(bool, u64)>,
    /// The outboxes, or why they could not be read (then the database counts as down).
    pub outboxes: Result<Vec<Waiting>, String>,
}

/// Every metric in the OpenMetrics text format, with `scrape`'s figures.
pub fn render(scrape: Scrape) -> String {
    let m = &*METRICS;
    for pool in &scrape.pools {
        let labels = PoolLabels { pool: pool.name };
        m.pool_in_use
            .get_or_create(&labels)
            .set(i64::from(pool.connections.saturating_sub(pool.idle)));
        m.pool_idle.get_or_create(&labels).set(i64::from(pool.idle));
        m.pool_max.get_or_create(&labels).set(i64::from(pool.max));
    }
    if let Some((up, restarts)) = scrape.embedded {
        m.embedded_up.set(i64::from(up));
        m.embedded_restarts
            .set(i64::try_from(restarts).unwrap_or(i64::MAX));
    }
    // A kind that emptied must read 0, not its last figure.
    m.outbox_depth.clear();
    m.outbox_age.clear();
    match scrape.outboxes {
        Ok(rows) => {
            m.database_up.set(1);
            for row in rows {
                let labels = OutboxLabels {
                    outbox: row.outbox,
                    kind: row.kind,
                };
                m.outbox_depth.get_or_create(&labels).set(row.depth);
                m.outbox_age.get_or_create(&labels).set(row.oldest_seconds);
            }
        }
        Err(e) => {
            tracing::warn!("metrics: the outboxes could not be read: {e}");
            m.database_up.set(0);
        }
    }
    let mut text = String::new();
    if prometheus_client::encoding::text::encode(&mut text, &m.registry).is_err() {
        tracing::error!("metrics: could not encode");
    }
    text
}
