//! Refunds of paid orders by the operator: the order's unused credits go back out of the
//! account as a `refund` ledger row, the matching share of the price goes back to the card, the
//! order becomes refunded or partly refunded, and the audit log says who did it and why.
//! Owner of `refunds`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::{Order, OrderStatus};
use crate::audit::{self, Action, Operator};
use crate::credits::Credits;
use crate::ids::{OrderId, UserId};
use crate::ledger::{self, Actor, LedgerError};
use crate::money::{Currency, Price};
use crate::payments::PaymentProvider;
use crate::schema::{orders, refunds};

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = refunds, check_for_backend(diesel::pg::Pg))]
pub struct Refund {
    pub id: i64,
    pub order_id: OrderId,
    pub ledger_entry_id: i64,
    pub credits: Credits,
    pub amount_minor: i64,
    pub currency: Currency,
    pub provider_reference: String,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

impl Refund {
    pub fn amount(&self) -> Price {
        Price::new(self.amount_minor, self.currency.clone())
    }
}

/// A refund's row as written.
#[derive(Insertable)]
#[diesel(table_name = refunds)]
struct RefundInsertForm<'a> {
    order_id: OrderId,
    ledger_entry_id: i64,
    credits: Credits,
    amount_minor: i64,
    currency: &'a Currency,
    provider_reference: &'a str,
    refunded_by: UserId,
    reason: &'a str,
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
    let refunded = refunds.iter().fold(Credits::ZERO, |mut sum, r| {
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

/// Refunds `credits` of the paid order `order_id`, with the operator's `reason`.
pub fn refund_order(
    conn: &mut PgConnection,
    operator: &Operator,
    provider: &dyn PaymentProvider,
    order_id: OrderId,
    credits: Credits,
    reason: &str,
) -> Result<Refund, RefundError> {
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
        let amount = Price::new(amount_minor, order.currency.clone());
        let provider_reference = provider
            .refund(
                &amount,
                order.payment_reference.as_deref().unwrap_or_default(),
            )
            .map_err(RefundError::Provider)?;
        let refund: Refund = diesel::insert_into(refunds::table)
            .values(RefundInsertForm {
                order_id: order.id,
                ledger_entry_id: entry.id,
                credits,
                amount_minor,
                currency: &order.currency,
                provider_reference: &provider_reference,
                refunded_by: operator.user_id,
                reason,
            })
            .returning(Refund::as_returning())
            .get_result(conn)?;
        let refunded_now = Credits::from_units(before.refunded.units() + credits.units());
        let status = if refunded_now >= order.credits {
            OrderStatus::Refunded
        } else {
            OrderStatus::PartlyRefunded
        };
        diesel::update(orders::table.find(order.id))
            .set(orders::status.eq(status))
            .execute(conn)?;
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
                    "refunded_credits": refunded_now.to_string(),
                    "refund_credits": credits.to_string(),
                    "refund_amount": amount.to_string(),
                    "ledger_entry": entry.id,
                    "provider_reference": provider_reference,
                })),
            },
        )?;
        Ok(refund)
    })
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
