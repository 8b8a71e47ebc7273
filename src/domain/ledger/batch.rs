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

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::sql_types::{Array, BigInt, SmallInt, Text, Untyped};
use tokio::sync::{mpsc, oneshot};

use super::entries::LedgerEntry;
use super::idempotency::{self, Outcome, StoredResponse};
use super::{Actor, IapAccount, LedgerError, holds, operations};
use crate::kernel::credits::Credits;
use crate::kernel::ids::AccountId;
use crate::platform::db::DbPool;
use crate::platform::schema::{iap_accounts, idempotency_keys, services};

/// Makes `$name` (a struct with one lifetime, whose `QueryFragment` pushes a fixed SQL text and
/// its binds) a statement diesel prepares once per connection, cached by its type, and loads
/// rows of by name.
macro_rules! fixed_statement {
    ($name:ident) => {
        impl QueryId for $name<'_> {
            type QueryId = $name<'static>;
            const HAS_STATIC_QUERY_ID: bool = true;
        }

        impl Query for $name<'_> {
            type SqlType = Untyped;
        }

        impl RunQueryDsl<PgConnection> for $name<'_> {}
    };
}

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
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        tracing::debug!(size = batch.len(), "charge batch");
        run_batch(pool, batch, render, tokens);
    }
}

fn run_batch(pool: &DbPool, batch: Vec<Job>, render: &Render, tokens: &TokenCache) {
    let started = Instant::now();
    let batch_size = batch.len();
    let mut conn = match pool.get() {
        Ok(conn) => conn,
        Err(e) => {
            tracing::error!("charge batch: no connection: {e}");
            for (_, _, answer) in batch {
                let _ = answer.send((
                    Err(LedgerError::Database(
                        diesel::result::Error::BrokenTransactionManager,
                    )),
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
        let results = apply_batch(conn, &requests, render, tokens);
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

/// Applies the batch in the caller's transaction. Returns, per request, its result, or `None`
/// for a request to be answered after the commit by the one-at-a-time path.
///
/// Most accounts take the fast path: one statement debits each by the sum of its charges when
/// its token is still the hint's and its available credits cover them all, with no lock
/// statement first. The others (too few credits for all, an idempotency key, a wrong hint) are
/// locked, their due holds released, and their charges decided one by one in arrival order.
fn apply_batch(
    conn: &mut PgConnection,
    requests: &[ChargeRequest],
    render: &Render,
    cache: &TokenCache,
) -> Result<Vec<Option<ChargeResult>>, LedgerError> {
    // 1. Resolve the tokens (the cache's hint, else the database); an unknown one is answered
    //    401 and takes no further part. Each hint is checked by the fast path's statement or
    //    under the account's lock (step 3).
    let mut account_of: Vec<Option<AccountId>> =
        requests.iter().map(|r| cache.get(&r.token)).collect();
    let unknown: Vec<&str> = requests
        .iter()
        .zip(&account_of)
        .filter(|(_, id)| id.is_none())
        .map(|(r, _)| r.token.as_str())
        .collect();
    if !unknown.is_empty() {
        let found: HashMap<String, AccountId> = iap_accounts::table
            .filter(iap_accounts::token.eq_any(&unknown))
            .select((iap_accounts::token, iap_accounts::id))
            .load::<(String, AccountId)>(conn)?
            .into_iter()
            .collect();
        for (r, id) in requests.iter().zip(account_of.iter_mut()) {
            if id.is_none() {
                *id = found.get(&r.token).copied();
            }
        }
        cache.learn(found);
    }

    // 2. The fast path: the accounts debited whole, as they are now.
    let debited = debit_whole_accounts(conn, requests, &account_of)?;
    let fast: Vec<bool> = account_of
        .iter()
        .map(|id| id.is_some_and(|id| debited.contains_key(&id)))
        .collect();

    // 3. Lock the other accounts in id order (no deadlocks), with their service's slug and
    //    whether a hold of theirs is due, in one statement (due holds are released first, then
    //    read again); a hint whose row no longer has its token is an unknown token.
    let mut account_ids: Vec<AccountId> = account_of
        .iter()
        .flatten()
        .filter(|id| !debited.contains_key(id))
        .copied()
        .collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let mut locked = lock_accounts(conn, &account_ids)?;
    let due: Vec<AccountId> = locked
        .iter()
        .filter(|l| l.due)
        .map(|l| l.account.id)
        .collect();
    if !due.is_empty() {
        for id in due {
            operations::expire_holds_of(conn, id)?;
        }
        locked = lock_accounts(conn, &account_ids)?;
    }
    for (i, r) in requests.iter().enumerate() {
        if fast[i] {
            continue;
        }
        let id = &mut account_of[i];
        let current = id.and_then(|id| locked.iter().find(|l| l.account.id == id));
        if current.is_none_or(|l| l.account.token != r.token) {
            if id.is_some() {
                cache.forget(&r.token);
            }
            *id = None;
        }
    }
    let scope_of = |i: usize| account_of[i].map(|id| Actor::api(id).as_str().to_string());

    // 4. Claim the idempotency keys (a keyed charge never takes the fast path); a key seen
    //    twice in the batch, or already stored, is left to the one-at-a-time path (which
    //    replays or refuses it).
    let mut seen = HashSet::new();
    let mut wanted = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        if let (Some((key, canonical)), Some(scope)) = (&r.idempotency, scope_of(i))
            && seen.insert((scope.clone(), key.clone()))
        {
            wanted.push((i, scope, key.clone(), canonical.clone()));
        }
    }
    let claimed: HashSet<(String, String)> = if wanted.is_empty() {
        HashSet::new()
    } else {
        let rows: Vec<_> = wanted
            .iter()
            .map(|(_, scope, key, canonical)| {
                (
                    idempotency_keys::scope.eq(scope),
                    idempotency_keys::key.eq(key),
                    idempotency_keys::request.eq(canonical),
                    idempotency_keys::response_status.eq(0i16),
                    idempotency_keys::response_body.eq(""),
                )
            })
            .collect();
        diesel::insert_into(idempotency_keys::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .returning((idempotency_keys::scope, idempotency_keys::key))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect()
    };
    let runnable: Vec<bool> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| match (&r.idempotency, scope_of(i)) {
            (None, _) | (Some(_), None) => true,
            (Some((key, _)), Some(scope)) => {
                wanted.iter().any(|(first, ..)| *first == i)
                    && claimed.contains(&(scope, key.clone()))
            }
        })
        .collect();

    let mut accounts: HashMap<AccountId, (IapAccount, String)> = locked
        .into_iter()
        .map(|l| (l.account.id, (l.account, l.slug)))
        .collect();

    // 5. Each fast charge's balance after it: the account's new balance plus the charges of
    //    the batch that come after it.
    let mut new_rows = Vec::new(); // (request index, balance after, reserved after)
    let mut running: HashMap<AccountId, Credits> =
        debited.iter().map(|(id, a)| (*id, a.balance)).collect();
    for (i, r) in requests.iter().enumerate().rev() {
        let Some(id) = account_of[i].filter(|_| fast[i]) else {
            continue;
        };
        if let (Some(balance), Some(account)) = (running.get_mut(&id), debited.get(&id)) {
            new_rows.push((i, *balance, account.reserved));
            *balance = Credits::from_units(balance.units() + r.amount.units());
        }
    }

    // 6. Decide the other charges in arrival order against the running balances.
    let mut results: Vec<Option<ChargeResult>> = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        if fast[i] || !runnable[i] {
            results.push(None); // fast ones are filled in below, once their row exists
            continue;
        }
        let Some((account, slug)) = account_of[i].and_then(|id| accounts.get_mut(&id)) else {
            results.push(Some(Err(LedgerError::UnknownToken)));
            continue;
        };
        if r.amount <= Credits::ZERO {
            results.push(Some(Err(LedgerError::ZeroAmount)));
        } else if account.available() < r.amount {
            results.push(Some(Err(LedgerError::InsufficientCredits {
                account_id: account.id,
                service_slug: slug.clone(),
                available: account.available(),
                requested: r.amount,
            })));
        } else {
            account.balance = Credits::from_units(account.balance.units() - r.amount.units());
            new_rows.push((i, account.balance, account.reserved));
            results.push(None); // filled in below, once the row exists
        }
    }
    // Ledger ids follow arrival order.
    new_rows.sort_unstable_by_key(|(i, ..)| *i);

    // 7. Write the ledger rows and the locked accounts' balances, in one statement.
    if !new_rows.is_empty() {
        let actors: Vec<String> = (0..requests.len())
            .map(|i| scope_of(i).unwrap_or_default())
            .collect();
        let values: Vec<NewCharge> = new_rows
            .iter()
            .map(|(i, balance_after, reserved_after)| {
                let r = &requests[*i];
                NewCharge {
                    account_id: account_of[*i].unwrap_or(AccountId(0)),
                    amount: -r.amount.units(),
                    balance_after: balance_after.units(),
                    reserved_after: reserved_after.units(),
                    actor: actors[*i].clone(),
                    description: r.description.clone(),
                }
            })
            .collect();
        let (ids, balances): (Vec<AccountId>, Vec<i64>) = accounts
            .values()
            .map(|(a, _)| (a.id, a.balance.units()))
            .unzip();
        let mut written = write_charges(conn, &ids, &balances, &values)?;
        // Ids follow the order of the rows given.
        written.sort_by_key(|e| e.id);
        for ((i, balance_after, reserved_after), entry) in new_rows.iter().zip(written) {
            let id = account_of[*i].unwrap_or(AccountId(0));
            let Some(account) = debited
                .get(&id)
                .or_else(|| accounts.get(&id).map(|(a, _)| a))
            else {
                continue;
            };
            let account = IapAccount {
                balance: *balance_after,
                reserved: *reserved_after,
                ..account.clone()
            };
            results[*i] = Some(Ok(Charged { entry, account }));
        }
    }

    // 8. Store each keyed answer with its key.
    let mut scopes = Vec::new();
    let mut keys = Vec::new();
    let mut statuses = Vec::new();
    let mut bodies = Vec::new();
    for (i, (r, result)) in requests.iter().zip(&results).enumerate() {
        if let (Some((key, _)), Some(scope), Some(result)) = (&r.idempotency, scope_of(i), result) {
            let stored = render(result).ok_or(LedgerError::Database(
                diesel::result::Error::RollbackTransaction,
            ))?;
            scopes.push(scope);
            keys.push(key.clone());
            statuses.push(i16::try_from(stored.status).unwrap_or(500));
            bodies.push(stored.body);
        }
    }
    if !keys.is_empty() {
        diesel::sql_query(
            "UPDATE idempotency_keys AS k SET response_status = v.status, response_body = v.body
             FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[]) AS v(scope, key, status, body)
             WHERE k.scope = v.scope AND k.key = v.key",
        )
        .bind::<Array<Text>, _>(&scopes)
        .bind::<Array<Text>, _>(&keys)
        .bind::<Array<SmallInt>, _>(&statuses)
        .bind::<Array<Text>, _>(&bodies)
        .execute(conn)?;
    }
    Ok(results)
}

/// The fast path: debits, in one statement, each account whose charges in the batch all come
/// without an idempotency key, by their sum — when the hint's token is still the account's and
/// its available credits cover the sum (the row lock comes with the UPDATE). Returns the
/// accounts debited, as they are now; the others are left to the locking path.
fn debit_whole_accounts(
    conn: &mut PgConnection,
    requests: &[ChargeRequest],
    account_of: &[Option<AccountId>],
) -> QueryResult<HashMap<AccountId, IapAccount>> {
    // Per account: (sum of its charges, its token, whether all may take the fast path).
    let mut totals: HashMap<AccountId, (i64, &str, bool)> = HashMap::new();
    for (r, id) in requests.iter().zip(account_of) {
        let Some(id) = id else { continue };
        let (sum, token, fast) = totals.entry(*id).or_insert((0, r.token.as_str(), true));
        let next = sum.checked_add(r.amount.units());
        *fast &= r.idempotency.is_none()
            && r.amount > Credits::ZERO
            && *token == r.token
            && next.is_some();
        *sum = next.unwrap_or(i64::MAX);
    }
    // In id order, as every path that locks several accounts takes them.
    let mut fast: Vec<(AccountId, &str, i64)> = totals
        .into_iter()
        .filter(|(_, (_, _, fast))| *fast)
        .map(|(id, (sum, token, _))| (id, token, sum))
        .collect();
    fast.sort_unstable_by_key(|(id, ..)| *id);
    let ids: Vec<AccountId> = fast.iter().map(|(id, ..)| *id).collect();
    let tokens: Vec<&str> = fast.iter().map(|(_, token, _)| *token).collect();
    let sums: Vec<i64> = fast.iter().map(|(.., sum)| *sum).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let debited: Vec<IapAccount> = DebitWholeAccounts {
        ids: &ids,
        tokens: &tokens,
        sums: &sums,
    }
    .load(conn)?;
    Ok(debited.into_iter().map(|a| (a.id, a)).collect())
}

/// The fast path's statement, prepared once per connection (see `WriteCharges`). The token is
/// compared byte for byte (`COLLATE "C"`: equality is the same, and cheaper), which also keeps
/// the planner on the primary key instead of the token's index.
struct DebitWholeAccounts<'a> {
    ids: &'a [AccountId],
    tokens: &'a [&'a str],
    sums: &'a [i64],
}

fixed_statement!(DebitWholeAccounts);

impl QueryFragment<Pg> for DebitWholeAccounts<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "UPDATE iap_accounts AS a SET balance = a.balance - v.total, updated_at = now()
             FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.ids)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(&self.tokens)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.sums)?;
        out.push_sql(
            "::bigint[]) AS v(id, token, total)
             WHERE a.id = v.id AND a.token COLLATE \"C\" = v.token
               AND a.balance - a.reserved >= v.total
             RETURNING a.id, a.database_id, a.service_id, a.token, a.balance, a.reserved,
                       a.warn_me, a.threshold, a.warning_email",
        );
        Ok(())
    }
}

/// An account locked for a batch, with its service's slug and whether a hold of it is due.
struct Locked {
    account: IapAccount,
    slug: String,
    due: bool,
}

/// Locks the accounts (in id order) and reads what the batch needs of them, in one statement.
fn lock_accounts(conn: &mut PgConnection, ids: &[AccountId]) -> QueryResult<Vec<Locked>> {
    use diesel::dsl::{exists, now};
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let due = exists(
        crate::platform::schema::holds::table
            .filter(crate::platform::schema::holds::account_id.eq(iap_accounts::id))
            .filter(crate::platform::schema::holds::status.eq(holds::HoldStatus::Active))
            .filter(crate::platform::schema::holds::expires_at.le(now)),
    );
    // The slug by a subquery: a join would lock the service's row too.
    let slug = services::table
        .filter(services::id.eq(iap_accounts::service_id))
        .select(services::slug)
        .single_value();
    let rows: Vec<(IapAccount, Option<String>, bool)> = iap_accounts::table
        .filter(iap_accounts::id.eq_any(ids))
        .order(iap_accounts::id)
        .select((IapAccount::as_select(), slug, due))
        .for_update()
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(account, slug, due)| Locked {
            account,
            slug: slug.unwrap_or_default(),
            due,
        })
        .collect())
}

/// A charge's ledger row, as the batch writes it.
struct NewCharge {
    account_id: AccountId,
    amount: i64,
    balance_after: i64,
    reserved_after: i64,
    actor: String,
    description: String,
}

/// Writes the batch's ledger rows and the accounts' new balances in one statement.
fn write_charges(
    conn: &mut PgConnection,
    ids: &[AccountId],
    balances: &[i64],
    rows: &[NewCharge],
) -> QueryResult<Vec<LedgerEntry>> {
    let column = |f: fn(&NewCharge) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    WriteCharges {
        ids,
        balances,
        accounts: rows.iter().map(|r| r.account_id).collect(),
        amounts: column(|r| r.amount),
        balances_after: column(|r| r.balance_after),
        reserved_after: column(|r| r.reserved_after),
        actors: rows.iter().map(|r| r.actor.as_str()).collect(),
        descriptions: rows.iter().map(|r| r.description.as_str()).collect(),
    }
    .load(conn)
}

/// The batch's write as a statement of fixed text, so that diesel prepares it once per
/// connection (by its type) and PostgreSQL plans it once, not on every batch as it would a
/// `sql_query`.
struct WriteCharges<'a> {
    ids: &'a [AccountId],
    balances: &'a [i64],
    accounts: Vec<AccountId>,
    amounts: Vec<i64>,
    balances_after: Vec<i64>,
    reserved_after: Vec<i64>,
    actors: Vec<&'a str>,
    descriptions: Vec<&'a str>,
}

fixed_statement!(WriteCharges);

impl QueryFragment<Pg> for WriteCharges<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "WITH balances AS (
                 UPDATE iap_accounts AS a SET balance = v.balance, updated_at = now()
                 FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.ids)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.balances)?;
        out.push_sql(
            "::bigint[]) AS v(id, balance)
                 WHERE a.id = v.id AND a.balance <> v.balance
             )
             INSERT INTO ledger_entries (account_id, kind, amount, reserved_change, balance_after,
                                         reserved_after, actor, description)
             SELECT r.account_id, 'charge', r.amount, 0, r.balance_after, r.reserved_after,
                    r.actor, r.description
             FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.accounts)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.amounts)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.balances_after)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.reserved_after)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(&self.actors)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.descriptions)?;
        out.push_sql(
            "::text[]) WITH ORDINALITY AS r(account_id, amount, balance_after, reserved_after,
                                            actor, description, n)
             ORDER BY r.n
             RETURNING *",
        );
        Ok(())
    }
}
