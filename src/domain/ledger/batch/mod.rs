//! Group commit for charges. A durable commit waits for a WAL flush and a hot account's row
//! lock serialises its commits, so one charge per transaction caps throughput. The batcher
//! collects the charges that arrive together and applies them in one transaction — still one
//! ledger row and one answer per charge (a charge refused for lack of credits does not fail its
//! neighbours), each with its own idempotency record — and answers only after the commit.
//!
//! A token's charges always go to the same worker, so the workers' transactions never wait for
//! each other's row locks, and a hot account costs one row update per batch like any other.
//! Within a batch, an account whose available credits cover all its charges is debited by
//! their sum in one statement shared by all such accounts; the rest are locked and decided one
//! charge at a time.

/// Makes `$name` (a struct with one lifetime, whose `QueryFragment` pushes a fixed SQL text and
/// its binds) a statement diesel prepares once per connection, cached by its type, and loads
/// rows of by name.
macro_rules! fixed_statement {
    ($name:ident) => {
        impl diesel::query_builder::QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl diesel::query_builder::Query for $name<'_> {
            type SqlType = diesel::sql_types::Untyped;
        }

        impl diesel::RunQueryDsl<diesel::PgConnection> for $name<'_> {}
    };
}

mod apply;
pub mod holds;
mod statements;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use tokio::sync::{mpsc, oneshot};

use super::entries::LedgerEntry;
use super::idempotency::{self, Outcome, StoredResponse};
use super::{Actor, IapAccount, LedgerError, operations};
use crate::kernel::credits::Credits;
use crate::kernel::ids::AccountId;
use crate::platform::db::DbPool;

/// Most charges applied in one transaction.
const MAX_BATCH: usize = 256;
/// Transactions in flight at once, each on its own share of the tokens: one per two CPUs. One
/// worker's pipeline (its PostgreSQL backend, the HTTP workers answering its charges) keeps about
/// two cores busy; on 2 cores a second worker only halves the batches (the `limits` benchmark:
/// 16,200 charges/s over 20 accounts with one, 15,400 with two).
fn workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// A charge made through the API, validated already. The account is named by its token,
/// resolved inside the batch (an unknown token answers `UnknownToken`); the charge is
/// recorded as made by the API for that account, and its idempotency key is scoped to it.
pub struct ChargeRequest {
    pub token: String,
    pub amount: Credits,
    pub description: String,
    /// (key, canonical request) when the caller sent an idempotency key.
    pub idempotency: Option<(String, String)>,
}

/// A charge that went through: its ledger row and the account after it.
#[derive(Debug, Clone)]
pub struct Charged {
    pub entry: LedgerEntry,
    pub account: IapAccount,
}

pub type ChargeResult = Result<Charged, LedgerError>;

/// The answer to a charge: a fresh result, or (with a key) the stored answer of its first run.
pub enum ChargeAnswer {
    Fresh(Box<ChargeResult>),
    /// Answered through the idempotency store: `replayed` when it is a retry's stored answer.
    Stored {
        response: StoredResponse,
        replayed: bool,
    },
    Conflict,
}

/// Turns a result into the answer to store with its idempotency key; `None` for faults.
pub type Render = Arc<dyn Fn(&ChargeResult) -> Option<StoredResponse> + Send + Sync>;

/// Where a charge's time went inside the batcher (the benchmark's per-stage timing).
#[derive(Debug, Clone, Copy, Default)]
pub struct StageTimes {
    /// From queued to its batch's start (waiting for a worker and the batches before it).
    pub queue: Duration,
    /// Its batch's SQL, before the commit.
    pub sql: Duration,
    /// Its batch's COMMIT (the WAL flush).
    pub commit: Duration,
    /// How many charges its batch held.
    pub batch_size: usize,
}

type Job = (
    ChargeRequest,
    Instant,
    oneshot::Sender<(Result<ChargeAnswer, LedgerError>, StageTimes)>,
);

/// One queue per worker; a token's charges always go to the same worker.
#[derive(Clone)]
pub struct ChargeBatcher {
    jobs: Arc<[mpsc::UnboundedSender<Job>]>,
}

/// Most tokens the batcher remembers (then it forgets them all and learns again).
const TOKEN_CACHE_SIZE: usize = 100_000;

/// Token → account, learnt from the database. A hint only: the batch reads each account's row
/// under its lock and checks the token there, so a regenerated token (here or on another
/// instance) is refused at once, and forgotten.
#[derive(Default)]
struct TokenCache(Mutex<HashMap<String, AccountId>>);

impl TokenCache {
    fn get(&self, token: &str) -> Option<AccountId> {
        self.0.lock().ok()?.get(token).copied()
    }

    fn learn(&self, found: impl IntoIterator<Item = (String, AccountId)>) {
        if let Ok(mut cache) = self.0.lock() {
            for (token, id) in found {
                if cache.len() >= TOKEN_CACHE_SIZE {
                    cache.clear();
                }
                cache.insert(token, id);
            }
        }
    }

    fn forget(&self, token: &str) {
        if let Ok(mut cache) = self.0.lock() {
            cache.remove(token);
        }
    }
}

impl ChargeBatcher {
    /// Starts the worker threads; they stop when the last clone of the batcher is dropped.
    pub fn start(pool: DbPool, render: Render) -> Self {
        let tokens = Arc::new(TokenCache::default());
        let jobs = (0..workers())
            .map(|n| {
                let (jobs, queue) = mpsc::unbounded_channel::<Job>();
                let (pool, render, tokens) = (pool.clone(), render.clone(), tokens.clone());
                std::thread::Builder::new()
                    .name(format!("charge-batcher-{n}"))
                    .spawn(move || worker(queue, &pool, &render, &tokens))
                    .expect("spawn a charge batcher thread");
                jobs
            })
            .collect();
        ChargeBatcher { jobs }
    }

    /// Queues a charge and waits for its committed result, with where its time went.
    pub async fn charge(
        &self,
        request: ChargeRequest,
    ) -> (Result<ChargeAnswer, LedgerError>, StageTimes) {
        let broken = || LedgerError::Database(diesel::result::Error::BrokenTransactionManager);
        let (answer, receive) = oneshot::channel();
        let worker = &self.jobs[worker_of(&request.token, self.jobs.len())];
        if worker.send((request, Instant::now(), answer)).is_err() {
            return (Err(broken()), StageTimes::default());
        }
        receive
            .await
            .unwrap_or_else(|_| (Err(broken()), StageTimes::default()))
    }
}

/// The worker that applies a token's charges. Workers never lock the same account (but for the
/// moment a token is regenerated), so their transactions run and commit side by side instead of
/// waiting for each other's row locks; an account's charges are batched together, so a hot
/// account costs one lock per batch, like any other.
fn worker_of(token: &str, workers: usize) -> usize {
    let hash = token.bytes().fold(0usize, |h, b| {
        h.wrapping_mul(31).wrapping_add(usize::from(b))
    });
    hash % workers
}

fn worker(
    mut queue: mpsc::UnboundedReceiver<Job>,
    pool: &DbPool,
    render: &Render,
    tokens: &TokenCache,
) {
    while let Some(first) = queue.blocking_recv() {
        let batch = gather(&mut queue, first, MAX_BATCH);
        tracing::debug!(size = batch.len(), "charge batch");
        run_batch(pool, batch, render, tokens);
    }
}

/// A batch: `first`, and what queued behind it (at most `max` in all).
fn gather<T>(queue: &mut mpsc::UnboundedReceiver<T>, first: T, max: usize) -> Vec<T> {
    let mut batch = vec![first];
    while batch.len() < max {
        match queue.try_recv() {
            Ok(job) => batch.push(job),
            Err(_) => break,
        }
    }
    batch
}

fn run_batch(pool: &DbPool, batch: Vec<Job>, render: &Render, tokens: &TokenCache) {
    let started = Instant::now();
    let batch_size = batch.len();
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(e) => {
            // No primary (a failover): nothing of the batch was done; each charge says so.
            for (_, _, answer) in batch {
                let _ = answer.send((
                    Err(LedgerError::Database(crate::platform::outage::no_primary(
                        &e,
                    ))),
                    StageTimes::default(),
                ));
            }
            return;
        }
    };
    let mut requests = Vec::with_capacity(batch_size);
    let mut answers = Vec::with_capacity(batch_size);
    for (request, queued_at, answer) in batch {
        let times = StageTimes {
            queue: started.saturating_duration_since(queued_at),
            batch_size,
            ..StageTimes::default()
        };
        requests.push(request);
        answers.push((answer, times));
    }
    let mut sql_done = started;
    let outcome = batch_transaction(&mut conn, |conn| {
        let results = apply::apply_batch(conn, &requests, render, tokens);
        sql_done = Instant::now();
        results
    });
    let (sql, commit) = (sql_done - started, sql_done.elapsed());
    crate::platform::metrics::charge_batch(batch_size);
    match outcome {
        Ok(results) => {
            count_charges(&results);
            for ((request, (answer, times)), result) in
                requests.into_iter().zip(answers).zip(results)
            {
                let answer_now = match result {
                    Some(result) => Ok(ChargeAnswer::Fresh(Box::new(result))),
                    // Its key was taken by another request of this batch or a concurrent
                    // caller: answered now, after the commit, by the one-at-a-time path.
                    None => one_by_one(&mut conn, request, render),
                };
                let _ = answer.send((
                    answer_now,
                    StageTimes {
                        sql,
                        commit,
                        ..times
                    },
                ));
            }
        }
        Err(LedgerError::Database(e)) if crate::platform::outage::outage(&e).is_some() => {
            // The connection broke (a failover), maybe after the COMMIT was sent: whether the
            // batch was committed is unknown, so every charge of it answers so, and retrying
            // them here on the broken connection would only fail again. Each client's retry
            // with its Idempotency-Key finds the truth: its stored answer if the batch was
            // committed, a fresh charge if not.
            tracing::warn!(
                size = batch_size,
                "charge batch cut short by an outage: {e}"
            );
            for (_, (answer, times)) in requests.into_iter().zip(answers) {
                let error = crate::platform::outage::copy_of(&e).map_or(
                    LedgerError::Database(diesel::result::Error::BrokenTransactionManager),
                    LedgerError::Database,
                );
                let _ = answer.send((Err(error), times));
            }
        }
        Err(e) => {
            // A fault in the batch must not fail every charge in it: retry each on its own.
            tracing::warn!("charge batch failed ({e}); retrying its charges one by one");
            for (request, (answer, times)) in requests.into_iter().zip(answers) {
                let _ = answer.send((one_by_one(&mut conn, request, render), times));
            }
        }
    }
}

/// Counts a committed batch's charges (those answered by the one-at-a-time path count there).
fn count_charges(results: &[Option<ChargeResult>]) {
    use crate::platform::metrics::{ChargeOutcome, charges};
    let (mut charged, mut refused) = (0, 0);
    for result in results.iter().flatten() {
        match result {
            Ok(_) => charged += 1,
            Err(LedgerError::InsufficientCredits { .. }) => refused += 1,
            Err(_) => {}
        }
    }
    charges(ChargeOutcome::Charged, charged);
    charges(ChargeOutcome::Refused, refused);
}

/// Runs `f` in a transaction whose statements use their generic plans. A batch's statements
/// are prepared once per connection, but PostgreSQL would plan the lock statement afresh for
/// each batch (its custom plan for one account looks cheaper than the generic plan for ten);
/// its plan is the same whatever the accounts. The setting rides on the `BEGIN` (no extra round
/// trip) and ends with the transaction.
fn batch_transaction<T>(
    conn: &mut PgConnection,
    f: impl FnOnce(&mut PgConnection) -> Result<T, LedgerError>,
) -> Result<T, LedgerError> {
    use diesel::connection::{AnsiTransactionManager, TransactionManager};
    AnsiTransactionManager::begin_transaction_sql(
        conn,
        "BEGIN; SET LOCAL plan_cache_mode = force_generic_plan",
    )?;
    match f(conn) {
        Ok(value) => {
            AnsiTransactionManager::commit_transaction(conn)?;
            Ok(value)
        }
        Err(e) => match AnsiTransactionManager::rollback_transaction(conn) {
            Ok(()) | Err(diesel::result::Error::BrokenTransactionManager) => Err(e),
            Err(rollback) => Err(rollback.into()),
        },
    }
}

/// The one-at-a-time path: the same charge, through the idempotency store when keyed.
fn one_by_one(
    conn: &mut PgConnection,
    request: ChargeRequest,
    render: &Render,
) -> Result<ChargeAnswer, LedgerError> {
    let Some(account) = super::accounts::by_token(conn, &request.token)? else {
        return Ok(ChargeAnswer::Fresh(Box::new(Err(
            LedgerError::UnknownToken,
        ))));
    };
    let actor = Actor::api(account.id);
    let charge = |conn: &mut PgConnection| -> ChargeResult {
        let entry = operations::charge(
            conn,
            account.id,
            request.amount,
            &request.description,
            &actor,
        )?;
        let account =
            super::accounts::by_id(conn, account.id)?.ok_or(LedgerError::AccountNotFound)?;
        Ok(Charged { entry, account })
    };
    let Some((key, canonical)) = &request.idempotency else {
        return Ok(ChargeAnswer::Fresh(Box::new(charge(conn))));
    };
    let outcome = idempotency::run_once(conn, actor.as_str(), key, canonical, |conn| {
        let result = charge(conn);
        render(&result).ok_or_else(|| match result {
            Err(e) => e,
            Ok(_) => LedgerError::Database(diesel::result::Error::RollbackTransaction),
        })
    })?;
    Ok(match outcome {
        Outcome::Fresh(response) => ChargeAnswer::Stored {
            response,
            replayed: false,
        },
        Outcome::Replayed(response) => ChargeAnswer::Stored {
            response,
            replayed: true,
        },
        Outcome::Conflict => ChargeAnswer::Conflict,
    })
}
