//! Customer databases and their IAP accounts as the operator sees them: search, each database's
//! accounts, one account's holds and ledger, and manual adjustments (with a reason, never below
//! zero, through the ledger's own `adjust`, recorded in the audit log).

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde_json::json;

use super::audit::{self, Action, Operator};
use crate::credits::Credits;
use crate::ledger::{self, Hold, HoldStatus, IapAccount, LedgerEntry, LedgerError};
use crate::schema::{databases, holds, iap_accounts, ledger_entries, services};
use crate::tenancy::Subscription;

pub const PAGE_SIZE: i64 = 50;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = databases, check_for_backend(diesel::pg::Pg))]
pub struct DatabaseRow {
    pub id: i64,
    pub name: String,
    pub subscription: Subscription,
    pub created_at: DateTime<Utc>,
}

/// Databases whose name contains `search` (any case), by id, `limit` after id `after`.
pub fn search(
    conn: &mut PgConnection,
    search: &str,
    after: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<DatabaseRow>> {
    let mut query = databases::table
        .order(databases::id)
        .limit(limit)
        .select(DatabaseRow::as_select())
        .into_boxed();
    let search = search.trim();
    if !search.is_empty() {
        query =
            query.filter(databases::name.ilike(format!("%{}%", crate::db::escape_like(search))));
    }
    if let Some(after) = after {
        query = query.filter(databases::id.gt(after));
    }
    query.load(conn)
}

pub fn database(conn: &mut PgConnection, id: i64) -> QueryResult<Option<DatabaseRow>> {
    databases::table
        .find(id)
        .select(DatabaseRow::as_select())
        .first(conn)
        .optional()
}

/// An account with its service's name.
#[derive(Debug, Clone)]
pub struct AccountRow {
    pub account: IapAccount,
    pub service: String,
}

/// The database's existing accounts, in catalog order (none is created by looking).
pub fn accounts_of(conn: &mut PgConnection, database_id: i64) -> QueryResult<Vec<AccountRow>> {
    Ok(iap_accounts::table
        .inner_join(services::table)
        .filter(iap_accounts::database_id.eq(database_id))
        .order((services::sort_order, services::name))
        .select((IapAccount::as_select(), services::name))
        .load::<(IapAccount, String)>(conn)?
        .into_iter()
        .map(|(account, service)| AccountRow { account, service })
        .collect())
}

/// One account for the operator.
#[derive(Debug, Clone)]
pub struct AccountView {
    pub row: AccountRow,
    pub database: DatabaseRow,
    pub active_holds: Vec<Hold>,
}

pub fn account(conn: &mut PgConnection, account_id: i64) -> QueryResult<Option<AccountView>> {
    let found: Option<(IapAccount, String, DatabaseRow)> = iap_accounts::table
        .inner_join(services::table)
        .inner_join(databases::table)
        .filter(iap_accounts::id.eq(account_id))
        .select((
            IapAccount::as_select(),
            services::name,
            DatabaseRow::as_select(),
        ))
        .first(conn)
        .optional()?;
    let Some((account, service, database)) = found else {
        return Ok(None);
    };
    let active_holds = holds::table
        .filter(holds::account_id.eq(account_id))
        .filter(holds::status.eq(HoldStatus::Active))
        .order(holds::id)
        .select(Hold::as_select())
        .load(conn)?;
    Ok(Some(AccountView {
        row: AccountRow { account, service },
        database,
        active_holds,
    }))
}

/// Up to `limit` ledger rows of the account, oldest first, after entry `after` (the CSV export
/// reads the whole ledger this way, a batch at a time).
pub fn ledger_batch(
    conn: &mut PgConnection,
    account_id: i64,
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

/// A credit (positive) or debit (negative) of `delta` by the operator, with a reason.
pub fn adjust(
    conn: &mut PgConnection,
    operator: &Operator,
    account_id: i64,
    delta_units: i64,
    reason: &str,
) -> Result<LedgerEntry, LedgerError> {
    conn.transaction(|conn| {
        let before =
            ledger::accounts::by_id(conn, account_id)?.ok_or(LedgerError::AccountNotFound)?;
        let entry = ledger::adjust(conn, account_id, delta_units, reason, &operator.actor())?;
        audit::record(
            conn,
            operator,
            Action {
                action: "account.adjust",
                subject: format!("account:{account_id}"),
                database_id: Some(before.database_id),
                reason: Some(reason.trim()),
                before: Some(json!({
                    "balance": before.balance.to_string(),
                    "available": before.available().to_string(),
                })),
                after: Some(json!({
                    "balance": entry.balance_after.to_string(),
                    "change": Credits::from_units(delta_units).to_string(),
                    "ledger_entry": entry.id,
                })),
            },
        )?;
        Ok(entry)
    })
}
