//! Past activity written as it happened: an account opened on a past day and its ledger rows
//! dated in the past, in order, each with the balance after it — the rows `append` would have
//! written then. The first start's demo uses it to show a living product (charts, forecasts,
//! histories); nothing else writes the past. The same rules hold: one statement writes the rows
//! and the balance together, no balance goes below zero on the way, and the daily rollups are
//! kept by the same triggers, so `verify-ledger` accepts the result.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Text, Timestamptz};

use super::entries::EntryKind;
use super::{IapAccount, LedgerError, accounts};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{DatabaseId, OrderId, ServiceId};
use crate::platform::schema::{iap_accounts, ledger_entries};

/// One past change of an account's posted balance (no holds: past usage is written as the
/// charge it came to).
#[derive(Debug, Clone)]
pub struct PastEntry {
    pub at: DateTime<Utc>,
    pub kind: EntryKind,
    /// Signed: credits in are positive, credits out negative.
    pub amount: Credits,
    pub order_id: Option<OrderId>,
    pub actor: String,
    pub description: String,
}

/// Opens the database's account of the service as of `at`, with no ledger row yet (its trial,
/// if any, is one of the past entries written next). `None` if the database has an account of
/// the service already: the past is written only into an account that has none.
pub fn open_account_at(
    conn: &mut PgConnection,
    database_id: DatabaseId,
    service_id: ServiceId,
    at: DateTime<Utc>,
) -> Result<Option<IapAccount>, LedgerError> {
    if accounts::find(conn, database_id, service_id)?.is_some() {
        return Ok(None);
    }
    let account: IapAccount = diesel::insert_into(iap_accounts::table)
        .values(accounts::AccountInsertForm::new(
            database_id,
            service_id,
            accounts::new_token(),
        ))
        .returning(IapAccount::as_returning())
        .get_result(conn)?;
    diesel::update(iap_accounts::table.find(account.id))
        .set((
            iap_accounts::created_at.eq(at),
            iap_accounts::updated_at.eq(at),
        ))
        .execute(conn)?;
    Ok(Some(account))
}

/// What `write_past` wrote: the ledger rows' ids (in the entries' order) and the balance after.
pub struct Written {
    pub entry_ids: Vec<i64>,
    pub balance: Credits,
}

#[derive(QueryableByName)]
struct WrittenId {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// Writes the account's past entries (oldest first, all older than now and newer than its last
/// row) and its new balance, in one statement. A balance that would go below zero on the way
/// refuses the whole history, as a charge would be refused.
pub fn write_past(
    conn: &mut PgConnection,
    account: &IapAccount,
    entries: &[PastEntry],
) -> Result<Written, LedgerError> {
    conn.transaction(|conn| {
        let account = accounts::lock(conn, account.id)?;
        let last: Option<DateTime<Utc>> = ledger_entries::table
            .filter(ledger_entries::account_id.eq(account.id))
            .select(diesel::dsl::max(ledger_entries::created_at))
            .first(conn)?;
        let now = Utc::now();
        let mut balance = account.balance.units();
        let mut balances = Vec::with_capacity(entries.len());
        let mut previous = last;
        for entry in entries {
            if previous.is_some_and(|p| entry.at < p) || entry.at > now {
                return Err(LedgerError::Database(
                    diesel::result::Error::RollbackTransaction,
                ));
            }
            previous = Some(entry.at);
            balance = balance
                .checked_add(entry.amount.units())
                .filter(|b| *b >= account.reserved.units())
                .ok_or(LedgerError::InsufficientCredits {
                    account_id: account.id,
                    service_slug: String::new(),
                    available: Credits::from_units(balance - account.reserved.units()),
                    requested: Credits::from_units(-entry.amount.units()),
                })?;
            balances.push(balance);
        }
        let column = |f: fn(&PastEntry) -> String| entries.iter().map(f).collect::<Vec<_>>();
        let written = diesel::sql_query(
            "WITH balance AS (
                 UPDATE iap_accounts SET balance = $1, updated_at = now() WHERE id = $2
             )
             INSERT INTO ledger_entries (account_id, kind, amount, reserved_change,
                                         balance_after, reserved_after, order_id, actor,
                                         description, created_at)
             SELECT $2, e.kind, e.amount, 0, e.balance_after, $3, e.order_id, e.actor,
                    e.description, e.at
             FROM unnest($4::text[], $5::bigint[], $6::bigint[], $7::bigint[], $8::text[],
                         $9::text[], $10::timestamptz[])
                  WITH ORDINALITY AS e(kind, amount, balance_after, order_id, actor,
                                       description, at, n)
             ORDER BY e.n
             RETURNING id",
        )
        .bind::<BigInt, _>(balance)
        .bind::<BigInt, _>(account.id.0)
        .bind::<BigInt, _>(account.reserved.units())
        .bind::<Array<Text>, _>(column(|e| e.kind.as_str().to_string()))
        .bind::<Array<BigInt>, _>(entries.iter().map(|e| e.amount.units()).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(&balances)
        .bind::<Array<diesel::sql_types::Nullable<BigInt>>, _>(
            entries
                .iter()
                .map(|e| e.order_id.map(|o| o.0))
                .collect::<Vec<_>>(),
        )
        .bind::<Array<Text>, _>(column(|e| e.actor.clone()))
        .bind::<Array<Text>, _>(column(|e| e.description.clone()))
        .bind::<Array<Timestamptz>, _>(entries.iter().map(|e| e.at).collect::<Vec<_>>())
        .load::<WrittenId>(conn)?;
        let mut entry_ids: Vec<i64> = written.into_iter().map(|w| w.id).collect();
        // Ids follow the order of the rows given.
        entry_ids.sort_unstable();
        Ok(Written {
            entry_ids,
            balance: Credits::from_units(balance),
        })
    })
}
