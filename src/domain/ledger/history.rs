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
use super::holds::HoldStatus;
use super::{IapAccount, LedgerError, accounts};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, DatabaseId, HoldId, OrderId, ServiceId};
use crate::platform::schema::{holds, iap_accounts, ledger_entries};

/// One past change of an account: of its posted balance, or (a hold and its capture) of its
/// reserved credits too.
#[derive(Debug, Clone)]
pub struct PastEntry {
    pub at: DateTime<Utc>,
    pub kind: EntryKind,
    /// Signed: credits in are positive, credits out negative.
    pub amount: Credits,
    /// Signed: credits a hold reserves are positive, those its capture takes back negative.
    pub reserved_change: Credits,
    pub hold_id: Option<HoldId>,
    pub order_id: Option<OrderId>,
    pub actor: String,
    pub description: String,
}

impl PastEntry {
    /// A change of the posted balance only.
    pub fn posted(
        at: DateTime<Utc>,
        kind: EntryKind,
        amount: Credits,
        order_id: Option<OrderId>,
        actor: String,
        description: String,
    ) -> PastEntry {
        PastEntry {
            at,
            kind,
            amount,
            reserved_change: Credits::ZERO,
            hold_id: None,
            order_id,
            actor,
            description,
        }
    }
}

/// A paid service's past use: its hold at `at`, captured in full at `finished_at`.
#[derive(Debug, Clone)]
pub struct PastUse {
    pub at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    pub price: Credits,
    pub actor: String,
    pub description: String,
}

/// A past use's hold and the two ledger rows it came to (the hold, then its capture), to be
/// written by `write_past` among the account's other entries.
#[derive(Debug, Clone)]
pub struct PastHold {
    pub hold_id: HoldId,
    pub entries: [PastEntry; 2],
}

#[derive(Insertable)]
#[diesel(table_name = holds)]
struct PastHoldRow<'a> {
    account_id: AccountId,
    amount: Credits,
    captured: Credits,
    status: HoldStatus,
    description: &'a str,
    actor: &'a str,
    expires_at: DateTime<Utc>,
    created_at: DateTime<Utc>,
    closed_at: Option<DateTime<Utc>>,
}

/// Writes the account's past uses' holds, each captured in full when it finished, and returns
/// them (in the uses' order) with their ledger rows. A use that costs nothing has no hold: it
/// is refused, as `authorize` refuses one.
pub fn holds_in_past(
    conn: &mut PgConnection,
    account: &IapAccount,
    uses: &[PastUse],
) -> Result<Vec<PastHold>, LedgerError> {
    if uses.is_empty() {
        return Ok(Vec::new());
    }
    if uses
        .iter()
        .any(|u| u.price <= Credits::ZERO || u.finished_at < u.at)
    {
        return Err(LedgerError::Database(
            diesel::result::Error::RollbackTransaction,
        ));
    }
    let rows: Vec<PastHoldRow> = uses
        .iter()
        .map(|u| PastHoldRow {
            account_id: account.id,
            amount: u.price,
            captured: u.price,
            status: HoldStatus::Captured,
            description: &u.description,
            actor: &u.actor,
            expires_at: u.at + chrono::Duration::hours(1),
            created_at: u.at,
            closed_at: Some(u.finished_at),
        })
        .collect();
    let mut ids: Vec<HoldId> = diesel::insert_into(holds::table)
        .values(&rows)
        .returning(holds::id)
        .get_results(conn)?;
    // Ids follow the order of the rows given.
    ids.sort_unstable();
    Ok(uses
        .iter()
        .zip(ids)
        .map(|(u, hold_id)| PastHold {
            hold_id,
            entries: [
                PastEntry {
                    at: u.at,
                    kind: EntryKind::Hold,
                    amount: Credits::ZERO,
                    reserved_change: u.price,
                    hold_id: Some(hold_id),
                    order_id: None,
                    actor: u.actor.clone(),
                    description: u.description.clone(),
                },
                PastEntry {
                    at: u.finished_at,
                    kind: EntryKind::Capture,
                    amount: Credits::from_units(-u.price.units()),
                    reserved_change: Credits::from_units(-u.price.units()),
                    hold_id: Some(hold_id),
                    order_id: None,
                    actor: u.actor.clone(),
                    description: u.description.clone(),
                },
            ],
        })
        .collect())
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
        let mut reserved = account.reserved.units();
        let mut balances = Vec::with_capacity(entries.len());
        let mut reserveds = Vec::with_capacity(entries.len());
        let mut previous = last;
        for entry in entries {
            if previous.is_some_and(|p| entry.at < p) || entry.at > now {
                return Err(LedgerError::Database(
                    diesel::result::Error::RollbackTransaction,
                ));
            }
            previous = Some(entry.at);
            let next_reserved = reserved + entry.reserved_change.units();
            balance = balance
                .checked_add(entry.amount.units())
                .filter(|b| next_reserved >= 0 && *b >= next_reserved)
                .ok_or(LedgerError::InsufficientCredits {
                    account_id: account.id,
                    service_slug: String::new(),
                    available: Credits::from_units(balance - reserved),
                    requested: Credits::from_units(
                        entry.reserved_change.units() - entry.amount.units(),
                    ),
                })?;
            reserved = next_reserved;
            balances.push(balance);
            reserveds.push(reserved);
        }
        // The past's holds are all closed: what is reserved now is what was before.
        if reserved != account.reserved.units() {
            return Err(LedgerError::Database(
                diesel::result::Error::RollbackTransaction,
            ));
        }
        let column = |f: fn(&PastEntry) -> String| entries.iter().map(f).collect::<Vec<_>>();
        let written = diesel::sql_query(
            "WITH balance AS (
                 UPDATE iap_accounts SET balance = $1, updated_at = now() WHERE id = $2
             )
             INSERT INTO ledger_entries (account_id, kind, amount, reserved_change,
                                         balance_after, reserved_after, hold_id, order_id,
                                         actor, description, created_at)
             SELECT $2, e.kind, e.amount, e.reserved_change, e.balance_after, e.reserved_after,
                    e.hold_id, e.order_id, e.actor, e.description, e.at
             FROM unnest($3::text[], $4::bigint[], $5::bigint[], $6::bigint[], $7::bigint[],
                         $8::bigint[], $9::bigint[], $10::text[], $11::text[],
                         $12::timestamptz[])
                  WITH ORDINALITY AS e(kind, amount, reserved_change, balance_after,
                                       reserved_after, hold_id, order_id, actor, description,
                                       at, n)
             ORDER BY e.n
             RETURNING id",
        )
        .bind::<BigInt, _>(balance)
        .bind::<BigInt, _>(account.id.0)
        .bind::<Array<Text>, _>(column(|e| e.kind.as_str().to_string()))
        .bind::<Array<BigInt>, _>(entries.iter().map(|e| e.amount.units()).collect::<Vec<_>>())
        .bind::<Array<BigInt>, _>(
            entries
                .iter()
                .map(|e| e.reserved_change.units())
                .collect::<Vec<_>>(),
        )
        .bind::<Array<BigInt>, _>(&balances)
        .bind::<Array<BigInt>, _>(&reserveds)
        .bind::<Array<diesel::sql_types::Nullable<BigInt>>, _>(
            entries
                .iter()
                .map(|e| e.hold_id.map(|h| h.0))
                .collect::<Vec<_>>(),
        )
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
