//! The batch's three statements, each of fixed text so that diesel prepares it once per
//! connection and PostgreSQL plans it once: the fast path's debit, the lock of the other
//! accounts, and the write of the ledger rows with the balances.

use std::collections::HashMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{AstPass, QueryFragment};
use diesel::sql_types::{Array, BigInt, Text};

use super::ChargeRequest;
use crate::domain::ledger::entries::LedgerEntry;
use crate::domain::ledger::{IapAccount, holds};
use crate::kernel::credits::Credits;
use crate::kernel::ids::AccountId;
use crate::platform::schema::{iap_accounts, services};

/// The fast path: debits, in one statement, each account whose charges in the batch all come
/// without an idempotency key, by their sum — when the hint's token is still the account's and
/// its available credits cover the sum (the row lock comes with the UPDATE). Returns the
/// accounts debited, as they are now; the others are left to the locking path.
pub(super) fn debit_whole_accounts(
    conn: &mut PgConnection,
    requests: &[ChargeRequest],
    account_of: &[Option<AccountId>],
) -> QueryResult<HashMap<AccountId, IapAccount>> {
    // Per account: (sum of its charges, its token, whether all may take the fast path).
    let mut totals: HashMap<AccountId, (i64, &str, bool)> = HashMap::new();
    for (r, id) in requests.iter().zip(account_of) {
        let Some(id) = id else { continue };
        let (sum, token, fast) = totals.entry(*id).or_insert((0, r.token.as_str(), true));
        let next = sum.checked_add(r.amount.units());
        *fast &= r.idempotency.is_none()
            && r.amount > Credits::ZERO
            && *token == r.token
            && next.is_some();
        *sum = next.unwrap_or(i64::MAX);
    }
    // In id order, as every path that locks several accounts takes them.
    let mut fast: Vec<(AccountId, &str, i64)> = totals
        .into_iter()
        .filter(|(_, (_, _, fast))| *fast)
        .map(|(id, (sum, token, _))| (id, token, sum))
        .collect();
    fast.sort_unstable_by_key(|(id, ..)| *id);
    let ids: Vec<AccountId> = fast.iter().map(|(id, ..)| *id).collect();
    let tokens: Vec<&str> = fast.iter().map(|(_, token, _)| *token).collect();
    let sums: Vec<i64> = fast.iter().map(|(.., sum)| *sum).collect();
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let debited: Vec<IapAccount> = DebitWholeAccounts {
        ids: &ids,
        tokens: &tokens,
        sums: &sums,
    }
    .load(conn)?;
    Ok(debited.into_iter().map(|a| (a.id, a)).collect())
}

/// The fast path's statement, prepared once per connection (see `WriteCharges`). The token is
/// compared byte for byte (`COLLATE "C"`: equality is the same, and cheaper), which also keeps
/// the planner on the primary key instead of the token's index.
struct DebitWholeAccounts<'a> {
    ids: &'a [AccountId],
    tokens: &'a [&'a str],
    sums: &'a [i64],
}

fixed_statement!(DebitWholeAccounts);

impl QueryFragment<Pg> for DebitWholeAccounts<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "UPDATE iap_accounts AS a SET balance = a.balance - v.total, updated_at = now()
             FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.ids)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(&self.tokens)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.sums)?;
        out.push_sql(
            "::bigint[]) AS v(id, token, total)
             WHERE a.id = v.id AND a.token COLLATE \"C\" = v.token
               AND a.balance - a.reserved >= v.total
             RETURNING a.id, a.database_id, a.service_id, a.token, a.balance, a.reserved,
                       a.warn_me, a.threshold, a.warning_email",
        );
        Ok(())
    }
}

/// An account locked for a batch, with its service's slug and whether a hold of it is due.
pub(super) struct Locked {
    pub account: IapAccount,
    pub slug: String,
    pub due: bool,
}

/// Locks the accounts (in id order) and reads what the batch needs of them, in one statement.
pub(super) fn lock_accounts(
    conn: &mut PgConnection,
    ids: &[AccountId],
) -> QueryResult<Vec<Locked>> {
    use diesel::dsl::{exists, now};
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let due = exists(
        crate::platform::schema::holds::table
            .filter(crate::platform::schema::holds::account_id.eq(iap_accounts::id))
            .filter(holds::is_active())
            .filter(crate::platform::schema::holds::expires_at.le(now)),
    );
    // The slug by a subquery: a join would lock the service's row too.
    let slug = services::table
        .filter(services::id.eq(iap_accounts::service_id))
        .select(services::slug)
        .single_value();
    let rows: Vec<(IapAccount, Option<String>, bool)> = iap_accounts::table
        .filter(iap_accounts::id.eq_any(ids))
        .order(iap_accounts::id)
        .select((IapAccount::as_select(), slug, due))
        .for_update()
        .load(conn)?;
    Ok(rows
        .into_iter()
        .map(|(account, slug, due)| Locked {
            account,
            slug: slug.unwrap_or_default(),
            due,
        })
        .collect())
}

/// A charge's ledger row, as the batch writes it.
pub(super) struct NewCharge {
    pub account_id: AccountId,
    pub amount: i64,
    pub balance_after: i64,
    pub reserved_after: i64,
    pub actor: String,
    pub description: String,
}

/// Writes the batch's ledger rows and the accounts' new balances in one statement.
pub(super) fn write_charges(
    conn: &mut PgConnection,
    ids: &[AccountId],
    balances: &[i64],
    rows: &[NewCharge],
) -> QueryResult<Vec<LedgerEntry>> {
    let column = |f: fn(&NewCharge) -> i64| rows.iter().map(f).collect::<Vec<i64>>();
    WriteCharges {
        ids,
        balances,
        accounts: rows.iter().map(|r| r.account_id).collect(),
        amounts: column(|r| r.amount),
        balances_after: column(|r| r.balance_after),
        reserved_after: column(|r| r.reserved_after),
        actors: rows.iter().map(|r| r.actor.as_str()).collect(),
        descriptions: rows.iter().map(|r| r.description.as_str()).collect(),
    }
    .load(conn)
}

/// The batch's write as a statement of fixed text, so that diesel prepares it once per
/// connection (by its type) and PostgreSQL plans it once, not on every batch as it would a
/// `sql_query`.
struct WriteCharges<'a> {
    ids: &'a [AccountId],
    balances: &'a [i64],
    accounts: Vec<AccountId>,
    amounts: Vec<i64>,
    balances_after: Vec<i64>,
    reserved_after: Vec<i64>,
    actors: Vec<&'a str>,
    descriptions: Vec<&'a str>,
}

fixed_statement!(WriteCharges);

impl QueryFragment<Pg> for WriteCharges<'_> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Pg>) -> QueryResult<()> {
        out.push_sql(
            "WITH balances AS (
                 UPDATE iap_accounts AS a SET balance = v.balance, updated_at = now()
                 FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.ids)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.balances)?;
        out.push_sql(
            "::bigint[]) AS v(id, balance)
                 WHERE a.id = v.id AND a.balance <> v.balance
             )
             INSERT INTO ledger_entries (account_id, kind, amount, reserved_change, balance_after,
                                         reserved_after, actor, description)
             SELECT r.account_id, 'charge', r.amount, 0, r.balance_after, r.reserved_after,
                    r.actor, r.description
             FROM unnest(",
        );
        out.push_bind_param::<Array<BigInt>, _>(&self.accounts)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.amounts)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.balances_after)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<BigInt>, _>(&self.reserved_after)?;
        out.push_sql("::bigint[], ");
        out.push_bind_param::<Array<Text>, _>(&self.actors)?;
        out.push_sql("::text[], ");
        out.push_bind_param::<Array<Text>, _>(&self.descriptions)?;
        out.push_sql(
            "::text[]) WITH ORDINALITY AS r(account_id, amount, balance_after, reserved_after,
                                            actor, description, n)
             ORDER BY r.n
             RETURNING *",
        );
        Ok(())
    }
}
