//! Past orders written as they happened: created, paid by card and, for some, refunded, on past
//! days. The paying step is the same UPDATE as a real payment's, so the database's own triggers
//! issue the invoice (dated when it was paid) and count the sale in the daily rollups. They also
//! queue its receipt, which the caller closes unsent (`mail::outbox`: the buyer had it then).
//! The first start's demo uses it; the purchase's ledger row is written by `ledger::history`
//! with the order's id.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::refunds::RefundStatus;
use super::{Order, OrderStatus};
use crate::domain::catalog::Pack;
use crate::domain::ledger::IapAccount;
use crate::kernel::credits::Credits;
use crate::kernel::ids::OrderId;
use crate::platform::schema::{orders, refunds};

/// An order of `pack` for the account, paid at `paid_at`.
pub struct PastOrder<'a> {
    pub account: &'a IapAccount,
    pub pack: &'a Pack,
    pub paid_at: DateTime<Utc>,
    /// Ordered by the automatic top-up rather than by a person.
    pub auto_topup: bool,
}

/// Writes the orders, paid, in the given order; returns them in the same order.
pub fn paid_in_past(conn: &mut PgConnection, past: &[PastOrder]) -> QueryResult<Vec<Order>> {
    conn.transaction(|conn| {
        // Each order paid as soon as it is written: an account has one pending top-up at most.
        let mut ids = Vec::with_capacity(past.len());
        for p in past {
            let id: OrderId = diesel::insert_into(orders::table)
                .values((
                    orders::database_id.eq(p.account.database_id),
                    orders::account_id.eq(p.account.id),
                    orders::pack_id.eq(p.pack.id),
                    orders::pack_name.eq(&p.pack.name),
                    orders::credits.eq(p.pack.credits),
                    orders::price_minor.eq(p.pack.price_minor),
                    orders::currency.eq(&p.pack.currency),
                    orders::created_at.eq(p.paid_at - Duration::minutes(2)),
                    orders::expires_at.eq(p.paid_at + Duration::hours(super::ORDER_LIFETIME_HOURS)),
                    orders::auto_topup.eq(p.auto_topup),
                ))
                .returning(orders::id)
                .get_result(conn)?;
            diesel::update(orders::table.find(id))
                .set((
                    orders::status.eq(OrderStatus::Paid),
                    orders::paid_at.eq(p.paid_at),
                    orders::payment_reference.eq(format!("past-{}", id.0)),
                    orders::card_last4.eq("4242"),
                ))
                .execute(conn)?;
            ids.push(id);
        }
        let mut paid: Vec<Order> = orders::table
            .filter(orders::id.eq_any(&ids))
            .select(Order::as_select())
            .load(conn)?;
        paid.sort_by_key(|o| ids.iter().position(|id| *id == o.id));
        Ok(paid)
    })
}

/// Records a past refund of `credits` of the order (whose ledger row is `entry_id`, written
/// before), succeeded at `at`, and marks the order refunded in whole or in part.
pub fn refunded_in_past(
    conn: &mut PgConnection,
    order: &Order,
    entry_id: i64,
    credits: Credits,
    reason: &str,
    at: DateTime<Utc>,
) -> QueryResult<()> {
    conn.transaction(|conn| {
        let amount_minor = i64::try_from(
            i128::from(order.price_minor) * i128::from(credits.units())
                / i128::from(order.credits.units().max(1)),
        )
        .unwrap_or(0);
        diesel::insert_into(refunds::table)
            .values((
                refunds::order_id.eq(order.id),
                refunds::ledger_entry_id.eq(entry_id),
                refunds::credits.eq(credits),
                refunds::amount_minor.eq(amount_minor),
                refunds::currency.eq(&order.currency),
                refunds::provider_reference.eq(format!("past-refund-{}", order.id.0)),
                refunds::reason.eq(reason),
                refunds::created_at.eq(at),
                refunds::status.eq(RefundStatus::Succeeded),
                refunds::finished_at.eq(at),
            ))
            .execute(conn)?;
        super::refunds::mark_refunded(conn, order)
    })
}
