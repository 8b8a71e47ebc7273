//! Building the app: the database connection (embedded or external), the actix `App` used by
//! both the server and the tests, and the server with its graceful shutdown.

use std::net::TcpListener;

use actix_web::body::MessageBody;
use actix_web::dev::{Server, ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpServer, web};

use crate::domain::catalog::seed::seed_catalog;
pub use crate::http::state::AppState;
use crate::platform::config::{Config, ServerSettings};
use crate::platform::db::{self, DbPool};
use crate::platform::embedded_pg::{DatabaseHealth, EmbeddedPostgres, LaunchError, LaunchOptions};

/// The database the process uses, with the embedded cluster kept alive as long as it is held.
pub struct DatabaseHandle {
    /// As the schema's owner: migrations and grants only.
    pub owner_url: String,
    /// As the role that serves requests and runs commands.
    pub request_url: String,
    pub embedded: Option<EmbeddedPostgres>,
}

impl DatabaseHandle {
    /// `DATABASE_URL` (with `DATABASE_APP_URL` for requests) when set, else the embedded
    /// cluster under the data dir, served as `db::APP_ROLE`.
    pub fn open(config: &Config) -> Result<Self, LaunchError> {
        match &config.database_url {
            Some(url) => Ok(DatabaseHandle {
                owner_url: url.clone(),
                request_url: config
                    .database_app_url
                    .clone()
                    .unwrap_or_else(|| url.clone()),
                embedded: None,
            }),
            None => {
                let options = LaunchOptions::new(&config.data_dir, config.pg_bin.clone());
                let mut pg = EmbeddedPostgres::start(&options)?;
                pg.supervise();
                Ok(DatabaseHandle {
                    owner_url: pg.app_database_url(),
                    request_url: pg.request_database_url(),
                    embedded: Some(pg),
                })
            }
        }
    }

    pub fn is_embedded(&self) -> bool {
        self.embedded.is_some()
    }

    /// The embedded cluster's supervisor's view; `None` for an external database, which its
    /// own operators watch.
    pub fn health(&self) -> Option<DatabaseHealth> {
        self.embedded.as_ref().map(EmbeddedPostgres::health)
    }

    /// Leaves the embedded cluster (stopping it when no other process uses it).
    pub fn close(self) -> Result<(), LaunchError> {
        match self.embedded {
            Some(pg) => pg.stop(),
            None => Ok(()),
        }
    }
}

/// Migrations and grants as the owner, then the catalog: run at every start. Returns the pool
/// that serves requests, connected as the restricted role.
pub fn prepare_database(database: &DatabaseHandle, pool_size: u32) -> anyhow::Result<DbPool> {
    use anyhow::Context;
    use diesel::Connection;
    let mut owner = diesel::PgConnection::establish(&database.owner_url)
        .context("could not connect to the database as its owner (DATABASE_URL)")?;
    let pool = db::connect_sized(&database.request_url, pool_size)
        .context("could not connect to the database as the app's role")?;
    let app_role = db::current_role(&mut *pool.get()?)?;
    let owner_role = db::current_role(&mut owner)?;
    let app_role = if app_role == owner_role {
        if !database.is_embedded() {
            tracing::warn!(
                role = %owner_role,
                "requests are served as the schema's owner, who could change the ledger's rules: \
                 set DATABASE_APP_URL to a role of its own (see Database roles in docs/operations.md)"
            );
        }
        None
    } else {
        Some(app_role)
    };
    let applied = db::migrate_and_grant(&mut owner, app_role.as_deref())?;
    if !applied.is_empty() {
        tracing::info!(?applied, "applied migrations");
    }
    let hashed = crate::domain::ledger::accounts::backfill_token_sha1(&mut owner)?;
    if hashed > 0 {
        tracing::info!(hashed, "kept the SHA-1 of older account tokens");
    }
    let added = seed_catalog(&mut owner)?;
    if added > 0 {
        tracing::info!(added, "added services to the catalog");
    }
    let companies = crate::services::directory::seed(
        &mut owner,
        crate::services::directory::generate::COMPANIES,
    )?;
    if companies > 0 {
        tracing::info!(companies, "generated the simulated company directory");
    }
    Ok(pool)
}

/// How often the outbox is checked for messages due.
const MAIL_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The outbox worker: sends due alerts and receipts through `mailer` (a message being sent
/// when the app stops is simply sent again next time).
pub fn spawn_mail_worker(state: &AppState, mailer: crate::domain::mail::Mailer) {
    let (pool, mailer) = (state.pool.clone(), std::sync::Arc::new(mailer));
    spawn_periodic("outbox", MAIL_EVERY, move || {
        let mailer = mailer.clone();
        on_a_connection(&pool, move |conn| {
            let run =
                crate::domain::mail::outbox::deliver_due(conn, &mailer, chrono::Utc::now(), 100)?;
            Ok(run)
        })
    });
}

/// How often the job worker looks for paid-service jobs left behind.
const JOBS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// The paid-service job worker: finishes jobs whose request did not (a crash, a lost
/// connection) and retries the ones that failed for a passing reason. Its first run is at start.
pub fn spawn_job_worker(state: &AppState) {
    let (pool, services) = (state.pool.clone(), state.paid_services());
    spawn_periodic("paid-service jobs", JOBS_EVERY, move || {
        let services = services.clone();
        on_a_connection(&pool, move |conn| {
            Ok(crate::domain::metering::run_due(
                conn,
                &services,
                chrono::Utc::now(),
                100,
            )?)
        })
    });
}

/// Bills read at once by the reading worker (OCR): each is one Tesseract on one core, and holds
/// no database connection while it reads.
pub const READING_WORKERS: usize = 1;
/// How often the reading worker looks for bills to read when its doorbell did not ring.
const READING_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The reading worker of Documents Digitization (`digitization::reading`): reads the bills that
/// Digitize handed over, `READING_WORKERS` at a time, off the request path. Must run inside the
/// actix runtime; stops with it.
pub fn spawn_reading_worker(state: &AppState) {
    for _ in 0..READING_WORKERS {
        let (pool, readers) = (state.pool.clone(), state.readers.clone());
        actix_web::rt::spawn(async move {
            loop {
                let (pool, readers_) = (pool.clone(), readers.clone());
                let run = web::block(move || {
                    crate::services::digitization::reading::read_next(&pool, &readers_)
                })
                .await;
                match run {
                    Ok(Ok(Some(outcome))) => {
                        tracing::info!(?outcome, "Documents Digitization");
                        continue;
                    }
                    Ok(Ok(None)) => {}
                    Ok(Err(e)) => tracing::warn!("reading worker failed: {e}"),
                    Err(e) => tracing::warn!("reading worker failed: {e}"),
                }
                // Until a Digitize rings, or a while passes (a lease ran out, a retry is due).
                let _ =
                    actix_web::rt::time::timeout(READING_EVERY, readers.doorbell.notified()).await;
            }
        });
    }
}

/// How often payments left half-way are reconciled (also once at start).
const PAYMENTS_EVERY: std::time::Duration = std::time::Duration::from_secs(60);

/// The payment reconciler: finishes the payment attempts and refunds a crash left between
/// their two transactions, asking the provider what became of each. Runs at start, then every
/// minute, on one instance at a time.
pub fn spawn_payment_reconciler(state: &AppState) {
    let (pool, provider) = (state.pool.clone(), state.payments.clone());
    spawn_periodic("payments reconciled", PAYMENTS_EVERY, move || {
        let provider = provider.clone();
        on_a_connection(&pool, move |conn| {
            let now = chrono::Utc::now();
            let run = db::run_alone(conn, db::SoloJob::PaymentReconciler, |conn| {
                let payments =
                    crate::domain::orders::reconcile_payments(conn, provider.as_ref(), now)?;
                let refunds = crate::domain::orders::refunds::reconcile_refunds(
                    conn,
                    provider.as_ref(),
                    now,
                )?;
                anyhow::Ok(payments + refunds)
            })?;
            run.unwrap_or(Ok(0))
        })
    });
}

/// How often the top-up worker looks for top-ups to pay (a crossing is paid within this).
const TOPUPS_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Pays the automatic top-ups the database ordered (`topup::pay_due`).
pub fn spawn_topup_worker(state: &AppState) {
    let (pool, provider) = (state.pool.clone(), state.payments.clone());
    spawn_periodic("automatic top-ups", TOPUPS_EVERY, move || {
        let provider = provider.clone();
        on_a_connection(&pool, move |conn| {
            Ok(crate::domain::topup::pay_due(
                conn,
                provider.as_ref(),
                chrono::Utc::now(),
                20,
            )?)
        })
    });
}

/// After the database server went away (the embedded PostgreSQL restarted, or a failover moved
/// the primary: a connection met the outage), the pools' other idle connections are likely dead
/// too: each is tried once here (a dead one is then dropped) so that few requests meet one.
/// Must run inside the actix runtime; stops with it.
pub fn spawn_pool_refresher(state: &AppState) {
    let health = state.database_health.clone();
    let pools: Vec<DbPool> = std::iter::once(state.pool.clone())
        .chain(state.replica_pool.clone())
        .collect();
    actix_web::rt::spawn(async move {
        let seen_now = || {
            (
                health.as_ref().map_or(0, |h| h.restarts()),
                db::outages_seen(),
            )
        };
        let mut seen = seen_now();
        let mut ticks = actix_web::rt::time::interval(std::time::Duration::from_millis(500));
        loop {
            ticks.tick().await;
            if seen_now() == seen {
                continue;
            }
            seen = seen_now();
            let pools = pools.clone();
            let dropped = web::block(move || {
                pools
                    .iter()
                    .map(db::drop_dead_idle_connections)
                    .sum::<usize>()
            })
            .await;
            tracing::info!(
                dropped = dropped.unwrap_or(0),
                "pool refreshed after the database went away"
            );
        }
    });
}

/// How often delivery reports are looked for to POST to Odoo databases' webhooks.
const WEBHOOKS_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// The webhook worker: POSTs SMS delivery reports to the webhooks of the Odoo databases that
/// sent the messages (`sms::webhooks`).
pub fn spawn_webhook_worker(state: &AppState) {
    let (pool, outbound) = (state.pool.clone(), state.outbound.clone());
    let client = std::rc::Rc::new(outbound.client(crate::services::sms::webhooks::TIMEOUT));
    spawn_periodic("SMS delivery reports", WEBHOOKS_EVERY, move || {
        let (pool, outbound, client) = (pool.clone(), outbound.clone(), client.clone());
        async move {
            crate::services::sms::webhooks::deliver_due(
                &pool,
                &outbound,
                &client,
                chrono::Utc::now(),
            )
            .await
        }
    });
}

/// How often expired holds are released and old idempotency keys deleted.
const MAINTENANCE_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

/// The periodic sweeper: releases expired holds nobody touched, forgets old idempotency keys,
/// expires stale orders and applies SMS delivery reports and letters' tracking, on one
/// instance at a time. Its run is (holds expired, everything else).
pub fn spawn_maintenance(state: &AppState) {
    let (pool, sms, post) = (state.pool.clone(), state.sms.clone(), state.post.clone());
    spawn_periodic("maintenance", MAINTENANCE_EVERY, move || {
        let (sms, post) = (sms.clone(), post.clone());
        on_a_connection(&pool, move |conn| {
            let run = db::run_alone(conn, db::SoloJob::Maintenance, |conn| {
                let expired = crate::domain::ledger::expire_due_holds(conn)?;
                let keys = crate::domain::ledger::idempotency::sweep_old_keys(conn)?;
                let orders = crate::domain::orders::expire_stale_orders(conn)?;
                let throttles = crate::domain::auth::throttle::purge(conn, chrono::Utc::now())?
                    + crate::domain::auth::sessions::purge(conn, chrono::Utc::now())?;
                let reports =
                    crate::services::sms::messages::apply_delivery_reports(conn, sms.as_ref())?
                        + crate::services::snailmail::track(conn, post.as_ref(), None)?;
                anyhow::Ok((expired, keys + orders + reports + throttles))
            })?;
            run.unwrap_or(Ok((0, 0)))
        })
    });
}

/// The one shape of the periodic workers: `step` runs now, then every `every` (a slow run
/// delays the next, so runs never overlap); what a run did is logged unless it did nothing
/// (`T::default()`), and a failure is logged and tried again next time. Must run inside the
/// actix runtime; stops with it.
fn spawn_periodic<T, Step, Run>(what: &'static str, every: std::time::Duration, step: Step)
where
    Step: Fn() -> Run + 'static,
    Run: std::future::Future<Output = anyhow::Result<T>>,
    T: std::fmt::Debug + Default + PartialEq,
{
    actix_web::rt::spawn(async move {
        let mut ticks = actix_web::rt::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match step().await {
                Ok(run) if run == T::default() => {}
                Ok(run) => tracing::info!(?run, "{what}"),
                Err(e) => tracing::warn!("{what} failed: {e:#}"),
            }
        }
    });
}

/// `work` with a connection of `pool`, on the blocking threads (never on an async worker).
fn on_a_connection<T, Work>(
    pool: &DbPool,
    work: Work,
) -> impl std::future::Future<Output = anyhow::Result<T>> + use<T, Work>
where
    T: Send + 'static,
    Work: FnOnce(&mut db::DbConn) -> anyhow::Result<T> + Send + 'static,
{
    let pool = pool.clone();
    async move {
        web::block(move || {
            let mut conn = pool.get()?;
            work(&mut conn)
        })
        .await?
    }
}

/// Content-Security-Policy: no inline scripts or styles, nothing from other origins, no framing.
const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'";

/// Served over https: browsers keep to https for a year.
const HSTS: &str = "max-age=31536000";

/// Cookie sessions: signed and encrypted with the app's key, HttpOnly, SameSite=Lax, Secure
/// when the app is served over https, and gone after 8 hours without a request.
fn session_middleware(
    state: &AppState,
) -> actix_session::SessionMiddleware<actix_session::storage::CookieSessionStore> {
    use actix_session::config::{CookieContentSecurity, PersistentSession, TtlExtensionPolicy};
    use actix_web::cookie::{SameSite, time::Duration};
    actix_session::SessionMiddleware::builder(
        actix_session::storage::CookieSessionStore::default(),
        state.session_key.clone(),
    )
    .cookie_name("iap_session".into())
    .cookie_http_only(true)
    .cookie_same_site(SameSite::Lax)
    .cookie_secure(state.base_url.starts_with("https://"))
    .cookie_content_security(CookieContentSecurity::Private)
    .session_lifecycle(
        PersistentSession::default()
            .session_ttl(Duration::seconds(
                crate::domain::auth::session::IDLE_TIMEOUT_SECONDS,
            ))
            .session_ttl_extension_policy(TtlExtensionPolicy::OnEveryRequest),
    )
    .build()
}

/// A query string holding a NUL byte (`%00`) is refused with a 400 before any handler runs:
/// no stored text holds one, and PostgreSQL refuses it in a query.
fn refuse_nul_in_query<S>(
    req: ServiceRequest,
    srv: &S,
) -> futures_util::future::LocalBoxFuture<'static, Result<ServiceResponse, actix_web::Error>>
where
    S: actix_web::dev::Service<
            ServiceRequest,
            Response = ServiceResponse,
            Error = actix_web::Error,
        >,
    S::Future: 'static,
{
    use actix_web::ResponseError;
    let decoded = percent_encoding::percent_decode_str(req.query_string()).collect::<Vec<u8>>();
    if !decoded.contains(&0) {
        return Box::pin(srv.call(req));
    }
    let response = if req.path().starts_with("/api/") {
        crate::api::ApiError::malformed("the query string holds a NUL character").error_response()
    } else {
        crate::http::error::AppError::BadRequest(
            "The address holds a NUL character, which cannot be searched for. Remove it and try again.",
        )
        .error_response()
    };
    Box::pin(std::future::ready(Ok(req.into_response(response))))
}

/// The whole application, as the server and the tests use it.
pub fn build_app(
    state: AppState,
) -> App<
    impl ServiceFactory<
        ServiceRequest,
        Config = (),
        Response = ServiceResponse<impl MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    let sessions = session_middleware(&state);
    let https = state.base_url.starts_with("https://");
    App::new()
        .app_data(web::Data::new(state))
        .wrap_fn(refuse_nul_in_query)
        .wrap(sessions)
        .wrap(
            DefaultHeaders::new()
                .add(("Content-Security-Policy", CSP))
                .add(("X-Content-Type-Options", "nosniff"))
                .add(("X-Frame-Options", "DENY"))
                .add(("Referrer-Policy", "same-origin"))
                // Pages show tokens, orders and balances: no copy in any cache (the static
                // files set their own Cache-Control, which this does not replace).
                .add(("Cache-Control", "no-store")),
        )
        .wrap(actix_web::middleware::Condition::new(
            https,
            DefaultHeaders::new().add(("Strict-Transport-Security", HSTS)),
        ))
        // One line per request, with its id; the route's pattern, never the path and its query
        // (Odoo's "Buy credits" link carries an account token there).
        .wrap(actix_web::middleware::from_fn(
            crate::http::request_log::log_request,
        ))
        .configure(crate::api::routes)
        .configure(crate::odoo::routes)
        .configure(crate::web::routes)
        .default_service(web::to(crate::web::not_found))
}

/// The metrics listener (`IAP_METRICS_BIND`): `GET /metrics` and nothing else, on one worker.
/// It stops with the runtime. Must run inside the actix runtime.
pub fn metrics_server(state: AppState, address: &str) -> std::io::Result<Server> {
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(state.clone()))
            .route("/metrics", web::get().to(crate::web::metrics::scrape))
    })
    .workers(1)
    .disable_signals()
    .shutdown_timeout(1)
    .bind(address)?
    .run())
}

/// The HTTP server, bound and ready to run.
pub struct Application {
    server: Server,
    port: u16,
    stop_signals: StopSignals,
}

impl Application {
    /// Binds `bind` (port 0 picks a free port) and builds the server. Signals are handled by
    /// `run_until_stopped`, so that Ctrl-C and SIGTERM both drain requests gracefully.
    /// Must run inside the actix runtime.
    pub fn build(state: AppState, bind: &str, settings: ServerSettings) -> std::io::Result<Self> {
        // Listen for signals before anyone can learn that we run, so none is missed.
        let stop_signals = StopSignals::listen()?;
        let listener = TcpListener::bind(bind)?;
        let port = listener.local_addr()?.port();
        let server = HttpServer::new(move || build_app(state.clone()))
            .workers(settings.workers)
            .worker_max_blocking_threads(settings.max_blocking_threads)
            .max_connections(settings.max_connections)
            .listen(listener)?
            .disable_signals()
            .shutdown_timeout(30)
            .run();
        Ok(Application {
            server,
            port,
            stop_signals,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until Ctrl-C or SIGTERM, then stops accepting and lets requests finish.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let handle = self.server.handle();
        let mut stop_signals = self.stop_signals;
        actix_web::rt::spawn(async move {
            stop_signals.recv().await;
            tracing::info!("stopping: finishing the requests under way");
            handle.stop(true).await;
        });
        self.server.await
    }
}

/// Ctrl-C (SIGINT) and SIGTERM, both meaning "stop gracefully".
struct StopSignals {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    fn listen() -> std::io::Result<Self> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(StopSignals {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.interrupt.recv() => {}
            _ = self.terminate.recv() => {}
        }
    }
}

/// The app's state with the simulated providers, assembled here (the one place that knows
/// every floor: the API's charge answers go into the ledger's batcher); the server and the
/// tests replace what they need.
pub fn app_state(pool: DbPool, base_url: String, session_key: actix_web::cookie::Key) -> AppState {
    let charges = crate::domain::ledger::batch::ChargeBatcher::start(
        pool.clone(),
        crate::api::answers::charge_renderer(base_url.clone()),
    );
    let holds = crate::domain::ledger::batch::holds::HoldBatcher::start(pool.clone());
    let itsme_sim = std::sync::Arc::new(crate::services::signing::itsme::SimulatedItsme::default());
    AppState {
        holds,
        itsme: itsme_sim.clone(),
        itsme_sim,
        directory: std::sync::Arc::new(crate::services::directory::provider::SimulatedDirectory(
            pool.clone(),
        )),
        replica_pool: None,
        metrics_token: None,
        trusted_proxies: Vec::new(),
        outbound: crate::platform::outbound::OutboundPolicy::default(),
        pool,
        base_url,
        session_key,
        charges,
        payments: std::sync::Arc::new(crate::domain::payments::MockProvider::default()),
        sms: std::sync::Arc::new(crate::services::sms::gateway::SimulatedCarrier::default()),
        post: std::sync::Arc::new(crate::services::snailmail::post::SimulatedPost::default()),
        readers: std::sync::Arc::new(crate::services::digitization::Readers::new(
            crate::services::documents::pdf::PdfInspector::current(),
            std::sync::Arc::new(crate::services::digitization::ocr::Tesseract::default()),
        )),
        database_health: None,
        server_timing: false,
    }
}

/// The server's state: `app_state` with the configuration applied (outbound policy, trusted
/// proxies, metrics token, read replica) and the simulated providers on connections of their
/// own, their records shared by every instance.
pub fn server_state(
    config: &Config,
    database: &DatabaseHandle,
    pool: DbPool,
    base_url: String,
    session_key: actix_web::cookie::Key,
) -> anyhow::Result<AppState> {
    use anyhow::Context;
    let mut state = app_state(pool, base_url, session_key);
    state.database_health = database.health();
    state.server_timing = config.server_timing;
    if let Some(allowed) = &config.outbound_allow {
        state.outbound = crate::platform::outbound::OutboundPolicy::parse(allowed)
            .map_err(anyhow::Error::msg)?;
    }
    if let Some(proxies) = &config.trusted_proxies {
        state.trusted_proxies =
            crate::http::client::parse_trusted_proxies(proxies).map_err(anyhow::Error::msg)?;
    }
    if let Some(token) = &config.metrics_token {
        anyhow::ensure!(
            token.len() >= 32,
            "IAP_METRICS_TOKEN must be at least 32 characters long"
        );
        state.metrics_token = Some(token.clone());
    }
    if let Some(url) = &config.database_read_url {
        anyhow::ensure!(
            !database.is_embedded(),
            "DATABASE_READ_URL names a replica of DATABASE_URL's database: set DATABASE_URL too"
        );
        state.replica_pool = Some(
            db::connect_sized(url, (config.db_pool_size / 4).max(2))
                .context("could not connect to the read replica (DATABASE_READ_URL)")?,
        );
        tracing::info!("the dashboard and the CSV exports read from the replica");
    }
    // The simulated directory plays a remote provider: connections of its own, so that a request
    // holding one of the app's connections never waits for a second from the same pool.
    state.directory =
        std::sync::Arc::new(crate::services::directory::provider::SimulatedDirectory(
            db::connect_lazily(&database.request_url),
        ));
    // The other simulated providers keep their records in the database, on connections of
    // their own too: every instance (and this one after a restart) sees the same provider.
    let records =
        crate::platform::simulation::Records::shared(db::connect_lazily(&database.request_url));
    state.payments = std::sync::Arc::new(crate::domain::payments::MockProvider::with_records(
        records.clone(),
    ));
    state.sms = std::sync::Arc::new(
        crate::services::sms::gateway::SimulatedCarrier::with_records(records.clone()),
    );
    state.post = std::sync::Arc::new(
        crate::services::snailmail::post::SimulatedPost::with_records(records.clone()),
    );
    state.itsme_sim =
        std::sync::Arc::new(crate::services::signing::itsme::SimulatedItsme::with_records(records));
    state.itsme = state.itsme_sim.clone();
    Ok(state)
}

/// Every background worker of a server.
pub fn spawn_workers(state: &AppState, mailer: crate::domain::mail::Mailer) {
    spawn_maintenance(state);
    spawn_mail_worker(state, mailer);
    spawn_job_worker(state);
    spawn_reading_worker(state);
    spawn_payment_reconciler(state);
    spawn_topup_worker(state);
    spawn_pool_refresher(state);
    spawn_webhook_worker(state);
    spawn_unanswered_authorizations(state);
}

/// How often authorizations cut short by a failover are looked at (only when there are some).
const UNANSWERED_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Releases the holds of Odoo authorizations whose answer a failover lost
/// (`odoo::transactions::release_unanswered`).
pub fn spawn_unanswered_authorizations(state: &AppState) {
    let pool = state.pool.clone();
    spawn_periodic(
        "unanswered authorizations released",
        UNANSWERED_EVERY,
        move || {
            let pool = pool.clone();
            async move {
                if !crate::odoo::transactions::has_unanswered() {
                    return Ok(0);
                }
                on_a_connection(&pool, |conn| {
                    Ok(crate::odoo::transactions::release_unanswered(conn)?)
                })
                .await
            }
        },
    )
}
