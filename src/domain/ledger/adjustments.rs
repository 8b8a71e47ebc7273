//! Adjustments by the operator: a credit or debit with a reason, through the ledger's own
//! `adjust` (never below zero), recorded in the audit log in the same transaction.

use diesel::prelude::*;
use serde_json::json;

use super::{Actor, LedgerEntry, LedgerError};
use crate::domain::audit::{self, Action, Operator};
use crate::kernel::credits::Credits;
use crate::kernel::ids::AccountId;

/// A credit (positive) or debit (negative) of `delta` by the operator, with a reason.
pub fn adjust_by_operator(
    conn: &mut PgConnection,
    operator: &Operator,
    account_id: AccountId,
    delta_units: i64,
    reason: &str,
) -> Result<LedgerEntry, LedgerError> {
    conn.transaction(|conn| {
        let before =
            super::accounts::by_id(conn, account_id)?.ok_or(LedgerError::AccountNotFound)?;
        let entry = super::adjust(
            conn,
            account_id,
            delta_units,
            reason,
            &Actor::operator(operator),
        )?;
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
