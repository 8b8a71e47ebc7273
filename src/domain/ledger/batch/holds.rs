//! Group commit for providers' holds: Odoo's `/iap/1/authorize` → `/iap/1/capture` pairs. One
//! at a time, each call is its own transaction (the account locked across half a dozen round
//! trips, then a WAL flush); here the authorizations and captures that arrive together are
//! decided in one transaction: the accounts and the captured holds are locked in one statement
//! each, the calls decided in arrival order against the accounts' running figures, and every
//! hold, transaction token, closed hold, balance and ledger row written in one statement. Each
//! call still has its own hold and its own ledger rows, and is answered after the commit.
//!
//! The batch also finds the calls' provider keys and transaction tokens, so that a call costs
//! its caller no statement of its own. It takes only what it can decide: a call whose key is
//! unknown or revoked, a transaction token not of the call's key, an account token unknown
//! here or another service's or database's, is `Declined`, and its caller takes the
//! one-at-a-time path (which registers new tokens and words each refusal).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Array, BigInt, Text, Timestamptz};
use tokio::sync::{mpsc, oneshot};

use super::batch_transaction;
use crate::domain::ledger::holds::{self, HoldStatus, MAX_HOLD_TTL};
use crate::domain::ledger::transactions;
use crate::domain::ledger::{Actor, EntryKind, IapAccount, LedgerError, operations};
use crate::domain::provider_keys;
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, HoldId, ServiceId};
use crate::platform::db::DbPool;
use crate::platform::schema::{databases, holds as holds_table, iap_accounts, services};

/// Most calls decided in one transaction.
const MAX_BATCH: usize = 256;

/// An authorization: hold `amount` on the account `account_token` names, for the provider key
/// whose fingerprint is `key` (`provider_keys::fingerprint`), under the transaction token
/// `transaction`.
#[derive(Debug, Clone)]
pub struct Authorization {
    pub account_token: String,
    /// The database the call names, when it names one: the token must be that database's.
    pub dbuuid: Option<String>,
    pub amount: Credits,
    pub ttl: Duration,
    pub description: String,
    pub key: String,
    /// Made by the caller, so that it knows it even when the answer is lost.
    pub transaction: String,
}

/// A capture of the hold the transaction token `transaction` names, by the provider key whose
/// fingerprint is `key`: post `amount` (at most what it holds) and release the rest.
#[derive(Debug, Clone)]
pub struct Capture {
    pub transaction: String,
    pub key: String,
    pub amount: Credits,
}

/// What a batch made of a call.
#[derive(Debug)]
pub enum Settled<T> {
    Done(Result<T, LedgerError>),
    /// Not for the batch: the caller takes the one-at-a-time path.
    Declined,
}

enum Call {
    Authorize(Authorization),
    Capture(Capture),
}

enum Answer {
    Authorized(oneshot::Sender<Settled<HoldId>>),
    Captured(oneshot::Sender<Settled<()>>),
}

/// Batches in flight at once, each on its own share of the accounts. A batch waits on several
/// round trips and its WAL flush, with the cores half idle (`perf` during the `limits --odoo`
/// bench): a second worker fills that time. Workers never lock the same account (but for a
/// token regenerated meanwhile), so their transactions do not wait for each other.
fn workers() -> usize {
    std::thread::available_parallelism().map_or(2, |n| (n.get() / 2).max(2))
}

/// Applies providers' authorizations and captures in group-committed batches.
#[derive(Clone)]
pub struct HoldBatcher {
    queues: Arc<[mpsc::UnboundedSender<(Call, Answer)>]>,
}

impl HoldBatcher {
    /// Starts the worker threads; they stop when the last clone of the batcher is dropped.
    pub fn start(pool: DbPool) -> Self {
        let queues = (0..workers())
            .map(|n| {
                let (calls, mut queue) = mpsc::unbounded_channel::<(Call, Answer)>();
                let pool = pool.clone();
                std::thread::Builder::new()
                    .name(format!("hold-batcher-{n}"))
                    .spawn(move || {
                        while let Some(first) = queue.blocking_recv() {
                            let batch = super::gather(&mut queue, first, MAX_BATCH);
                            run_batch(&pool, batch);
                        }
                    })
                    .expect("spawn a hold batcher thread");
                calls
            })
            .collect();
        HoldBatcher { queues }
    }

    /// A new transaction token for an authorization on the account `account_token` names,
    /// drawn so that its capture goes to the worker of its account.
    pub fn transaction_token(&self, account_token: &str) -> String {
        let worker = super::worker_of(account_token, self.queues.len());
        loop {
            let token = transactions::new_token();
            if super::worker_of(&token, self.queues.len()) == worker {
                return token;
            }
        }
    }

    /// Holds the credits; answers the hold once it is committed.
    pub async fn authorize(&self, call: Authorization) -> Settled<HoldId> {
        let (answer, receive) = oneshot::channel();
        let worker = super::worker_of(&call.account_token, self.queues.len());
        self.ask(
            worker,
            (Call::Authorize(call), Answer::Authorized(answer)),
            receive,
        )
        .await
    }

    /// Captures the hold; answers once it is committed.
    pub async fn capture(&self, call: Capture) -> Settled<()> {
        let (answer, receive) = oneshot::channel();
        let worker = super::worker_of(&call.transaction, self.queues.len());
        self.ask(
            worker,
            (Call::Capture(call), Answer::Captured(answer)),
            receive,
        )
        .await
    }

    /// Queues a call on `worker` and waits for its answer.
    async fn ask<T>(
        &self,
        worker: usize,
        call: (Call, Answer),
        receive: oneshot::Receiver<Settled<T>>,
    ) -> Settled<T> {
        if self.queues[worker].send(call).is_err() {
            return Settled::Done(Err(broken()));
        }
        receive.await.unwrap_or(Settled::Done(Err(broken())))
    }
}

fn broken() -> LedgerError {
    LedgerError::Database(diesel::result::Error::BrokenTransactionManager)
}

/// One call's result inside the batch: a hold (for an authorization), nothing (a capture).
type Outcome = Settled<Option<HoldId>>;

fn run_batch(pool: &DbPool, batch: Vec<(Call, Answer)>) {
    let started = Instant::now();
    let (calls, answers): (Vec<Call>, Vec<Answer>) = batch.into_iter().unzip();
    let outcomes: Vec<Outcome> = match pool.get() {
        // No primary (a failover): nothing was done; each call says so.
        Err(e) => calls
            .iter()
            .map(|_| {
                Settled::Done(Err(LedgerError::Database(
                    crate::platform::outage::no_primary(&e),
                )))
            })
            .collect(),
        Ok(mut conn) => match batch_transaction(&mut conn, |conn| apply(conn, &calls)) {
            Ok(outcomes) => outcomes,
            // Cut short, maybe after the COMMIT: whether it stands is unknown, so each call says
            // so (an authorization's caller remembers its token and releases it if it stood).
            Err(LedgerError::Database(e)) if crate::platform::outage::outage(&e).is_some() => {
                tracing::warn!(size = calls.len(), "hold batch cut short by an outage: {e}");
                calls
                    .iter()
                    .map(|_| {
                        Settled::Done(Err(crate::platform::outage::copy_of(&e)
                            .map_or_else(broken, LedgerError::Database)))
                    })
                    .collect()
            }
            // A fault of the batch must not fail every call in it: each goes its own way.
            Err(e) => {
                tracing::warn!("hold batch failed ({e}); its calls go one by one");
                calls.iter().map(|_| Settled::Declined).collect()
            }
        },
    };
    tracing::debug!(size = calls.len(), elapsed = ?started.elapsed(), "hold batch");
    for (answer, outcome) in answers.into_iter().zip(outcomes) {
        match answer {
            Answer::Authorized(sender) => {
                let _ = sender.send(match outcome {
                    Settled::Done(Ok(Some(hold))) => Settled::Done(Ok(hold)),
                    Settled::Done(Ok(None)) => Settled::Done(Err(LedgerError::HoldNotFound)),
                    Settled::Done(Err(e)) => Settled::Done(Err(e)),
                    Settled::Declined => Settled::Declined,
                });
            }
            Answer::Captured(sender) => {
                let _ = sender.send(match outcome {
                    Settled::Done(result) => Settled::Done(result.map(|_| ())),
                    Settled::Declined => Settled::Declined,
                });
            }
        }
    }
}

/// An account locked for the batch, with what the calls check against it.
struct Locked {
    account: IapAccount,
    slug: String,
    dbuuid: Option<String>,
}

/// The batch's transaction: find the keys, lock the accounts and the captured holds, release
/// what is due, decide, write.
fn apply(conn: &mut PgConnection, calls: &[Call]) -> Result<Vec<Outcome>, LedgerError> {
    let named = find_named(conn, calls)?;
    if !named.keys_to_note.is_empty() {
        provider_keys::note_use(conn, &named.keys_to_note)?;
    }
    let keys = named.keys;
    let mut accounts = lock_accounts(conn, named.accounts)?;
    let mut held = named.holds;
    let mut writes = Writes::default();
    let now = Utc::now();
    let outcomes = calls
        .iter()
        .map(|call| match call {
            Call::Authorize(a) => match keys.get(&a.key) {
                Some(key) => authorize(&mut accounts, a, key, now, &mut writes),
                None => Decided::Declined,
            },
            Call::Capture(c) => match keys.get(&c.key) {
                Some(key) => capture(&mut accounts, &mut held, c, key, now, &mut writes),
                None => Decided::Declined,
            },
        })
        .collect::<Vec<_>>();
    let new_holds = writes.write(conn, &accounts)?;
    let (opened, captured) = (new_holds.len(), writes.closed_ids.len());
    let mut new_holds = new_holds.into_iter();
    let outcomes = outcomes
        .into_iter()
        .map(|outcome| match outcome {
            Decided::Held => Settled::Done(Ok(new_holds.next())),
            Decided::Captured => Settled::Done(Ok(None)),
            Decided::Refused(e) => Settled::Done(Err(e)),
            Decided::Declined => Settled::Declined,
        })
        .collect();
    use crate::platform::metrics::{HoldEvent, holds as count};
    count(HoldEvent::Opened, opened as u64);
    count(HoldEvent::Captured, captured as u64);
    Ok(outcomes)
}

/// Locks (in id order, by primary key) the accounts the batch names, releases their holds that
/// are due, and keys them by id and by token (as locked: a token regenerated meanwhile names
/// nothing).
fn lock_accounts(
    conn: &mut PgConnection,
    mut ids: Vec<AccountId>,
) -> Result<Accounts, LedgerError> {
    use diesel::dsl::{exists, now};
    ids.sort_unstable();
    ids.dedup();
    if ids.is_empty() {
        return Ok(Accounts::default());
    }
    // The slug and the dbuuid by subqueries: a join would lock their rows too.
    let slug = services::table
        .filter(services::id.eq(iap_accounts::service_id))
        .select(services::slug)
        .single_value();
    let dbuuid = databases::table
        .filter(databases::id.eq(iap_accounts::database_id))
        .select(databases::dbuuid)
        .single_value();
    let due = exists(
        holds_table::table
            .filter(holds_table::account_id.eq(iap_accounts::id))
            .filter(holds::is_active())
            .filter(holds_table::expires_at.le(now)),
    );
    let rows: Vec<(IapAccount, Option<String>, Option<String>, bool)> = iap_accounts::table
        .filter(iap_accounts::id.eq_any(&ids))
        .order(iap_accounts::id)
        .select((IapAccount::as_select(), slug, dbuuid, due))
        .for_update()
        .load(conn)?;
    let mut accounts = Accounts::default();
    for (mut account, slug, dbuuid, due) in rows {
        if due {
            operations::release_due_holds(conn, &mut account)?;
        }
        accounts.by_token.insert(account.token.clone(), account.id);
        accounts.by_id.insert(
            account.id,
            Locked {
                account,
                slug: slug.unwrap_or_default(),
                dbuuid,
            },
        );
    }
    Ok(accounts)
}

/// A hold a capture names, as found before its account was locked, with the key its
/// transaction was made by. Every change to a hold is made under its account's lock, so the
/// batch writes a capture only if the hold is still open then (`Writes::write` checks), and
/// the figures it reads here (amount, expiry) never change.
struct Named {
    id: HoldId,
    account_id: AccountId,
    amount: Credits,
    status: HoldStatus,
    expires_at: DateTime<Utc>,
    description: String,
    key_id: i64,
}

/// A provider key the batch's calls use, neither unknown nor revoked.
struct KeyInUse {
    id: i64,
    service_id: ServiceId,
}

/// What the batch's calls name, found before anything is locked: their keys, the accounts of
/// their account tokens, their transactions.
struct Found {
    /// By fingerprint.
    keys: HashMap<String, KeyInUse>,
    /// Keys whose use was last noted more than a minute ago.
    keys_to_note: Vec<i64>,
    accounts: Vec<AccountId>,
    /// The holds of the captures' transactions, by transaction token.
    holds: HashMap<String, Named>,
}

/// One statement for all three (prepared once per connection).
fn find_named(conn: &mut PgConnection, calls: &[Call]) -> QueryResult<Found> {
    let (mut fingerprints, mut tokens, mut captured) = (Vec::new(), Vec::new(), Vec::new());
    for call in calls {
        match call {
            Call::Authorize(a) => {
                fingerprints.push(a.key.as_str());
                tokens.push(a.account_token.as_str());
            }
            Call::Capture(c) => {
                fingerprints.push(c.key.as_str());
                captured.push(c.transaction.as_str());
            }
        }
    }
    let rows: Vec<NamedRow> = FindNamed {
        fingerprints: &fingerprints,
        tokens: &tokens,
        transactions: &captured,
    }
    .load(conn)?;
    let mut found = Found {
        keys: HashMap::new(),
        keys_to_note: Vec::new(),
        accounts: Vec::new(),
        holds: HashMap::new(),
    };
    for row in rows {
        match row.kind {
            0 => {
                if !(0..60).contains(&row.c) {
                    found.keys_to_note.push(row.a);
                }
                found.keys.insert(
                    row.text,
                    KeyInUse {
                        id: row.a,
                        service_id: ServiceId(row.b),
                    },
                );
            }
            1 => found.accounts.push(AccountId(row.a)),
            _ => {
                found.accounts.push(AccountId(row.b));
                let Ok(status) = row.status.parse() else {
                    continue;
                };
                found.holds.insert(
                    row.text,
                    Named {
                        id: HoldId(row.a),
                        account_id: AccountId(row.b),
                        amount: Credits::from_units(row.amount),
                        status,
                        expires_at: row.expires_at,
                        description: row.description,
                        key_id: row.c,
                    },
                );
            }
        }
    }
    Ok(found)
}

#[derive(QueryableByName)]
struct NamedRow {
    #[diesel(sql_type = diesel::sql_types::SmallInt)]
    kind: i16,
    #[diesel(sql_type = Text)]
    text: String,
    #[diesel(sql_type = BigInt)]
    a: i64,
    #[diesel(sql_type = BigInt)]
    b: i64,
    #[diesel(sql_type = BigInt)]
    c: i64,
    #[diesel(sql_type = BigInt)]
    amount: i64,
    #[diesel(sql_type = Text)]
    status: String,
    #[diesel(sql_type = Timestamptz)]
    expires_at: DateTime<Utc>,
    #[diesel(sql_type = Text)]
    description: String,
}

/// Keys (0: id, service, seconds since their use was noted or -1), accounts by token (1: id)
/// and transactions with their holds (2: hold, account, key; the hold's figures), tagged by
/// kind.
struct FindNamed<'a> {
    fingerprints: &'a [&'a str],
    tokens: &'a [&'a str],
    transactions: &'a [&'a str],
}

fixed_statement!(FindNamed);

impl QueryFragment<Pg> for FindNamed<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "SELECT 0::smallint AS kind, key_sha256 AS text, id AS a, service_id AS b,
                    COALESCE(extract(epoch FROM now() - last_used_at)::bigint, -1) AS c,
                    0::bigint AS amount, '' AS status, now() AS expires_at, '' AS description
             FROM provider_keys WHERE key_sha256 = ANY(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.fingerprints)?;
        out.push_sql(
            "::text[]) AND revoked_at IS NULL
             UNION ALL
             SELECT 1::smallint, token, id, 0::bigint, 0::bigint, 0::bigint, '', now(), ''
             FROM iap_accounts WHERE token = ANY(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.tokens)?;
        out.push_sql(
            "::text[])
             UNION ALL
             SELECT 2::smallint, t.token, t.hold_id, t.account_id, t.provider_key_id, h.amount,
                    h.status, h.expires_at, h.description
             FROM iap_transactions AS t JOIN holds AS h ON h.id = t.hold_id
             WHERE t.token = ANY(",
        );
        out.push_bind_param::<Array<Text>, _>(&self.transactions)?;
        out.push_sql("::text[])");
        Ok(())
    }
}

#[derive(Default)]
struct Accounts {
    by_id: HashMap<AccountId, Locked>,
    by_token: HashMap<String, AccountId>,
}

/// What the batch decided of a call, before the write.
enum Decided {
    Held,
    Captured,
    Refused(LedgerError),
    Declined,
}

fn authorize(
    accounts: &mut Accounts,
    call: &Authorization,
    key: &KeyInUse,
    now: DateTime<Utc>,
    writes: &mut Writes,
) -> Decided {
    let Some(locked) = accounts
        .by_token
        .get(&call.account_token)
        .and_then(|id| accounts.by_id.get_mut(id))
    else {
        return Decided::Declined;
    };
    let same_database = match (&call.dbuuid, &locked.dbuuid) {
        (Some(asked), Some(known)) => asked == known,
        _ => true,
    };
    if locked.account.service_id != key.service_id || !same_database {
        return Decided::Declined;
    }
    if call.amount <= Credits::ZERO {
        return Decided::Refused(LedgerError::ZeroAmount);
    }
    let Some(expires_at) = (call.ttl >= Duration::from_secs(1) && call.ttl <= MAX_HOLD_TTL)
        .then(|| chrono::Duration::from_std(call.ttl).ok())
        .flatten()
        .map(|ttl| now + ttl)
    else {
        return Decided::Refused(LedgerError::InvalidExpiry);
    };
    let account = &mut locked.account;
    if account.available() < call.amount {
        return Decided::Refused(LedgerError::InsufficientCredits {
            account_id: account.id,
            service_slug: locked.slug.clone(),
            available: account.available(),
            requested: call.amount,
        });
    }
    let actor = Actor::provider_key(key.id);
    let description = call.description.trim();
    let new_hold = writes.new_hold(account.id, call, key.id, description, expires_at);
    writes.row(
        account,
        EntryKind::Hold,
        (0, call.amount.units()),
        HoldRef::New(new_hold),
        actor.as_str(),
        description,
    );
    Decided::Held
}

fn capture(
    accounts: &mut Accounts,
    held: &mut HashMap<String, Named>,
    call: &Capture,
    key: &KeyInUse,
    now: DateTime<Utc>,
    writes: &mut Writes,
) -> Decided {
    // Only the key that authorized it may act on it (another key of the service does not
    // even learn that it exists): the one-at-a-time path says so.
    let Some(hold) = held
        .get_mut(&call.transaction)
        .filter(|named| named.key_id == key.id)
    else {
        return Decided::Declined;
    };
    let Some(locked) = accounts.by_id.get_mut(&hold.account_id) else {
        return Decided::Refused(LedgerError::HoldNotFound);
    };
    let actor = Actor::provider_key(key.id);
    match hold.status {
        HoldStatus::Active if hold.expires_at <= now => {
            // Expired a moment ago and not released yet: too late all the same.
            return Decided::Refused(LedgerError::HoldExpired);
        }
        HoldStatus::Active => {}
        HoldStatus::Expired => return Decided::Refused(LedgerError::HoldExpired),
        closed => return Decided::Refused(LedgerError::HoldClosed(closed)),
    }
    if call.amount < Credits::ZERO {
        return Decided::Declined;
    }
    if call.amount > hold.amount {
        return Decided::Refused(LedgerError::CaptureExceedsHold { held: hold.amount });
    }
    let account = &mut locked.account;
    let (captured, rest) = (
        call.amount.units(),
        hold.amount.units() - call.amount.units(),
    );
    if captured > 0 {
        writes.row(
            account,
            EntryKind::Capture,
            (-captured, -captured),
            HoldRef::Known(hold.id),
            actor.as_str(),
            &hold.description,
        );
    }
    if rest > 0 {
        writes.row(
            account,
            EntryKind::Release,
            (0, -rest),
            HoldRef::Known(hold.id),
            actor.as_str(),
            "Unused part of the hold released",
        );
    }
    hold.status = HoldStatus::Captured;
    writes.closed_ids.push(hold.id.0);
    writes.closed_captured.push(captured);
    Decided::Captured
}

/// The hold a ledger row names: one of the batch's new holds (by its place), or an existing one.
enum HoldRef {
    New(i64),
    Known(HoldId),
}

/// The batch's rows, column by column, for the one statement that writes them all.
#[derive(Default)]
struct Writes {
    // New holds and their transaction tokens, numbered from 1.
    hold_accounts: Vec<i64>,
    hold_amounts: Vec<i64>,
    hold_descriptions: Vec<String>,
    hold_actors: Vec<String>,
    hold_expiries: Vec<DateTime<Utc>>,
    transactions: Vec<String>,
    provider_keys: Vec<i64>,
    // Holds captured.
    closed_ids: Vec<i64>,
    closed_captured: Vec<i64>,
    // Ledger rows, in arrival order.
    row_accounts: Vec<i64>,
    row_kinds: Vec<&'static str>,
    row_amounts: Vec<i64>,
    row_reserved_changes: Vec<i64>,
    row_balances: Vec<i64>,
    row_reserved: Vec<i64>,
    row_holds: Vec<i64>,
    row_new_holds: Vec<i64>,
    row_actors: Vec<String>,
    row_descriptions: Vec<String>,
}

impl Writes {
    /// Adds a new hold; returns its number in the batch.
    fn new_hold(
        &mut self,
        account_id: AccountId,
        call: &Authorization,
        key_id: i64,
        description: &str,
        expires_at: DateTime<Utc>,
    ) -> i64 {
        self.hold_accounts.push(account_id.0);
        self.hold_amounts.push(call.amount.units());
        self.hold_descriptions.push(description.to_string());
        self.hold_actors
            .push(Actor::provider_key(key_id).as_str().to_string());
        self.hold_expiries.push(expires_at);
        self.transactions.push(call.transaction.clone());
        self.provider_keys.push(key_id);
        self.hold_accounts.len() as i64
    }

    /// Applies `(amount, reserved_change)` to the account and adds its ledger row.
    fn row(
        &mut self,
        account: &mut IapAccount,
        kind: EntryKind,
        (amount, reserved_change): (i64, i64),
        hold: HoldRef,
        actor: &str,
        description: &str,
    ) {
        account.balance = Credits::from_units(account.balance.units() + amount);
        account.reserved = Credits::from_units(account.reserved.units() + reserved_change);
        self.row_accounts.push(account.id.0);
        self.row_kinds.push(kind.as_str());
        self.row_amounts.push(amount);
        self.row_reserved_changes.push(reserved_change);
        self.row_balances.push(account.balance.units());
        self.row_reserved.push(account.reserved.units());
        let (known, new) = match hold {
            HoldRef::New(n) => (0, n),
            HoldRef::Known(id) => (id.0, 0),
        };
        self.row_holds.push(known);
        self.row_new_holds.push(new);
        self.row_actors.push(actor.to_string());
        self.row_descriptions.push(description.to_string());
    }

    /// Writes it all in one statement; returns the new holds' ids in their order.
    fn write(&self, conn: &mut PgConnection, accounts: &Accounts) -> QueryResult<Vec<HoldId>> {
        if self.row_accounts.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, (balances, reserved)): (Vec<i64>, (Vec<i64>, Vec<i64>)) = accounts
            .by_id
            .values()
            .map(|l| {
                (
                    l.account.id.0,
                    (l.account.balance.units(), l.account.reserved.units()),
                )
            })
            .unzip();
        let written: Vec<WrittenRow> = WriteHolds {
            writes: self,
            ids: &ids,
            balances: &balances,
            reserved: &reserved,
        }
        .load(conn)?;
        // A hold found open before its account was locked was closed meanwhile (by a cancel
        // or the sweeper): the batch is undone, and its calls go one at a time.
        if written
            .first()
            .is_some_and(|w| w.closed != self.closed_ids.len() as i64)
        {
            return Err(diesel::result::Error::RollbackTransaction);
        }
        // Ledger ids follow the rows' order, and each new hold has one `hold` row, added with
        // it: in id order, the `hold` rows name the new holds in their order.
        let mut written = written;
        written.sort_unstable_by_key(|w| w.id);
        Ok(written
            .into_iter()
            .filter(|w| w.kind == EntryKind::Hold.as_str())
            .map(|w| HoldId(w.hold_id))
            .collect())
    }
}

#[derive(QueryableByName)]
struct WrittenRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = BigInt)]
    hold_id: i64,
    #[diesel(sql_type = BigInt)]
    closed: i64,
}

/// The batch's write, of fixed text (prepared once per connection): the new holds with ids
/// drawn first so that their transaction tokens and ledger rows can name them, the captured
/// holds closed, the accounts' new figures, and the ledger rows in arrival order.
struct WriteHolds<'a> {
    writes: &'a Writes,
    ids: &'a [i64],
    balances: &'a [i64],
    reserved: &'a [i64],
}

fixed_statement!(WriteHolds);

impl QueryFragment<Pg> for WriteHolds<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        let w = self.writes;
        out.push_sql(
            "WITH new_holds AS MATERIALIZED (
                 SELECT nextval('holds_id_seq') AS id, h.*
                 FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&w.hold_accounts)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&w.hold_amounts)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(&w.hold_descriptions)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&w.hold_actors)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Timestamptz>, _>(&w.hold_expiries)?;
        out.push_sql("::timestamptz[], ");
        out.push_bind_param::<Array<Text>, _>(&w.transactions)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<BigInt>, _>(&w.provider_keys)?;
        out.push_sql(
            "::bigint[]) WITH ORDINALITY
                     AS h(account_id, amount, description, actor, expires_at, token, key_id, n)
             ),
             inserted AS (
                 INSERT INTO holds (id, account_id, amount, description, actor, expires_at)
                 SELECT id, account_id, amount, description, actor, expires_at
                 FROM new_holds ORDER BY n
             ),
             tokens AS (
                 INSERT INTO iap_transactions (token, hold_id, account_id, provider_key_id)
                 SELECT token, id, account_id, key_id FROM new_holds
             ),
             closed AS (
                 UPDATE holds AS h SET status = 'captured', captured = c.captured,
                                       closed_at = now()
                 FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&w.closed_ids)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&w.closed_captured)?;
        out.push_sql(
            "::bigint[]) AS c(id, captured)
                 WHERE h.id = c.id AND h.closed_at IS NULL
                 RETURNING h.id
             ),
             accounts AS (
                 UPDATE iap_accounts AS a
                 SET balance = v.balance, reserved = v.reserved, updated_at = now()
                 FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.ids)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.balances)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.reserved)?;
        out.push_sql(
            "::bigint[]) AS v(id, balance, reserved)
                 WHERE a.id = v.id AND (a.balance, a.reserved) <> (v.balance, v.reserved)
             )
             INSERT INTO ledger_entries (account_id, kind, amount, reserved_change, balance_after,
                                         reserved_after, hold_id, actor, description)
             SELECT r.account_id, r.kind, r.amount, r.reserved_change, r.balance_after,
                    r.reserved_after, COALESCE(n.id, NULLIF(r.hold_id, 0)), r.actor,
                    r.description
             FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&w.row_accounts)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(&w.row_kinds)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<BigInt>, _>(&w.row_amounts)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&w.row_reserved_changes)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&w.row_balances)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&w.row_reserved)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&w.row_holds)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&w.row_new_holds)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(&w.row_actors)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&w.row_descriptions)?;
        out.push_sql(
            "::text[]) WITH ORDINALITY
                     AS r(account_id, kind, amount, reserved_change, balance_after, reserved_after,
                          hold_id, new_hold, actor, description, n)
             LEFT JOIN new_holds AS n ON n.n = r.new_hold
             ORDER BY r.n
             RETURNING id, kind, hold_id, (SELECT count(*) FROM closed) AS closed",
        );
        Ok(())
    }
}
