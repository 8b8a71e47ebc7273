//! One way to run a paid service. Every service takes the same steps, each with a clear
//! transaction boundary, so that money and records never fall behind an outside provider:
//!
//! 1. **begin** (one transaction, committed before anything leaves the building): hold the
//!    credits the work may use, with a TTL that fits it; write the job; write the service's own
//!    records of the request.
//! 2. **claim** (a short transaction): lease the job to one worker — the request itself right
//!    after the commit, or the outbox worker after a crash.
//! 3. **perform** (no transaction open): the service calls its provider for each record not
//!    handed over yet, with the record's id as the provider's idempotency key, and saves each
//!    answer in a short transaction of its own.
//! 4. **finish** (one transaction): the service says what was used; it is captured and the rest
//!    of the hold released (or the hold cancelled when nothing was used), and the job closed.
//!
//! A service module supplies only its pricing (the credits to hold), its records, and a
//! `PaidService` (its provider call and what a job used). Owner of `service_jobs`.

pub mod history;
pub mod jobs;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

pub use jobs::{Job, JobStatus};

use crate::domain::ledger::{self, Actor, LedgerError, accounts};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId, JobId};

/// How long one worker may hold a job before another may take it over.
pub const LEASE: Duration = Duration::from_secs(300);
/// Attempts (claims) before a job is given up: what it used is captured, the rest released.
pub const MAX_ATTEMPTS: i32 = 5;
/// The wait before a job that failed for a passing reason is tried again.
const RETRY_DELAY: Duration = Duration::from_secs(30);

/// What a service asks for before doing the work.
pub struct Request<'a> {
    pub database_id: DatabaseId,
    /// The account to spend from: one the call named (an Odoo token), or `None` for the
    /// database's default account of the service (its own pages).
    pub account: Option<AccountId>,
    /// The service, as its worker runs it: the hold, the job and the worker cannot disagree on
    /// which service it is.
    pub service: &'a dyn PaidService,
    /// The most the work can cost: held now, captured as used.
    pub credits: Credits,
    /// How long the hold lasts: longer than the attempts of the job can take.
    pub hold_ttl: Duration,
    pub description: &'a str,
    pub actor: &'a Actor,
}

#[derive(Debug, thiserror::Error)]
pub enum MeteringError {
    #[error("not enough credits: {available} available, {needed} needed")]
    InsufficientCredits {
        account_id: AccountId,
        available: Credits,
        needed: Credits,
    },
    #[error("there is no service {0:?}")]
    UnknownService(String),
    #[error("no worker runs the service {0:?}")]
    NoWorker(String),
    #[error(transparent)]
    Ledger(LedgerError),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
}

/// The one conversion of a metering error into a service's error, for every service. `$error`
/// has the variants `Database(diesel::result::Error)` and `Metering(MeteringError)`, and, when
/// asked for, `InsufficientCredits { account_id, available, needed }`. A database error stays a
/// database error (callers look at it: a unique violation is a form posted twice); too few
/// credits become the service's own variant when it has one; the rest is metering's.
#[macro_export]
macro_rules! from_metering_error {
    ($error:ident) => {
        impl From<$crate::domain::metering::MeteringError> for $error {
            fn from(e: $crate::domain::metering::MeteringError) -> Self {
                match e {
                    $crate::domain::metering::MeteringError::Database(e) => $error::Database(e),
                    other => $error::Metering(other),
                }
            }
        }
    };
    ($error:ident, with InsufficientCredits) => {
        impl From<$crate::domain::metering::MeteringError> for $error {
            fn from(e: $crate::domain::metering::MeteringError) -> Self {
                match e {
                    $crate::domain::metering::MeteringError::InsufficientCredits {
                        account_id,
                        available,
                        needed,
                    } => $error::InsufficientCredits {
                        account_id,
                        available,
                        needed,
                    },
                    $crate::domain::metering::MeteringError::Database(e) => $error::Database(e),
                    other => $error::Metering(other),
                }
            }
        }
    };
}

impl From<LedgerError> for MeteringError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::Database(e) => MeteringError::Database(e),
            other => MeteringError::Ledger(other),
        }
    }
}

/// Step 1: holds `request.credits` on the database's account of the service (created on first
/// need), writes the job and lets `record` write the service's records of the request — all in
/// one transaction, committed when this returns. Too few credits: nothing is written.
pub fn begin<T>(
    conn: &mut PgConnection,
    request: &Request<'_>,
    record: impl FnOnce(&mut PgConnection, &Job) -> QueryResult<T>,
) -> Result<(Job, T), MeteringError> {
    let slug = request.service.slug();
    let service = crate::domain::catalog::service_by_slug(conn, slug)?
        .ok_or_else(|| MeteringError::UnknownService(slug.to_string()))?;
    let account = match request.account {
        Some(account_id) => accounts::by_id(conn, account_id)?
            .filter(|a| a.database_id == request.database_id && a.service_id == service.id)
            .ok_or(MeteringError::Ledger(LedgerError::AccountNotFound))?,
        // Its own transaction: the account (and its trial credits) stays even if this one fails.
        None => accounts::get_or_create(conn, request.database_id, service.id)?,
    };
    conn.transaction(|conn| {
        let hold = match ledger::authorize(
            conn,
            account.id,
            request.credits,
            Some(request.hold_ttl),
            request.description,
            request.actor,
        ) {
            Ok(hold) => hold,
            Err(LedgerError::InsufficientCredits { available, .. }) => {
                return Err(MeteringError::InsufficientCredits {
                    account_id: account.id,
                    available,
                    needed: request.credits,
                });
            }
            Err(e) => return Err(e.into()),
        };
        let job = jobs::insert(
            conn,
            jobs::JobInsertForm {
                service_id: service.id,
                database_id: request.database_id,
                account_id: account.id,
                hold_id: hold.id,
                next_attempt_at: Utc::now()
                    + chrono::Duration::from_std(WORKER_GRACE).unwrap_or_default(),
            },
        )?;
        let records = record(conn, &job)?;
        Ok((job, records))
    })
}

/// How long the request that began a job has to run it before the worker may take it over.
pub const WORKER_GRACE: Duration = Duration::from_secs(60);

/// Inside `begin`'s `record`: a job that a service's own worker runs (not its request) is left
/// to it for `grace` before the outbox worker may take it over.
pub fn hand_over_after(conn: &mut PgConnection, job: &Job, grace: Duration) -> QueryResult<()> {
    let after = Utc::now() + chrono::Duration::from_std(grace).unwrap_or_default();
    jobs::postpone(conn, job.id, after)
}

/// Why a provider step did not finish; the job is tried again later (or given up).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct PerformError(pub String);

impl From<diesel::result::Error> for PerformError {
    fn from(e: diesel::result::Error) -> Self {
        PerformError(format!("database error: {e}"))
    }
}

/// What a paid service supplies to the common steps.
pub trait PaidService: Send + Sync {
    /// The service's slug: jobs of this service are run by this.
    fn slug(&self) -> &'static str;

    /// Step 3: calls the provider for the job's records not handed over yet, with each record's
    /// id as the idempotency key, and saves each answer in a transaction of its own. Called with
    /// no transaction open; may run again for the same job after a crash.
    fn perform(&self, conn: &mut PgConnection, job: &Job) -> Result<(), PerformError>;

    /// Step 4 of a job given up, inside the finishing transaction: closes its records still
    /// waiting for the provider as not done (they cost nothing).
    fn close_unfinished(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<()>;

    /// Step 4, inside the finishing transaction, after `close_unfinished` when giving up: the
    /// credits the job used (the prices of its records the provider did).
    fn used(&self, conn: &mut PgConnection, job: &Job) -> QueryResult<Credits>;
}

/// Step 4's account of a job, the same for every service: what is still waiting is closed when
/// giving up, then what was done is summed.
fn settle(
    service: &dyn PaidService,
    conn: &mut PgConnection,
    job: &Job,
    giving_up: bool,
) -> QueryResult<Credits> {
    if giving_up {
        service.close_unfinished(conn, job)?;
    }
    service.used(conn, job)
}

/// The paid services this process runs, by slug.
#[derive(Clone, Default)]
pub struct Services(HashMap<&'static str, Arc<dyn PaidService>>);

impl Services {
    pub fn with(mut self, service: Arc<dyn PaidService>) -> Self {
        self.0.insert(service.slug(), service);
        self
    }

    fn for_job(
        &self,
        conn: &mut PgConnection,
        job: &Job,
    ) -> Result<Arc<dyn PaidService>, MeteringError> {
        let service = crate::domain::catalog::service_by_id(conn, job.service_id)?;
        self.0
            .get(service.slug.as_str())
            .cloned()
            .ok_or_else(|| MeteringError::NoWorker(service.slug.to_string()))
    }
}

/// Steps 2 to 4 for one job of `service`, right after its `begin` committed: `None` when it is
/// closed already or another worker holds it.
pub fn run(
    conn: &mut PgConnection,
    service: &dyn PaidService,
    job_id: JobId,
) -> Result<Option<Job>, MeteringError> {
    let now = Utc::now();
    match jobs::claim(conn, Some(job_id), now, now + lease())? {
        Some(job) => run_claimed(conn, service, job, now).map(Some),
        None => Ok(None),
    }
}

/// Gives up a job its own request still holds (a caller that must answer now and cannot wait
/// for the worker's retries): what it used is captured, the rest released, the job closed
/// failed. A job closed meanwhile is left as it is.
pub fn abandon(
    conn: &mut PgConnection,
    service: &dyn PaidService,
    job_id: JobId,
) -> Result<Job, MeteringError> {
    finish(conn, service, job_id, true)
}

fn lease() -> chrono::Duration {
    chrono::Duration::from_std(LEASE).unwrap_or(chrono::Duration::MAX)
}

/// What one worker run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WorkerRun {
    pub finished: usize,
    pub retried: usize,
}

/// The outbox worker: runs up to `limit` jobs due at `now` (left behind by a crash, or waiting
/// to be tried again).
pub fn run_due(
    conn: &mut PgConnection,
    services: &Services,
    now: DateTime<Utc>,
    limit: usize,
) -> Result<WorkerRun, MeteringError> {
    let mut run = WorkerRun::default();
    for _ in 0..limit {
        let Some(job) = jobs::claim(conn, None, now, now + lease())? else {
            break;
        };
        let service = match services.for_job(conn, &job) {
            Ok(service) => service,
            // A job of a service this process does not run (another instance may): let it go
            // until its lease would have ended, and look at the next one.
            Err(MeteringError::NoWorker(slug)) => {
                tracing::warn!(job = %job.id, service = %slug, "no worker here for this job");
                jobs::retry_later(conn, job.id, now + lease(), "no worker for its service")?;
                run.retried += 1;
                continue;
            }
            Err(e) => return Err(e),
        };
        match run_claimed(conn, service.as_ref(), job, now)?.status {
            JobStatus::Pending => run.retried += 1,
            _ => run.finished += 1,
        }
    }
    Ok(run)
}

fn run_claimed(
    conn: &mut PgConnection,
    service: &dyn PaidService,
    job: Job,
    now: DateTime<Utc>,
) -> Result<Job, MeteringError> {
    match service.perform(conn, &job) {
        Ok(()) => finish(conn, service, job.id, false),
        Err(e) if job.attempts >= MAX_ATTEMPTS => {
            tracing::error!(
                job = %job.id,
                attempts = job.attempts,
                "giving up a job: {e}"
            );
            finish(conn, service, job.id, true)
        }
        Err(e) => {
            tracing::warn!(
                job = %job.id,
                attempts = job.attempts,
                "job to be tried again: {e}"
            );
            let next = now + chrono::Duration::from_std(RETRY_DELAY).unwrap_or_default();
            jobs::retry_later(conn, job.id, next, &e.0)?;
            Ok(jobs::find(conn, job.id)?.unwrap_or(job))
        }
    }
}

/// Step 4: captures what the job used and releases the rest (cancels the hold when nothing was
/// used), and closes the job — one transaction, on the locked job, so it happens once.
fn finish(
    conn: &mut PgConnection,
    service: &dyn PaidService,
    job_id: JobId,
    giving_up: bool,
) -> Result<Job, MeteringError> {
    conn.transaction(|conn| {
        let Some(job) = jobs::lock_pending(conn, job_id)? else {
            // Finished meanwhile by another worker.
            return jobs::find(conn, job_id)?.ok_or(diesel::result::Error::NotFound.into());
        };
        let used = settle(service, conn, &job, giving_up)?;
        let actor = Actor::system("metering");
        let status = if giving_up { JobStatus::Failed } else { JobStatus::Done };
        let error = giving_up.then_some("gave up after its attempts");
        let settled = if used > Credits::ZERO {
            ledger::capture(conn, job.account_id, job.hold_id, Some(used), &actor).map(drop)
        } else {
            ledger::cancel(conn, job.account_id, job.hold_id, &actor).map(drop)
        };
        match settled {
            Ok(()) => {}
            // The hold outlived its TTL (the workers were down that long): its credits went
            // back, so what was used is charged directly — or, if they are spent since, the
            // job is closed failed and said loudly.
            Err(LedgerError::HoldExpired) if used > Credits::ZERO => {
                if let Err(e) = ledger::charge(conn, job.account_id, used, "Used after its hold expired", &actor) {
                    tracing::error!(job = %job.id, %used, "could not charge a job whose hold expired: {e}");
                    return Ok(jobs::close(conn, job.id, JobStatus::Failed, Credits::ZERO, Some(&format!("used {used} after the hold expired; not charged: {e}")))?);
                }
            }
            Err(LedgerError::HoldExpired) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(jobs::close(conn, job.id, status, used, error)?)
    })
}
