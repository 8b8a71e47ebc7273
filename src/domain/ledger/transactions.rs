//! Transaction tokens: a provider's handle on a hold it made (`/iap/1/authorize` answers one;
//! capture and cancel name it). Each names one hold, made by one provider key on one account.
//! Owner of `iap_transactions` (the hold batcher writes its holds' tokens along with them).

use diesel::prelude::*;

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
    super::accounts::random_letters(TOKEN_LEN)
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
