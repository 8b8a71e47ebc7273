//! What every handler can reach (`AppState`), and the one way handlers run blocking diesel work.
//! A leaf: it imports no handler, so pages and the API can all depend on it.

use actix_web::web;

use crate::http::error::AppError;
use crate::platform::db::{DbConn, DbPool};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: DbPool,
    /// A read replica's pool (`DATABASE_READ_URL`), for the operator's dashboard and the CSV
    /// exports (see `read_pool`).
    pub replica_pool: Option<DbPool>,
    /// The reverse proxies whose `X-Forwarded-For` is believed (`IAP_TRUSTED_PROXIES`).
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Where calls to addresses others give (SMS delivery webhooks) may go
    /// (`IAP_OUTBOUND_ALLOW`).
    pub outbound: crate::platform::outbound::OutboundPolicy,
    /// The bearer token that opens `/metrics` on the public address (`IAP_METRICS_TOKEN`).
    pub metrics_token: Option<String>,
    /// Absolute URL of the app, without a trailing slash.
    pub base_url: String,
    /// Signs and encrypts session cookies.
    pub session_key: actix_web::cookie::Key,
    /// Applies API charges in group-committed batches.
    pub charges: crate::domain::ledger::batch::ChargeBatcher,
    /// Applies providers' authorizations and captures (Odoo's protocol) in group-committed
    /// batches.
    pub holds: crate::domain::ledger::batch::holds::HoldBatcher,
    /// Where the checkout pays: the mock provider (test mode) unless replaced.
    pub payments: std::sync::Arc<dyn crate::domain::payments::PaymentProvider>,
    /// The SMS carrier: the simulated one unless replaced.
    pub sms: std::sync::Arc<dyn crate::services::sms::gateway::SmsGateway>,
    /// The company directory (the simulated one unless replaced; the server gives it a pool
    /// of its own).
    pub directory: std::sync::Arc<dyn crate::services::directory::provider::CompanyDirectory>,
    /// The postal service (Snailmail): the simulated one unless replaced.
    pub post: std::sync::Arc<dyn crate::services::snailmail::post::PostalService>,
    /// itsme (Sign): the simulated provider, whose page this app serves.
    pub itsme: std::sync::Arc<dyn crate::services::signing::itsme::ItsmeProvider>,
    pub itsme_sim: std::sync::Arc<crate::services::signing::itsme::SimulatedItsme>,
    /// What reads uploaded documents: the PDF reader (a child process of this binary) and OCR.
    pub readers: std::sync::Arc<crate::services::digitization::Readers>,
    /// The embedded PostgreSQL's supervisor's view (`None` with an external database).
    pub database_health: Option<crate::platform::embedded_pg::DatabaseHealth>,
    /// Answer API charges with a `Server-Timing` header of their stages (`IAP_SERVER_TIMING`).
    pub server_timing: bool,
}

impl AppState {
    /// Where reads that may lag the primary a little go: the replica when there is one.
    pub fn read_pool(&self) -> &DbPool {
        self.replica_pool.as_ref().unwrap_or(&self.pool)
    }

    /// The paid services the job worker runs, with this state's providers.
    pub fn paid_services(&self) -> crate::domain::metering::Services {
        crate::domain::metering::Services::default()
            .with(std::sync::Arc::new(
                crate::services::sms::sending::SmsWorker(self.sms.clone()),
            ))
            .with(std::sync::Arc::new(
                crate::services::partner_autocomplete::PartnerAutocompleteWorker(
                    self.directory.clone(),
                ),
            ))
            .with(std::sync::Arc::new(
                crate::services::leads::generation::LeadGenerationWorker(self.directory.clone()),
            ))
            .with(std::sync::Arc::new(
                crate::services::digitization::DigitizationWorker,
            ))
            .with(std::sync::Arc::new(
                crate::services::snailmail::SnailmailWorker(self.post.clone()),
            ))
            .with(std::sync::Arc::new(
                crate::services::signing::IdentificationWorker(self.itsme.clone()),
            ))
    }
}

/// Runs blocking diesel work on the thread pool with a pooled connection, never on an async
/// worker.
pub async fn with_conn<T, F>(state: &AppState, work: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    on_pool(state.pool.clone(), work).await
}

/// The same on the read pool (a replica when there is one): for reads that may lag the
/// primary a little, never for a read a write depends on.
pub async fn with_read_conn<T, F>(state: &AppState, work: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    on_pool(state.read_pool().clone(), work).await
}

async fn on_pool<T, F>(pool: DbPool, work: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConn) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    web::block(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
    .await?
}
