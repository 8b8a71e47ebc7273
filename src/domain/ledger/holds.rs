//! Holds: credits reserved by a service before it does the work, then captured (posted) or
//! cancelled (released). A hold not captured before it expires is released.

use std::time::Duration;

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, HoldId};
use crate::platform::schema::holds;
use crate::sql_text_enum;

/// Holds last 10 minutes unless asked otherwise, and never more than 30 days.
pub const DEFAULT_HOLD_TTL: Duration = Duration::from_secs(600);
/// 180 days: Odoo's providers hold for 4,320 hours by default.
pub const MAX_HOLD_TTL: Duration = Duration::from_secs(180 * 86_400);

sql_text_enum! {
    pub enum HoldStatus {
        Active => "active",
        Captured => "captured",
        Cancelled => "cancelled",
        Expired => "expired",
    }
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = holds, check_for_backend(diesel::pg::Pg))]
pub struct Hold {
    pub id: HoldId,
    pub account_id: AccountId,
    pub amount: Credits,
    pub captured: Credits,
    pub status: HoldStatus,
    pub description: String,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub closed_at: Option<DateTime<Utc>>,
}

/// A new hold's row.
#[derive(Insertable)]
#[diesel(table_name = holds)]
pub(super) struct HoldInsertForm<'a> {
    pub account_id: AccountId,
    pub amount: Credits,
    pub description: &'a str,
    pub actor: &'a str,
    pub expires_at: DateTime<Utc>,
}

/// A hold of the account, locked for the rest of the transaction.
pub(super) fn lock(
    conn: &mut PgConnection,
    account_id: AccountId,
    hold_id: HoldId,
) -> QueryResult<Option<Hold>> {
    holds::table
        .filter(holds::id.eq(hold_id))
        .filter(holds::account_id.eq(account_id))
        .select(Hold::as_select())
        .for_update()
        .first(conn)
        .optional()
}

pub fn find(
    conn: &mut PgConnection,
    account_id: AccountId,
    hold_id: HoldId,
) -> QueryResult<Option<Hold>> {
    holds::table
        .filter(holds::id.eq(hold_id))
        .filter(holds::account_id.eq(account_id))
        .select(Hold::as_select())
        .first(conn)
        .optional()
}

/// An active hold, as the partial indexes of open holds know it: `closed_at IS NULL` (the
/// table's CHECK ties it to `status = 'active'`). A status would be bound as a parameter, and
/// the generic plan PostgreSQL settles on for a prepared statement cannot use a partial index
/// whose predicate needs that value: it read every hold, once per balance call and per charge
/// batch.
pub fn is_active() -> diesel::dsl::IsNull<holds::closed_at> {
    holds::closed_at.is_null()
}

/// The account's active holds whose time is up.
pub(super) fn due(
    conn: &mut PgConnection,
    account_id: AccountId,
    now: DateTime<Utc>,
) -> QueryResult<Vec<Hold>> {
    holds::table
        .filter(holds::account_id.eq(account_id))
        .filter(is_active())
        .filter(holds::expires_at.le(now))
        .order(holds::id)
        .select(Hold::as_select())
        .load(conn)
}

/// Accounts with at least one active hold past its expiry (at most `limit`).
pub(super) fn accounts_with_due_holds(
    conn: &mut PgConnection,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<AccountId>> {
    holds::table
        .filter(is_active())
        .filter(holds::expires_at.le(now))
        .select(holds::account_id)
        .distinct()
        .limit(limit)
        .load(conn)
}

pub(super) fn close(
    conn: &mut PgConnection,
    hold_id: HoldId,
    status: HoldStatus,
    captured: Credits,
) -> QueryResult<Hold> {
    diesel::update(holds::table.find(hold_id))
        .set((
            holds::status.eq(status),
            holds::captured.eq(captured),
            holds::closed_at.eq(diesel::dsl::now),
        ))
        .returning(Hold::as_returning())
        .get_result(conn)
}
