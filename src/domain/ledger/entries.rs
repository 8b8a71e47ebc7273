//! Ledger entries: the append-only history of every change to an account. `append` is the only
//! writer of balances and ledger rows, so the two always move together.

use chrono::{DateTime, Utc};
use diesel::prelude::*;

use super::{Actor, IapAccount, LedgerError};
use crate::kernel::credits::{Credits, MAX_CREDITS, UNITS_PER_CREDIT};
use crate::kernel::ids::{AccountId, HoldId, OrderId};
use crate::platform::schema::{iap_accounts, ledger_entries};
use crate::sql_text_enum;

sql_text_enum! {
    pub enum EntryKind {
        Purchase => "purchase",
        Trial => "trial",
        Charge => "charge",
        Hold => "hold",
        Capture => "capture",
        Release => "release",
        Expiry => "expiry",
        Adjustment => "adjustment",
        Refund => "refund",
        /// Credits moved between two accounts of one database and service.
        Transfer => "transfer",
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, serde::Serialize)]
#[diesel(table_name = ledger_entries, check_for_backend(diesel::pg::Pg))]
pub struct LedgerEntry {
    pub id: i64,
    pub account_id: AccountId,
    #[serde(serialize_with = "as_text")]
    pub kind: EntryKind,
    #[serde(serialize_with = "as_text")]
    pub amount: Credits,
    #[serde(serialize_with = "as_text")]
    pub reserved_change: Credits,
    #[serde(serialize_with = "as_text")]
    pub balance_after: Credits,
    #[serde(serialize_with = "as_text")]
    pub reserved_after: Credits,
    pub hold_id: Option<HoldId>,
    pub order_id: Option<OrderId>,
    pub actor: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

fn as_text<T: std::fmt::Display, S: serde::Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

/// One change to an account: how the posted balance and the reserved credits move.
#[derive(Debug, Clone, Copy)]
pub struct Change {
    pub kind: EntryKind,
    pub amount: i64,
    pub reserved_change: i64,
    pub hold_id: Option<HoldId>,
    pub order_id: Option<OrderId>,
}

impl Change {
    pub fn posted(kind: EntryKind, amount: i64) -> Self {
        Change {
            kind,
            amount,
            reserved_change: 0,
            hold_id: None,
            order_id: None,
        }
    }
}

/// A ledger row as written (only `append` writes them).
#[derive(Insertable)]
#[diesel(table_name = ledger_entries)]
struct EntryInsertForm<'a> {
    account_id: AccountId,
    kind: EntryKind,
    amount: Credits,
    reserved_change: Credits,
    balance_after: Credits,
    reserved_after: Credits,
    hold_id: Option<HoldId>,
    order_id: Option<OrderId>,
    actor: &'a str,
    description: &'a str,
}

/// Largest balance an account can reach, so sums never overflow.
const MAX_BALANCE_UNITS: i64 = 1_000 * MAX_CREDITS * UNITS_PER_CREDIT;

/// Applies `change` to the (locked) account and writes its ledger row, in the caller's
/// transaction. The database's CHECK constraints guard the same rules again.
pub(super) fn append(
    conn: &mut PgConnection,
    account: &mut IapAccount,
    change: Change,
    actor: &Actor,
    description: &str,
) -> Result<LedgerEntry, LedgerError> {
    let balance = account
        .balance
        .units()
        .checked_add(change.amount)
        .filter(|b| *b <= MAX_BALANCE_UNITS)
        .ok_or(LedgerError::Overflow)?;
    let reserved = account.reserved.units() + change.reserved_change;
    debug_assert!(
        balance >= 0 && reserved >= 0 && reserved <= balance,
        "{change:?}"
    );
    diesel::update(iap_accounts::table.find(account.id))
        .set((
            iap_accounts::balance.eq(Credits::from_units(balance)),
            iap_accounts::reserved.eq(Credits::from_units(reserved)),
            iap_accounts::updated_at.eq(diesel::dsl::now),
        ))
        .execute(conn)?;
    account.balance = Credits::from_units(balance);
    account.reserved = Credits::from_units(reserved);
    Ok(diesel::insert_into(ledger_entries::table)
        .values(EntryInsertForm {
            account_id: account.id,
            kind: change.kind,
            amount: Credits::from_units(change.amount),
            reserved_change: Credits::from_units(change.reserved_change),
            balance_after: account.balance,
            reserved_after: account.reserved,
            hold_id: change.hold_id,
            order_id: change.order_id,
            actor: actor.as_str(),
            description,
        })
        .returning(LedgerEntry::as_returning())
        .get_result(conn)?)
}

/// An account's entries, newest first, `limit` at a time, strictly older than entry `before`.
///
/// The account is handed to the scan as a value the planner does not look into (`OFFSET 0`
/// keeps it from being folded in): knowing it, the planner sees that an account of 10,000,000
/// rows owns nearly every row and walks the primary key back from the newest one, skipping
/// each row other accounts wrote since (25 ms past 70,000 of them). Not knowing it, it walks
/// the account's own index `(account_id, id DESC)`, whatever the account's size.
pub fn history(
    conn: &mut PgConnection,
    account_id: AccountId,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<LedgerEntry>> {
    use diesel::sql_types::{BigInt, Nullable};
    diesel::sql_query(
        "SELECT e.*
         FROM (SELECT $1::bigint AS account_id OFFSET 0) AS a
         CROSS JOIN LATERAL (
             SELECT * FROM ledger_entries e
             WHERE e.account_id = a.account_id AND ($2::bigint IS NULL OR e.id < $2)
             ORDER BY e.id DESC
             LIMIT $3
         ) AS e",
    )
    .bind::<BigInt, _>(account_id.0)
    .bind::<Nullable<BigInt>, _>(before)
    .bind::<BigInt, _>(limit)
    .load(conn)
}

/// The purchase row that fulfilled a paid order.
pub fn purchase_of_order(
    conn: &mut PgConnection,
    order_id: OrderId,
) -> QueryResult<Option<LedgerEntry>> {
    ledger_entries::table
        .filter(ledger_entries::order_id.eq(order_id))
        .filter(ledger_entries::kind.eq(EntryKind::Purchase))
        .select(LedgerEntry::as_select())
        .first(conn)
        .optional()
}

/// Every ledger row carrying an order (its purchase and its refunds), oldest first.
pub fn of_order(conn: &mut PgConnection, order_id: OrderId) -> QueryResult<Vec<LedgerEntry>> {
    ledger_entries::table
        .filter(ledger_entries::order_id.eq(order_id))
        .order(ledger_entries::id)
        .select(LedgerEntry::as_select())
        .load(conn)
}

/// Up to `limit` ledger rows of the account, oldest first, after entry `after` (the CSV export
/// reads the whole ledger this way, a batch at a time).
pub fn oldest_first(
    conn: &mut PgConnection,
    account_id: AccountId,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<LedgerEntry>> {
    let mut query = ledger_entries::table
        .filter(ledger_entries::account_id.eq(account_id))
        .order(ledger_entries::id)
        .limit(limit)
        .select(LedgerEntry::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(ledger_entries::id.gt(after));
    }
    query.load(conn)
}
