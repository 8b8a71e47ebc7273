//! Refunds of paid orders by the operator: the order's unused credits go back out of the
//! account as a `refund` ledger row, the matching share of the price goes back to the card, the
//! order becomes refunded or partly refunded, and the audit log says who did it and why.
//! Owner of `refunds`.
//!
//! Two phases, so that no transaction waits on the provider and no crash loses track of money:
//! 1. one transaction takes the credits back and records the refund `pending` (the credits
//!    cannot be spent while the money is on its way);
//! 2. the provider is called, outside any transaction, with the key `refund-<id>`;
//! 3. a second transaction records its answer: `succeeded` (the order becomes refunded or
//!    partly refunded), or `failed` and the credits are given back.
//!
//! A crash between 1 and 3 leaves the refund `pending`; `reconcile_refunds` (at start and every
//! minute) asks the provider about the key and finishes it, sending it again if the provider
//! never saw it.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::{Order, OrderStatus};
use crate::domain::audit::{self, Action, Operator};
use crate::domain::ledger::{self, Actor, LedgerError};
use crate::domain::payments::{PaymentProvider, RefundOutcome};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{OrderId, UserId};
use crate::kernel::money::{Currency, Price};
use crate::platform::schema::{orders, refunds};

// Where a refund stands: `pending` between its two transactions.
crate::sql_text_enum! {
    pub enum RefundStatus {
        Pending => "pending",
        Succeeded => "succeeded",
        Failed => "failed",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refunds, check_for_backend(diesel::pg::Pg))]
pub struct Refund {
    pub id: i64,
    pub order_id: OrderId,
    pub ledger_entry_id: i64,
    pub credits: Credits,
    pub amount_minor: i64,
    pub currency: Currency,
    pub provider_reference: Option<String>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
    pub status: RefundStatus,
    pub failure: Option<String>,
    pub finished_at: Option<DateTime<Utc>>,
}

impl Refund {
    pub fn amount(&self) -> Price {
        Price::new(self.amount_minor, self.currency.clone())
    }

    /// The key the provider knows this refund by.
    pub fn idempotency_key(&self) -> String {
        format!("refund-{}", self.id)
    }
}

/// How long a refund may stay `pending` before the reconciler takes it for interrupted.
pub const REFUND_TIMEOUT_SECONDS: i64 = 60;

/// A refund's row as written.
#[derive(Insertable)]
#[diesel(table_name = refunds)]
struct RefundInsertForm<'a> {
    order_id: OrderId,
    ledger_entry_id: i64,
    credits: Credits,
    amount_minor: i64,
    currency: &'a Currency,
    refunded_by: UserId,
    reason: &'a str,
    status: RefundStatus,
}

#[derive(Debug, thiserror::Error)]
pub enum RefundError {
    #[error("no such order")]
    NotFound,
    #[error("only paid orders can be refunded")]
    NotPaid,
    #[error("Enter the credits to refund.")]
    NothingToRefund,
    #[error("Only {} credits of this order are unused; that is the most that can be refunded.", .0.to_display())]
    TooMuch(Credits),
    #[error("Say why the order is refunded.")]
    MissingReason,
    #[error("The payment provider refused the refund: {0}")]
    Provider(String),
    #[error(transparent)]
    Database(#[from] diesel::result::Error),
    #[error(transparent)]
    Ledger(LedgerError),
}

impl From<LedgerError> for RefundError {
    fn from(e: LedgerError) -> Self {
        match e {
            LedgerError::RefundExceedsUnused { refundable } => RefundError::TooMuch(refundable),
            LedgerError::ZeroAmount => RefundError::NothingToRefund,
            LedgerError::MissingReason => RefundError::MissingReason,
            LedgerError::Database(e) => RefundError::Database(e),
            other => RefundError::Ledger(other),
        }
    }
}

/// What was refunded of an order so far, and what still can be.
#[derive(Debug, Clone)]
pub struct RefundState {
    pub refunds: Vec<Refund>,
    pub refunded: Credits,
    /// The unused credits of the order, which a refund may take back now.
    pub refundable: Credits,
}

pub fn refund_state(conn: &mut PgConnection, order: &Order) -> Result<RefundState, RefundError> {
    let refunds: Vec<Refund> = refunds::table
        .filter(refunds::order_id.eq(order.id))
        .order(refunds::id)
        .select(Refund::as_select())
        .load(conn)?;
    // A pending refund's credits are already out of the account: they count.
    let refunded = refunds
        .iter()
        .filter(|r| r.status != RefundStatus::Failed)
        .fold(Credits::ZERO, |mut sum, r| {
            sum += r.credits;
            sum
        });
    let refundable = if order.is_paid() {
        let account =
            ledger::accounts::by_id(conn, order.account_id)?.ok_or(RefundError::NotFound)?;
        ledger::unused_credits_of_order(conn, &account, order.id)?
    } else {
        Credits::ZERO
    };
    Ok(RefundState {
        refunds,
        refunded,
        refundable,
    })
}

/// The share of `price_minor` that `credits` of `total` credits are worth, rounded so that
/// refunding all the credits in any number of steps returns exactly the price.
fn money_for(price_minor: i64, total: Credits, refunded_before: Credits, credits: Credits) -> i64 {
    let share = |c: Credits| {
        (i128::from(price_minor) * i128::from(c.units()) / i128::from(total.units().max(1))) as i64
    };
    share(Credits::from_units(
        refunded_before.units() + credits.units(),
    )) - share(refunded_before)
}

/// Refunds `credits` of the paid order `order_id`, with the operator's `reason`: the three
/// steps of the module in a row. A refusal by the provider gives the credits back and is
/// answered as `RefundError::Provider`.
pub fn refund_order(
    conn: &mut PgConnection,
    operator: &Operator,
    provider: &dyn PaymentProvider,
    order_id: OrderId,
    credits: Credits,
    reason: &str,
) -> Result<Refund, RefundError> {
    let (pending, payment_reference) = begin(conn, operator, order_id, credits, reason)?;
    let outcome = provider.refund(
        &pending.amount(),
        &payment_reference,
        &pending.idempotency_key(),
    );
    let refund = finish(conn, pending.id, outcome)?;
    match (&refund.status, &refund.failure) {
        (RefundStatus::Failed, Some(message)) => Err(RefundError::Provider(message.clone())),
        _ => Ok(refund),
    }
}

/// Step 1: checks the refund, takes the credits back and records it `pending`, with the audit
/// line of the operator's decision. Returns it with the payment it returns money of.
fn begin(
    conn: &mut PgConnection,
    operator: &Operator,
    order_id: OrderId,
    credits: Credits,
    reason: &str,
) -> Result<(Refund, String), RefundError> {
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(RefundError::MissingReason);
    }
    if credits <= Credits::ZERO {
        return Err(RefundError::NothingToRefund);
    }
    conn.transaction(|conn| {
        // The order row lock queues concurrent refunds of one order.
        let order: Order = orders::table
            .find(order_id)
            .select(Order::as_select())
            .for_update()
            .first(conn)
            .optional()?
            .ok_or(RefundError::NotFound)?;
        if !order.is_paid() || order.status == OrderStatus::Refunded {
            return Err(if order.is_paid() {
                RefundError::TooMuch(Credits::ZERO)
            } else {
                RefundError::NotPaid
            });
        }
        let before = refund_state(conn, &order)?;
        let entry = ledger::refund(
            conn,
            order.account_id,
            order.id,
            credits,
            reason,
            &Actor::operator(operator),
        )?;
        let amount_minor = money_for(order.price_minor, order.credits, before.refunded, credits);
        let refund: Refund = diesel::insert_into(refunds::table)
            .values(RefundInsertForm {
                order_id: order.id,
                ledger_entry_id: entry.id,
                credits,
                amount_minor,
                currency: &order.currency,
                refunded_by: operator.user_id,
                reason,
                status: RefundStatus::Pending,
            })
            .returning(Refund::as_returning())
            .get_result(conn)?;
        let refunded_now = Credits::from_units(before.refunded.units() + credits.units());
        // What the order becomes once the provider has returned the money.
        let status = if refunded_now >= order.credits {
            OrderStatus::Refunded
        } else {
            OrderStatus::PartlyRefunded
        };
        audit::record(
            conn,
            operator,
            Action {
                action: "order.refund",
                subject: format!("order:{}", order.id),
                database_id: Some(order.database_id),
                reason: Some(reason),
                before: Some(json!({
                    "status": order.status.as_str(),
                    "refunded_credits": before.refunded.to_string(),
                })),
                after: Some(json!({
                    "status": status.as_str(),
                    "refund": refund.id,
                    "refunded_credits": refunded_now.to_string(),
                    "refund_credits": credits.to_string(),
                    "refund_amount": refund.amount().to_string(),
                    "ledger_entry": entry.id,
                })),
            },
        )?;
        Ok((refund, order.payment_reference.unwrap_or_default()))
    })
}

/// Step 3: records the provider's answer on a pending refund, once (the row is locked and must
/// still be pending). Returns the refund as it now stands.
fn finish(
    conn: &mut PgConnection,
    refund_id: i64,
    outcome: RefundOutcome,
) -> Result<Refund, RefundError> {
    conn.transaction(|conn| {
        let refund: Refund = refunds::table
            .find(refund_id)
            .select(Refund::as_select())
            .for_update()
            .first(conn)?;
        if refund.status != RefundStatus::Pending {
            return Ok(refund); // finished meanwhile (the reconciler, another request)
        }
        let order: Order = orders::table
            .find(refund.order_id)
            .select(Order::as_select())
            .for_update()
            .first(conn)?;
        let finished = match outcome {
            RefundOutcome::Refunded { reference } => {
                let refund: Refund = diesel::update(refunds::table.find(refund.id))
                    .set((
                        refunds::status.eq(RefundStatus::Succeeded),
                        refunds::provider_reference.eq(reference),
                        refunds::finished_at.eq(diesel::dsl::now),
                    ))
                    .returning(Refund::as_returning())
                    .get_result(conn)?;
                mark_refunded(conn, &order)?;
                refund
            }
            RefundOutcome::Refused { message } => {
                let reversal = ledger::refund_refused(
                    conn,
                    order.account_id,
                    order.id,
                    refund.credits,
                    &format!("Refund {} refused by the payment provider", refund.id),
                    &Actor::system("refund"),
                )?;
                diesel::update(refunds::table.find(refund.id))
                    .set((
                        refunds::status.eq(RefundStatus::Failed),
                        refunds::failure.eq(message),
                        refunds::reversal_entry_id.eq(reversal.id),
                        refunds::finished_at.eq(diesel::dsl::now),
                    ))
                    .returning(Refund::as_returning())
                    .get_result(conn)?
            }
        };
        Ok(finished)
    })
}

/// The reconciler: finishes the refunds left `pending` for longer than their request could
/// take, asking the provider about each key — and sending it again when the provider never saw
/// it (the operator asked for that refund; the key makes a repeat harmless). Returns how many
/// it finished.
pub fn reconcile_refunds(
    conn: &mut PgConnection,
    provider: &dyn PaymentProvider,
    now: DateTime<Utc>,
) -> Result<usize, RefundError> {
    let stale: Vec<Refund> = refunds::table
        .filter(refunds::status.eq(RefundStatus::Pending))
        .filter(refunds::created_at.le(now - chrono::Duration::seconds(REFUND_TIMEOUT_SECONDS)))
        .order(refunds::id)
        .limit(100)
        .select(Refund::as_select())
        .load(conn)?;
    let mut finished = 0;
    for refund in stale {
        let key = refund.idempotency_key();
        let outcome = match provider.lookup_refund(&key) {
            Some(outcome) => outcome,
            None => {
                let payment_reference: Option<String> = orders::table
                    .find(refund.order_id)
                    .select(orders::payment_reference)
                    .first(conn)?;
                provider.refund(
                    &refund.amount(),
                    payment_reference.as_deref().unwrap_or_default(),
                    &key,
                )
            }
        };
        let refund = finish(conn, refund.id, outcome)?;
        tracing::info!(refund = refund.id, order = %refund.order_id, status = refund.status.as_str(), "refund reconciled");
        finished += 1;
    }
    Ok(finished)
}

/// Marks the order refunded in whole or in part, by what its succeeded refunds add up to.
pub(super) fn mark_refunded(conn: &mut PgConnection, order: &Order) -> QueryResult<()> {
    let refunded: Vec<Credits> = refunds::table
        .filter(refunds::order_id.eq(order.id))
        .filter(refunds::status.eq(RefundStatus::Succeeded))
        .select(refunds::credits)
        .load(conn)?;
    let refunded: i64 = refunded.iter().map(|c| c.units()).sum();
    let status = if refunded >= order.credits.units() {
        OrderStatus::Refunded
    } else {
        OrderStatus::PartlyRefunded
    };
    diesel::update(orders::table.find(order.id))
        .set(orders::status.eq(status))
        .execute(conn)
        .map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refunds_in_steps_add_up_to_the_price_exactly() {
        let total = Credits::whole(3);
        let third = Credits::whole(1);
        let steps: Vec<i64> = (0..3)
            .map(|i| money_for(1000, total, Credits::whole(i), third))
            .collect();
        assert_eq!(steps, [333, 333, 334]);
        assert_eq!(
            money_for(9500, Credits::whole(100), Credits::ZERO, Credits::whole(30)),
            2850
        );
        assert_eq!(
            money_for(
                9500,
                Credits::whole(100),
                Credits::ZERO,
                Credits::whole(100)
            ),
            9500
        );
    }
}
