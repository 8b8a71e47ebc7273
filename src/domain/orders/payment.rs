//! Paying an order in two phases, so that no transaction waits on the payment provider and no
//! approved charge can be lost:
//!
//! 1. **start** (one transaction on the locked order): record the attempt — status `started`,
//!    a fresh idempotency key, the amount — and commit. One attempt per order is in flight at
//!    a time; a second tab waits for it.
//! 2. **charge** (no transaction open): call the provider with the attempt's key.
//! 3. **finish** (one transaction on the locked attempt and order): record the outcome; an
//!    approved one credits the pack and marks the order paid (the receipt is queued by a
//!    trigger), exactly once.
//!
//! A crash between 1 and 3 leaves the attempt `started`; `reconcile_payments` (at start and
//! every minute) asks the provider what became of its key and finishes it. An approved charge
//! that cannot be credited (the balance would overflow) is given back to the card.

use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use rand::Rng;
use rand::distr::Alphanumeric;

use super::{Order, OrderError, OrderStatus, mark_expired};
use crate::domain::ledger::{self, Actor, GrantKind, LedgerEntry, LedgerError};
use crate::domain::payments::{Card, PaymentOutcome, PaymentProvider, RefundOutcome};
use crate::kernel::ids::{DatabaseId, OrderId};
use crate::kernel::money::{Currency, Price};
use crate::platform::schema::{orders, payment_attempts};
use crate::sql_text_enum;

sql_text_enum! {
    pub enum AttemptStatus {
        /// Recorded; the provider may or may not have been called.
        Started => "started",
        Approved => "approved",
        Declined => "declined",
        /// The provider never got it (a crash before the call): nothing was charged.
        Failed => "failed",
        /// Approved, but the credits could not be added: the charge was given back.
        Refunded => "refunded",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = payment_attempts, check_for_backend(diesel::pg::Pg))]
pub struct PaymentAttempt {
    pub id: i64,
    pub order_id: OrderId,
    pub status: AttemptStatus,
    pub idempotency_key: String,
    pub amount_minor: i64,
    pub currency: Currency,
    pub card_last4: String,
    pub message: Option<String>,
    pub reference: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl PaymentAttempt {
    fn amount(&self) -> Price {
        Price::new(self.amount_minor, self.currency.clone())
    }
}

#[derive(Insertable)]
#[diesel(table_name = payment_attempts)]
struct AttemptInsertForm<'a> {
    order_id: OrderId,
    status: AttemptStatus,
    idempotency_key: &'a str,
    amount_minor: i64,
    currency: &'a Currency,
    card_last4: &'a str,
}

#[derive(Debug)]
pub enum PaymentResult {
    /// Paid now: the credits are on the account.
    Paid {
        order: Order,
        entry: LedgerEntry,
    },
    /// Paid before (a second tab, a re-submit): nothing charged or credited again.
    AlreadyPaid(Order),
    Declined {
        order: Order,
        message: String,
    },
    Expired(Order),
    /// Declined `MAX_DECLINES` times: closed, no card is tried on it again.
    Locked(Order),
}

/// Declined attempts after which an order is closed (`declined`): trying card after card on
/// one order is what card testing looks like.
pub const MAX_DECLINES: i64 = 3;

/// How long a second tab waits for the attempt in flight before saying it is still under way.
const WAIT_FOR_ATTEMPT: StdDuration = StdDuration::from_secs(15);
/// A `started` attempt older than this is the reconciler's (its request gave up or died).
pub const ATTEMPT_TIMEOUT_SECONDS: i64 = 60;

fn new_idempotency_key() -> String {
    let random: String = rand::rng()
        .sample_iter(Alphanumeric)
        .take(24)
        .map(char::from)
        .collect();
    format!("pay_{random}")
}

/// What an order is paid with: a card typed at checkout, or a saved card's token.
#[derive(Debug, Clone, Copy)]
pub enum PaymentSource<'a> {
    Card(&'a Card),
    Saved { token: &'a str, last4: &'a str },
}

impl PaymentSource<'_> {
    fn last4(&self) -> &str {
        match self {
            PaymentSource::Card(card) => card.last4(),
            PaymentSource::Saved { last4, .. } => last4,
        }
    }
}

/// What step 1 found.
enum Start {
    Attempt(PaymentAttempt),
    Done(PaymentResult),
    /// Another attempt of this order is in flight.
    Busy,
}

/// Step 1: records a `started` attempt of the pending order, and commits.
fn start(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    order_id: OrderId,
    source: PaymentSource<'_>,
) -> Result<Start, OrderError> {
    conn.transaction(|conn| {
        let order: Order = orders::table
            .filter(orders::id.eq(order_id))
            .filter(orders::database_id.eq(database_id))
            .select(Order::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(OrderError::NotFound)?;
        match order.status {
            OrderStatus::Pending if order.expires_at <= Utc::now() => {
                return Ok(Start::Done(PaymentResult::Expired(mark_expired(
                    conn, order.id,
                )?)));
            }
            OrderStatus::Pending => {}
            OrderStatus::Expired => return Ok(Start::Done(PaymentResult::Expired(order))),
            OrderStatus::Declined => return Ok(Start::Done(PaymentResult::Locked(order))),
            _ => return Ok(Start::Done(PaymentResult::AlreadyPaid(order))),
        }
        let in_flight: bool = diesel::select(diesel::dsl::exists(
            payment_attempts::table
                .filter(payment_attempts::order_id.eq(order.id))
                .filter(payment_attempts::status.eq(AttemptStatus::Started)),
        ))
        .get_result(conn)?;
        if in_flight {
            return Ok(Start::Busy);
        }
        let key = new_idempotency_key();
        let attempt = diesel::insert_into(payment_attempts::table)
            .values(AttemptInsertForm {
                order_id: order.id,
                status: AttemptStatus::Started,
                idempotency_key: &key,
                amount_minor: order.price_minor,
                currency: &order.currency,
                card_last4: source.last4(),
            })
            .returning(PaymentAttempt::as_returning())
            .get_result(conn)?;
        Ok(Start::Attempt(attempt))
    })
}

/// Pays a pending order with a typed card and credits its pack, exactly once (see the module's
/// steps).
pub fn pay(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    order_id: OrderId,
    card: &Card,
    provider: &dyn PaymentProvider,
) -> Result<PaymentResult, OrderError> {
    pay_with(
        conn,
        database_id,
        order_id,
        PaymentSource::Card(card),
        provider,
    )
}

/// The same with any `PaymentSource`.
pub fn pay_with(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    order_id: OrderId,
    source: PaymentSource<'_>,
    provider: &dyn PaymentProvider,
) -> Result<PaymentResult, OrderError> {
    let waited_since = std::time::Instant::now();
    let attempt = loop {
        match start(conn, database_id, order_id, source)? {
            Start::Attempt(attempt) => break attempt,
            Start::Done(result) => return Ok(result),
            // A second tab: wait for the first one's outcome rather than charge again.
            Start::Busy if waited_since.elapsed() < WAIT_FOR_ATTEMPT => {
                std::thread::sleep(StdDuration::from_millis(50));
            }
            Start::Busy => return Err(OrderError::PaymentUnderWay),
        }
    };
    let outcome = match source {
        PaymentSource::Card(card) => {
            provider.charge(&attempt.amount(), card, &attempt.idempotency_key)
        }
        PaymentSource::Saved { token, .. } => {
            provider.charge_saved(&attempt.amount(), token, &attempt.idempotency_key)
        }
    };
    finish(conn, provider, &attempt, outcome)?;
    // The outcome as recorded (by this request, or by whoever finished it first).
    let order = super::find(conn, database_id, order_id)?.ok_or(OrderError::NotFound)?;
    let finished: PaymentAttempt = payment_attempts::table
        .find(attempt.id)
        .select(PaymentAttempt::as_select())
        .first(conn)?;
    Ok(match finished.status {
        AttemptStatus::Approved => match super::purchase_entry(conn, order.id)? {
            Some(entry) => PaymentResult::Paid { order, entry },
            None => PaymentResult::AlreadyPaid(order),
        },
        _ => PaymentResult::Declined {
            order,
            message: finished.message.unwrap_or_default(),
        },
    })
}

/// Closes a pending order declined `MAX_DECLINES` times (inside the transaction that recorded
/// the last decline).
fn lock_after_declines(conn: &mut PgConnection, order_id: OrderId) -> QueryResult<()> {
    let declines: i64 = payment_attempts::table
        .filter(payment_attempts::order_id.eq(order_id))
        .filter(payment_attempts::status.eq(AttemptStatus::Declined))
        .count()
        .get_result(conn)?;
    if declines >= MAX_DECLINES {
        diesel::update(
            orders::table
                .find(order_id)
                .filter(orders::status.eq(OrderStatus::Pending)),
        )
        .set(orders::status.eq(OrderStatus::Declined))
        .execute(conn)?;
    }
    Ok(())
}

/// Step 3: records the provider's outcome for a `started` attempt and, when approved, credits
/// the pack and marks the order paid — one transaction on the locked attempt, so it happens
/// once. An approved charge that cannot be credited is refunded (after the transaction).
fn finish(
    conn: &mut PgConnection,
    provider: &dyn PaymentProvider,
    attempt: &PaymentAttempt,
    outcome: PaymentOutcome,
) -> Result<(), OrderError> {
    let credited = conn.transaction(|conn| {
        let still_started = payment_attempts::table
            .find(attempt.id)
            .filter(payment_attempts::status.eq(AttemptStatus::Started))
            .select(payment_attempts::id)
            .for_update()
            .first::<i64>(conn)
            .optional()?;
        if still_started.is_none() {
            return Ok(Ok(())); // finished meanwhile
        }
        let reference = match outcome {
            PaymentOutcome::Declined { message } => {
                close(conn, attempt.id, AttemptStatus::Declined, &message, None)?;
                lock_after_declines(conn, attempt.order_id)?;
                return Ok(Ok(()));
            }
            PaymentOutcome::Approved { reference } => reference,
        };
        let order: Order = orders::table
            .find(attempt.order_id)
            .select(Order::as_select())
            .for_update()
            .first(conn)?;
        let granted = conn.transaction(|conn| {
            ledger::grant(
                conn,
                order.account_id,
                order.credits,
                GrantKind::Purchase { order_id: order.id },
                &format!("{} ({})", order.pack_name, order.number()),
                &Actor::order(order.id),
            )
        });
        match granted {
            Ok(_) => {}
            // The balance cannot take these credits: the money goes back (step 3b).
            Err(LedgerError::Overflow) => return Ok(Err(reference)),
            Err(e) => return Err(OrderError::from(e)),
        }
        diesel::update(orders::table.find(order.id))
            .set((
                orders::status.eq(OrderStatus::Paid),
                orders::paid_at.eq(diesel::dsl::now),
                orders::payment_reference.eq(&reference),
                orders::card_last4.eq(&attempt.card_last4),
            ))
            .execute(conn)?;
        let message = format!("Approved ({reference})");
        close(
            conn,
            attempt.id,
            AttemptStatus::Approved,
            &message,
            Some(&reference),
        )?;
        Ok::<_, OrderError>(Ok(()))
    })?;
    if let Err(reference) = credited {
        // Keyed after the attempt: the reconciler's retry is the same refund.
        let key = format!("{}-refund", attempt.idempotency_key);
        let message = match provider.refund(&attempt.amount(), &reference, &key) {
            RefundOutcome::Refunded { reference: refund } => format!(
                "Approved ({reference}) but the account cannot hold these credits: refunded ({refund})."
            ),
            RefundOutcome::Refused { message: e } => {
                tracing::error!(
                    attempt = attempt.id,
                    "an uncreditable payment could not be refunded: {e}"
                );
                return Err(OrderError::PaymentUnderWay);
            }
        };
        close(
            conn,
            attempt.id,
            AttemptStatus::Refunded,
            &message,
            Some(&reference),
        )?;
    }
    Ok(())
}

fn close(
    conn: &mut PgConnection,
    attempt_id: i64,
    status: AttemptStatus,
    message: &str,
    reference: Option<&str>,
) -> QueryResult<()> {
    diesel::update(
        payment_attempts::table
            .find(attempt_id)
            .filter(payment_attempts::status.eq(AttemptStatus::Started)),
    )
    .set((
        payment_attempts::status.eq(status),
        payment_attempts::message.eq(message),
        payment_attempts::reference.eq(reference),
        payment_attempts::finished_at.eq(diesel::dsl::now),
    ))
    .execute(conn)?;
    Ok(())
}

/// The reconciler: finishes the attempts left `started` for longer than their request could
/// take (a crash, a lost connection, a failed second transaction), asking the provider what
/// became of each key. Returns how many it finished.
pub fn reconcile_payments(
    conn: &mut PgConnection,
    provider: &dyn PaymentProvider,
    now: DateTime<Utc>,
) -> Result<usize, OrderError> {
    let stale: Vec<PaymentAttempt> = payment_attempts::table
        .filter(payment_attempts::status.eq(AttemptStatus::Started))
        .filter(payment_attempts::created_at.le(now - Duration::seconds(ATTEMPT_TIMEOUT_SECONDS)))
        .order(payment_attempts::id)
        .limit(100)
        .select(PaymentAttempt::as_select())
        .load(conn)?;
    let mut finished = 0;
    for attempt in stale {
        match provider.lookup(&attempt.idempotency_key) {
            Some(outcome) => finish(conn, provider, &attempt, outcome)?,
            None => close(
                conn,
                attempt.id,
                AttemptStatus::Failed,
                "The payment did not reach the provider; nothing was charged.",
                None,
            )?,
        }
        tracing::info!(attempt = attempt.id, order = %attempt.order_id, "payment reconciled");
        finished += 1;
    }
    Ok(finished)
}

/// An order's attempts, oldest first.
pub fn attempts_of(conn: &mut PgConnection, order_id: OrderId) -> QueryResult<Vec<PaymentAttempt>> {
    payment_attempts::table
        .filter(payment_attempts::order_id.eq(order_id))
        .order(payment_attempts::id)
        .select(PaymentAttempt::as_select())
        .load(conn)
}
