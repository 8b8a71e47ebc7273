//! The transaction tokens `/iap/1/authorize` answers: each names one hold, made by one provider
//! key on one account. Owner of `iap_transactions`.

use diesel::prelude::*;
use rand::Rng;
use rand::distr::Alphanumeric;

use crate::kernel::ids::{AccountId, HoldId};
use crate::platform::schema::iap_transactions;

const TOKEN_LEN: usize = 48;

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = iap_transactions, check_for_backend(diesel::pg::Pg))]
pub struct Transaction {
    pub token: String,
    pub hold_id: HoldId,
    pub account_id: AccountId,
    pub provider_key_id: i64,
}

/// A new transaction token: 48 random letters and digits.
pub fn new_token() -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(TOKEN_LEN)
        .map(char::from)
        .collect()
}

/// Records a new hold's transaction under `token`, in the hold's own transaction. (The hold
/// batcher writes its holds' transactions along with them, in its one statement.)
pub fn record(
    conn: &mut PgConnection,
    token: &str,
    hold_id: HoldId,
    account_id: AccountId,
    provider_key_id: i64,
) -> QueryResult<()> {
    diesel::insert_into(iap_transactions::table)
        .values((
            iap_transactions::token.eq(token),
            iap_transactions::hold_id.eq(hold_id),
            iap_transactions::account_id.eq(account_id),
            iap_transactions::provider_key_id.eq(provider_key_id),
        ))
        .execute(conn)?;
    Ok(())
}

pub fn find(conn: &mut PgConnection, token: &str) -> QueryResult<Option<Transaction>> {
    if token.len() != TOKEN_LEN {
        return Ok(None);
    }
    iap_transactions::table
        .find(token)
        .select(Transaction::as_select())
        .first(conn)
        .optional()
}

/// Authorizations whose COMMIT was cut short by a failover. Their caller was told the outcome
/// is unknown and never got their token, so nobody can capture or cancel them; if they were
/// committed after all, their credits would stay held until the hold's ttl (Odoo asks for 180
/// days). `release_unanswered` cancels them once a primary answers again. Kept in memory: a
/// process that dies before then leaves them to expire.
static UNANSWERED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// Remembers the token of an authorization whose outcome its caller was not told.
pub fn unanswered(token: String) {
    if let Ok(mut tokens) = UNANSWERED.lock() {
        tokens.push(token);
    }
}

pub fn has_unanswered() -> bool {
    UNANSWERED.lock().is_ok_and(|tokens| !tokens.is_empty())
}

/// Cancels the holds of the unanswered authorizations that were committed; forgets those that
/// were not. Those it cannot settle now (the database is still away) are kept for the next
/// call. Returns how many holds it cancelled.
pub fn release_unanswered(conn: &mut PgConnection) -> QueryResult<usize> {
    use crate::domain::ledger::{self, Actor, LedgerError};
    let tokens = std::mem::take(&mut *UNANSWERED.lock().unwrap_or_else(|e| e.into_inner()));
    let (mut released, mut kept) = (0, Vec::new());
    for token in tokens {
        let found = match find(conn, &token) {
            Ok(found) => found,
            Err(e) => {
                tracing::warn!("an unanswered authorization waits for the database: {e}");
                kept.push(token);
                continue;
            }
        };
        let Some(transaction) = found else {
            continue; // never committed: nothing to release
        };
        let actor = Actor::provider_key(transaction.provider_key_id);
        match ledger::cancel(conn, transaction.account_id, transaction.hold_id, &actor) {
            Ok(_) => {
                released += 1;
                tracing::info!(hold = %transaction.hold_id, "released the hold of an authorization whose answer was lost");
            }
            Err(LedgerError::Database(e)) if crate::platform::outage::outage(&e).is_some() => {
                kept.push(token)
            }
            // Captured, cancelled or expired meanwhile: settled.
            Err(_) => {}
        }
    }
    if !kept.is_empty() {
        UNANSWERED
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(kept);
    }
    Ok(released)
}
