//! Credits moved by a database's administrator between two of its accounts of one service
//! (Odoo makes one per company): what customers otherwise ask support to do by hand. One
//! transaction: the move (a ledger row on each side, each naming the other account) and its
//! audit row.

use diesel::prelude::*;
use serde_json::json;

use super::{Actor, LedgerEntry, LedgerError, accounts, move_credits};
use crate::domain::audit::{self, Action, Operator};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId};

/// Moves `amount` from `from` to `to`, both accounts of `database_id` (another database's
/// account is not found) and of the same service.
pub fn move_between_accounts(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    from: AccountId,
    to: AccountId,
    amount: Credits,
    by: &Operator,
) -> Result<(LedgerEntry, LedgerEntry), LedgerError> {
    conn.transaction(|conn| {
        let source =
            accounts::of_database(conn, database_id, from)?.ok_or(LedgerError::AccountNotFound)?;
        let target =
            accounts::of_database(conn, database_id, to)?.ok_or(LedgerError::AccountNotFound)?;
        if source.service_id != target.service_id {
            return Err(LedgerError::AccountNotFound);
        }
        let (out, into) = move_credits(conn, from, to, amount, &Actor::user(by.user_id))?;
        audit::record(
            conn,
            by,
            Action {
                action: "account.move_credits",
                subject: format!("account:{from}"),
                database_id: Some(database_id),
                reason: None,
                before: Some(json!({
                    "from": {"account": from.0, "balance": source.balance.to_string()},
                    "to": {"account": to.0, "balance": target.balance.to_string()},
                })),
                after: Some(json!({
                    "credits": amount.to_string(),
                    "from": {"account": from.0, "balance": out.balance_after.to_string()},
                    "to": {"account": to.0, "balance": into.balance_after.to_string()},
                })),
            },
        )?;
        Ok((out, into))
    })
}
