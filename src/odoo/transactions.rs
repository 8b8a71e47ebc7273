//! What Odoo's protocol adds to transaction tokens (`ledger::transactions`): the authorizations
//! whose answer a failover lost, released once the database answers again.

use diesel::prelude::*;

pub use crate::domain::ledger::transactions::{Transaction, find, new_token, record};

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
