//! The operations on credits. Each is one database transaction that locks the account row
//! first (so concurrent callers queue instead of overspending), releases the account's expired
//! holds, checks the rules, and writes the balance and its ledger rows together.

use std::time::Duration;

use chrono::Utc;
use diesel::prelude::*;

use super::entries::{self, Change};
use super::holds::{self, DEFAULT_HOLD_TTL, Hold, HoldInsertForm, HoldStatus, MAX_HOLD_TTL};
use super::{Actor, EntryKind, IapAccount, LedgerEntry, LedgerError, accounts};
use crate::kernel::credits::Credits;
use crate::kernel::ids::{AccountId, HoldId, OrderId};
use crate::platform::schema::holds as holds_table;

/// Why credits are added.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrantKind {
    /// A paid order.
    Purchase {
        order_id: OrderId,
    },
    Trial,
    /// A manual correction by an operator; needs a reason.
    Adjustment,
}

/// Releases the account's holds whose time is up (lazy expiry), in a transaction of its own so
/// that the release stands even when the operation that follows fails.
pub(super) fn expire_holds_of(
    conn: &mut PgConnection,
    account_id: AccountId,
) -> Result<(), LedgerError> {
    if !holds::due(conn, account_id, Utc::now())?.is_empty() {
        conn.transaction(|conn| {
            let mut account = accounts::lock(conn, account_id)?;
            release_due_holds(conn, &mut account)
        })?;
    }
    Ok(())
}

pub(super) fn release_due_holds(
    conn: &mut PgConnection,
    account: &mut IapAccount,
) -> Result<usize, LedgerError> {
    let due = holds::due(conn, account.id, Utc::now())?;
    for hold in &due {
        holds::close(conn, hold.id, HoldStatus::Expired, Credits::ZERO)?;
        entries::append(
            conn,
            account,
            Change {
                reserved_change: -hold.amount.units(),
                hold_id: Some(hold.id),
                ..Change::posted(EntryKind::Expiry, 0)
            },
            &Actor::system("expiry"),
            "Hold expired; credits released",
        )?;
    }
    crate::platform::metrics::holds(
        crate::platform::metrics::HoldEvent::Expired,
        due.len() as u64,
    );
    Ok(due.len())
}

fn insufficient(conn: &mut PgConnection, account: &IapAccount, requested: Credits) -> LedgerError {
    match accounts::service_slug(conn, account.id) {
        Ok(service_slug) => LedgerError::InsufficientCredits {
            account_id: account.id,
            service_slug,
            available: account.available(),
            requested,
        },
        Err(e) => e.into(),
    }
}

fn positive(amount: Credits) -> Result<(), LedgerError> {
    if amount > Credits::ZERO {
        Ok(())
    } else {
        Err(LedgerError::ZeroAmount)
    }
}

/// The account as it stands now, after releasing its expired holds.
pub fn refresh(conn: &mut PgConnection, account_id: AccountId) -> Result<IapAccount, LedgerError> {
    expire_holds_of(conn, account_id)?;
    accounts::by_id(conn, account_id)?.ok_or(LedgerError::AccountNotFound)
}

/// Adds credits: a purchase (linked to its order), trial credits, or an adjustment (which
/// needs a reason).
pub fn grant(
    conn: &mut PgConnection,
    account_id: AccountId,
    amount: Credits,
    kind: GrantKind,
    reason: &str,
    actor: &Actor,
) -> Result<LedgerEntry, LedgerError> {
    positive(amount)?;
    if kind == GrantKind::Adjustment && reason.trim().is_empty() {
        return Err(LedgerError::MissingReason);
    }
    expire_holds_of(conn, account_id)?;
    conn.transaction(|conn| {
        let mut account = accounts::lock(conn, account_id)?;
        let (entry_kind, order_id) = match kind {
            GrantKind::Purchase { order_id } => (EntryKind::Purchase, Some(order_id)),
            GrantKind::Trial => (EntryKind::Trial, None),
            GrantKind::Adjustment => (EntryKind::Adjustment, None),
        };
        entries::append(
            conn,
            &mut account,
            Change {
                order_id,
                ..Change::posted(entry_kind, amount.units())
            },
            actor,
            reason.trim(),
        )
    })
}

/// An operator's correction in either direction: `delta_units` of 0.0001 credit, positive or
/// negative; a debit may take the available credits down to zero, never below.
pub fn adjust(
    conn: &mut PgConnection,
    account_id: AccountId,
    delta_units: i64,
    reason: &str,
    actor: &Actor,
) -> Result<LedgerEntry, LedgerError> {
    if delta_units >= 0 {
        return grant(
            conn,
            account_id,
            Credits::from_units(delta_units),
            GrantKind::Adjustment,
            reason,
            actor,
        );
    }
    if reason.trim().is_empty() {
        return Err(LedgerError::MissingReason);
    }
    let debit = Credits::from_units(delta_units.checked_neg().ok_or(LedgerError::Overflow)?);
    expire_holds_of(conn, account_id)?;
    conn.transaction(|conn| {
        let mut account = accounts::lock(conn, account_id)?;
        if account.available() < debit {
            return Err(insufficient(conn, &account, debit));
        }
        entries::append(
            conn,
            &mut account,
            Change::posted(EntryKind::Adjustment, delta_units),
            actor,
            reason.trim(),
        )
    })
}

/// The credits of a paid order that are still unused: credits are spent oldest first, so what
/// remains available belongs first to what came in after the order (later purchases and
/// grants, less their own refunds), and only the rest to the order — never more than the
/// order brought less what was already refunded of it.
pub fn unused_credits_of_order(
    conn: &mut PgConnection,
    account: &IapAccount,
    order_id: OrderId,
) -> Result<Credits, LedgerError> {
    use diesel::sql_types::BigInt;
    #[derive(QueryableByName)]
    struct Figures {
        #[diesel(sql_type = BigInt)]
        purchased: i64,
        #[diesel(sql_type = BigInt)]
        refunded: i64,
        #[diesel(sql_type = BigInt)]
        later: i64,
    }
    let figures: Option<Figures> = diesel::sql_query(
        "WITH p AS (
             SELECT id, amount FROM ledger_entries
             WHERE account_id = $1 AND order_id = $2 AND kind = 'purchase'
         )
         SELECT p.amount AS purchased,
                COALESCE((SELECT -sum(amount) FROM ledger_entries
                          WHERE account_id = $1 AND order_id = $2 AND kind = 'refund'), 0)::bigint
                    AS refunded,
                COALESCE((SELECT sum(e.amount) FROM ledger_entries e
                          WHERE e.account_id = $1 AND e.id > p.id
                            AND (e.kind IN ('purchase', 'trial')
                                 OR (e.kind IN ('adjustment', 'transfer') AND e.amount > 0)
                                 OR (e.kind = 'refund' AND e.order_id IN (
                                        SELECT order_id FROM ledger_entries
                                        WHERE account_id = $1 AND kind = 'purchase' AND id > p.id)))
                         ), 0)::bigint AS later
         FROM p",
    )
    .bind::<BigInt, _>(account.id)
    .bind::<BigInt, _>(order_id)
    .get_result(conn)
    .optional()?;
    let Some(f) = figures else {
        return Ok(Credits::ZERO);
    };
    let left_of_order = f.purchased - f.refunded;
    let unused = (account.available().units() - f.later.max(0)).clamp(0, left_of_order.max(0));
    Ok(Credits::from_units(unused))
}

/// Takes back `amount` unused credits of a paid order (a refund), as a `refund` ledger row.
pub fn refund(
    conn: &mut PgConnection,
    account_id: AccountId,
    order_id: OrderId,
    amount: Credits,
    reason: &str,
    actor: &Actor,
) -> Result<LedgerEntry, LedgerError> {
    positive(amount)?;
    if reason.trim().is_empty() {
        return Err(LedgerError::MissingReason);
    }
    expire_holds_of(conn, account_id)?;
    conn.transaction(|conn| {
        let mut account = accounts::lock(conn, account_id)?;
        let refundable = unused_credits_of_order(conn, &account, order_id)?;
        if amount > refundable {
            return Err(LedgerError::RefundExceedsUnused { refundable });
        }
        entries::append(
            conn,
            &mut account,
            Change {
                order_id: Some(order_id),
                ..Change::posted(EntryKind::Refund, -amount.units())
            },
            actor,
            reason.trim(),
        )
    })
}

/// Gives back the credits of a refund the payment provider refused: a positive `refund` row on
/// the same order, so that the order's refunded credits net back to what was really refunded.
pub fn refund_refused(
    conn: &mut PgConnection,
    account_id: AccountId,
    order_id: OrderId,
    amount: Credits,
    reason: &str,
    actor: &Actor,
) -> Result<LedgerEntry, LedgerError> {
    positive(amount)?;
    conn.transaction(|conn| {
        let mut account = accounts::lock(conn, account_id)?;
        entries::append(
            conn,
            &mut account,
            Change {
                order_id: Some(order_id),
                ..Change::posted(EntryKind::Refund, amount.units())
            },
            actor,
            reason,
        )
    })
}

/// Debits credits at once.
pub fn charge(
    conn: &mut PgConnection,
    account_id: AccountId,
    amount: Credits,
    description: &str,
    actor: &Actor,
) -> Result<LedgerEntry, LedgerError> {
    positive(amount)?;
    expire_holds_of(conn, account_id)?;
    let charged = conn.transaction(|conn| {
        let mut account = accounts::lock(conn, account_id)?;
        if account.available() < amount {
            return Err(insufficient(conn, &account, amount));
        }
        entries::append(
            conn,
            &mut account,
            Change::posted(EntryKind::Charge, -amount.units()),
            actor,
            description.trim(),
        )
    });
    match &charged {
        Ok(_) => {
            crate::platform::metrics::charges(crate::platform::metrics::ChargeOutcome::Charged, 1)
        }
        Err(LedgerError::InsufficientCredits { .. }) => {
            crate::platform::metrics::charges(crate::platform::metrics::ChargeOutcome::Refused, 1);
        }
        Err(_) => {}
    }
    charged
}

/// Reserves credits for `ttl` (default 10 minutes); they cannot be spent by anything else
/// until the hold is captured, cancelled or expires.
pub fn authorize(
    conn: &mut PgConnection,
    account_id: AccountId,
    amount: Credits,
    ttl: Option<Duration>,
    description: &str,
    actor: &Actor,
) -> Result<Hold, LedgerError> {
    positive(amount)?;
    let ttl = ttl.unwrap_or(DEFAULT_HOLD_TTL);
    if ttl < Duration::from_secs(1) || ttl > MAX_HOLD_TTL {
        return Err(LedgerError::InvalidExpiry);
    }
    let expires_at =
        Utc::now() + chrono::Duration::from_std(ttl).map_err(|_| LedgerError::InvalidExpiry)?;
    expire_holds_of(conn, account_id)?;
    conn.transaction(|conn| {
        let mut account = accounts::lock(conn, account_id)?;
        if account.available() < amount {
            return Err(insufficient(conn, &account, amount));
        }
        let hold: Hold = diesel::insert_into(holds_table::table)
            .values(HoldInsertForm {
                account_id: account.id,
                amount,
                description: description.trim(),
                actor: actor.as_str(),
                expires_at,
            })
            .returning(Hold::as_returning())
            .get_result(conn)?;
        entries::append(
            conn,
            &mut account,
            Change {
                reserved_change: amount.units(),
                hold_id: Some(hold.id),
                ..Change::posted(EntryKind::Hold, 0)
            },
            actor,
            description.trim(),
        )?;
        crate::platform::metrics::holds(crate::platform::metrics::HoldEvent::Opened, 1);
        Ok(hold)
    })
}

/// Locks an account's hold and checks that it can still be captured or cancelled.
fn open_hold(
    conn: &mut PgConnection,
    account_id: AccountId,
    hold_id: HoldId,
) -> Result<Hold, LedgerError> {
    let hold = holds::lock(conn, account_id, hold_id)?.ok_or(LedgerError::HoldNotFound)?;
    match hold.status {
        HoldStatus::Active => Ok(hold),
        HoldStatus::Expired => Err(LedgerError::HoldExpired),
        closed => Err(LedgerError::HoldClosed(closed)),
    }
}

/// Posts `amount` of a hold (all of it by default) and releases the rest.
pub fn capture(
    conn: &mut PgConnection,
    account_id: AccountId,
    hold_id: HoldId,
    amount: Option<Credits>,
    actor: &Actor,
) -> Result<(Hold, Vec<LedgerEntry>), LedgerError> {
    expire_holds_of(conn, account_id)?;
    conn.transaction(|conn| {
        let mut account = accounts::lock(conn, account_id)?;
        let hold = open_hold(conn, account_id, hold_id)?;
        // Expired a moment ago and not released yet: too late all the same.
        if hold.expires_at <= Utc::now() {
            return Err(LedgerError::HoldExpired);
        }
        let captured = amount.unwrap_or(hold.amount);
        if captured > hold.amount {
            return Err(LedgerError::CaptureExceedsHold { held: hold.amount });
        }
        let mut written = Vec::new();
        if captured > Credits::ZERO {
            written.push(entries::append(
                conn,
                &mut account,
                Change {
                    reserved_change: -captured.units(),
                    hold_id: Some(hold.id),
                    ..Change::posted(EntryKind::Capture, -captured.units())
                },
                actor,
                &hold.description,
            )?);
        }
        let rest = hold.amount.units() - captured.units();
        if rest > 0 {
            written.push(entries::append(
                conn,
                &mut account,
                Change {
                    reserved_change: -rest,
                    hold_id: Some(hold.id),
                    ..Change::posted(EntryKind::Release, 0)
                },
                actor,
                "Unused part of the hold released",
            )?);
        }
        let hold = holds::close(conn, hold.id, HoldStatus::Captured, captured)?;
        crate::platform::metrics::holds(crate::platform::metrics::HoldEvent::Captured, 1);
        Ok((hold, written))
    })
}

/// Releases a hold. Cancelling a hold that is already cancelled or expired changes nothing and
/// succeeds (its credits are free already); a captured hold cannot be cancelled.
pub fn cancel(
    conn: &mut PgConnection,
    account_id: AccountId,
    hold_id: HoldId,
    actor: &Actor,
) -> Result<Hold, LedgerError> {
    expire_holds_of(conn, account_id)?;
    conn.transaction(|conn| {
        let mut account = accounts::lock(conn, account_id)?;
        let hold = match open_hold(conn, account_id, hold_id) {
            Ok(hold) => hold,
            Err(LedgerError::HoldExpired | LedgerError::HoldClosed(HoldStatus::Cancelled)) => {
                return holds::find(conn, account_id, hold_id)?.ok_or(LedgerError::HoldNotFound);
            }
            Err(e) => return Err(e),
        };
        entries::append(
            conn,
            &mut account,
            Change {
                reserved_change: -hold.amount.units(),
                hold_id: Some(hold.id),
                ..Change::posted(EntryKind::Release, 0)
            },
            actor,
            "Hold cancelled",
        )?;
        crate::platform::metrics::holds(crate::platform::metrics::HoldEvent::Cancelled, 1);
        Ok(holds::close(
            conn,
            hold.id,
            HoldStatus::Cancelled,
            Credits::ZERO,
        )?)
    })
}

/// The sweeper: releases every hold past its expiry, one account per transaction. Returns how
/// many holds expired.
pub fn expire_due_holds(conn: &mut PgConnection) -> Result<usize, LedgerError> {
    let mut expired = 0;
    loop {
        let due_accounts = holds::accounts_with_due_holds(conn, Utc::now(), 100)?;
        if due_accounts.is_empty() {
            return Ok(expired);
        }
        for account_id in due_accounts {
            expired += conn.transaction(|conn| {
                let mut account = accounts::lock(conn, account_id)?;
                release_due_holds(conn, &mut account)
            })?;
        }
    }
}

/// Moves `amount` credits from one account to another of the same database and service: one
/// transaction, both accounts locked in id order, a ledger row on each side naming the other.
/// Too few available credits on the source: nothing moves.
pub fn move_credits(
    conn: &mut PgConnection,
    from: AccountId,
    to: AccountId,
    amount: Credits,
    actor: &Actor,
) -> Result<(LedgerEntry, LedgerEntry), LedgerError> {
    if amount <= Credits::ZERO {
        return Err(LedgerError::ZeroAmount);
    }
    if from == to {
        return Err(LedgerError::SameAccount);
    }
    expire_holds_of(conn, from)?;
    conn.transaction(|conn| {
        let (first, second) = if from < to { (from, to) } else { (to, from) };
        let first = accounts::lock(conn, first)?;
        let second = accounts::lock(conn, second)?;
        let (mut source, mut target) = if first.id == from {
            (first, second)
        } else {
            (second, first)
        };
        if source.database_id != target.database_id || source.service_id != target.service_id {
            return Err(LedgerError::AccountNotFound);
        }
        if source.available() < amount {
            return Err(insufficient(conn, &source, amount));
        }
        let out = entries::append(
            conn,
            &mut source,
            Change::posted(EntryKind::Transfer, -amount.units()),
            actor,
            &format!("Moved to account …{}", target.token_ending()),
        )?;
        let into = entries::append(
            conn,
            &mut target,
            Change::posted(EntryKind::Transfer, amount.units()),
            actor,
            &format!("Moved from account …{}", source.token_ending()),
        )?;
        Ok((out, into))
    })
}
