//! A batch's transaction, step by step: resolve the tokens, debit the accounts that cover all
//! their charges (the fast path), lock the others, claim the idempotency keys, decide the
//! locked accounts' charges in arrival order, write the ledger rows and balances, store the
//! keyed answers. Each step is a function; `apply_batch` runs them in order.

use std::collections::{HashMap, HashSet};

use diesel::prelude::*;
use diesel::sql_types::{Array, SmallInt, Text};

use super::statements::{self, Locked, NewCharge};
use super::{ChargeRequest, ChargeResult, Charged, Render, TokenCache};
use crate::domain::ledger::{Actor, IapAccount, LedgerError, operations};
use crate::kernel::credits::Credits;
use crate::kernel::ids::AccountId;
use crate::platform::schema::{iap_accounts, idempotency_keys};

/// A new ledger row of the batch: the request it answers, and its account's balance and
/// reserved credits after it.
type NewRow = (usize, Credits, Credits);

/// Applies the batch in the caller's transaction. Returns, per request, its result, or `None`
/// for a request to be answered after the commit by the one-at-a-time path.
///
/// Most accounts take the fast path: one statement debits each by the sum of its charges when
/// its token is still the hint's and its available credits cover them all, with no lock
/// statement first. The others (too few credits for all, an idempotency key, a wrong hint) are
/// locked, their due holds released, and their charges decided one by one in arrival order.
pub(super) fn apply_batch(
    conn: &mut PgConnection,
    requests: &[ChargeRequest],
    render: &Render,
    cache: &TokenCache,
) -> Result<Vec<Option<ChargeResult>>, LedgerError> {
    let mut account_of = resolve_tokens(conn, requests, cache)?;

    let debited = statements::debit_whole_accounts(conn, requests, &account_of)?;
    let fast: Vec<bool> = account_of
        .iter()
        .map(|id| id.is_some_and(|id| debited.contains_key(&id)))
        .collect();

    let locked = lock_the_rest(conn, requests, &mut account_of, &debited, &fast, cache)?;
    let scopes: Vec<Option<String>> = account_of
        .iter()
        .map(|id| id.map(|id| Actor::api(id).as_str().to_string()))
        .collect();
    let runnable = claim_keys(conn, requests, &scopes)?;

    let mut accounts: HashMap<AccountId, (IapAccount, String)> = locked
        .into_iter()
        .map(|l| (l.account.id, (l.account, l.slug)))
        .collect();
    let mut new_rows = fast_rows(requests, &account_of, &fast, &debited);
    let mut results = decide_locked(
        requests,
        &account_of,
        &fast,
        &runnable,
        &mut accounts,
        &mut new_rows,
    );
    // Ledger ids follow arrival order.
    new_rows.sort_unstable_by_key(|(i, ..)| *i);

    write_rows(
        conn,
        requests,
        &account_of,
        &scopes,
        &new_rows,
        &debited,
        &accounts,
        &mut results,
    )?;
    store_answers(conn, requests, &scopes, &results, render)?;
    Ok(results)
}

/// Step 1: each request's account, by the cache's hint or else the database; `None` for an
/// unknown token (answered 401, no further part). Each hint is checked by the fast path's
/// statement or under the account's lock (step 3).
fn resolve_tokens(
    conn: &mut PgConnection,
    requests: &[ChargeRequest],
    cache: &TokenCache,
) -> QueryResult<Vec<Option<AccountId>>> {
    let mut account_of: Vec<Option<AccountId>> =
        requests.iter().map(|r| cache.get(&r.token)).collect();
    let unknown: Vec<&str> = requests
        .iter()
        .zip(&account_of)
        .filter(|(_, id)| id.is_none())
        .map(|(r, _)| r.token.as_str())
        .collect();
    if !unknown.is_empty() {
        let found: HashMap<String, AccountId> = iap_accounts::table
            .filter(iap_accounts::token.eq_any(&unknown))
            .select((iap_accounts::token, iap_accounts::id))
            .load::<(String, AccountId)>(conn)?
            .into_iter()
            .collect();
        for (r, id) in requests.iter().zip(account_of.iter_mut()) {
            if id.is_none() {
                *id = found.get(&r.token).copied();
            }
        }
        cache.learn(found);
    }
    Ok(account_of)
}

/// Step 3: locks the accounts the fast path left, in id order (no deadlocks), with their
/// service's slug and whether a hold of theirs is due (due holds are released first, then the
/// rows read again). A hint whose row no longer has its token becomes an unknown token.
fn lock_the_rest(
    conn: &mut PgConnection,
    requests: &[ChargeRequest],
    account_of: &mut [Option<AccountId>],
    debited: &HashMap<AccountId, IapAccount>,
    fast: &[bool],
    cache: &TokenCache,
) -> Result<Vec<Locked>, LedgerError> {
    let mut account_ids: Vec<AccountId> = account_of
        .iter()
        .flatten()
        .filter(|id| !debited.contains_key(id))
        .copied()
        .collect();
    account_ids.sort_unstable();
    account_ids.dedup();
    let mut locked = statements::lock_accounts(conn, &account_ids)?;
    let due: Vec<AccountId> = locked
        .iter()
        .filter(|l| l.due)
        .map(|l| l.account.id)
        .collect();
    if !due.is_empty() {
        for id in due {
            operations::expire_holds_of(conn, id)?;
        }
        locked = statements::lock_accounts(conn, &account_ids)?;
    }
    for (i, r) in requests.iter().enumerate() {
        if fast[i] {
            continue;
        }
        let id = &mut account_of[i];
        let current = id.and_then(|id| locked.iter().find(|l| l.account.id == id));
        if current.is_none_or(|l| l.account.token != r.token) {
            if id.is_some() {
                cache.forget(&r.token);
            }
            *id = None;
        }
    }
    Ok(locked)
}

/// Step 4: claims the idempotency keys (a keyed charge never takes the fast path) and says
/// which requests this batch runs. A key seen twice in the batch, or already stored, is left
/// to the one-at-a-time path (which replays or refuses it).
fn claim_keys(
    conn: &mut PgConnection,
    requests: &[ChargeRequest],
    scopes: &[Option<String>],
) -> QueryResult<Vec<bool>> {
    let mut seen = HashSet::new();
    let mut wanted = Vec::new();
    for (i, r) in requests.iter().enumerate() {
        if let (Some((key, canonical)), Some(scope)) = (&r.idempotency, &scopes[i])
            && seen.insert((scope.clone(), key.clone()))
        {
            wanted.push((i, scope.clone(), key.clone(), canonical.clone()));
        }
    }
    let claimed: HashSet<(String, String)> = if wanted.is_empty() {
        HashSet::new()
    } else {
        let rows: Vec<_> = wanted
            .iter()
            .map(|(_, scope, key, canonical)| {
                (
                    idempotency_keys::scope.eq(scope),
                    idempotency_keys::key.eq(key),
                    idempotency_keys::request.eq(canonical),
                    idempotency_keys::response_status.eq(0i16),
                    idempotency_keys::response_body.eq(""),
                )
            })
            .collect();
        diesel::insert_into(idempotency_keys::table)
            .values(&rows)
            .on_conflict_do_nothing()
            .returning((idempotency_keys::scope, idempotency_keys::key))
            .load::<(String, String)>(conn)?
            .into_iter()
            .collect()
    };
    Ok(requests
        .iter()
        .enumerate()
        .map(|(i, r)| match (&r.idempotency, &scopes[i]) {
            (None, _) | (Some(_), None) => true,
            (Some((key, _)), Some(scope)) => {
                wanted.iter().any(|(first, ..)| *first == i)
                    && claimed.contains(&(scope.clone(), key.clone()))
            }
        })
        .collect())
}

/// Step 5: each fast charge's row: the balance after it is the account's new balance plus the
/// charges of the batch that come after it.
fn fast_rows(
    requests: &[ChargeRequest],
    account_of: &[Option<AccountId>],
    fast: &[bool],
    debited: &HashMap<AccountId, IapAccount>,
) -> Vec<NewRow> {
    let mut rows = Vec::new();
    let mut running: HashMap<AccountId, Credits> =
        debited.iter().map(|(id, a)| (*id, a.balance)).collect();
    for (i, r) in requests.iter().enumerate().rev() {
        let Some(id) = account_of[i].filter(|_| fast[i]) else {
            continue;
        };
        if let (Some(balance), Some(account)) = (running.get_mut(&id), debited.get(&id)) {
            rows.push((i, *balance, account.reserved));
            *balance = Credits::from_units(balance.units() + r.amount.units());
        }
    }
    rows
}

/// Step 6: decides the locked accounts' charges in arrival order against their running
/// balances. A charge that goes through adds its row; its result is filled in once the row
/// exists (step 7), as are the fast ones'.
fn decide_locked(
    requests: &[ChargeRequest],
    account_of: &[Option<AccountId>],
    fast: &[bool],
    runnable: &[bool],
    accounts: &mut HashMap<AccountId, (IapAccount, String)>,
    new_rows: &mut Vec<NewRow>,
) -> Vec<Option<ChargeResult>> {
    let mut results: Vec<Option<ChargeResult>> = Vec::with_capacity(requests.len());
    for (i, r) in requests.iter().enumerate() {
        if fast[i] || !runnable[i] {
            results.push(None);
            continue;
        }
        let Some((account, slug)) = account_of[i].and_then(|id| accounts.get_mut(&id)) else {
            results.push(Some(Err(LedgerError::UnknownToken)));
            continue;
        };
        if r.amount <= Credits::ZERO {
            results.push(Some(Err(LedgerError::ZeroAmount)));
        } else if account.available() < r.amount {
            results.push(Some(Err(LedgerError::InsufficientCredits {
                account_id: account.id,
                service_slug: slug.clone(),
                available: account.available(),
                requested: r.amount,
            })));
        } else {
            account.balance = Credits::from_units(account.balance.units() - r.amount.units());
            new_rows.push((i, account.balance, account.reserved));
            results.push(None);
        }
    }
    results
}

/// Step 7: writes the ledger rows and the locked accounts' balances in one statement, and
/// fills in the results of the charges that went through.
#[allow(clippy::too_many_arguments)] // the batch's parallel columns, read where they are
fn write_rows(
    conn: &mut PgConnection,
    requests: &[ChargeRequest],
    account_of: &[Option<AccountId>],
    scopes: &[Option<String>],
    new_rows: &[NewRow],
    debited: &HashMap<AccountId, IapAccount>,
    accounts: &HashMap<AccountId, (IapAccount, String)>,
    results: &mut [Option<ChargeResult>],
) -> QueryResult<()> {
    if new_rows.is_empty() {
        return Ok(());
    }
    let values: Vec<NewCharge> = new_rows
        .iter()
        .map(|(i, balance_after, reserved_after)| {
            let r = &requests[*i];
            NewCharge {
                account_id: account_of[*i].unwrap_or(AccountId(0)),
                amount: -r.amount.units(),
                balance_after: balance_after.units(),
                reserved_after: reserved_after.units(),
                actor: scopes[*i].clone().unwrap_or_default(),
                description: r.description.clone(),
            }
        })
        .collect();
    let (ids, balances): (Vec<AccountId>, Vec<i64>) = accounts
        .values()
        .map(|(a, _)| (a.id, a.balance.units()))
        .unzip();
    let mut written = statements::write_charges(conn, &ids, &balances, &values)?;
    // Ids follow the order of the rows given.
    written.sort_by_key(|e| e.id);
    for ((i, balance_after, reserved_after), entry) in new_rows.iter().zip(written) {
        let id = account_of[*i].unwrap_or(AccountId(0));
        let Some(account) = debited
            .get(&id)
            .or_else(|| accounts.get(&id).map(|(a, _)| a))
        else {
            continue;
        };
        let account = IapAccount {
            balance: *balance_after,
            reserved: *reserved_after,
            ..account.clone()
        };
        results[*i] = Some(Ok(Charged { entry, account }));
    }
    Ok(())
}

/// Step 8: stores each keyed answer with its key, in one statement.
fn store_answers(
    conn: &mut PgConnection,
    requests: &[ChargeRequest],
    scopes: &[Option<String>],
    results: &[Option<ChargeResult>],
    render: &Render,
) -> Result<(), LedgerError> {
    let mut scope_column = Vec::new();
    let mut keys = Vec::new();
    let mut statuses = Vec::new();
    let mut bodies = Vec::new();
    for ((r, scope), result) in requests.iter().zip(scopes).zip(results) {
        if let (Some((key, _)), Some(scope), Some(result)) = (&r.idempotency, scope, result) {
            let stored = render(result).ok_or(LedgerError::Database(
                diesel::result::Error::RollbackTransaction,
            ))?;
            scope_column.push(scope.clone());
            keys.push(key.clone());
            statuses.push(i16::try_from(stored.status).unwrap_or(500));
            bodies.push(stored.body);
        }
    }
    if !keys.is_empty() {
        diesel::sql_query(
            "UPDATE idempotency_keys AS k SET response_status = v.status, response_body = v.body
             FROM unnest($1::text[], $2::text[], $3::smallint[], $4::text[]) AS v(scope, key, status, body)
             WHERE k.scope = v.scope AND k.key = v.key",
        )
        .bind::<Array<Text>, _>(&scope_column)
        .bind::<Array<Text>, _>(&keys)
        .bind::<Array<SmallInt>, _>(&statuses)
        .bind::<Array<Text>, _>(&bodies)
        .execute(conn)?;
    }
    Ok(())
}
