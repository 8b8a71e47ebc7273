//! Automatic top-up orders: the database creates them (`auto_topup_order`, in the transaction of
//! the debit that crosses the trigger); the top-up worker pays them. Each carries when it is
//! next due, which doubles as the worker's lease: claiming an order moves it forward, so two
//! instances never pay the same order at once.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;

use super::{Order, OrderStatus};
use crate::kernel::ids::{AccountId, OrderId};
use crate::platform::schema::orders;

/// How long a claimed order is the claimer's before another worker may take it.
pub const CLAIM_SECONDS: i64 = 120;

/// Claims up to `limit` automatic top-ups due at `now`, each for `CLAIM_SECONDS`.
pub fn claim_due(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<Order>> {
    conn.transaction(|conn| {
        let due: Vec<OrderId> = orders::table
            .filter(orders::auto_topup.eq(true))
            .filter(orders::status.eq(OrderStatus::Pending))
            .filter(orders::next_attempt_at.le(now))
            .order(orders::next_attempt_at)
            .limit(limit)
            .select(orders::id)
            .for_update()
            .skip_locked()
            .load(conn)?;
        diesel::update(orders::table.filter(orders::id.eq_any(&due)))
            .set(orders::next_attempt_at.eq(now + Duration::seconds(CLAIM_SECONDS)))
            .returning(Order::as_returning())
            .get_results(conn)
    })
}

/// Tries the pending top-up again at `at`.
pub fn retry_at(conn: &mut PgConnection, order_id: OrderId, at: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(
        orders::table
            .find(order_id)
            .filter(orders::status.eq(OrderStatus::Pending)),
    )
    .set(orders::next_attempt_at.eq(at))
    .execute(conn)?;
    Ok(())
}

/// Closes a pending top-up that will not be paid: `Declined` after its last decline, `Expired`
/// when the top-up was switched off or its card removed meanwhile.
pub fn close(conn: &mut PgConnection, order_id: OrderId, status: OrderStatus) -> QueryResult<()> {
    diesel::update(
        orders::table
            .find(order_id)
            .filter(orders::status.eq(OrderStatus::Pending)),
    )
    .set((
        orders::status.eq(status),
        orders::next_attempt_at.eq(None::<DateTime<Utc>>),
    ))
    .execute(conn)?;
    Ok(())
}

/// What the account's top-ups of the calendar month of `now` (UTC) came to: how many, and
/// their amount in minor units — the ones paid or still to pay (what the cap counts).
pub fn month_usage(
    conn: &mut PgConnection,
    account_id: AccountId,
    now: DateTime<Utc>,
) -> QueryResult<(i64, i64)> {
    use chrono::Datelike;
    let month_start = now
        .date_naive()
        .with_day(1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .unwrap_or(now);
    let rows: Vec<i64> = orders::table
        .filter(orders::account_id.eq(account_id))
        .filter(orders::auto_topup.eq(true))
        .filter(orders::created_at.ge(month_start))
        .filter(orders::status.ne_all([OrderStatus::Expired, OrderStatus::Declined]))
        .select(orders::price_minor)
        .load(conn)?;
    Ok((rows.len() as i64, rows.iter().sum()))
}

/// The account's latest automatic top-ups, newest first.
pub fn recent(
    conn: &mut PgConnection,
    account_id: AccountId,
    limit: i64,
) -> QueryResult<Vec<Order>> {
    orders::table
        .filter(orders::account_id.eq(account_id))
        .filter(orders::auto_topup.eq(true))
        .order(orders::id.desc())
        .limit(limit)
        .select(Order::as_select())
        .load(conn)
}
